"""The ``ingest`` subgraph: ``Source`` (entity keyed by ``id``) resolves its ``files``; ``File``
(keyed by ``fileId``: ledger state, counts, totals, last error) resolves its ``source``; billing
periods and their versions. Files of many sources come from one ledger read per request
(DataLoader), not one per source."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from cloudops.api.graphql.context import GqlContext, run_service
from cloudops.api.pagination import paginate
from cloudops.service import files as files_service
from cloudops.service import periods as periods_service
from cloudops.service import sources as sources_service
from cloudops.sinks.postgres.ledger import LedgerEntry
from cloudops.sinks.postgres.sources import SourceRecord

__all__ = ["schema_parts"]


@strawberry.type(description="An amount in one currency (decimal string).")
class Money:
    currency: str
    amount: str


def _money(totals: dict[str, str] | None) -> list[Money] | None:
    return None if totals is None else [Money(currency=c, amount=str(a)) for c, a in sorted(totals.items())]


@strawberry.federation.type(keys=["fileId"], description="One billing file in the ledger.")
class File:
    file_id: strawberry.ID
    source_id: str
    object_key: str
    version: str
    state: str
    attempts: int
    rows_in: int | None
    rows_landed: int | None
    rows_rejected: int | None
    source_totals: list[Money] | None
    landed_totals: list[Money] | None
    last_error: str | None
    first_seen_at: datetime
    updated_at: datetime
    period: date | None

    @strawberry.field
    async def source(self, info: Info[GqlContext, None]) -> Source:
        caller = await info.context.caller("sources:read")
        return _source(await run_service(sources_service.get_source, caller, self.source_id))

    @classmethod
    async def resolve_reference(cls, info: Info[GqlContext, None], **representation: Any) -> File:
        caller = await info.context.caller("files:read")
        return _file(await run_service(files_service.get_file, caller, str(representation["fileId"])))


def _file(e: LedgerEntry) -> File:
    return File(
        file_id=strawberry.ID(e.file_id),
        source_id=e.source_id,
        object_key=e.object_key,
        version=e.version,
        state=e.state,
        attempts=e.attempts,
        rows_in=e.rows_in,
        rows_landed=e.rows_landed,
        rows_rejected=e.rows_rejected,
        source_totals=_money(e.source_totals),
        landed_totals=_money(e.landed_totals),
        last_error=e.last_error,
        first_seen_at=e.first_seen_at,
        updated_at=e.updated_at,
        period=e.period,
    )


@strawberry.type
class FileConnection:
    nodes: list[File]
    next_cursor: str | None


async def _files_by_source(ctx: GqlContext, keys: list[str]) -> list[list[LedgerEntry]]:
    caller = await ctx.caller("files:read")
    rows = await run_service(files_service.list_files, caller, limit=10_000)
    grouped: dict[str, list[LedgerEntry]] = {}
    for r in rows:
        grouped.setdefault(r.source_id, []).append(r)
    return [grouped.get(k, []) for k in keys]


@strawberry.federation.type(keys=["id"], description="A billing source: where a tenant's exports arrive.")
class Source:
    id: strawberry.ID
    provider: str
    kind: str = strawberry.field(
        description="Where the objects live: s3, azure-blob, gcs, bigquery, oci-object-storage, alibaba-oss."
    )
    bucket: str
    prefix: str
    layout: str
    enabled: bool
    schedule_s: int | None

    @strawberry.field(description="The source's files, most recently updated first.")
    async def files(
        self, info: Info[GqlContext, None], state: str | None = None, first: int = 50, after: str | None = None
    ) -> FileConnection:
        ctx = info.context
        loader: DataLoader[str, list[LedgerEntry]] = ctx.loader(
            "files_by_source", lambda: DataLoader(load_fn=lambda keys: _files_by_source(ctx, list(keys)))
        )
        rows = [r for r in await loader.load(str(self.id)) if state is None or r.state == state]
        page = paginate(
            rows, lambda f: (f.updated_at, f.file_id), cursor=after, limit=max(1, min(first, 1000)), descending=True
        )
        return FileConnection(nodes=[_file(f) for f in page.items], next_cursor=page.next_cursor)

    @classmethod
    async def resolve_reference(cls, info: Info[GqlContext, None], id: strawberry.ID) -> Source:
        caller = await info.context.caller("sources:read")
        return _source(await run_service(sources_service.get_source, caller, str(id)))


def _source(s: SourceRecord) -> Source:
    return Source(
        id=strawberry.ID(s.id),
        provider=s.provider,
        kind=s.kind,
        bucket=s.bucket,
        prefix=s.prefix,
        layout=s.layout,
        enabled=s.enabled,
        schedule_s=s.schedule_s,
    )


@strawberry.type(description="One version of a billing period (restatements).")
class PeriodVersion:
    source_id: str
    period: date
    version: str
    state: str
    files: int
    rows_landed: int | None
    landed_totals: list[Money] | None
    delivered_at: datetime
    promoted_at: datetime | None


@strawberry.type
class Query:
    @strawberry.field
    async def sources(self, info: Info[GqlContext, None]) -> list[Source]:
        caller = await info.context.caller("sources:read")
        return [_source(s) for s in await run_service(sources_service.list_sources, caller)]

    @strawberry.field
    async def source(self, info: Info[GqlContext, None], id: strawberry.ID) -> Source:
        caller = await info.context.caller("sources:read")
        return _source(await run_service(sources_service.get_source, caller, str(id)))

    @strawberry.field(description="The ledger, most recently updated first.")
    async def files(
        self, info: Info[GqlContext, None], state: str | None = None, first: int = 50, after: str | None = None
    ) -> FileConnection:
        caller = await info.context.caller("files:read")
        rows = await run_service(files_service.list_files, caller, state=state, limit=10_000)
        page = paginate(
            rows, lambda f: (f.updated_at, f.file_id), cursor=after, limit=max(1, min(first, 1000)), descending=True
        )
        return FileConnection(nodes=[_file(f) for f in page.items], next_cursor=page.next_cursor)

    @strawberry.field
    async def file(self, info: Info[GqlContext, None], file_id: strawberry.ID) -> File:
        caller = await info.context.caller("files:read")
        return _file(await run_service(files_service.get_file, caller, str(file_id)))

    @strawberry.field
    async def periods(self, info: Info[GqlContext, None], source_id: str | None = None) -> list[PeriodVersion]:
        caller = await info.context.caller("periods:read")
        rows = await run_service(periods_service.list_periods, caller, source_id=source_id)
        return [
            PeriodVersion(
                source_id=v.source_id,
                period=v.period,
                version=v.version,
                state=v.state,
                files=len(v.files),
                rows_landed=v.rows_landed,
                landed_totals=_money(v.landed_totals),
                delivered_at=v.delivered_at,
                promoted_at=v.promoted_at,
            )
            for v in rows
        ]


def schema_parts() -> dict[str, Any]:
    return {"query": Query, "types": [Source, File]}
