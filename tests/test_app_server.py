"""The server `serve` runs freezes the heap once the app has started."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from headwater.runtime import AppServer


async def test_the_heap_is_frozen_once_the_app_has_started() -> None:
    started: list[int] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started.append(gc.get_freeze_count())
        yield

    config = uvicorn.Config(FastAPI(lifespan=lifespan), host="127.0.0.1", port=0, log_config=None)
    server = AppServer(config)
    gc.unfreeze()
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "the server stopped before it started"
            await asyncio.sleep(0.01)
        assert started == [0]  # the app's own startup ran before the freeze
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
        server.should_exit = True
        await serving
