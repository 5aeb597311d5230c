"""``headwater serve`` on a configured database with the memory graph as its only mirror, until
killed: ``python -m tests.sync.run_serve <port>``. The app is built by the same
:func:`~headwater.runtime.build_app` and served by uvicorn as ``serve`` does; only the search
mirrors are off (they are not under test here, and loading their model takes seconds per start)."""

from __future__ import annotations

import sys

import uvicorn

from headwater.logging_setup import configure_logging
from headwater.runtime import build_app
from headwater.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    assert settings.database_url is not None
    app = build_app(settings, settings.database_url, settings.worker_database_url, search=False)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None)


if __name__ == "__main__":
    main()
