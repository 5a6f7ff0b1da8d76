"""The web UI end to end in a real browser: ``cloudops api`` (uvicorn, real PostgreSQL, Redis and
chdb, the two-tenant world of tests/support/api.py) serving web/dist, driven by playwright-core
and Debian's chromium (web/e2e/run.mjs).

The browser signs in with a token, reads the overview, explores cost by service over the last
30 days and exports the CSV (compared here with the API's own CSV for the same question),
opens a recommendation and its pull request, dismisses another (checked here through the API),
watches a file's live progress reach ``reconciled`` (the ledger-transition events are published
to the tenant's event stream here, as the agents publish them), and is refused once the token it
signed in with is revoked. Screenshots of every page (desktop and narrow) go to docs/ui/.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from tests.support.api import World, make_world

from cloudops.api.app import create_api
from cloudops.api.web import web_dir
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.net import free_port
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.redis import publish_loaded
from cloudops.sinks.redis.events import publish_event

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SHOTS = ROOT / "docs" / "ui"
CHROMIUM = os.environ.get("CLOUDOPS_CHROMIUM", "/usr/bin/chromium")
PR_URL = "https://github.com/acme/infra/pull/42"
LEDGER = ("seen", "parsing", "parsed", "loading", "loaded", "reconciled")


def _prerequisites() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (the web UI needs Node 20)")
    if not (WEB / "node_modules" / "playwright-core").exists():
        pytest.fail("web/node_modules is missing: run `make web` (npm ci && npm run build in web/)")
    if not (WEB / "dist" / "index.html").exists():
        pytest.fail("web/dist is missing: run `make web`")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make services` (apt-get install chromium)")
    return node


@pytest.fixture
async def world(
    tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str, unique: str, broker: EmbeddedBroker
) -> World:
    w = await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)
    # The dead-letter pages read the broker's DLQ topics.
    w.settings = w.settings.model_copy(
        update={"kafka": w.settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})}
    )
    store = RecommendationStore(postgres_db, w.a)
    top = store.list(None, limit=100)[0]  # largest savings first: the row the browser opens first
    store.set_state(top.fingerprint, "pr_open", pr_number=42, pr_url=PR_URL, branch="cloudops/ebs-gp3")
    return w


@pytest.fixture
def api_url(world: World) -> Iterator[str]:
    """``cloudops api``'s app on uvicorn at 127.0.0.1 (in a thread: chdb lives in this process)."""
    assert web_dir(world.settings) == WEB / "dist"
    app = create_api(world.settings)
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def _publish_progress(redis_url: str, tenant: str, file_id: str, ready: Path, stop: threading.Event) -> None:
    """Once the browser watches the Ingestion page, publish one file's ledger transitions."""
    while not ready.exists():
        if stop.wait(0.2):
            return

    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            for n, state in enumerate(LEDGER):
                counts = {"rows_in": 6000, "rows_landed": 6000, "rows_rejected": 0} if n >= 4 else {}
                if state == "loaded":  # the load's receipt, as the load agent writes it (data version + 1)
                    await publish_loaded(client, tenant, file_id, counts)
                else:
                    await publish_event(client, tenant, "file", {"file_id": file_id, "state": state, **counts})
                await asyncio.sleep(0.3)
        finally:
            await client.aclose()

    asyncio.run(go())


def test_web_ui_end_to_end(world: World, api_url: str, redis_url: str, tmp_path: Path) -> None:
    node = _prerequisites()
    token = world.tokens["a"]
    headers = world.headers("a")
    # The UI and its client-side routes are served by the API; the API is unchanged around them.
    assert '<div id="root">' in httpx.get(f"{api_url}/explorer").text
    assert httpx.get(f"{api_url}/v1/nothing-here", headers=headers).status_code == 404

    ready = tmp_path / "ready-live"
    stop = threading.Event()
    publisher = threading.Thread(
        target=_publish_progress, args=(redis_url, world.a, world.files[world.a][0], ready, stop), daemon=True
    )
    publisher.start()
    env = {**os.environ, "BASE_URL": api_url, "TOKEN": token, "WORK_DIR": str(tmp_path), "SHOTS_DIR": str(SHOTS)}
    env["CHROMIUM"] = CHROMIUM
    try:
        done = subprocess.run(
            [node, "e2e/run.mjs"], cwd=WEB, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        stop.set()
        publisher.join(10)
    result = json.loads((tmp_path / "result.json").read_text())
    assert done.returncode == 0, done.stdout + done.stderr + json.dumps(result, indent=1)
    assert world.a in result["tenant"]

    # The range the UI calls "last 30 days" ends at the latest day with data.
    days = httpx.get(f"{api_url}/v1/costs", params={"granularity": "day"}, headers=headers).json()["rows"]
    latest = max(date.fromisoformat(r["Period"][:10]) for r in days)
    end, start = latest + timedelta(days=1), latest + timedelta(days=1 - 30)

    # The overview's month to date is the API's total for the latest month up to its latest day.
    mtd = httpx.get(
        f"{api_url}/v1/costs",
        params={"from": latest.replace(day=1).isoformat(), "to": end.isoformat(), "by": "BillingCurrency"},
        headers=headers,
    ).json()["rows"]
    assert [r["BillingCurrency"] for r in mtd] == ["USD"]
    assert result["mtd"] == f"${Decimal(mtd[0]['BilledCost']):,.2f}"

    # The exported CSV is the API's CSV answer to the same question.
    expected = httpx.get(
        f"{api_url}/v1/costs",
        params={
            "by": "ServiceName",
            "metric": "BilledCost",
            "from": start.isoformat(),
            "to": end.isoformat(),
            "granularity": "total",
            "format": "csv",
        },
        headers=headers,
    ).text
    exported = Path(result["csvPath"]).read_text()
    assert list(csv.DictReader(io.StringIO(exported))) == list(csv.DictReader(io.StringIO(expected)))
    assert result["explorerRows"] > 0
    shared = parse_qs(urlsplit(result["shareUrl"]).query)
    assert (json.loads(shared["by"][0]), shared["range"], shared["gran"]) == (["ServiceName"], ["30d"], ["total"])
    assert token not in json.dumps(result["urls"])

    # The recommendation opened first carries its PR; the one dismissed is dismissed.
    assert result["prHref"] == PR_URL
    dismissed = httpx.get(f"{api_url}/v1/recommendations/{result['dismissed']}", headers=headers).json()
    assert (dismissed["state"], dismissed["reason"]) == ("dismissed", "e2e: the volume is being retired")

    assert "reconciled" in result["live"]
    assert result["versionAfter"] == result["versionBefore"] + 1
    assert "not valid" in result["refused"]
    for page in ("signin", "overview", "explorer", "recommendations", "ingestion", "settings"):
        assert (SHOTS / f"{page}-desktop.png").stat().st_size > 5000
    for page in ("signin", "overview", "explorer", "recommendations", "ingestion", "settings"):
        assert (SHOTS / f"{page}-narrow.png").stat().st_size > 5000
