"""``cloudops sources add|list|show|update|remove``: thin over :mod:`cloudops.service.sources`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cloudops.commands._common import TenantOpt, caller, console
from cloudops.service import sources as svc
from cloudops.service.context import InvalidInput
from cloudops.sources.stores import SCHEMES

__all__ = ["sources_app"]

sources_app = typer.Typer(help="Billing sources of a tenant (needs CLOUDOPS_POSTGRES__DSN).", no_args_is_help=True)

_LAYOUT_HELP = (
    "files: every object is new data. manifest: provider manifests (AWS CUR, Data Exports, Azure exports) define "
    "versions of billing periods, swapped in whole. snapshot: every object is its whole period so far (Azure "
    "month-to-date exports without a manifest, re-exported GCP/OCI months); the newest copy replaces the period "
    "(named in the key: 20240501-20240531, 2024-05 or 202405)."
)
_REF_HELP = (
    "How credentials are obtained (never the secret): env:PREFIX, file:/mounted/secret, aws-role:ARN (s3) or "
    "oci-instance-principal: (oci-object-storage)."
)


_KIND_HELP = (
    "Where the objects live: s3 (and S3-compatible), azure-blob (--bucket: the container, --endpoint-url: the "
    "storage account's blob endpoint), gcs (Cloud Storage), bigquery (--bucket: the billing export table "
    "project.dataset.table, --layout snapshot), oci-object-storage (--bucket: the tenancy OCID, namespace bling), "
    "alibaba-oss (--region required)."
)
_OPTION_HELP = (
    "A kind-specific setting KEY=VALUE (repeatable): dataset=actual|amortized|focus (azure-blob: the Cost "
    "Management export this source reads); project=ID (gcs, bigquery); location=, months=, "
    "export=standard|detailed|focus, month_column=, time_column= (bigquery); namespace=, federation_endpoint= "
    "(oci-object-storage); path_style=true (alibaba-oss)."
)


def _options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--option {pair!r} must be KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _show(s: svc.SourceRecord, tenant: str) -> str:
    scheme = SCHEMES.get(s.kind, s.kind)
    where = f"{scheme}://{s.bucket}/{s.prefix}" + (f" at {s.endpoint_url}" if s.endpoint_url else "")
    return f"source {s.id}: {s.provider} {where}, layout {s.layout} (tenant {tenant})"


@sources_app.command("add")
def add(
    source_id: Annotated[str, typer.Argument(help="Source id, e.g. aws-payer-123.")],
    provider: Annotated[str, typer.Option(help="aws, azure, gcp, oci, alibaba or focus.")],
    bucket: Annotated[str, typer.Option(help="Bucket (or container) the exports arrive in.")],
    prefix: Annotated[str, typer.Option(help="Key prefix of the exports (routing: the longest prefix wins).")] = "",
    credentials_ref: Annotated[str | None, typer.Option(help=_REF_HELP)] = None,
    external_id: Annotated[str | None, typer.Option(help="sts:AssumeRole external id (aws-role: sources).")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="Object-store endpoint (default: the provider's).")] = None,
    region: Annotated[str | None, typer.Option(help="Object-store region (default: CLOUDOPS_AWS__REGION).")] = None,
    schedule_s: Annotated[int | None, typer.Option(help="Also list the prefix every N seconds (>= 60).")] = None,
    layout: Annotated[str, typer.Option(help=_LAYOUT_HELP)] = "files",
    kind: Annotated[str, typer.Option(help=_KIND_HELP)] = "s3",
    option: Annotated[list[str] | None, typer.Option(help=_OPTION_HELP)] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="List the source once before saving.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Create or replace a billing source (idempotent by id)."""
    c = caller(tenant)
    options = _options(option or [])
    s = svc.add_source(
        c,
        source_id,
        provider=provider,
        bucket=bucket,
        prefix=prefix,
        credentials_ref=credentials_ref,
        external_id=external_id,
        endpoint_url=endpoint_url,
        region=region,
        schedule_s=schedule_s,
        layout=layout,
        kind=kind,
        options=options,
        check=check,
    )
    console.print(_show(s, c.tenant_id) + (" (listed: readable)" if check else ""))


@sources_app.command("check")
def check_(source_id: Annotated[str, typer.Argument(help="Source id.")], tenant: TenantOpt = None) -> None:
    """List a source once with its own credentials: a clear error if it cannot be read."""
    c = caller(tenant)
    n = svc.check_source(c, source_id)
    console.print(f"source {source_id}: listed {n} object(s) (tenant {c.tenant_id})")


@sources_app.command("update")
def update(
    source_id: Annotated[str, typer.Argument(help="Source id.")],
    prefix: Annotated[str | None, typer.Option(help="New key prefix.")] = None,
    credentials_ref: Annotated[str | None, typer.Option(help=_REF_HELP)] = None,
    external_id: Annotated[str | None, typer.Option(help="sts:AssumeRole external id.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="Object-store endpoint.")] = None,
    region: Annotated[str | None, typer.Option(help="Object-store region.")] = None,
    schedule_s: Annotated[int | None, typer.Option(help="List the prefix every N seconds (>= 60).")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled", help="Route objects to it or not.")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Change some fields of a source."""
    given: dict[str, Any] = {
        "prefix": prefix,
        "credentials_ref": credentials_ref,
        "external_id": external_id,
        "endpoint_url": endpoint_url,
        "region": region,
        "schedule_s": schedule_s,
        "enabled": enabled,
    }
    c = caller(tenant)
    s = svc.update_source(c, source_id, **{k: v for k, v in given.items() if v is not None})
    console.print(_show(s, c.tenant_id))


@sources_app.command("remove")
def remove(source_id: Annotated[str, typer.Argument(help="Source id.")], tenant: TenantOpt = None) -> None:
    """Remove a source with its file ledger and period versions (loaded rows stay)."""
    c = caller(tenant)
    s = svc.remove_source(c, source_id)
    console.print(f"removed source {s.id} (tenant {c.tenant_id})")


@sources_app.command("list")
def list_(tenant: TenantOpt = None) -> None:
    """The tenant's billing sources."""
    c = caller(tenant)
    table = Table(
        "id",
        "provider",
        "bucket",
        "prefix",
        "layout",
        "schedule (s)",
        "credentials",
        "enabled",
        title=f"sources ({c.tenant_id})",
    )
    for s in svc.list_sources(c):
        table.add_row(
            s.id,
            s.provider,
            s.bucket,
            s.prefix,
            s.layout,
            str(s.schedule_s or "-"),
            s.credentials_ref or "-",
            str(s.enabled),
        )
    console.print(table)
