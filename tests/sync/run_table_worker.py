"""``headwater worker``'s loop (:func:`~headwater.sync.worker.run_worker`) with the table mirror
as its only shared sink, until killed: ``python -m tests.sync.run_table_worker <worker dsn>``."""

from __future__ import annotations

import asyncio
import logging
import sys

from headwater.sync.worker import WorkerConfig, run_worker
from tests.sync.table_mirror import TableGraphMirror

CONFIG = WorkerConfig(
    batch_size=100, poll_interval=0.5, backoff_initial=0.05, backoff_max=0.5, metrics_interval=60
)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    dsn = sys.argv[1]
    asyncio.run(run_worker(dsn, [TableGraphMirror(dsn, latency=0.01)], CONFIG))


if __name__ == "__main__":
    main()
