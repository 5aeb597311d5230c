"""The web UI: the single-page app built from ``ui/`` into ``headwater/ui/dist``, served at ``/``.

The build is not committed (``./dev.sh`` runs ``npm ci && npm run build`` in ``ui/``). Without it
the API works as usual and ``/`` says how to build the UI. Everything the page loads comes from
this server: a Content-Security-Policy forbids any other origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["CONTENT_SECURITY_POLICY", "DIST", "mount_ui"]

DIST: Final = Path(__file__).resolve().parent.parent / "ui" / "dist"

# 'self' only: no CDN, no inline script, no third-party connection (the UI is offline-capable).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # index.html names the hashed bundles of the current build: always revalidate it.
    "Cache-Control": "no-cache",
}

_NOT_BUILT: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Headwater: web UI not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 44rem; margin: 3rem auto">
<h1>Headwater is running, but its web UI is not built</h1>
<p>The API is available under <a href="docs">/docs</a> and <code>/api/v1</code>.</p>
<p>To build the UI, run <code>npm ci &amp;&amp; npm run build</code> in the repository's
<code>ui/</code> folder (<code>./dev.sh run</code> does this for you), then reload this page.</p>
<p>Expected build output: <code>{dist}</code></p>
</body></html>
"""


class _HashedAssets(StaticFiles):
    """The bundles carry a content hash in their names, so they never change: cache for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_ui(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the built UI at ``/`` (its bundles under ``/assets``), or a page saying how to
    build it. Call after the API routers so no UI route can shadow them."""
    index = dist / "index.html"
    if index.is_file() and (dist / "assets").is_dir():
        app.mount("/assets", _HashedAssets(directory=dist / "assets"), name="ui-assets")

        @app.get("/", include_in_schema=False)
        async def ui_index() -> FileResponse:
            return FileResponse(index, media_type="text/html", headers=_PAGE_HEADERS)

        return

    @app.get("/", include_in_schema=False)
    async def ui_not_built() -> HTMLResponse:
        return HTMLResponse(
            _NOT_BUILT.replace("{dist}", str(dist)),
            status_code=503,
            headers={**_PAGE_HEADERS, "Cache-Control": "no-store"},
        )
