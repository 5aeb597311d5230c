"""How the app serves the UI: the built page with a strict Content-Security-Policy and cacheable
hashed bundles, or, when the UI is not built, a page that says how to build it (the API works
either way)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from headwater.api.ui import CONTENT_SECURITY_POLICY, DIST, mount_ui


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


async def test_without_a_build_the_root_says_how_to_build_the_ui(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/api/v1/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    mount_ui(app, tmp_path / "dist")
    page = await _get(app, "/")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "npm ci &amp;&amp; npm run build" in page.text
    assert str(tmp_path / "dist") in page.text
    assert (await _get(app, "/api/v1/ping")).json() == {"status": "ok"}


async def test_the_built_ui_is_served_same_origin_only(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><script type="module" src="./assets/app-1a2b.js"></script>'
    )
    (dist / "assets" / "app-1a2b.js").write_text("console.log('hi')")
    app = FastAPI()
    mount_ui(app, dist)
    page = await _get(app, "/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-cache"
    bundle = await _get(app, "/assets/app-1a2b.js")
    assert bundle.status_code == 200
    assert "immutable" in bundle.headers["cache-control"]
    assert (await _get(app, "/assets/missing.js")).status_code == 404


def test_the_real_build_loads_nothing_from_elsewhere() -> None:
    """The committed build config writes here (./dev.sh builds it); every URL the page names is
    relative, and the bundles name no other origin to fetch from."""
    index = DIST / "index.html"
    assert index.is_file(), (
        f"the web UI is not built ({DIST}): run `npm ci && npm run build` in ui/"
    )
    html = index.read_text(encoding="utf-8")
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    assert all(u.startswith("./") or u == "data:," for u in urls), urls
    for bundle in (DIST / "assets").iterdir():
        text = bundle.read_text(encoding="utf-8")
        # The only absolute URL in the bundles is the SVG namespace, which is never fetched.
        assert set(re.findall(r"https?://[^\s\"'`)]+", text)) <= {"http://www.w3.org/2000/svg"}, (
            bundle.name
        )
