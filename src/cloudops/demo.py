"""`cloudops demo`: the whole pipeline, two tenants, on embedded services, in one process.

Starts noida-db (Kafka wire), moto (S3 + SQS), PostgreSQL and Redis (throwaway servers), Azurite
(Azure Blob, when ``make azurite`` installed it), chdb in-process and a local GitHub-compatible forge
with one copy of the sample Terraform repository per tenant. Two tenants are created through the
service layer, each with its own S3 source (one bucket, one prefix each: the bridge routes every
ObjectCreated event by prefix), its own Terraform target (its own forge repository) and its own
API token; the second tenant also reads an Azure Blob container by schedule. ``cloudops api``
(REST, GraphQL subgraphs, ``/graphql/live``, the web UI when built) runs on uvicorn, Apollo Gateway
(``make gateway``) in front of it. A ``graphql-transport-ws`` subscription per tenant is opened
before the files are dropped and shows each receipt as it arrives. Then every agent runs until
each file's ``billing-loaded`` receipt and the savings pull requests are in; the report prints each
tenant's costs, reconciliation and PRs, the URLs, tokens and a ``curl`` line that answers a cost
query.

:func:`demo_stack` is the same stack as a reusable async context manager (the web UI's end-to-end
test can run against it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from azure.storage.blob.aio import BlobServiceClient
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from cloudops.api.app import create_api
from cloudops.api.web import web_dir
from cloudops.app import create_app
from cloudops.embedded import compute_sample_files, samples_dir, terraform_sample_repo, terraform_sample_state
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.forge import LocalForge
from cloudops.embedded.net import free_port
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.embedded.servers import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    AzuriteServer,
    GatewayServer,
    PostgresServer,
    RedisServer,
    ServiceError,
    ServiceUnavailable,
)
from cloudops.schemas.events import BillingLoaded, file_id_for
from cloudops.service import Caller
from cloudops.service import sources as sources_svc
from cloudops.service import targets as targets_svc
from cloudops.service import tenants as tenants_svc
from cloudops.service.tokens import SCOPES, create_token
from cloudops.settings import Settings
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect as clickhouse
from cloudops.sinks.clickhouse.client import close_all
from cloudops.sinks.clickhouse.planner import Query
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record
from cloudops.topics.specs import BILLING_LOADED

__all__ = [
    "DemoPullRequest",
    "DemoStack",
    "DemoTenant",
    "DemoUnavailable",
    "azure_sample_file",
    "demo_stack",
    "print_report",
    "sample_files",
    "wait_for_receipts",
]

log = logging.getLogger(__name__)
BUCKET = "billing-exports"
QUEUE = "billing-object-created"
CONTAINER = "cost-exports"
AZURE_KEY = "exports/monthly-actual/20230901-20230930/ActualCost_20230901-20230930.csv"
FORGE_TOKEN = "cloudops-demo-token"
TENANT_SCOPES = tuple(s for s in SCOPES if s != "tenants:admin")
LIVE_QUERY = "subscription($k: [String!]) { events(kinds: $k) { id kind at data } }"


class DemoUnavailable(RuntimeError):
    """A server the demo cannot run without is not installed (one line: what to install)."""


@dataclass
class DemoPullRequest:
    number: int
    title: str
    branch: str
    url: str
    changed_paths: list[str]
    patch: str


@dataclass
class DemoTenant:
    """One demo tenant: its sources, token, repository and what the run produced for it."""

    id: str
    files: list[Path]
    """Sample files dropped into its S3 source (under ``<id>/`` in the shared bucket)."""
    azure: bool = False
    """Whether it also has the Azure Blob source (Azurite)."""
    token: str = ""
    """API token of the tenant (every tenant scope), printed by the demo."""
    uploads: dict[str, str] = field(default_factory=dict)
    """URL of each dropped file -> source id."""
    file_ids: dict[str, str] = field(default_factory=dict)
    """File id of each dropped file (as the ledger and the receipts name it) -> its URL."""
    receipts: list[BillingLoaded] = field(default_factory=list)
    live_receipts: list[dict[str, Any]] = field(default_factory=list)
    """``loaded`` events the tenant's ``/graphql/live`` subscription received (``data`` of each)."""
    costs: list[dict[str, Any]] = field(default_factory=list)
    """ProviderName, ServiceName, BilledCost, EffectiveCost, Rows: the cost table the report prints."""
    pull_requests: list[DemoPullRequest] = field(default_factory=list)

    @property
    def repository(self) -> str:
        """``owner/name`` of its Terraform repository on the local forge."""
        return f"{self.id}/infrastructure"

    @property
    def billed_total(self) -> Decimal:
        """Sum of BilledCost over its cost table (all sample bills are USD)."""
        return sum((Decimal(c["BilledCost"]) for c in self.costs), Decimal(0))

    @property
    def ok(self) -> bool:
        return (
            bool(self.receipts) and len(self.receipts) == len(self.uploads) and all(r.reconciled for r in self.receipts)
        )


