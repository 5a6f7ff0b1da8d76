"""``create_api`` (and so ``cloudops api``) takes its GraphQL gateway and upload limit from the
``api`` settings; an explicit argument (the CLI's ``--gateway-url``) overrides them."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from cloudops.api.app import create_api
from cloudops.settings import Settings


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(tmp_path: Path, **api: object) -> Settings:
    return Settings(app={"work_dir": tmp_path / "work"}, api={"web_dir": tmp_path / "no-ui", **api})


async def _graphql(settings: Settings, gateway_url: str | None = None) -> httpx.Response:
    app = create_api(settings, gateway_url=gateway_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        return await http.post("/graphql", content=b"not json")


async def test_the_configured_gateway_receives_graphql(tmp_path: Path) -> None:
    gateway = f"http://127.0.0.1:{_closed_port()}/"
    answer = await _graphql(_settings(tmp_path, gateway_url=gateway))
    assert answer.status_code == 502, answer.text
    assert f"the GraphQL gateway at {gateway} does not answer" in answer.json()["detail"]


async def test_the_gateway_option_overrides_the_setting(tmp_path: Path) -> None:
    configured = f"http://127.0.0.1:{_closed_port()}/configured"
    given = f"http://127.0.0.1:{_closed_port()}/given"
    answer = await _graphql(_settings(tmp_path, gateway_url=configured), gateway_url=given)
    assert answer.status_code == 502, answer.text
    assert given in answer.json()["detail"]
    assert configured not in answer.json()["detail"]


async def test_without_a_gateway_graphql_is_answered_in_process(tmp_path: Path) -> None:
    answer = await _graphql(_settings(tmp_path))
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"] == "the body is not a JSON GraphQL request"


def test_the_upload_limit_comes_from_the_settings_unless_given(tmp_path: Path) -> None:
    assert create_api(_settings(tmp_path), graphql=False).state.api.extras["upload_max_bytes"] == 512 * 1024 * 1024
    configured = _settings(tmp_path, upload_max_bytes=1024)
    assert create_api(configured, graphql=False).state.api.extras["upload_max_bytes"] == 1024
    assert create_api(configured, graphql=False, upload_max_bytes=64).state.api.extras["upload_max_bytes"] == 64
