"""The web UI (``web/``: React + TanStack, built by ``make web`` into ``web/dist``) served by the API.

:func:`mount_web` serves ``index.html`` at ``/`` and at each of the UI's client-side routes (so
a shared Explorer link or a reload opens the right page) and the hashed bundles under
``/assets``. Nothing else: no catch-all, so every API route, its 404s and 405s, and the OpenAPI
document are exactly what they are without the UI. Serves nothing when the UI is not built.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from cloudops.settings import Settings

__all__ = ["UI_ROUTES", "mount_web", "web_dir"]

UI_ROUTES = ("/", "/signin", "/explorer", "/recommendations", "/ingestion", "/settings")
"""The client-side routes of web/src/router.tsx (each answers with index.html)."""


def web_dir(settings: Settings) -> Path | None:
    """The built UI to serve: ``api.web_dir``, else web/dist of the source checkout; None if not built."""
    root = settings.api.web_dir or Path(__file__).resolve().parents[3] / "web" / "dist"
    return root if (root / "index.html").is_file() else None


def mount_web(app: FastAPI, settings: Settings) -> Path | None:
    """Serve the built UI on ``app``; returns its directory, or None (nothing mounted) when not built."""
    root = web_dir(settings)
    if root is None:
        return None
    index = root / "index.html"
    no_cache = {"Cache-Control": "no-cache"}

    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=no_cache)

    for route in UI_ROUTES:
        app.add_api_route(route, page, methods=["GET"], include_in_schema=False, response_model=None)
    if (root / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=root / "assets"), name="web-assets")
    return root