@dataclass
class DemoStack:
    """The running demo: services, URLs, tenants with their tokens and results.

    URLs are loopback and valid while the :func:`demo_stack` context is open. ``gateway_url`` is
    None when Apollo Gateway is not installed, ``web_url`` None when the UI is not built;
    ``skipped`` says why in one line each.
    """

    settings: Settings
    api_url: str
    gateway_url: str | None
    web_url: str | None
    forge_url: str
    admin_token: str
    tenants: dict[str, DemoTenant]
    seconds: float = 0.0
    receipt_to_first_pr_s: float | None = None
    receipt_to_last_pr_s: float | None = None
    skipped: list[str] = field(default_factory=list)
    cost_answer: dict[str, Any] = field(default_factory=dict)
    """The JSON answer of :attr:`curl` (run once by the demo, with the first tenant's token)."""

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tenants.values())

    @property
    def curl(self) -> str:
        """A ``curl`` command line answering a cost query (cost by service) for the first tenant."""
        first = next(iter(self.tenants.values()))
        url = f"{self.api_url}/v1/costs?by=ServiceName&top=5"
        return f"curl -s -H {shlex.quote('Authorization: Bearer ' + first.token)} {shlex.quote(url)}"

    async def upload(self, tenant: str, path: Path, *, key: str | None = None) -> str:
        """Drop ``path`` into ``tenant``'s S3 source (its prefix of the shared bucket); returns its URL.

        The bucket's ObjectCreated event takes it through the running agents like the samples."""
        key = f"{tenant}/{key or path.name}"
        async with s3_client(self.settings.aws) as s3:
            await s3.put_object(Bucket=BUCKET, Key=key, Body=await asyncio.to_thread(path.read_bytes))
        return f"s3://{BUCKET}/{key}"


def sample_files() -> list[Path]:
    """The AWS billing files shipped for the demo (the public CUR sample and the compute bills)."""
    return sorted(p for p in samples_dir().iterdir() if p.name.startswith("aws-") and p.suffix == ".csv")


def azure_sample_file() -> Path:
    """The Azure EA actual-cost export the demo writes to Azurite."""
    return samples_dir() / "azure-ea-actual-2023-09.csv"


def _default_tenants() -> list[DemoTenant]:
    """acme: every AWS sample; globex: the compute bills (its own PRs) plus the Azure export."""
    return [DemoTenant("acme", sample_files()), DemoTenant("globex", compute_sample_files(), azure=True)]


def _handled(counters: dict[str, int]) -> int:
    """Recommendations the propose agent has finished with (any outcome)."""
    return sum(n for k, n in counters.items() if k.startswith("propose."))


async def _wait_for_pull_requests(
    forge: LocalForge,
    repos: list[str],
    need: list[str],
    counters: dict[str, int],
    *,
    timeout: float,
    settle: float = 2.0,
) -> tuple[dict[str, list[int]], float, float]:
    """PR numbers per repository once each repository of ``need`` has one, every published
    recommendation was handled and nothing changed for ``settle`` s. Also returns when the first and
    the last PR appeared (wall clock)."""
    deadline = time.monotonic() + timeout
    first_at: float | None = None
    last_at = 0.0
    seen: dict[str, list[int]] = {r: [] for r in repos}
    quiet_since = time.monotonic()

    def numbers() -> dict[str, list[int]]:
        return {r: forge.pull_numbers(*r.split("/")) for r in repos}

    while time.monotonic() < deadline:
        now = await asyncio.to_thread(numbers)
        published = counters.get("recommend.published", 0)
        if now != seen or _handled(counters) < published:
            if now != seen:
                last_at = time.time()
                first_at = first_at or last_at
            seen = now
            quiet_since = time.monotonic()
        elif all(seen[r] for r in need) and time.monotonic() - quiet_since >= settle:
            break
        await asyncio.sleep(0.1)
    if first_at is None:
        raise TimeoutError(f"no pull request was opened within {timeout:.0f}s")
    return seen, first_at, last_at


