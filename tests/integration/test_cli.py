"""The `cloudops` command as an operator runs it: a worker process, `ingest`, `query`, `migrate`."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.kafka import read_topic

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import BillingLoaded
from cloudops.topics.codec import decode_record

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudops", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(broker: EmbeddedBroker, tmp_path: Path, unique: str, postgres_db: str, redis_url: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
    e.update(
        CLOUDOPS_APP__ID=f"cli-{unique}",
        CLOUDOPS_APP__TENANT="acme",
        CLOUDOPS_APP__WORK_DIR=str(tmp_path / "work"),
        CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        CLOUDOPS_KAFKA__SESSION_TIMEOUT_S="10",
        CLOUDOPS_CLICKHOUSE__DSN=f"chdb://{tmp_path / 'chdb'}",
        CLOUDOPS_POSTGRES__DSN=postgres_db,
        CLOUDOPS_REDIS__URL=redis_url,
        CLOUDOPS_INGEST__LOCAL_ROOT=str(SAMPLE.parent),
    )
    return e


async def test_worker_ingest_query_migrate(env: dict[str, str], tmp_path: Path) -> None:
    with SAMPLE.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    total = sum((Decimal(r["lineItem/UnblendedCost"]) for r in rows), Decimal(0))

    # Onboarding first (the worker will hold the embedded ClickHouse): the tenant's stores are provisioned.
    out = _cli(env, "tenants", "create", "acme", "--name", "Acme Corp")
    assert out.returncode == 0, out.stderr
    assert "created tenant acme (active)" in out.stdout
    assert "(PostgreSQL tenant_acme)" in out.stdout
    assert "(ClickHouse tenant_acme)" in out.stdout

    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudops",
            "worker",
            "--role",
            "parse",
            "--role",
            "load",
            "--loglevel",
            "info",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        out = _cli(env, "ingest", str(tmp_path))  # outside CLOUDOPS_INGEST__LOCAL_ROOT
        assert out.returncode == 2
        assert "is not under CLOUDOPS_INGEST__LOCAL_ROOT" in out.stderr
        out = _cli(env, "ingest", "--tenant", "nobody", str(SAMPLE))
        assert out.returncode == 2
        assert "tenant 'nobody' is unknown" in out.stderr
        out = _cli(env, "ingest", str(SAMPLE))
        assert out.returncode == 0, out.stderr
        assert "announced 1 file(s)" in out.stdout
        recs = await read_topic(env["CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS"], "billing-loaded", until=bool, timeout=120)
        receipt = decode_record(BillingLoaded, recs[0].value)
        assert receipt.reconciled
        assert receipt.rows_landed == len(rows)
        assert receipt.landed_totals == {"USD": total}
        assert receipt.file_url.startswith("file://")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()

    # The worker released the embedded engine; the query command reads the same data.
    out = _cli(env, "query", "cost", "--by", "ServiceName", "--format", "json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert sum(Decimal(r["BilledCost"]) for r in result) == total
    assert {r["ServiceName"] for r in result} >= {
        "Amazon Simple Storage Service",
        "AWS Key Management Service",
    }

    out = _cli(env, "query", "cost", "--by", "ServiceName; DROP TABLE x", "--format", "json")
    assert out.returncode == 2
    assert "unknown dimension" in out.stderr

    # The planner answers from a rollup, and says so with --explain.
    out = _cli(env, "query", "cost", "--by", "ServiceName", "--granularity", "month", "--explain", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert "source: rollup_" in out.stderr  # the smallest exact rollup for this data
    assert out.stdout.splitlines()[0] == "Period,ServiceName,BilledCost"
    assert sum(Decimal(line.rsplit(",", 1)[1]) for line in out.stdout.splitlines()[1:]) == total

    # The load was announced on Redis: the tenant's data version moved.
    from cloudops.sinks.redis import current_version

    assert await current_version(env["CLOUDOPS_REDIS__URL"], "acme") >= 1

    # Tag keys: none in this sample; a promoted key gets its column and the raw-table plan uses it.
    out = _cli(env, "tags", "promote", "--top", "3")
    assert out.returncode == 2
    assert "no tag keys to promote" in out.stderr
    out = _cli(env, "tags", "promote", "cost-center")
    assert out.returncode == 0, out.stderr
    assert "promoted cost-center -> column tag_cost_center_" in out.stdout
    out = _cli(env, "tags", "list")
    assert "cost-center" in out.stdout
    off_grid = ("--from", "2023-11-01T06:00:00")  # not day-aligned: only the raw table answers
    out = _cli(env, "query", "cost", "--by", "tag:cost-center", *off_grid, "--explain", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert "promoted tag columns tag_cost_center_" in " ".join(out.stderr.split())
    assert [r["tag:cost-center"] for r in json.loads(out.stdout)] == [""]
    out = _cli(env, "tags", "demote", "cost-center")
    assert out.returncode == 0, out.stderr

    out = _cli(env, "migrate")
    assert out.returncode == 0, out.stderr
    assert "ClickHouse tenant_acme is up to date" in out.stdout
    assert "PostgreSQL tenant_acme is up to date" in out.stdout  # `tenants create` did it all
    from cloudops.sinks.postgres import list_tenants

    assert [t.id for t in list_tenants(env["CLOUDOPS_POSTGRES__DSN"])] == ["acme"]

    out = _cli(env, "sources", "add", "aws-main", "--provider", "aws", "--bucket", "bills", "--prefix", "cur/")
    assert out.returncode == 0, out.stderr
    out = _cli(env, "sources", "list")
    assert "aws-main" in out.stdout
    assert "bills" in out.stdout

    # Every error is one line and a non-zero exit, never a traceback.
    for args, message in [
        (("sources", "list", "--tenant", "Bad-Id"), "invalid tenant id"),
        (("sources", "list", "--tenant", "ghost"), "no tenant 'ghost'"),
        (("query", "cost", "--from", "yesterday"), "is not an ISO date"),
        (
            ("sources", "add", "x", "--provider", "aws", "--bucket", "b", "--credentials-ref", "AKIA123"),
            "never a secret",
        ),
        (("recommendations", "dismiss", "nope", "--reason", "no"), "no recommendation 'nope'"),
    ]:
        out = _cli(env, *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr

    out = _cli(env, "files", "list", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []  # a local file has no source, hence no ledger row
    out = _cli(env, "tenants", "list")
    assert "acme" in out.stdout
    assert "active" in out.stdout

    # Per-tenant ClickHouse users: the embedded engine refuses access management, which is
    # reported, and the migration still succeeds.
    out = subprocess.run(
        [sys.executable, "-m", "cloudops", "migrate"],
        env={**env, "CLOUDOPS_CLICKHOUSE__TENANT_PASSWORD_KEY": "test-key"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "ClickHouse user tenant_acme not created" in out.stderr

    out = _cli(env, "migrate", "--to", "0")
    assert "down 0001 focus" in out.stdout
    out = _cli(env, "migrate")
    assert "  up 0001 focus" in out.stdout

    # Routing out, suspension, two-step deletion: all through the CLI.
    out = _cli(env, "targets", "set", "prod", "--repository", "acme/infra", "--token-ref", "env:ACME_GH_TOKEN")
    assert out.returncode == 0, out.stderr
    assert "acme/infra" in _cli(env, "targets", "list").stdout
    assert _cli(env, "tenants", "suspend", "acme", "--reason", "unpaid").returncode == 0
    out = _cli(env, "ingest", str(SAMPLE))
    assert out.returncode == 2
    assert "tenant 'acme' is suspended" in out.stderr
    assert "is active" in _cli(env, "tenants", "resume", "acme").stdout
    out = _cli(env, "tenants", "delete", "acme")
    assert "marked for deletion" in out.stdout
    out = _cli(env, "sources", "add", "late", "--provider", "aws", "--bucket", "b2")
    assert out.returncode == 2
    assert "is being deleted" in out.stderr
    out = _cli(env, "tenants", "delete", "acme", "--now")
    assert out.returncode == 0, out.stderr
    assert "tenant acme purged" in out.stdout
    assert "acme" not in _cli(env, "tenants", "list").stdout
    from cloudops.sinks.postgres.audit_trail import read_trail

    actions = [r.action for r in read_trail(env["CLOUDOPS_POSTGRES__DSN"], "acme")]
    assert actions[0] == "tenant.purged"
    assert "source.added" in actions
    assert "target.set" in actions


def test_topics_schema_writes_every_topic(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cloudops", "topics", "schema", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "asyncapi.yaml").is_file()
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "asyncapi.yaml")
    assert names == sorted(
        f"{t}.v1.schema.json"
        for t in (
            "billing-files",
            "billing-files.dlq",
            "focus-batches",
            "focus-batches.dlq",
            "billing-loaded",
            "billing-loaded.dlq",
            "billing-periods",
            "billing-periods.dlq",
            "recommendations",
            "recommendations.dlq",
        )
    )
    schema = json.loads((tmp_path / "billing-files.v1.schema.json").read_text())
    assert {"tenant", "url", "key", "trigger"} <= set(schema["required"])
