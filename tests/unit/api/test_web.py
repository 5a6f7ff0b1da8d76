"""The built web UI is served by the API at its page routes, and changes nothing else."""

from __future__ import annotations

from pathlib import Path

import httpx

from cloudops.api.app import create_api
from cloudops.api.web import UI_ROUTES, web_dir
from cloudops.settings import Settings

ROUTER = Path(__file__).resolve().parents[3] / "web" / "src" / "router.tsx"


def _settings(tmp_path: Path, web: Path | None) -> Settings:
    return Settings(app={"work_dir": tmp_path / "work"}, api={"web_dir": web})


async def test_pages_and_assets_are_served_and_the_api_is_unchanged(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><div id="root"></div>')
    (dist / "assets" / "index-abc.js").write_text("console.log(1)")
    app = create_api(_settings(tmp_path, dist), graphql=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        for route in UI_ROUTES:
            page = await http.get(route, params={"by": '["ServiceName"]'})
            assert page.status_code == 200, route
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            assert '<div id="root">' in page.text
        asset = await http.get("/assets/index-abc.js")
        assert (asset.status_code, asset.text) == (200, "console.log(1)")
        assert (await http.get("/assets/missing.js")).status_code == 404
        unknown = await http.get("/v1/no-such-route")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert (await http.get("/v1/costs/explain")).status_code == 405
        assert (await http.post("/explorer")).status_code == 405
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert not set(UI_ROUTES) & set(paths)


async def test_nothing_is_served_when_the_ui_is_not_built(tmp_path: Path) -> None:
    settings = _settings(tmp_path, tmp_path / "missing")
    assert web_dir(settings) is None
    app = create_api(settings, graphql=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        assert (await http.get("/explorer")).status_code == 404
        assert (await http.get("/healthz")).json() == {"status": "ok"}


def test_every_page_route_of_the_ui_is_served() -> None:
    """UI_ROUTES lists the client-side routes of web/src/router.tsx (a reload opens the right page)."""
    text = ROUTER.read_text()
    declared = {line.split('"')[1] for line in text.splitlines() if line.strip().startswith('path: "')}
    assert declared == set(UI_ROUTES)
