"""The web UI end to end in a real browser: ``cloudops api`` (uvicorn, real PostgreSQL, Redis and
chdb, the two-tenant world of tests/support/api.py) serving web/dist, driven by playwright-core
and Debian's chromium (web/e2e/run.mjs).

Apollo Gateway (gateway/, Node 20) runs in front of the API's subgraphs and the API passes
``POST /graphql`` to it: every GraphQL request of the browser goes to that one endpoint.

The browser signs in with a token, reads the overview, explores cost by service over the last
30 days and exports the CSV (compared here with the API's own CSV for the same question),
opens a recommendation and its pull request, dismisses another (checked here through the API),
uploads a billing file into the tenant's source (stored in moto's S3 and announced on the
broker's ``billing-files``, checked here) and watches its live progress reach ``reconciled``,
adds a Terraform target, and is refused once the token it signed in with is revoked.
Screenshots of every page (desktop and narrow) go to docs/ui/.

No parse or load worker runs in this world (chdb lives in this process, the agents are the
demo stack's): once the upload is announced, the test plays the workers' part for the live
events, publishing the uploaded file's ledger transitions and load receipt to the tenant's
event stream as the agents publish them.
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
from aiokafka import AIOKafkaConsumer, TopicPartition
from tests.support.api import World, make_world

from cloudops.api.app import create_api
from cloudops.api.web import web_dir
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.net import free_port
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.schemas.events import BillingFile
from cloudops.settings import AwsSettings
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.redis import publish_loaded
from cloudops.sinks.redis.events import publish_event
from cloudops.sources.objects import s3_client
from cloudops.topics.codec import decode_record
from cloudops.topics.specs import BILLING_FILES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
GATEWAY = ROOT / "gateway"
UPLOAD = ROOT / "tests" / "fixtures" / "aws" / "cur_synthetic.csv"
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
    if not (GATEWAY / "node_modules" / "@apollo" / "gateway").exists():
        pytest.fail("gateway/node_modules is missing: run `make gateway` (npm ci in gateway/)")
    return node


@pytest.fixture
async def world(
    tmp_path: Path,
    chdb_dsn: str,
    postgres_db: str,
    redis_url: str,
    unique: str,
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
) -> World:
    w = await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)
    # The dead-letter pages read the broker's DLQ topics, uploads are announced on it; tenant A's
    # source "main" (s3://bills-<a>/cur/) lives in moto.
    w.settings = w.settings.model_copy(
        update={
            "kafka": w.settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers}),
            "aws": AwsSettings(**object_store.settings()),
        }
    )
    async with s3_client(w.settings.aws) as s3:
        await s3.create_bucket(Bucket=f"bills-{w.a}")
    store = RecommendationStore(postgres_db, w.a)
    top = store.list(None, limit=100)[0]  # largest savings first: the row the browser opens first
    store.set_state(top.fingerprint, "pr_open", pr_number=42, pr_url=PR_URL, branch="cloudops/ebs-gp3")
    return w


@pytest.fixture
def api_url(world: World, tmp_path: Path) -> Iterator[str]:
    """``cloudops api``'s app on uvicorn at 127.0.0.1 (in a thread: chdb lives in this process),
    with Apollo Gateway (``gateway/server.mjs``) over its subgraphs behind ``POST /graphql``."""
    node = _prerequisites()
    assert web_dir(world.settings) == WEB / "dist"
    port, gw_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    app = create_api(world.settings, gateway_url=f"http://127.0.0.1:{gw_port}/")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    log_path = tmp_path / "gateway.log"
    env = {**os.environ, "CLOUDOPS_API_URL": f"http://127.0.0.1:{port}", "PORT": str(gw_port)}
    with log_path.open("w") as log:
        gateway = subprocess.Popen([node, "server.mjs"], cwd=GATEWAY, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "gateway ready" not in log_path.read_text():
            assert gateway.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        gateway.terminate()
        gateway.wait(20)
        server.should_exit = True
        thread.join(20)


async def _announced(bootstrap: str) -> list[BillingFile]:
    """Every ``billing-files`` event on the broker (read without a consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(BILLING_FILES.name) or set()
        tps = [TopicPartition(BILLING_FILES.name, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        batch = await consumer.getmany(*tps, timeout_ms=5000)
        return [decode_record(BillingFile, r.value) for records in batch.values() for r in records]
    finally:
        await consumer.stop()


async def _stored(aws: AwsSettings, bucket: str, key: str) -> bytes:
    async with s3_client(aws) as s3:
        got = await s3.get_object(Bucket=bucket, Key=key)
        async with got["Body"] as body:
            data: bytes = await body.read()
            return data


def _publish_progress(redis_url: str, tenant: str, ready: Path, stop: threading.Event) -> None:
    """Once the browser has uploaded a file (its id in ``ready``), publish that file's ledger
    transitions and load receipt, as the parse and load agents would."""
    while not ready.exists() or not ready.read_text().strip():
        if stop.wait(0.2):
            return
    file_id = ready.read_text().strip()
    rows = len(list(csv.reader(io.StringIO(UPLOAD.read_text())))) - 1  # the uploaded file's rows: all land

    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            for n, state in enumerate(LEDGER):
                counts = {"rows_in": rows, "rows_landed": rows, "rows_rejected": 0} if n >= 4 else {}
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
    publisher = threading.Thread(target=_publish_progress, args=(redis_url, world.a, ready, stop), daemon=True)
    publisher.start()
    env = {**os.environ, "BASE_URL": api_url, "TOKEN": token, "WORK_DIR": str(tmp_path), "SHOTS_DIR": str(SHOTS)}
    env.update(CHROMIUM=CHROMIUM, UPLOAD_FILE=str(UPLOAD))
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

    # Every GraphQL request went to /graphql and through the gateway.
    assert result["graphql"], "the UI asked no GraphQL question"
    assert all(g.startswith("/graphql gateway 200") for g in result["graphql"]), result["graphql"]

    # The upload: stored in the source's bucket under its prefix, byte for byte, audited, announced
    # once on billing-files (the event the parse worker takes), and watched to reconciled.
    uploaded = result["uploaded"]
    assert asyncio.run(_stored(world.settings.aws, f"bills-{world.a}", f"cur/{UPLOAD.name}")) == UPLOAD.read_bytes()
    events = asyncio.run(_announced(world.settings.kafka.bootstrap_servers))
    assert [(e.file_id, e.source_id, e.key) for e in events] == [(uploaded, "main", f"cur/{UPLOAD.name}")]
    trail = read_trail(world.settings.postgres.dsn or "", world.a, action="file.uploaded")
    assert [t.after and t.after["file_id"] for t in trail] == [uploaded]
    assert "reconciled" in result["live"]
    target = httpx.get(f"{api_url}/v1/targets/e2e-infra", headers=headers).json()
    assert (target["repository"], target["path"], target["token_ref"]) == (
        "acme/e2e-infra",
        "envs/prod",
        "env:E2E_GITHUB_TOKEN",
    )
    assert result["versionAfter"] == result["versionBefore"] + 1
    assert "not valid" in result["refused"]
    for page in ("signin", "overview", "explorer", "recommendations", "ingestion", "settings"):
        assert (SHOTS / f"{page}-desktop.png").stat().st_size > 5000
    for page in ("signin", "overview", "explorer", "recommendations", "ingestion", "settings"):
        assert (SHOTS / f"{page}-narrow.png").stat().st_size > 5000