async def wait_for_receipts(
    bootstrap: str,
    expected: set[tuple[str, str]],
    *,
    timeout: float,
    on_receipt: Callable[[BillingLoaded], None] | None = None,
) -> dict[tuple[str, str], BillingLoaded]:
    """Read ``billing-loaded`` from the beginning until a receipt for each expected (tenant, file URL)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    got: dict[tuple[str, str], BillingLoaded] = {}
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] | None = None
        while not parts:
            parts = consumer.partitions_for_topic(BILLING_LOADED.name)
            if not parts:
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
                missing = sorted(url for _t, url in expected - set(got))
                raise TimeoutError(f"no receipt after {timeout:.0f}s for {', '.join(missing)}")
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for records in batches.values():
                for rec in records:
                    receipt = decode_record(BillingLoaded, rec.value)
                    which = (receipt.tenant, receipt.file_url)
                    if which in expected and which not in got:
                        got[which] = receipt
                        if on_receipt is not None:
                            on_receipt(receipt)
        return got
    finally:
        await consumer.stop()


class _Subscription:
    """One tenant's ``graphql-transport-ws`` subscription to its ``loaded`` events (the receipts)."""

    def __init__(self, api_url: str, tenant: DemoTenant, on_event: Callable[[DemoTenant, dict[str, Any]], None]):
        self.url = api_url.replace("http://", "ws://", 1) + "/graphql/live"
        self.tenant = tenant
        self.on_event = on_event
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, authenticate and subscribe; returns once the server acknowledged the connection."""
        self._ws = ws = await connect(self.url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.tenant.token}"}}
        await ws.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if ack.get("type") != "connection_ack":
            raise ServiceError(f"/graphql/live refused the demo's subscription: {ack}")
        payload = {"query": LIVE_QUERY, "variables": {"k": ["loaded"]}}
        await ws.send(json.dumps({"id": "receipts", "type": "subscribe", "payload": payload}))
        self._task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif msg.get("type") == "next":
                event = msg["payload"]["data"]["events"]
                self.tenant.live_receipts.append(event["data"])
                self.on_event(self.tenant, event["data"])
            elif msg.get("type") in ("error", "complete"):
                log.warning("demo: subscription of %s ended: %s", self.tenant.id, msg)
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()


class _Api:
    """``cloudops api`` on uvicorn in a thread (its own event loop), on a free loopback port.

    The port is chosen at once, so Apollo Gateway can be started (pointing here) before the API,
    whose ``POST /graphql`` then goes through the gateway (:meth:`start`)."""

    def __init__(self) -> None:
        self.port = free_port("127.0.0.1")
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, settings: Settings, gateway_url: str | None, timeout: float = 30.0) -> None:
        app = create_api(settings, gateway_url=gateway_url)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets-sansio")
        self.server = server = uvicorn.Server(config)
        self.thread = thread = threading.Thread(target=server.run, name="cloudops-demo-api", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServiceError(f"cloudops api did not start on port {self.port}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            await asyncio.to_thread(self.thread.join, 20)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _settings(work_dir: Path, broker: EmbeddedBroker, store: EmbeddedObjectStore, pg: str, redis: str) -> Settings:
    return Settings(
        app={"id": "cloudops-demo", "tenant": "demo", "work_dir": work_dir},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": f"chdb://{(work_dir / 'chdb').resolve()}"},
        postgres={"dsn": pg},
        redis={"url": redis},
        aws=store.settings(sqs_wait_seconds=1),
        ingest={"schedule_tick_s": 2.0, "routes_ttl_s": 1.0},
        load={"sweep_interval_s": 2.0},
        terraform={"state": str(terraform_sample_state())},
    )


def _provision(
    settings: Settings, tenants: list[DemoTenant], forge: LocalForge, token_ref: str, azure: AzuriteServer | None
) -> str:
    """Create the tenants, their sources, targets and tokens through the service layer; returns an
    admin token. ``azure``: the Azurite server of the Azure sources (None: no Azure source)."""
    op = Caller(actor="cli:demo", tenant=None, settings=settings, platform=True)
    dsn = settings.postgres.dsn or ""
    state = str(terraform_sample_state())
    creds = settings.app.work_dir / "azurite-credentials.json"
    creds.write_text(json.dumps({"access_key_id": AZURITE_ACCOUNT, "secret_access_key": AZURITE_KEY}))
    for t in tenants:
        tenants_svc.create_tenant(op, t.id, display_name=t.id.capitalize())
        me = op.acting_for(t.id)
        sources_svc.add_source(me, "aws-cur", provider="aws", bucket=BUCKET, prefix=f"{t.id}/")
        if azure is not None and t.azure:
            sources_svc.add_source(
                me,
                "azure-ea",
                provider="azure",
                kind="azure-blob",
                bucket=CONTAINER,
                prefix="exports/",
                endpoint_url=azure.blob_url,
                credentials_ref=f"file:{creds}",
                schedule_s=60,
                options={"dataset": "actual"},
                check=True,
            )
        targets_svc.set_target(
            me, "infra", repository=t.repository, token_ref=token_ref, state_refs=[state], api_url=forge.base_url
        )
        t.token = create_token(
            dsn, tenant=t.id, scopes=TENANT_SCOPES, name="demo", expires_at=None, actor="cli:demo"
        ).secret
    admin = create_token(dsn, tenant=None, scopes=list(SCOPES), name="demo-admin", expires_at=None, actor="cli:demo")
    return admin.secret


async def _drop_files(
    settings: Settings, tenants: list[DemoTenant], azure: AzuriteServer | None, advance: Callable[[], None]
) -> None:
    """Upload each tenant's samples to its prefix of the bucket (ObjectCreated -> SQS -> bridge) and
    the Azure export to the container (found by the schedule agent's listing)."""
    async with s3_client(settings.aws) as s3:
        for t in tenants:
            for path in t.files:
                key = f"{t.id}/exports/{path.name}"
                put = await s3.put_object(Bucket=BUCKET, Key=key, Body=await asyncio.to_thread(path.read_bytes))
                url = f"s3://{BUCKET}/{key}"
                t.uploads[url] = "aws-cur"
                t.file_ids[file_id_for(t.id, url, put["ETag"].strip('"'), put.get("VersionId"))] = url
                advance()
    if azure is None:
        return
    async with BlobServiceClient(azure.blob_url, credential=azure.credential) as svc:
        container = svc.get_container_client(CONTAINER)
        for t in tenants:
            if t.azure:
                body = await asyncio.to_thread(azure_sample_file().read_bytes)
                blob = await container.upload_blob(AZURE_KEY, body, overwrite=True)
                url = f"az://{CONTAINER}/{AZURE_KEY}"
                t.uploads[url] = "azure-ea"
                etag = str((await blob.get_blob_properties()).etag).strip('"')
                t.file_ids[file_id_for(t.id, url, etag, None)] = url
                advance()


async def _costs(settings: Settings, tenant: str) -> list[dict[str, Any]]:
    by_service = Query(
        metrics=("BilledCost", "EffectiveCost", "Rows"), group_by=("ProviderName", "ServiceName"), top_n=25
    )
    return (await Analytics(clickhouse(settings.clickhouse_dsn)).run(tenant, by_service)).as_dicts()


async def _wait_live(tenants: list[DemoTenant], timeout: float) -> None:
    """Give the subscriptions a moment to deliver the receipts the broker already has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(t.live_receipts) >= len(t.uploads) for t in tenants):
            return
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def demo_stack(
    work_dir: Path,
    *,
    tenants: Iterable[DemoTenant] | None = None,
    timeout: float = 300.0,
    console: Console | None = None,
    azure: bool = True,
    gateway: bool = True,
) -> AsyncIterator[DemoStack]:
    """Start the demo's services, run the pipeline for every tenant and yield the running stack.

    Yields once every dropped file has its receipt and the savings PRs are open; everything (agents,
    API, gateway, servers) keeps running until the block exits, so a caller may sign in with a
    tenant's token, query the API and gateway, or :meth:`DemoStack.upload` more files. ``azure`` /
    ``gateway``: use Azurite / Apollo Gateway when installed (else skipped, with the reason in
    ``skipped``). Raises :class:`DemoUnavailable` when PostgreSQL or Redis is not installed,
    TimeoutError when receipts or PRs do not come within ``timeout`` s.
    """
    console = console or Console()
    chosen = list(tenants) if tenants is not None else _default_tenants()
    started = time.monotonic()
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    broker = EmbeddedBroker(work_dir / "broker")
    store = EmbeddedObjectStore()
    pg, redis = PostgresServer(), RedisServer()
    azurite: AzuriteServer | None = None
    forge = LocalForge(work_dir / "forge", token=FORGE_TOKEN)
    skipped: list[str] = []
    stops: list[Callable[[], Any]] = []  # run in reverse at exit
    progress = _progress(console)
    try:
        with progress:
            step = progress.add_task("starting PostgreSQL and Redis", total=6)
            try:
                await asyncio.to_thread(pg.start)
                stops.append(pg.stop)
                await asyncio.to_thread(redis.start)
                stops.append(redis.stop)
            except ServiceUnavailable as exc:
                raise DemoUnavailable(f"the demo needs {exc} (or run `make demo`, which installs it as root)") from None
            progress.update(step, advance=1, description="starting Kafka-wire broker (noida-db)")
            await asyncio.to_thread(broker.start)
            stops.append(broker.stop)
            progress.update(step, advance=1, description="starting S3 + SQS (moto) and Azure Blob (Azurite)")
            store.start()
            stops.append(store.stop)
            if azure and any(t.azure for t in chosen):
                try:
                    azurite = await asyncio.to_thread(AzuriteServer().start)
                    stops.append(azurite.stop)
                except ServiceError as exc:
                    skipped.append(f"Azure source skipped: {str(exc).splitlines()[0]}")
            for t in chosen:
                t.azure = t.azure and azurite is not None
            settings = _settings(work_dir, broker, store, pg.dsn, redis.url)
            queue_url = await provision_bucket_queue(settings.aws, BUCKET, QUEUE)
            settings = settings.with_overrides(aws={"sqs_queue_url": queue_url})
            if azurite is not None:
                async with BlobServiceClient(azurite.blob_url, credential=azurite.credential) as svc:
                    await svc.create_container(CONTAINER)
            progress.update(step, advance=1, description="creating topics; starting the local forge")
            await ensure_topics(settings.kafka)
            for t in chosen:
                await asyncio.to_thread(
                    forge.create_repository, *t.repository.split("/"), seed_dir=terraform_sample_repo()
                )
            await asyncio.to_thread(forge.start)
            stops.append(forge.stop)
            token_file = work_dir / "forge-token"
            token_file.write_text(FORGE_TOKEN)
            progress.update(step, advance=1, description="tenants, sources, targets and tokens (service layer)")
            admin = await asyncio.to_thread(_provision, settings, chosen, forge, f"file:{token_file}", azurite)
            progress.update(step, advance=1, description="starting agents, cloudops api and Apollo Gateway")
            app, rt = create_app(settings, ["bridge", "schedule", "parse", "load", "recommend", "propose"])
            await app.start()
            stops.append(app.stop)
            api = _Api()
            gateway_url = None
            if gateway:  # first: it reads the committed supergraph, and calls the API only per request
                gw = GatewayServer(api.url)
                try:
                    await asyncio.to_thread(gw.start)
                    stops.append(gw.stop)
                    gateway_url = gw.url
                except ServiceError as exc:
                    skipped.append(f"GraphQL gateway skipped: {str(exc).splitlines()[0]}")
            await api.start(settings, gateway_url)
            stops.append(api.stop)
            web_url = f"{api.url}/" if web_dir(settings) is not None else None
            if web_url is None:
                skipped.append("web UI not built (make web)")
            progress.update(step, advance=1, description="services up")

            def on_live(t: DemoTenant, data: dict[str, Any]) -> None:
                detail = data.get("detail") or {}
                fid = str(data.get("file_id"))
                progress.console.print(
                    f"  [cyan]subscription[/cyan] {t.id}: receipt of {t.file_ids.get(fid, fid)} "
                    f"(rows landed {detail.get('rows_landed')}, reconciled {detail.get('reconciled')})"
                )

            subscriptions = [_Subscription(api.url, t, on_live) for t in chosen]
            for sub in subscriptions:
                await sub.start()
                stops.append(sub.stop)
            await asyncio.sleep(0.5)  # the API's event hub is reading the tenants' streams

            total = sum(len(t.files) + (1 if t.azure else 0) for t in chosen)
            up = progress.add_task(f"dropping billing files (s3://{BUCKET}, az://{CONTAINER})", total=total)
            await _drop_files(settings, chosen, azurite, lambda: progress.advance(up))

            wait = progress.add_task("waiting for billing-loaded receipts", total=total)
            receipt_at: dict[str, float] = {}

            def on_receipt(r: BillingLoaded) -> None:
                if r.file_url.startswith("s3://"):  # the Azure export waits for the schedule's listing
                    receipt_at[r.file_url] = time.time()
                progress.advance(wait)

            expected = {(t.id, url) for t in chosen for url in t.uploads}
            receipts = await wait_for_receipts(
                settings.kafka.bootstrap_servers, expected, timeout=timeout, on_receipt=on_receipt
            )
            for t in chosen:
                t.receipts = [receipts[(t.id, url)] for url in t.uploads]
            prs_task = progress.add_task("waiting for savings pull requests (recommend -> propose)", total=None)
            repos = [t.repository for t in chosen]
            need = [t.repository for t in chosen if set(t.files) & set(compute_sample_files())]  # bills with savings
            numbers, first_pr_at, last_pr_at = await _wait_for_pull_requests(
                forge, repos, need, rt.counters, timeout=timeout
            )
            progress.update(prs_task, total=sum(map(len, numbers.values())), completed=sum(map(len, numbers.values())))
            await _wait_live(chosen, 10.0)
        for t in chosen:
            owner, name = t.repository.split("/")
            for n in numbers[t.repository]:
                record = forge.pull_record(owner, name, n)
                diff = forge.pull_diff(owner, name, n)
                url = f"{forge.base_url}/repos/{owner}/{name}/pulls/{n}"
                t.pull_requests.append(
                    DemoPullRequest(
                        n, str(record["title"]), str(record["head"]), url, list(diff.changed_paths), diff.patch
                    )
                )
            t.costs = await _costs(settings, t.id)
        stack = DemoStack(
            settings,
            api.url,
            gateway_url,
            web_url,
            forge.base_url,
            admin,
            {t.id: t for t in chosen},
            skipped=skipped,
        )
        async with httpx.AsyncClient(timeout=60) as http:
            first = chosen[0]
            answer = await http.get(
                f"{api.url}/v1/costs",
                params={"by": "ServiceName", "top": 5},
                headers={"Authorization": f"Bearer {first.token}"},
            )
            answer.raise_for_status()
            stack.cost_answer = answer.json()
        last_receipt = max(receipt_at.values())
        stack.receipt_to_first_pr_s = first_pr_at - last_receipt
        stack.receipt_to_last_pr_s = last_pr_at - last_receipt
        stack.seconds = time.monotonic() - started
        yield stack
    finally:
        for stop in reversed(stops):
            began = time.monotonic()
            with contextlib.suppress(Exception):
                done = stop()
                if asyncio.iscoroutine(done):
                    await done
            log.debug("demo: %s took %.1fs", getattr(stop, "__qualname__", stop), time.monotonic() - began)
        close_all()


def _money(totals: dict[str, object]) -> str:
    from cloudops.schemas.money import totals_text

    return totals_text(totals)


def _print_tenant(t: DemoTenant, console: Console) -> None:
    console.rule(f"[bold]Tenant {t.id}[/bold]")
    table = Table(title=f"{t.id}: cost by provider and service (from ClickHouse tenant_{t.id})")
    for name, justify in (
        ("Provider", "left"),
        ("Service", "left"),
        ("BilledCost", "right"),
        ("EffectiveCost", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("Rows", justify="right")
    for row in t.costs:
        table.add_row(
            str(row["ProviderName"]),
            str(row["ServiceName"]),
            f"{row['BilledCost']:.10f}",
            f"{row['EffectiveCost']:.10f}",
            str(row["Rows"]),
        )
    console.print(table)
    console.print(f"{t.id} total BilledCost: USD {t.billed_total:.10f}")
    console.print(f"[bold]Reconciliation per file ({t.id})[/bold]")
    for r in t.receipts:
        mark = "[green]OK[/green]" if r.reconciled else "[red]MISMATCH[/red]"
        console.print(
            f"  {mark} {r.file_url} ({r.format}): rows in {r.rows_in} = landed {r.rows_landed} + rejected "
            f"{r.rows_rejected}; source {_money(dict(r.source_totals))} = "
            f"landed {_money(dict(r.landed_totals))} + rejected {_money(dict(r.rejected_totals))}"
        )
        for w in r.warnings:  # optional values that could not be read and landed as null
            console.print(f"    [yellow]warning[/yellow] {w.column}: {w.rows} row(s) {w.reason} in {w.source}")
    received = {d.get("file_id") for d in t.live_receipts}
    console.print(
        f"Subscription /graphql/live ({t.id}): {sum(r.file_id in received for r in t.receipts)} of "
        f"{len(t.receipts)} receipts received live"
    )
    if t.pull_requests:
        prs = Table(title=f"Savings pull requests of {t.id}, opened in the local forge ({t.repository})")
        prs.add_column("#", justify="right")
        prs.add_column("Title")
        prs.add_column("Branch")
        prs.add_column("Files")
        for pr in t.pull_requests:
            prs.add_row(str(pr.number), pr.title, pr.branch, ", ".join(pr.changed_paths))
        console.print(prs)


def print_report(stack: DemoStack, console: Console) -> None:
    """Per tenant: cost by provider and service, reconciliation per file, receipts seen live, PRs;
    then one PR diff, the timings, and how to reach the API, the gateway and the UI."""
    for t in stack.tenants.values():
        _print_tenant(t, console)
    with_prs = [t for t in stack.tenants.values() if t.pull_requests]
    if with_prs:
        first = with_prs[0].pull_requests[0]
        console.print(f"[bold]PR #{first.number} diff ({with_prs[0].repository})[/bold] ({first.url})")
        console.print(first.patch, markup=False, highlight=False)
    if stack.receipt_to_first_pr_s is not None:
        total = sum(len(t.pull_requests) for t in stack.tenants.values())
        console.print(
            f"Time from the last S3 file's billing-loaded receipt to the first pull request: "
            f"{stack.receipt_to_first_pr_s:.2f}s"
            f" (all {total}: {stack.receipt_to_last_pr_s or 0:.2f}s)"
        )
    console.rule("[bold]Service API[/bold]")
    console.print(f"REST API:          {stack.api_url}/v1  (OpenAPI: {stack.api_url}/openapi.json)")
    console.print(f"GraphQL gateway:   {stack.gateway_url or '-'}")
    console.print(f"Live events:       {stack.api_url.replace('http', 'ws', 1)}/graphql/live")
    console.print(f"Web UI:            {stack.web_url or '-'}")
    for t in stack.tenants.values():
        console.print(f"Token of {t.id}:".ljust(19) + t.token, markup=False, highlight=False)
    console.print("Cost by service, as curl:", markup=False)
    console.print(f"  {stack.curl}", markup=False, highlight=False, soft_wrap=True)
    rows = stack.cost_answer.get("rows", [])
    console.print(f"  answered with {len(rows)} row(s), e.g. {json.dumps(rows[:1])}", markup=False, highlight=False)
    for line in stack.skipped:
        console.print(f"[yellow]note[/yellow] {line}")
    console.print(f"Done in {stack.seconds:.1f}s.")


async def _main(work_dir: Path, *, timeout: float, serve: bool, console: Console, outcome: list[bool]) -> None:
    """The demo; ``outcome`` gets whether every file reconciled once the report is printed. SIGTERM
    stops it like Ctrl-C (the servers it started are stopped either way)."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with demo_stack(work_dir, timeout=timeout, console=console) as stack:
        print_report(stack, console)
        outcome.append(stack.ok)
        if serve:
            console.print("[bold]Serving[/bold] the API, gateway and web UI at the URLs above; Ctrl-C stops.")
            await asyncio.Event().wait()
        else:
            console.print("The services stop now; `cloudops demo --serve` keeps them up at these URLs.")


def run(work_dir: Path | None, *, keep: bool, timeout: float, console: Console, serve: bool = False) -> bool:
    """Blocking entry point used by the CLI: temp work dir unless one is given. True when every file
    of every tenant reconciled (False when interrupted before the report). Raises DemoUnavailable
    (one line) when a needed server is missing."""
    temp = work_dir is None
    wd = Path(tempfile.mkdtemp(prefix="cloudops-demo-")) if work_dir is None else work_dir
    wd.mkdir(parents=True, exist_ok=True)
    outcome: list[bool] = []
    try:
        asyncio.run(_main(wd, timeout=timeout, serve=serve, console=console, outcome=outcome))
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("stopped")
    finally:
        if temp and not keep:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            console.print(f"State kept in {wd}")
    return bool(outcome) and outcome[0]
