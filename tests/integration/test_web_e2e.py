"""The web UI end to end in a real browser, against the demo stack (:func:`cloudops.demo.demo_stack`).

The demo's whole pipeline runs here: noida-db, moto (S3 + SQS), PostgreSQL, Redis, chdb, the
local forge, every agent (bridge, schedule, parse, load, recommend, propose), ``cloudops api``
serving web/dist and Apollo Gateway in front of its subgraphs (every GraphQL request of the
browser goes through it). playwright-core drives Debian's chromium (web/e2e/run.mjs).

The browser signs in with the token of the demo tenant ``globex``, reads the overview, explores
cost by service and exports the CSV twice: over "All time" (compared here with the cost table the
demo prints and its total, :attr:`DemoTenant.billed_total`) and over "Last 30 days" (compared
with the API's CSV for the same question). The UI anchors its ranges at the latest day with
data, 2023-11-01 here (the samples' monthly line items start on the 1st), so "Last 30 days" holds
the November 2023 line items only, not September's and October's: hence "All time" for the
demo's totals. It opens a recommendation the propose agent turned into a pull request on the
local forge (its link is checked here against the forge's API), dismisses another, uploads
the public CUR sample (November 2023) into globex's S3 source and watches its live progress
reach ``reconciled`` as the real parse and load workers take it, adds a Terraform target, and
is refused once the token it signed in with is revoked. Screenshots of every page (desktop and
narrow) go to docs/ui/; every page is checked with axe-core and for console errors.

The expected API answers are read before the browser starts: the upload changes the tenant's
costs, and the browser asks its questions before it uploads.
"""

from __future__ import annotations

import asyncio
import calendar
import csv
import io
import json
import os
import shutil
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from cloudops.demo import BUCKET, FORGE_TOKEN, DemoStack, demo_stack, sample_files, wait_for_receipts
from cloudops.schemas.events import BillingFile
from cloudops.sinks.clickhouse.client import close_all
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sources.objects import s3_client
from cloudops.topics.codec import decode_record
from cloudops.topics.specs import BILLING_FILES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SHOTS = ROOT / "docs" / "ui"
CHROMIUM = os.environ.get("CLOUDOPS_CHROMIUM", "/usr/bin/chromium")
TENANT = "globex"
# The public CUR sample (November 2023): acme has it, globex not yet; it is what the browser uploads.
UPLOAD = next(p for p in sample_files() if p.name == "aws-cur-2023-11.csv")
CENT = Decimal("0.000001")


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


