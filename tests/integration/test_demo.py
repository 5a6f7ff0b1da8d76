"""`cloudops demo` (the main job): two tenants on embedded services, an Azure source on Azurite, the API,
Apollo Gateway and a live subscription; `demo_stack` as the reusable running stack."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from cloudops.demo import demo_stack, sample_files, wait_for_receipts
from cloudops.embedded import compute_sample_files

pytestmark = pytest.mark.integration
AZURE_ROWS, AZURE_USD = 11, Decimal("8.5450077867")  # tests/fixtures/azure/ea_actual_small.expected.json


def _unblended(path: Path) -> tuple[int, Decimal]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows), sum((Decimal(r["lineItem/UnblendedCost"]) for r in rows), Decimal(0))


@pytest.mark.timeout(900)  # the whole stack on a shared 2-core machine
async def test_demo_stack_two_tenants_azure_api_and_live_receipts(tmp_path: Path) -> None:
    from cloudops.sinks.clickhouse.client import close_all

    close_all()
    async with demo_stack(tmp_path, timeout=600) as stack:
        assert stack.ok
        assert stack.skipped == [], stack.skipped  # `make integration` installs Azurite, the gateway and the UI
        acme, globex = stack.tenants["acme"], stack.tenants["globex"]

        # Each tenant's S3 files (its prefix of the shared bucket) landed to the cent, in its own database.
        for tenant, files in ((acme, sample_files()), (globex, compute_sample_files())):
            by_name = {Path(r.file_url).name: r for r in tenant.receipts if r.file_url.startswith("s3://")}
            assert sorted(by_name) == sorted(p.name for p in files)
            for path in files:
                rows, total = _unblended(path)
                assert by_name[path.name].file_url == f"s3://billing-exports/{tenant.id}/exports/{path.name}"
                assert (by_name[path.name].rows_landed, by_name[path.name].landed_totals) == (rows, {"USD": total})
        # globex's Azure Blob source (Azurite, found by the schedule's listing) landed beside S3.
        [azure] = [r for r in globex.receipts if r.file_url.startswith("az://")]
        assert (
            azure.file_url
            == "az://cost-exports/exports/monthly-actual/20230901-20230930/ActualCost_20230901-20230930.csv"
        )
        assert (azure.reconciled, azure.rows_landed, azure.landed_totals) == (True, AZURE_ROWS, {"USD": AZURE_USD})
        assert not any(r.file_url.startswith("az://") for r in acme.receipts)
        # The totals printed are the same money: each tenant's own files only.
        assert acme.billed_total == sum((_unblended(p)[1] for p in sample_files()), Decimal(0))
        assert globex.billed_total == sum((_unblended(p)[1] for p in compute_sample_files()), Decimal(0)) + AZURE_USD
        assert {c["ProviderName"] for c in globex.costs} == {"AWS", "Microsoft"}

        # The loop is closed per tenant: one PR per Terraform-addressable saving, in the tenant's repository.
        for tenant in (acme, globex):
            titles = sorted(pr.title for pr in tenant.pull_requests)
            assert len(titles) == 6, (tenant.id, titles)
            assert any("vol-0a1b2c3d4e5f60001 from gp2 to gp3" in t for t in titles)
            assert any("i-0a1b2c3d4e5f60011 from m4.large to m5.large" in t for t in titles)
            assert all(pr.changed_paths == ["main.tf"] for pr in tenant.pull_requests)
            assert all(f"/repos/{tenant.repository}/pulls/" in pr.url for pr in tenant.pull_requests)
        assert stack.receipt_to_first_pr_s is not None

        # Each tenant's subscription received the receipt of every file it loaded, and none of the other's.
        for tenant, other in ((acme, globex), (globex, acme)):
            live = {d["file_id"] for d in tenant.live_receipts}
            assert {r.file_id for r in tenant.receipts} <= live
            assert not live & {r.file_id for r in other.receipts}
            assert all(d["tenant"] == tenant.id for d in tenant.live_receipts)

        # The printed curl line answers the cost query, with the same money as the report.
        if shutil.which("curl"):
            done = subprocess.run(["sh", "-c", stack.curl], capture_output=True, text=True, timeout=60, check=True)
            assert '"rows"' in done.stdout
        headers = {"Authorization": f"Bearer {acme.token}"}
        async with httpx.AsyncClient(timeout=60) as http:
            rows = stack.cost_answer["rows"]
            ec2 = next(c for c in acme.costs if c["ServiceName"] == "Amazon Elastic Compute Cloud")
            assert Decimal(rows[0]["BilledCost"]) == ec2["BilledCost"]
            assert (await http.get(f"{stack.api_url}/v1/tenant", headers=headers)).json()["id"] == "acme"
            # Apollo Gateway answers a cross-subgraph question with the tenant's token.
            assert stack.gateway_url is not None
            query = "{ recommendations(first: 10) { nodes { fingerprint cost { resourceId } } } }"
            got = (await http.post(stack.gateway_url, json={"query": query}, headers=headers)).json()
            assert "errors" not in got, got
            assert len(got["data"]["recommendations"]["nodes"]) >= 6
            # The API's own POST /graphql (the web UI's path) passes the operation to the gateway.
            via_api = (await http.post(f"{stack.api_url}/graphql", json={"query": query}, headers=headers)).json()
            assert via_api == got
            assert stack.web_url is not None
            assert (await http.get(stack.web_url)).status_code == 200

        # The stack keeps running: one more file dropped into a tenant's prefix is loaded too.
        url = await stack.upload("globex", compute_sample_files()[0], key="late/extra.csv")
        assert url == "s3://billing-exports/globex/late/extra.csv"
        got_late = await wait_for_receipts(stack.settings.kafka.bootstrap_servers, {("globex", url)}, timeout=120)
        assert got_late[("globex", url)].reconciled


@pytest.mark.timeout(900)
def test_demo_command_prints_both_tenants_and_the_api(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "250"}
    cmd = [sys.executable, "-m", "cloudops", "demo", "--work-dir", str(tmp_path / "wd")]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            out, err = proc.communicate(timeout=800)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # like Ctrl-C: the demo stops the servers it started
            out, err = proc.communicate(timeout=60)
            pytest.fail(f"cloudops demo did not finish in 800 s:\n{out[-3000:]}\n{err[-3000:]}")
    assert proc.returncode == 0, out + err
    for tenant in ("acme", "globex"):
        assert f"Reconciliation per file ({tenant})" in out
        assert f"Savings pull requests of {tenant}, opened in the local forge ({tenant}/infrastructure)" in out
        assert f"Subscription /graphql/live ({tenant}): " in out
        assert f"Token of {tenant}:" in out
        assert f"subscription {tenant}: receipt of s3://billing-exports/{tenant}/exports/" in out
    assert "OK s3://billing-exports/acme/exports/aws-cur-2023-11.csv" in out
    assert "OK az://cost-exports/exports/monthly-actual/20230901-20230930/ActualCost_20230901-20230930.csv" in out
    assert "4 of 4 receipts received live" in out
    assert "Time from the last S3 file's billing-loaded receipt to the first pull request" in out
    assert "REST API:          http://127.0.0.1:" in out
    assert "GraphQL gateway:   http://127.0.0.1:" in out
    assert "curl -s -H 'Authorization: Bearer cop_" in out
    assert "answered with 5 row(s)" in out
