"""`cloudops demo`: the whole pipeline on embedded defaults, in one process.

Starts noida-db (Kafka wire) and moto (S3 + SQS) on loopback, chdb in-process and a
local GitHub-compatible forge (a bare git repository seeded with the sample Terraform
repository), uploads the sample billing files to a bucket whose ObjectCreated events go
to SQS, runs every agent (bridge, parse, load, recommend, propose), waits for each
file's receipt and for the savings pull requests, prints the answer, the reconciliation
and the PRs (with one diff and the time from receipt to PR), and shuts everything down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cloudops.app import create_app
from cloudops.embedded import terraform_sample_repo, terraform_sample_state
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.forge import LocalForge
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.schemas.events import BillingLoaded, file_id_for
from cloudops.settings import Settings
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect
from cloudops.sinks.clickhouse.client import close_all
from cloudops.sinks.clickhouse.planner import Query
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record
from cloudops.topics.specs import BILLING_LOADED

__all__ = ["DemoResult", "print_report", "run_demo", "sample_files", "wait_for_receipts"]

log = logging.getLogger(__name__)
BUCKET = "billing-exports"
QUEUE = "billing-object-created"
FORGE_OWNER = "acme"
FORGE_REPO = "infrastructure"
FORGE_TOKEN = "cloudops-demo-token"


@dataclass
class DemoPullRequest:
    number: int
    title: str
    branch: str
    url: str
    changed_paths: list[str]
    patch: str


@dataclass
class DemoResult:
    receipts: list[BillingLoaded]
    costs: list[dict[str, Any]]  # ProviderName, ServiceName, BilledCost, EffectiveCost, Rows
    seconds: float
    uploads: dict[str, str] = field(default_factory=dict)  # file id -> key
    pull_requests: list[DemoPullRequest] = field(default_factory=list)
    receipt_to_first_pr_s: float | None = None
    receipt_to_last_pr_s: float | None = None
    forge_repo: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.receipts) and all(r.reconciled for r in self.receipts)


def _samples() -> Path:
    return Path(str(resources.files("cloudops.embedded") / "samples"))


def sample_files() -> list[Path]:
    """The billing files shipped for the demo."""
    return sorted(p for p in _samples().iterdir() if p.suffix in (".csv", ".gz", ".parquet", ".json"))


def _handled(counters: dict[str, int]) -> int:
    """Recommendations the propose agent has finished with (any outcome)."""
    return sum(n for k, n in counters.items() if k.startswith("propose."))


async def _wait_for_pull_requests(
    forge: LocalForge, counters: dict[str, int], *, timeout: float, settle: float = 2.0
) -> tuple[list[int], float, float]:
    """PR numbers once every published recommendation was handled (and nothing new for ``settle`` s).

    Also returns when the first and the last PR appeared (wall clock).
    """
    deadline = time.monotonic() + timeout
    first_at: float | None = None
    last_at = 0.0
    seen: list[int] = []
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        numbers = await asyncio.to_thread(forge.pull_numbers, FORGE_OWNER, FORGE_REPO)
        published = counters.get("recommend.published", 0)
        if len(numbers) != len(seen) or _handled(counters) < published:
            if len(numbers) != len(seen):
                last_at = time.time()
                first_at = first_at or last_at
            seen = numbers
            quiet_since = time.monotonic()
        elif seen and time.monotonic() - quiet_since >= settle:
            break
        await asyncio.sleep(0.1)
    if first_at is None:
        raise TimeoutError(f"no pull request was opened within {timeout:.0f}s")
    return seen, first_at, last_at


async def wait_for_receipts(
    bootstrap: str, expected: set[str], *, timeout: float, on_receipt: object = None
) -> dict[str, BillingLoaded]:
    """Read ``billing-loaded`` from the beginning until a receipt for each expected file id arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    got: dict[str, BillingLoaded] = {}
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] | None = None
        while parts is None:
            parts = consumer.partitions_for_topic(BILLING_LOADED.name)
            if not parts:
                parts = None
                await consumer._client.force_metadata_update()
                if time.monotonic() > deadline:
                    raise TimeoutError("billing-loaded topic never appeared")
                await asyncio.sleep(0.2)
        tps = [TopicPartition(BILLING_LOADED.name, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while expected - set(got):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no receipt for {len(expected - set(got))} file(s) after {timeout:.0f}s")
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for records in batches.values():
                for rec in records:
                    receipt = decode_record(BillingLoaded, rec.value)
                    if receipt.file_id in expected and receipt.file_id not in got:
                        got[receipt.file_id] = receipt
                        if callable(on_receipt):
                            on_receipt(receipt)
        return got
    finally:
        await consumer.stop()


async def run_demo(
    work_dir: Path,
    *,
    files: Iterable[Path] | None = None,
    tenant: str = "demo",
    timeout: float = 300.0,
    console: Console | None = None,
) -> DemoResult:
    """Run the embedded pipeline end to end over ``files`` (default: the shipped samples)."""
    console = console or Console()
    files = list(files) if files is not None else sample_files()
    started = time.monotonic()
    broker = EmbeddedBroker(work_dir / "broker")
    store = EmbeddedObjectStore()
    app = None
    forge: LocalForge | None = None
    forge_started = False
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    try:
        with progress:
            step = progress.add_task("starting Kafka-wire broker (noida-db)", total=4)
            await asyncio.to_thread(broker.start)
            progress.update(step, advance=1, description="starting S3 + SQS (moto)")
            store.start()
            settings = Settings(
                app={"id": "cloudops-demo", "tenant": tenant, "work_dir": work_dir},
                kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
                clickhouse={"dsn": f"chdb://{(work_dir / 'chdb').resolve()}"},
                aws=store.settings(sqs_wait_seconds=1),
            )
            queue_url = await provision_bucket_queue(settings.aws, BUCKET, QUEUE)
            settings = settings.with_overrides(aws={"sqs_queue_url": queue_url})
            progress.update(step, advance=1, description="creating topics; starting the local forge")
            await ensure_topics(settings.kafka)
            repo_dir, state_file = terraform_sample_repo(), terraform_sample_state()
            forge = LocalForge(work_dir / "forge", token=FORGE_TOKEN)
            await asyncio.to_thread(forge.start)
            forge_started = True
            bare = await asyncio.to_thread(forge.create_repository, FORGE_OWNER, FORGE_REPO, seed_dir=repo_dir)
            settings = settings.with_overrides(
                github={"base_url": forge.base_url, "token": FORGE_TOKEN, "repo": f"{FORGE_OWNER}/{FORGE_REPO}"},
                terraform={"repo_dir": repo_dir, "state": str(state_file)},
            )
            progress.update(step, advance=1, description="starting agents: bridge, parse, load, recommend, propose")
            app, rt = create_app(settings, ["bridge", "parse", "load", "recommend", "propose"])
            await app.start()
            progress.update(step, advance=1, description="services up")

            up = progress.add_task("uploading billing files to s3://" + BUCKET, total=len(files))
            uploads: dict[str, str] = {}
            async with s3_client(settings.aws) as s3:
                for path in files:
                    key = f"exports/{path.name}"
                    resp = await s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
                    etag = resp["ETag"].strip('"')
                    uploads[file_id_for(tenant, f"s3://{BUCKET}/{key}", etag, resp.get("VersionId"))] = key
                    progress.advance(up)

            wait = progress.add_task("waiting for billing-loaded receipts", total=len(uploads))
            receipt_at: dict[str, float] = {}

            def on_receipt(r: BillingLoaded) -> None:
                receipt_at[r.file_id] = time.time()
                progress.advance(wait)

            receipts = await wait_for_receipts(
                settings.kafka.bootstrap_servers, set(uploads), timeout=timeout, on_receipt=on_receipt
            )
            prs_task = progress.add_task("waiting for savings pull requests (recommend -> propose)", total=None)
            numbers, first_pr_at, last_pr_at = await _wait_for_pull_requests(forge, rt.counters, timeout=timeout)
            progress.update(prs_task, total=len(numbers), completed=len(numbers))
        last_receipt = max(receipt_at.values())
        pulls = []
        for n in numbers:
            record = forge.pull_record(FORGE_OWNER, FORGE_REPO, n)
            diff = forge.pull_diff(FORGE_OWNER, FORGE_REPO, n)
            pulls.append(
                DemoPullRequest(
                    number=n,
                    title=str(record["title"]),
                    branch=str(record["head"]),
                    url=f"{forge.base_url}/repos/{FORGE_OWNER}/{FORGE_REPO}/pulls/{n}",
                    changed_paths=list(diff.changed_paths),
                    patch=diff.patch,
                )
            )
        ch = connect(settings.clickhouse_dsn)
        by_service = Query(
            metrics=("BilledCost", "EffectiveCost", "Rows"), group_by=("ProviderName", "ServiceName"), top_n=25
        )
        costs = (await Analytics(ch).run(tenant, by_service)).as_dicts()
        ordered = [receipts[fid] for fid in uploads if fid in receipts]
        return DemoResult(
            ordered,
            costs,
            time.monotonic() - started,
            uploads,
            pull_requests=pulls,
            receipt_to_first_pr_s=first_pr_at - last_receipt,
            receipt_to_last_pr_s=last_pr_at - last_receipt,
            forge_repo=bare.path,
        )
    finally:
        if app is not None:
            with contextlib.suppress(Exception):
                await app.stop()
        if forge is not None and forge_started:
            await asyncio.to_thread(forge.stop)
        close_all()
        store.stop()
        await asyncio.to_thread(broker.stop)


def _money(totals: dict[str, object]) -> str:
    from cloudops.schemas.money import totals_text

    return totals_text(totals)


def print_report(result: DemoResult, console: Console) -> None:
    """Cost by provider and service, then one reconciliation line per file."""
    table = Table(title="Cost by provider and service (BilledCost, from ClickHouse)")
    table.add_column("Provider")
    table.add_column("Service")
    table.add_column("BilledCost", justify="right")
    table.add_column("EffectiveCost", justify="right")
    table.add_column("Rows", justify="right")
    for row in result.costs:
        table.add_row(
            str(row["ProviderName"]),
            str(row["ServiceName"]),
            f"{row['BilledCost']:.10f}",
            f"{row['EffectiveCost']:.10f}",
            str(row["Rows"]),
        )
    console.print(table)
    console.print("[bold]Reconciliation per file[/bold]")
    for r in result.receipts:
        mark = "[green]OK[/green]" if r.reconciled else "[red]MISMATCH[/red]"
        console.print(
            f"  {mark} {r.file_url} ({r.format}): rows in {r.rows_in} = landed {r.rows_landed} + rejected "
            f"{r.rows_rejected}; source {_money(dict(r.source_totals))} = "
            f"landed {_money(dict(r.landed_totals))} + rejected {_money(dict(r.rejected_totals))}"
        )
        for w in r.warnings:  # optional values that could not be read and landed as null
            console.print(f"    [yellow]warning[/yellow] {w.column}: {w.rows} row(s) {w.reason} in {w.source}")
    if result.pull_requests:
        prs = Table(title=f"Savings pull requests opened in the local forge ({FORGE_OWNER}/{FORGE_REPO})")
        prs.add_column("#", justify="right")
        prs.add_column("Title")
        prs.add_column("Branch")
        prs.add_column("Files")
        for pr in result.pull_requests:
            prs.add_row(str(pr.number), pr.title, pr.branch, ", ".join(pr.changed_paths))
        console.print(prs)
        first = result.pull_requests[0]
        console.print(f"[bold]PR #{first.number} diff[/bold] ({first.url})")
        console.print(first.patch, markup=False, highlight=False)
        if result.forge_repo is not None:
            console.print(f"Forge repository (bare git): {result.forge_repo}")
    if result.receipt_to_first_pr_s is not None:
        console.print(
            f"Time from the last billing-loaded receipt to the first pull request: {result.receipt_to_first_pr_s:.2f}s"
            f" (all {len(result.pull_requests)}: {result.receipt_to_last_pr_s or 0:.2f}s)"
        )
    console.print(f"Done in {result.seconds:.1f}s.")


def run(work_dir: Path | None, *, keep: bool, timeout: float, console: Console) -> DemoResult:
    """Blocking entry point used by the CLI: temp work dir unless one is given."""
    temp = work_dir is None
    wd = Path(tempfile.mkdtemp(prefix="cloudops-demo-")) if temp else work_dir
    assert wd is not None
    wd.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(run_demo(wd, timeout=timeout, console=console))
        print_report(result, console)
        return result
    finally:
        if temp and not keep:
            shutil.rmtree(wd, ignore_errors=True)
        elif keep or not temp:
            console.print(f"State kept in {wd}")
