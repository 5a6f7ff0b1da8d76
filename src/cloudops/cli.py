"""The ``cloudops`` command."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gc
import json
import logging
import sys
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from cloudops import __version__
from cloudops.errors import CloudopsError
from cloudops.schemas.events import BillingFile, ColumnWarning
from cloudops.settings import get_settings, settings_table

if TYPE_CHECKING:
    from cloudops.service.routing import Router
    from cloudops.sinks.analytics import QueryResult
    from cloudops.sinks.clickhouse import ClickHouse
    from cloudops.sinks.clickhouse.planner import Query

__all__ = ["app", "main"]  # noqa: F822 (app: the module __getattr__ below)

_cli = typer.Typer(
    help="cloudops: multi-cloud billing -> FOCUS -> ClickHouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Topic declarations and schemas.", no_args_is_help=True)
query_app = typer.Typer(help="Ask ClickHouse.", no_args_is_help=True)
_cli.add_typer(topics_app, name="topics")
_cli.add_typer(query_app, name="query")
tags_app = typer.Typer(
    help="Tag keys of a tenant: the most used, and which have their own (promoted) column.", no_args_is_help=True
)
_cli.add_typer(tags_app, name="tags")
console = Console()
err = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _freeze_heap() -> None:
    """Move every object alive now (modules, settings, rules) out of the garbage collector's sight.

    Called once a command has loaded what it keeps for its whole run. Conversion allocates many
    short-lived Arrow wrappers; each collection they trigger would otherwise walk the hundreds of
    thousands of long-lived objects that imports left behind, and so would the collection at exit
    (measured: about a sixth of `cloudops convert`'s CPU time on a 200,000-row CUR). Frozen objects
    are never collected, which is what they are: alive until the process ends.
    """
    gc.collect()
    gc.freeze()


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(name)s: %(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )
    for noisy in ("aiokafka", "faust", "mode", "werkzeug", "botocore", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


@_cli.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@_cli.command()
def demo(
    work_dir: Annotated[Path | None, typer.Option(help="Keep state here instead of a temp dir.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the temp work dir.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all receipts.")] = 300.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show agent logs.")] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="After the report, keep the API, gateway and web UI up until Ctrl-C.")
    ] = False,
) -> None:
    """Run the whole pipeline for two tenants on embedded services and print the answer."""
    try:
        from cloudops import demo as demo_mod
    except ImportError as exc:  # the runtime image installs no embedded services
        need = f"`cloudops demo` needs the embedded services ({exc.name}): pip install 'cloudops\\[embedded]'"
        err.print(f"[red]{need}[/red]")
        raise typer.Exit(2) from exc

    _logging("INFO" if verbose else "WARNING")
    try:
        ok = demo_mod.run(work_dir, keep=keep, timeout=timeout, console=console, serve=serve)
    except demo_mod.DemoUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if not ok:
        err.print("[red]some files did not reconcile[/red]")
        raise typer.Exit(1)


@_cli.command()
def worker(
    role: Annotated[
        list[str] | None, typer.Option("--role", "-r", help="bridge, schedule, parse, load (repeat); default all.")
    ] = None,
    loglevel: Annotated[str | None, typer.Option(help="Log level (default: CLOUDOPS_APP__LOG_LEVEL).")] = None,
) -> None:
    """Run the Faust worker with all agents, or only the given roles."""
    import faust

    from cloudops.agents import ROLES
    from cloudops.app import create_app

    settings = get_settings()
    level = (loglevel or settings.app.log_level).lower()
    _logging(level)
    faust_app, _rt = create_app(settings, role or list(ROLES))
    _freeze_heap()
    asyncio.run(_ensure_topics())
    w = faust.Worker(faust_app, loglevel=level, quiet=True, redirect_stdouts=False)
    w.execute_from_commandline()


async def _ensure_topics() -> list[str]:
    from cloudops.topics.admin import ensure_topics

    return await ensure_topics(get_settings().kafka)


@_cli.command()
def migrate(
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
    to: Annotated[int | None, typer.Option("--to", help="Target ClickHouse version (lower reverts).")] = None,
) -> None:
    """Apply (or revert to --to) the ClickHouse migrations of a tenant database.

    With CLOUDOPS_POSTGRES__DSN set, also brings the control plane up to date (public
    schema and the tenant's schema) and registers the tenant.
    """
    from cloudops.sinks.clickhouse import connect, database_for
    from cloudops.sinks.clickhouse import migrate as run_migrate
    from cloudops.sinks.clickhouse.client import close_all

    settings = get_settings()
    t = _tenant(tenant)
    key = settings.clickhouse.tenant_password_key
    user: bool | None = None
    try:
        ch = connect(settings.clickhouse_dsn)
        steps = run_migrate(
            ch, t, target=to, dedup_window=settings.clickhouse.dedup_window, cluster=settings.clickhouse.cluster
        )
        if key is not None:
            from cloudops.sinks.clickhouse.access import provision_tenant_user

            user = provision_tenant_user(ch, t, key.get_secret_value())
    finally:
        close_all()
    db = database_for(t)
    for direction, m in steps:
        console.print(f"{direction:>4} {m.version:04d} {m.name}  (ClickHouse {db})")
    if not steps:
        console.print(f"ClickHouse {db} is up to date")
    if user is True:
        console.print(f"ClickHouse user {db}: SELECT on {db} only (role {db}_reader)")
    elif user is False:
        err.print(f"ClickHouse user {db} not created: the server does not allow it (see the log)")
    if settings.postgres.dsn:
        from cloudops.sinks import postgres as pg

        pg_steps = pg.migrate(settings.postgres.dsn, t)
        for direction, pm in pg_steps:
            where = "public" if pm.scope == "public" else pg.schema_for(t)
            console.print(f"{direction:>4} {pm.version:04d} {pm.name}  (PostgreSQL {where})")
        if not pg_steps:
            console.print(f"PostgreSQL {pg.schema_for(t)} is up to date")
        if pg.register_tenant(settings.postgres.dsn, t):
            console.print(f"registered tenant {t}")


@_cli.command()
def ingest(
    targets: Annotated[list[str], typer.Argument(help="Local files/folders or s3://bucket/prefix.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
) -> None:
    """Announce billing files on `billing-files` (the parse agent picks them up).

    With a control plane the tenant must exist and be active, and every s3:// object must
    belong to one of its sources (the event carries that source). Local files must lie under
    CLOUDOPS_INGEST__LOCAL_ROOT.
    """
    t = _tenant(tenant)
    n = asyncio.run(_ingest(targets, t))
    console.print(f"announced {n} file(s) on billing-files")


async def _ingest(targets: list[str], tenant: str) -> int:
    from aiokafka import AIOKafkaProducer

    from cloudops.sources.objects import list_objects, split_s3_url
    from cloudops.topics.admin import ensure_topics
    from cloudops.topics.clients import client_kwargs
    from cloudops.topics.codec import encode_record
    from cloudops.topics.specs import BILLING_FILES

    settings = get_settings()
    router = await _ingest_router(tenant)
    events: list[BillingFile] = []
    for target in targets:
        if target.startswith("s3://"):
            bucket, prefix = split_s3_url(target)
            for obj in await list_objects(settings.aws, bucket, prefix):
                source_id = None
                if router is not None:
                    route = await router.route(obj.bucket, obj.key)
                    if route.tenant != tenant:
                        where = f"s3://{obj.bucket}/{obj.key}"
                        raise CloudopsError(f"{where} belongs to tenant {route.tenant}, not {tenant}")
                    source_id = route.source_id
                events.append(obj.billing_file(tenant, "manual", source_id=source_id))
        else:
            events.extend(await asyncio.to_thread(_local_events, target, tenant))
    await ensure_topics(settings.kafka)
    producer = AIOKafkaProducer(**client_kwargs(settings.kafka), acks="all")
    await producer.start()
    try:
        for ev in events:
            await producer.send_and_wait(BILLING_FILES.name, key=ev.file_id.encode(), value=encode_record(ev))
    finally:
        await producer.stop()
    return len(events)


async def _ingest_router(tenant: str) -> Router | None:
    """With a control plane: refuse a tenant that is not active; the router for s3:// targets."""
    settings = get_settings()
    if not settings.postgres.dsn:
        return None
    from cloudops.service.routing import Router
    from cloudops.service.tenants import ingest_verdict

    verdict = await asyncio.to_thread(ingest_verdict, settings.postgres.dsn, tenant)
    if verdict != "active":
        hint = " (`cloudops tenants create`)" if verdict == "unknown" else ""
        raise CloudopsError(f"tenant {tenant!r} is {verdict}: nothing announced{hint}")
    return Router(settings)


def _local_events(target: str, tenant: str) -> list[BillingFile]:
    from cloudops.sources.objects import local_path_allowed, stat_local

    root = Path(target).resolve()
    if not root.exists():
        raise CloudopsError(f"{target}: no such file or folder")
    allowed = get_settings().ingest.local_root
    if not local_path_allowed(root, allowed):
        raise CloudopsError(
            f"{target} is not under CLOUDOPS_INGEST__LOCAL_ROOT ({allowed or 'unset'}): "
            "workers read local files only there"
        )
    paths = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    events = []
    for p in paths:
        etag, size = stat_local(p)
        url = "file://" + urllib.parse.quote(str(p))
        events.append(BillingFile(tenant=tenant, url=url, key=str(p), etag=etag, size=size, trigger="manual"))
    return events


@_cli.command()
def convert(
    inputs: Annotated[list[Path], typer.Argument(help="Billing files (any supported format).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="FOCUS Parquet file to write.")],
    provider: Annotated[
        str,
        typer.Option(help="auto, aws, azure, gcp, oci, alibaba or focus: refuse files of other providers."),
    ] = "auto",
    focus_version: Annotated[
        str,
        typer.Option(
            "--focus-version",
            help="FOCUS version of the Cost and Usage output: 1.3 (default) or 1.2 (only the 1.2 columns, "
            "and no supporting datasets, which start with 1.3).",
        ),
    ] = "1.3",
) -> None:
    """Convert billing files to one FOCUS Parquet file, with a reconciliation summary per file.

    Rows of a supporting FOCUS dataset (1.3 Contract Commitment, 1.4 Billing Period or Invoice
    Detail) go to their own file next to ``--out``, ``<out stem>.<dataset table><suffix>``, with
    the columns of the version that defines the dataset.
    Source columns no rule reads are kept in x_Extensions and listed in the table.
    """
    import pyarrow as pa
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from cloudops.focus.columns import FOCUS_VERSIONS, focus_arrow_schema, version_key
    from cloudops.focus.datasets import dataset, dataset_schema
    from cloudops.focus.rules import load_all_rules
    from cloudops.sinks.parquet import FocusParquetWriter
    from cloudops.sources.converter import open_conversion

    allowed = {"auto", "aws", "azure", "gcp", "oci", "alibaba", "focus"}
    if provider not in allowed:
        raise CloudopsError(f"--provider must be one of {', '.join(sorted(allowed))}")
    if focus_version not in FOCUS_VERSIONS:
        raise CloudopsError(f"--focus-version must be one of {', '.join(FOCUS_VERSIONS)}")
    summary = Table(
        "file",
        "format",
        "rows in",
        "converted",
        "rejected",
        "FOCUS rows",
        "source total",
        "FOCUS total",
        "kept in x_Extensions",
        "warnings (left null)",
    )
    writers: dict[str, FocusParquetWriter] = {}

    def writer_for(dataset_id: str, path: Path, stack: contextlib.ExitStack) -> FocusParquetWriter:
        if dataset_id not in writers:
            if dataset_id == "CostAndUsage":
                schema = pa.schema([f.with_nullable(True) for f in focus_arrow_schema(version=focus_version)])
                target = out
            else:
                spec = dataset(dataset_id)
                if version_key(focus_version) < (1, 3):  # supporting datasets start with FOCUS 1.3
                    raise CloudopsError(
                        f"{path}: a FOCUS {spec.since} {spec.title} file; FOCUS {focus_version} has no such dataset"
                    )
                schema, target = dataset_schema(dataset_id), out.with_name(f"{out.stem}.{spec.table}{out.suffix}")
            writers[dataset_id] = stack.enter_context(FocusParquetWriter(target, schema))
        return writers[dataset_id]

    load_all_rules()  # what conversion keeps for the whole run, loaded before the heap is frozen (once)
    _freeze_heap()
    failed = False
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=err
    )
    with progress, contextlib.ExitStack() as stack:
        for path in inputs:
            if not path.is_file():
                raise CloudopsError(f"{path}: no such file")
            conv = open_conversion(
                path, source=str(path), file_id=_file_identity(path), block_size=get_settings().ingest.block_bytes
            )
            if provider != "auto" and conv.rules.provider != provider:
                raise CloudopsError(f"{path}: detected {conv.rules.id} ({conv.rules.provider}), not {provider}")
            writer = writer_for(conv.rules.dataset, path, stack)
            task = progress.add_task(path.name, total=path.stat().st_size)
            rejected = 0
            for result, malformed in conv.chunks():
                rejected += len(malformed)
                if result is not None:
                    writer.write(result.batch)
                    rejected += len(result.rejected)
                    for row in result.rejected[:3]:
                        err.print(f"[yellow]{path.name} row {row.row_number}:[/yellow] {row.reason}")
                progress.update(task, completed=conv.table.bytes_read)
            progress.update(task, completed=path.stat().st_size)
            ok = all(
                conv.source_totals.get(c, 0) == conv.converted_totals.get(c, 0) + conv.rejected_totals.get(c, 0)
                for c in conv.source_totals
            )
            failed |= not ok
            summary.add_row(
                path.name,
                conv.rules.id,
                str(conv.rows_in),
                str(conv.rows_converted),
                str(conv.rows_rejected),
                str(conv.focus_rows),
                _totals(conv.source_totals),
                _totals(conv.converted_totals) + ("" if ok else " [red]MISMATCH[/red]"),
                ", ".join(conv.unmapped) or "-",
                _warnings_text(conv.warnings),
            )
    console.print(summary)
    for name, w in writers.items():
        what = f"FOCUS {focus_version} rows" if name == "CostAndUsage" else f"{dataset(name).title} rows"
        console.print(f"wrote {w.rows} {what} to {w.out}")
    if failed:
        raise typer.Exit(1)


def _totals(totals: Mapping[str, object]) -> str:
    from cloudops.schemas.money import totals_text

    return totals_text(totals)


def _warnings_text(warnings: list[ColumnWarning]) -> str:
    """``ListUnitPrice 3 (pricing_public_on_demand_rate: 'n/a')``, one per line; ``-`` when none."""
    lines = [
        f"{w.column} {w.rows} ({w.source}" + ("" if w.sample is None else f": {w.sample!r}") + ")" for w in warnings
    ]
    return "\n".join(lines) or "-"


def _file_identity(path: Path) -> str:
    from cloudops.schemas.events import file_id_for
    from cloudops.sources.objects import stat_local

    etag, _size = stat_local(path)
    return file_id_for("local", path.resolve().as_uri(), etag, None)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise CloudopsError(f"{value!r} is not an ISO date or date-time (e.g. 2024-05-01T06:00)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _tenant(tenant: str | None) -> str:
    """``--tenant`` (default CLOUDOPS_APP__TENANT), validated: a bad id is a one-line error, not a traceback."""
    from cloudops.commands._common import caller

    return caller(tenant).tenant_id


@query_app.command("cost")
def query_cost(
    by: Annotated[
        list[str] | None, typer.Option("--by", help="Group-by dimension (repeat); tag:<key> for a tag.")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="BilledCost (default), EffectiveCost, ListCost, ...")
    ] = None,
    where: Annotated[list[str] | None, typer.Option("--filter", help="DIM=V1,V2 (repeat); '' matches none.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="DIM=V1,V2: leave these out.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="ChargePeriodStart >= (ISO date/time, UTC).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="ChargePeriodStart < (ISO date/time, UTC).")] = None,
    granularity: Annotated[str, typer.Option(help="total, day or month.")] = "total",
    top: Annotated[int | None, typer.Option("--top", help="Only the N largest rows.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show the plan (rollup or raw, SQL) too.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Skip rollups: answer from the raw table.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, csv or json.")] = OutputFormat.table,
) -> None:
    """Cost and usage grouped by FOCUS dimensions, answered from the smallest exact rollup (or raw)."""
    from pydantic import ValidationError

    from cloudops.sinks.clickhouse.planner import Filter, Query

    filters = [*_filters(where or [], "in"), *_filters(exclude or [], "not_in")]
    try:
        query = Query(
            metrics=tuple(metric or ["BilledCost"]),  # type: ignore[arg-type]
            group_by=tuple(by or []),
            filters=tuple(Filter(dimension=d, op=op, values=v) for d, op, v in filters),  # type: ignore[arg-type]
            start=_parse_time(from_),
            end=_parse_time(to),
            granularity=granularity,  # type: ignore[arg-type]
            top_n=top,
        )
    except ValidationError as exc:
        raise CloudopsError("invalid query: " + "; ".join(e["msg"] for e in exc.errors())) from exc
    t = _tenant(tenant)
    result = asyncio.run(_run_query(t, query, raw=raw))
    if explain:
        err.print(f"[bold]plan[/bold] ({'cache' if result.cached else 'ClickHouse'}, {result.seconds * 1000:.1f} ms)")
        err.print(result.plan.explain() if not result.cached else f"source: {result.plan.source} (cached)")
    rows = result.as_dicts()
    if fmt is OutputFormat.json:
        console.print_json(json.dumps(rows, default=str))
        return
    if fmt is OutputFormat.csv:
        w = csv.writer(sys.stdout)
        w.writerow(result.columns)
        for r in result.rows:
            w.writerow(r)
        return
    table = Table(title=f"{', '.join(query.metrics)} by {', '.join(query.group_by) or 'total'} ({t})")
    for c in result.columns:
        table.add_column(c, justify="right" if c in query.metrics else "left")
    for r in result.rows:
        table.add_row(*[f"{v:.2f}" if isinstance(v, Decimal) else str(v) for v in r])
    console.print(table)


def _filters(items: list[str], op: str) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for item in items:
        if "=" not in item:
            raise CloudopsError(f"filter {item!r}: write DIM=V1,V2")
        dim, values = item.split("=", 1)
        out.append((dim.strip(), op, tuple(v.strip() for v in values.split(","))))
    return out


async def _run_query(tenant: str, query: Query, *, raw: bool) -> QueryResult:
    from cloudops.sinks.analytics import Analytics
    from cloudops.sinks.clickhouse.access import connect_tenant
    from cloudops.sinks.clickhouse.client import close_all
    from cloudops.sinks.clickhouse.migrations import applied_versions
    from cloudops.sinks.redis import QueryCache

    settings = get_settings()
    cache = QueryCache(settings.redis.url) if settings.redis.url else None
    key = settings.clickhouse.tenant_password_key
    # As the tenant's own ClickHouse user when per-tenant users are on (a server can then refuse any
    # other tenant's database by itself).
    ch = connect_tenant(settings.clickhouse_dsn, tenant, key.get_secret_value() if key else None)
    try:
        if not await asyncio.to_thread(applied_versions, ch, tenant):
            raise CloudopsError(f"tenant {tenant!r} has no data yet (run `cloudops migrate` and load files)")
        return await Analytics(ch, cache).run(tenant, query, allow_rollups=not raw)
    finally:
        if cache is not None:
            await cache.close()
        close_all()


def _register_validate() -> None:
    from cloudops.validate_cli import validate_command

    _cli.command("validate")(validate_command)


def _register_api() -> None:
    from cloudops.api.commands import register

    register(_cli)  # `cloudops tokens ...` and `cloudops api`


def _register_commands() -> None:
    from cloudops.commands import register

    register(_cli)  # tenants, sources, files, periods, recommendations, dlq (cloudops/commands/)


_complete = False


def _register_all() -> typer.Typer:
    """The whole command: the groups of cloudops/commands/, the API's and ``validate`` added once.

    They import the service layer, the AWS, Kafka and PostgreSQL clients: about a second of
    start-up that the commands of this module (``convert`` above all) do not need, so ``main``
    adds them only when the command line asks for one of them (or for the list of commands).
    """
    global _complete
    if not _complete:
        _complete = True
        _register_validate()
        _register_api()
        _register_commands()
    return _cli


def __getattr__(name: str) -> object:
    """``cloudops.cli.app``: the whole command (importers such as tests get every group)."""
    if name == "app":
        return _register_all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _own_command(args: list[str]) -> bool:
    """Whether the command line names a command defined in this module (not a registered group)."""
    first = next((a for a in args if not a.startswith("-")), None)
    if first is None:
        return False
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in _cli.registered_commands}
    names |= {g.name for g in _cli.registered_groups if g.name}
    return first in names


def _clickhouse_tenant(tenant: str | None) -> tuple[ClickHouse, str]:
    from cloudops.sinks.clickhouse import connect
    from cloudops.sinks.clickhouse.migrations import applied_versions

    t = _tenant(tenant)
    ch = connect(get_settings().clickhouse_dsn)
    if not applied_versions(ch, t):
        raise CloudopsError(f"tenant {t!r} has no ClickHouse database yet (run `cloudops migrate`)")
    return ch, t


@tags_app.command("list")
def tags_list(
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
) -> None:
    """Promoted tag keys and their columns."""
    from cloudops.sinks.clickhouse.tags import promoted_tags

    ch, t = _clickhouse_tenant(tenant)
    table = Table("tag key", "column", title=f"promoted tags ({t})")
    for key, col in sorted(promoted_tags(ch, t).items()):
        table.add_row(key, col)
    console.print(table)


@tags_app.command("top")
def tags_top(
    limit: Annotated[int, typer.Option(help="How many keys.")] = 10,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
) -> None:
    """The tag keys on the most rows (candidates for promotion), and whether each is promoted."""
    from cloudops.sinks.clickhouse.tags import promoted_tags, top_tag_keys

    ch, t = _clickhouse_tenant(tenant)
    promoted = promoted_tags(ch, t)
    table = Table("tag key", "rows", "promoted", title=f"most used tag keys ({t})")
    for key, rows in top_tag_keys(ch, t, limit):
        table.add_row(key, f"{rows:,}", promoted.get(key, "-"))
    console.print(table)


@tags_app.command("promote")
def tags_promote(
    keys: Annotated[list[str] | None, typer.Argument(help="Tag keys to promote.")] = None,
    top: Annotated[int, typer.Option("--top", help="Also promote the N most used keys.")] = 0,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
) -> None:
    """Give tag keys their own column in the fact tables (back-filled): raw-table tag queries skip the JSON."""
    from cloudops.sinks.clickhouse.tags import promote_tags, top_tag_keys

    ch, t = _clickhouse_tenant(tenant)
    wanted = list(keys or []) + ([k for k, _ in top_tag_keys(ch, t, top)] if top > 0 else [])
    if not wanted:
        raise CloudopsError("no tag keys to promote: name them, or use --top N once tagged rows are loaded")
    for key in dict.fromkeys(wanted):
        with console.status(f"promoting {key!r} (back-filling existing rows)"):
            (done,) = promote_tags(ch, t, [key])
        console.print(f"promoted [bold]{done.key}[/bold] -> column {done.column}")


@tags_app.command("demote")
def tags_demote(
    key: Annotated[str, typer.Argument(help="A promoted tag key.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CLOUDOPS_APP__TENANT).")] = None,
) -> None:
    """Drop a promoted tag's column (the tag stays in Tags; queries parse it again)."""
    from cloudops.sinks.clickhouse.tags import demote_tag

    ch, t = _clickhouse_tenant(tenant)
    if not demote_tag(ch, t, key):
        raise CloudopsError(f"tag {key!r} is not promoted in {t!r}")
    console.print(f"demoted {key!r}")


@topics_app.command("schema")
def topics_schema(
    out: Annotated[Path, typer.Option(help="Folder to write the JSON Schemas and asyncapi.yaml into.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schema of every topic value (and DLQ twin) and the AsyncAPI 3.0 document."""
    from cloudops.app import CONSUMES
    from cloudops.topics.specs import write_schemas

    for path in write_schemas(out, CONSUMES):
        console.print(f"wrote {path}")


@topics_app.command("list")
def topics_list() -> None:
    """The topics, their keys and schemas."""
    from cloudops.topics.specs import ALL_TOPICS

    table = Table("topic", "schema", "key", "DLQ", "content")
    for s in ALL_TOPICS:
        table.add_row(s.name, f"{s.model.__name__} v{s.version}", s.key, s.dlq, s.description)
    console.print(table)


@_cli.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table (for the README).")] = False,
) -> None:
    """Every setting: environment variable, default, meaning."""
    rows = settings_table()
    if markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for var, default, desc in rows:
            print(f"| `{var}` | `{default}` | {desc} |" if default else f"| `{var}` | | {desc} |")
        return
    table = Table("variable", "default", "meaning")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def main() -> None:
    """Console-script entry point: clear one-line errors instead of tracebacks for known failures."""
    try:
        command = _cli if _own_command(sys.argv[1:]) else _register_all()
        command()
    except CloudopsError as exc:
        from rich.markup import escape

        # One line, never wrapped, whatever the terminal width (scripts and tests read it).
        message = " ".join(str(exc).split())
        err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
        sys.exit(2)
