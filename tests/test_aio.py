"""Stopping loops: a swallowed cancellation still ends them."""

from __future__ import annotations

import asyncio

import pytest

from headwater.aio import raise_if_cancelled, stop_task


async def test_a_loop_whose_cancellation_was_swallowed_still_stops() -> None:
    rounds: list[int] = []

    async def loop() -> None:
        while True:
            raise_if_cancelled()
            rounds.append(len(rounds))
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass  # what a library racing the cancellation may do

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.03)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert done == {task}
    assert task.cancelled()
    assert rounds


async def test_stop_task_reraises_a_failure_and_returns_on_cancellation() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    failing = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await stop_task(failing)
    sleeping = asyncio.create_task(asyncio.sleep(10))
    await stop_task(sleeping)
    assert sleeping.cancelled()