async def _announced(bootstrap: str) -> list[BillingFile]:
    """Every ``billing-files`` event on the broker (read without a consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(BILLING_FILES.name) or set()
        tps = [TopicPartition(BILLING_FILES.name, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[BillingFile] = []
        while batch := await consumer.getmany(*tps, timeout_ms=3000):
            out += [decode_record(BillingFile, r.value) for records in batch.values() for r in records]
        return out
    finally:
        await consumer.stop()


async def _stored(stack: DemoStack, key: str) -> bytes:
    async with s3_client(stack.settings.aws) as s3:
        got = await s3.get_object(Bucket=BUCKET, Key=key)
        async with got["Body"] as body:
            data: bytes = await body.read()
            return data


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def _expected(http: httpx.AsyncClient) -> dict[str, Any]:
    """The API's answers to the browser's questions, before the browser uploads anything."""
    days = (await http.get("/v1/costs", params={"granularity": "day"})).json()["rows"]
    latest = max(date.fromisoformat(r["Period"][:10]) for r in days)
    end, start = latest + timedelta(days=1), latest + timedelta(days=1 - 30)
    mtd = (
        await http.get(
            "/v1/costs",
            params={"from": latest.replace(day=1).isoformat(), "to": end.isoformat(), "by": "BillingCurrency"},
        )
    ).json()["rows"]
    by_frequency = (
        await http.get(
            "/v1/costs",
            params={"from": latest.replace(day=1).isoformat(), "to": end.isoformat(), "by": "ChargeFrequency"},
        )
    ).json()["rows"]
    # The overview's stated method: usage-based charges at their run rate over the days elapsed,
    # recurring and one-time charges (the compute bills' monthly line items) as billed.
    days_in_month = calendar.monthrange(latest.year, latest.month)[1]
    forecast = sum(
        Decimal(r["BilledCost"]) * (Decimal(days_in_month) / latest.day if r["ChargeFrequency"] == "Usage-Based" else 1)
        for r in by_frequency
    )
    question = {"by": "ServiceName", "metric": "BilledCost", "granularity": "total", "format": "csv"}
    last30 = await http.get("/v1/costs", params={**question, "from": start.isoformat(), "to": end.isoformat()})
    every = await http.get("/v1/costs", params=question)
    return {
        "latest": latest,
        "range30": (start.isoformat(), end.isoformat()),
        "mtd": mtd,
        "forecast": forecast,
        "last30": last30.text,
        "all": every.text,
    }


async def _run_browser(node: str, stack: DemoStack, token: str, work: Path) -> tuple[int, str]:
    """web/e2e/run.mjs as a child process; the demo's agents keep running on this event loop."""
    assert stack.web_url is not None
    env = {**os.environ, "BASE_URL": stack.api_url, "TOKEN": token, "WORK_DIR": str(work), "SHOTS_DIR": str(SHOTS)}
    env.update(CHROMIUM=CHROMIUM, UPLOAD_FILE=str(UPLOAD), TARGET_REPOSITORY=f"{TENANT}/e2e-infra")
    proc = await asyncio.create_subprocess_exec(
        node, "e2e/run.mjs", cwd=WEB, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def test_web_ui_end_to_end_on_the_demo_stack(tmp_path: Path) -> None:
    node = _prerequisites()
    close_all()  # the demo stack opens its own chdb path (one chdb session per process)
    async with demo_stack(tmp_path / "demo", console=Console(quiet=True)) as stack:
        assert stack.ok, "the demo's files did not all reconcile"
        assert stack.web_url is not None, "web UI not built (make web)"
        assert stack.gateway_url is not None, f"the demo runs without Apollo Gateway: {stack.skipped}"
        tenant = stack.tenants[TENANT]
        headers = {"Authorization": f"Bearer {tenant.token}"}
        async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=60) as http:
            # The UI and its client-side routes are served by the API; the API is unchanged around them.
            assert '<div id="root">' in (await http.get("/explorer")).text
            assert (await http.get("/v1/nothing-here")).status_code == 404
            expected = await _expected(http)

            code, output = await _run_browser(node, stack, tenant.token, tmp_path)
            result = json.loads((tmp_path / "result.json").read_text())
            assert code == 0, output + json.dumps(result, indent=1)
            assert TENANT in result["tenant"]

            # The overview's month to date is the API's total for the latest month (November 2023).
            assert [r["BillingCurrency"] for r in expected["mtd"]] == ["USD"]
            assert result["mtd"] == f"${Decimal(expected['mtd'][0]['BilledCost']):,.2f}"
            assert expected["latest"].isoformat() in result["asof"]
            # The forecast follows its stated method (monthly line items are not multiplied by 30).
            shown = Decimal(result["forecast"].replace("$", "").replace(",", ""))
            assert abs(shown - expected["forecast"]) <= Decimal("0.01"), (result["forecast"], expected["forecast"])

            # "All time", cost by service: the demo's printed cost table (per service) and its total.
            every = _csv_rows(Path(result["csvAllPath"]).read_text())
            assert every == _csv_rows(expected["all"])
            assert result["csvAllName"].endswith("-all-all.csv")
            printed: dict[str, Decimal] = defaultdict(Decimal)
            for row in tenant.costs:
                printed[str(row["ServiceName"])] += Decimal(row["BilledCost"])
            exported = {r["ServiceName"]: Decimal(r["BilledCost"]) for r in every}
            assert {k: v.quantize(CENT) for k, v in exported.items()} == {
                k: v.quantize(CENT) for k, v in printed.items()
            }
            assert sum(exported.values()).quantize(CENT) == tenant.billed_total.quantize(CENT)

            # "Last 30 days" (anchored at the latest data): the exported CSV is the API's CSV answer.
            start, end = expected["range30"]
            assert result["csvName"].endswith(f"-{start}-{end}.csv")
            assert _csv_rows(Path(result["csvPath"]).read_text()) == _csv_rows(expected["last30"])
            assert result["explorerRows"] > 0
            shared = parse_qs(urlsplit(result["shareUrl"]).query)
            assert (json.loads(shared["by"][0]), shared["range"], shared["gran"]) == (
                ["ServiceName"],
                ["30d"],
                ["total"],
            )
            assert tenant.token not in json.dumps(result["urls"])

            # The recommendation opened carries the pull request the propose agent opened on the forge.
            numbers = {pr.number for pr in tenant.pull_requests}
            pr_href = result["prHref"]
            assert pr_href.startswith(f"{stack.forge_url}/{tenant.repository}/pull/"), pr_href
            assert int(pr_href.rsplit("/", 1)[1]) in numbers
            opened = (await http.get(f"/v1/recommendations/{result['opened']}")).json()
            assert (opened["state"], opened["pr_url"]) == ("pr_open", pr_href)
            forge = {"Authorization": f"token {FORGE_TOKEN}"}
            number = int(pr_href.rsplit("/", 1)[1])
            pull = (await http.get(f"{stack.forge_url}/repos/{tenant.repository}/pulls/{number}", headers=forge)).json()
            assert (pull["state"], pull["head"]["ref"], pull["html_url"]) == ("open", opened["branch"], pr_href)
            dismissed = (await http.get(f"/v1/recommendations/{result['dismissed']}")).json()
            assert (dismissed["state"], dismissed["reason"]) == ("dismissed", "e2e: the volume is being retired")

            # Every GraphQL request went to /graphql and through the gateway.
            assert result["graphql"], "the UI asked no GraphQL question"
            assert all(g.startswith("/graphql gateway 200") for g in result["graphql"]), result["graphql"]

            # The upload: stored under the source's prefix byte for byte, audited, announced on
            # billing-files (by the upload and by the bucket's notification: one file id), loaded and
            # reconciled by the real workers, and watched live to reconciled in the browser.
            uploaded = result["uploaded"]
            key = f"{TENANT}/{UPLOAD.name}"
            assert await _stored(stack, key) == UPLOAD.read_bytes()
            events = [e for e in await _announced(stack.settings.kafka.bootstrap_servers) if e.key == key]
            assert {(e.file_id, e.source_id, e.tenant) for e in events} == {(uploaded, "aws-cur", TENANT)}
            assert "manual" in {e.trigger for e in events}
            trail = read_trail(stack.settings.postgres.dsn or "", TENANT, action="file.uploaded")
            assert [t.after and t.after["file_id"] for t in trail] == [uploaded]
            url = f"s3://{BUCKET}/{key}"
            receipts = await wait_for_receipts(stack.settings.kafka.bootstrap_servers, {(TENANT, url)}, timeout=60)
            receipt = receipts[(TENANT, url)]
            assert (receipt.file_id, receipt.reconciled) == (uploaded, True)
            assert "reconciled" in result["live"]
            assert result["versionAfter"] > result["versionBefore"]

            target = (await http.get("/v1/targets/e2e-infra")).json()
            assert (target["repository"], target["path"], target["token_ref"]) == (
                "globex/e2e-infra",
                "envs/prod",
                "env:E2E_GITHUB_TOKEN",
            )
            assert "not valid" in result["refused"]
    for page in ("signin", "overview", "explorer", "recommendations", "ingestion", "settings"):
        assert (SHOTS / f"{page}-desktop.png").stat().st_size > 5000
        assert (SHOTS / f"{page}-narrow.png").stat().st_size > 5000
