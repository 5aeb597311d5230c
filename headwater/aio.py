"""asyncio helpers shared by the long-running loops (sync worker, task runner, serve)."""

from __future__ import annotations

import asyncio
from typing import Any


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` until it has ended; re-raise its failure, if it failed.

    Not ``task.cancel()`` then ``await task`` under ``suppress(CancelledError)``: that also
    swallows a cancellation of the *caller* arriving meanwhile, and a caller that loops then
    never stops. And cancelled again while it runs on: on Python 3.11 a cancellation can itself
    be swallowed inside the task (``asyncio.wait_for`` whose inner wait completes at the same
    moment, as in psycopg_pool), and shutdown must not hang on that.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled():
        task.result()


def raise_if_cancelled() -> None:
    """Stop a loop whose cancellation something swallowed on the way (3.11's ``wait_for``, as
    used inside psycopg_pool, returns a result instead of raising when both arrive at once):
    nothing uncancels the task, so it still reads as cancelling, and the loop ends here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
