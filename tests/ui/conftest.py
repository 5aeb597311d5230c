"""A real Headwater on a free localhost port, loaded with the Marquez demo seed, and headless
Chromium (Debian's ``chromium``, driven by Playwright) whose requests may only go to localhost.

The server is the app ``headwater serve`` builds (memory graph and search mirrors in-process),
run by uvicorn in a background thread on its own database, once per module. Each test gets a
fresh browser context; any request to a host other than 127.0.0.1 / localhost is aborted and
fails the test, and so does any console error or uncaught exception on the page.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from headwater.api.ui import DIST
from headwater.catalog.db import Database
from headwater.catalog.embedded import SUPERUSER, EmbeddedPostgres
from headwater.runtime import build_app
from headwater.search.embeddings import Embedder
from headwater.settings import Settings
from tests.conftest import TEMPLATE, TenantKeys, TestDatabase, make_tenant, serving_in_a_thread

try:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
except ImportError as e:  # a dev install has it; say how to get it rather than skip
    raise RuntimeError(
        "the UI tests need Playwright for Python: pip install -e '.[dev]' (./dev.sh does it)"
    ) from e

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "data" / "marquez" / "seed" / "metadata.json"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path(os.environ.get("HEADWATER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_databases = itertools.count()


def qn(name: str) -> str:
    """The qualified name the OpenLineage mapping gives a seed dataset or job."""
    return f"food_delivery/{name}"


@dataclass
class Headwater:
    """The running server, its tenant's keys and the seed's asset ids by qualified name."""

    url: str
    keys: TenantKeys
    app_dsn: str
    ids: dict[str, int] = field(default_factory=dict)

    def new_tenant(self, slug: str) -> TenantKeys:
        return _tenant(self.app_dsn, slug)

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1/{path}",
            params=params,
            headers=self.keys.headers("viewer"),
            timeout=30,
        )
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def write(self, method: str, path: str, body: Any, role: str = "editor") -> Any:
        response = httpx.request(
            method,
            f"{self.url}/api/v1/{path}",
            json=body,
            headers=self.keys.headers(role),
            timeout=60,
        )
        assert response.status_code < 300, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def has_route(self, path: str) -> bool:
        """Whether the server has an API route (search and impact are built alongside)."""
        return f"/api/v1/{path}" in httpx.get(f"{self.url}/openapi.json").json()["paths"]


def _eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {timeout}s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def ui_database(pg_cluster: EmbeddedPostgres) -> Iterator[TestDatabase]:
    name = f"hw_ui_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield TestDatabase(
        name,
        pg_cluster.dsn(SUPERUSER, name),
        pg_cluster.dsn("headwater_app", name),
        pg_cluster.dsn("headwater_worker", name),
    )
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _tenant(dsn: str, slug: str) -> TenantKeys:
    """A tenant with a key per role, made on a thread of its own: the test session's event loop
    belongs to pytest-asyncio and must not be replaced here."""

    async def make() -> TenantKeys:
        database = Database(dsn, max_size=2)
        await database.open()
        try:
            return await make_tenant(database, slug)
        finally:
            await database.close()

    made: list[TenantKeys] = []
    worker = threading.Thread(target=lambda: made.append(asyncio.run(make())))
    worker.start()
    worker.join(timeout=60)
    assert made, "creating the test tenant failed"
    return made[0]


@pytest.fixture(scope="module")
def headwater(
    ui_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Headwater]:
    if not (DIST / "index.html").is_file():
        pytest.fail(f"the web UI is not built ({DIST}): run `npm ci && npm run build` in ui/")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("ui-data"),
        database_url=ui_database.app_dsn,
        admin_database_url=ui_database.admin_dsn,
        db_pool_max=8,
    )
    app = build_app(settings, ui_database.app_dsn, ui_database.worker_dsn, embedder=embedder)
    with serving_in_a_thread(app, timeout=120) as url:
        keys = _tenant(ui_database.app_dsn, "marquez")
        hw = Headwater(url, keys, ui_database.app_dsn)
        _load_seed(hw)
        yield hw


def _load_seed(hw: Headwater) -> None:
    """The Marquez demo seed through the OpenLineage batch endpoint, an owner and a PII tag on
    customers, then wait until the graph (and search, when the server has it) caught up."""
    hw.write("POST", "lineage/batch", json.loads(SEED.read_text(encoding="utf-8")))
    cursor: str | None = None
    while True:
        page = hw.api("assets", limit=500, **({"cursor": cursor} if cursor else {}))
        hw.ids.update({a["qualified_name"]: a["id"] for a in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            break
    customers = hw.ids[qn("public.customers")]
    version = hw.api(f"assets/{customers}")["version"]
    hw.write(
        "PATCH", f"assets/{customers}", {"version": version, "owners": ["crm-team@example.com"]}
    )
    hw.write("POST", f"assets/{customers}/tags", {"name": "PII", "category": "PII"})
    deliveries = hw.ids[qn("public.delivery_7_days")]
    version = hw.api(f"assets/{deliveries}")["version"]
    hw.write(
        "PATCH", f"assets/{deliveries}", {"version": version, "owners": ["logistics@example.com"]}
    )
    end = hw.ids[qn("public.popular_orders_day_of_week")]

    def graph_synced() -> bool:
        up = hw.api("lineage/upstream", asset_id=end, depth="all")
        return len(up["nodes"]) >= 20

    _eventually(graph_synced, "the lineage graph holds the seed")
    if hw.has_route("search"):

        def search_synced() -> bool:
            response = httpx.get(
                f"{hw.url}/api/v1/search",
                params={"q": "customers", "mode": "fulltext", "tag": "PII"},
                headers=hw.keys.headers("viewer"),
            )
            return response.status_code == 200 and any(
                h["asset"]["id"] == customers for h in response.json()["hits"]
            )

        _eventually(search_synced, "the search index holds the seed and its PII tag", 120)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (./dev.sh does it as "
            "root) or point HEADWATER_CHROMIUM at a Chromium binary"
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class Guard:
    """What a page did that it must not: requests off this machine, console errors."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # HTTP statuses a test provokes on purpose (the browser logs each as a console error).
    expected_statuses: set[int] = field(default_factory=set)

    def unexpected_errors(self) -> list[str]:
        allowed = tuple(
            f"Failed to load resource: the server responded with a status of {status} "
            for status in self.expected_statuses
        )
        return [e for e in self.errors if not any(a in e for a in allowed)]


@pytest.fixture
def guard() -> Guard:
    return Guard()


@pytest.fixture
def context(browser: Browser, guard: Guard) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, accept_downloads=True, service_workers="block"
    )

    def only_local(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob"} or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            guard.foreign.append(url)
            route.abort()

    context.route("**/*", only_local)
    yield context
    context.close()
    assert guard.foreign == [], f"requests left localhost: {guard.foreign}"


@pytest.fixture
def page(context: BrowserContext, guard: Guard) -> Iterator[Page]:
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on(
        "console",
        lambda m: guard.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: guard.errors.append(f"page error: {e}"))
    yield page
    assert guard.unexpected_errors() == []


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def sign_in(page: Page, hw: Headwater, role: str = "viewer") -> None:
    page.goto(f"{hw.url}/#/login")
    page.fill("#api-key", getattr(hw.keys, role))
    page.click("form.login button[type=submit]")
    page.wait_for_selector("[data-testid=identity]")
