"""The ``bigquery`` kind: the GCP Cloud Billing export in BigQuery, read one invoice month at a time
with ``google-cloud-bigquery`` through Arrow (synchronous SDK: run off the event loop).

BigQuery is the only destination Google offers for the billing export. Three table variants
(``options.export``; detected from Google's table names when not set):

==============  ======================================  ==============================  ===============
export          table (Google's name)                   invoice month                   export time
==============  ======================================  ==============================  ===============
``standard``    ``gcp_billing_export_v1_<account>``     ``invoice.month``               ``export_time``
``detailed``    ``gcp_billing_export_resource_v1_<a>``  ``invoice.month``               ``export_time``
``focus``       ``gcp_billing_export_focus_<account>``  month of ``BillingPeriodStart``  ``x_ExportTime``
                or a FOCUS view a customer created
==============  ======================================  ==============================  ===============

The rows are written as they come (nested records, repeated fields, typed), so the converter
detects the matching format from the columns: ``gcp-billing-export`` for standard and detailed
(standard is detailed without ``resource`` / ``price``), a FOCUS version for ``focus``. GCP keeps
adding late rows and corrections to a month's earlier days, each batch stamped with its export
time. The store maps that onto the object contract:

* ``list(table, prefix)``: one *object* per invoice month of the last ``options.months``
  (default 3) months: key ``invoice_month/YYYYMM``, ETag ``<max export time in µs>-<row count>``.
  A month with new or corrected rows gets a new ETag, so the ledger announces it again.
* ``fetch``: ``SELECT * ... WHERE <month> = @month AND <export time> <= @listed`` (the listed
  version, whatever arrived since) through Arrow, written as one Parquet file. A row count other
  than the listed one means the month changed under the listed export time: ObjectSupersededError.
  Rows come through jobs.query and its result pages (REST, Arrow built by the client); the
  BigQuery Storage Read API (gRPC) is used by the client when ``google-cloud-bigquery-storage``
  is installed and the source has no ``endpoint_url`` (it is not a dependency, and not tested
  here: no local server of that gRPC API).

Register such a source with ``--layout snapshot``: each read of a month is then one version of
that billing period, swapped in whole over the previous read (never a mix of two reads). The
source's ``bucket`` is the table ``project.dataset.table``; ``options.project`` is the project
that runs (and pays for) the queries, ``options.location`` the dataset's location;
``options.month_column`` overrides the invoice month (a column holding ``YYYYMM``, e.g. a FOCUS
view's ``x_InvoiceMonth``), ``options.time_column`` the export time. ``credentials_ref`` names a
service-account key (JSON), as for ``gcs``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery  # type: ignore[import-untyped,attr-defined]
from google.oauth2 import service_account
from requests import exceptions as req_exc

from cloudops.errors import BadDataError, ConfigError, ObjectSupersededError
from cloudops.schemas.events import BillingFile
from cloudops.sources.credentials import read_secret_ref
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess
from cloudops.sources.stores import run_blocking
from cloudops.sources.stores.gcs import classify_gcs_error

__all__ = ["EXPORTS", "BigQueryStore", "export_variant", "month_key"]

_SCOPES = ["https://www.googleapis.com/auth/bigquery.readonly"]
_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_KEY = re.compile(r"(?:^|/)invoice_month/((?:19|20)\d{2}(?:0[1-9]|1[0-2]))$")
_ERRORS = (gexc.GoogleAPIError, auth_exc.GoogleAuthError, req_exc.RequestException, OSError, TimeoutError)
# export variant -> (invoice month expression, export time column)
EXPORTS: dict[str, tuple[str, str]] = {
    "standard": ("invoice.month", "export_time"),
    "detailed": ("invoice.month", "export_time"),
    "focus": ("FORMAT_TIMESTAMP('%Y%m', BillingPeriodStart, 'UTC')", "x_ExportTime"),
}
# Google's table name prefixes (checked in this order: the standard prefix is not a prefix of the others).
_TABLE_NAMES = (
    ("gcp_billing_export_resource_v1_", "detailed"),
    ("gcp_billing_export_focus_", "focus"),
    ("gcp_billing_export_v1_", "standard"),
)


def export_variant(table: str, configured: object = None) -> str:
    """The export variant of ``table`` (``project.dataset.table``): ``configured`` when set, else
    read from Google's table name. Raises ConfigError for an unknown variant, or a table whose name
    does not say (a customer's own view: configure ``export``)."""
    if configured:
        if configured not in EXPORTS:
            raise ConfigError(f"bigquery option export={configured!r}: choose from {', '.join(EXPORTS)}")
        return str(configured)
    name = table.rpartition(".")[2]
    for prefix, variant in _TABLE_NAMES:
        if name.startswith(prefix):
            return variant
    raise ConfigError(
        f"bigquery table {table!r} is not named like a billing export (gcp_billing_export_v1_*, "
        "gcp_billing_export_resource_v1_*, gcp_billing_export_focus_*): set option export=standard|detailed|focus"
    )


def month_key(prefix: str, month: str) -> str:
    """The object key of one invoice month (``YYYYMM``) under the source's prefix."""
    return f"{prefix}invoice_month/{month}"


class BigQueryStore:
    """One billing export table, read by invoice month."""

    scheme = "bq"

    def __init__(self, access: ObjectStoreAccess) -> None:
        self._access = access
        opts = access.options
        self._export = opts.get("export")
        if self._export:
            export_variant("", self._export)  # an unknown variant fails when the source is built
        self._month_col = str(opts.get("month_column") or "")
        self._time_col = str(opts.get("time_column") or "")
        if not all(_COLUMN.fullmatch(c) for c in (self._month_col, self._time_col) if c):
            raise ConfigError("bigquery options month_column / time_column must be column names")
        self._months = int(opts.get("months") or 3)
        self._location = str(opts.get("location") or "") or None

    def _client(self) -> Any:
        access = self._access
        project = str(access.options.get("project") or "") or None
        creds: Credentials | None = None
        if access.secret_ref:
            try:
                info = json.loads(read_secret_ref(access.secret_ref))
                creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    info, scopes=_SCOPES
                )
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"{access.secret_ref} is not a service-account key ({type(exc).__name__})") from None
            project = project or info.get("project_id")
        elif access.endpoint_url:
            creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
        options = {"api_endpoint": access.endpoint_url} if access.endpoint_url else None
        return bigquery.Client(project=project, credentials=creds, client_options=options, location=self._location)

    def _columns(self, bucket: str) -> tuple[str, str, str]:
        """(quoted table, invoice month expression, export time column) of the source's table."""
        if not _TABLE.fullmatch(bucket):
            raise ConfigError(f"a bigquery source's bucket must be the table project.dataset.table, not {bucket!r}")
        month_expr, time_col = EXPORTS[export_variant(bucket, self._export)]
        return f"`{bucket}`", self._month_col or month_expr, self._time_col or time_col

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        since = (datetime.now(UTC).replace(day=1) - timedelta(days=31 * (self._months - 1))).strftime("%Y%m")
        table, month, exported = self._columns(bucket)
        sql = (
            f"SELECT {month} AS month, COUNT(*) AS row_count, UNIX_MICROS(MAX({exported})) AS last_export "
            f"FROM {table} WHERE {month} >= @since GROUP BY month ORDER BY month"
        )
        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("since", "STRING", since)])
        rows = self._client().query_and_wait(sql, job_config=config)
        return [
            ObjectInfo(
                bucket,
                month_key(prefix, str(r["month"])),
                f"{int(r['last_export'])}-{int(r['row_count'])}",
                int(r["row_count"]),
                scheme=self.scheme,
            )
            for r in rows
        ]

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        try:
            return await run_blocking(self._list, bucket, prefix)
        except _ERRORS as exc:
            raise classify_gcs_error(exc, f"bq://{bucket}/{prefix}") from exc

    def _fetch(self, event: BillingFile, target: Path) -> None:
        m = _KEY.search(event.key)
        if m is None or not event.etag or not re.fullmatch(r"\d+-\d+", event.etag):
            raise BadDataError("not a listed invoice month of a bigquery source", source=event.url)
        last_us, listed_rows = (int(x) for x in event.etag.split("-"))
        source, month, exported = self._columns(event.bucket or "")
        sql = f"SELECT * FROM {source} WHERE {month} = @month AND {exported} <= TIMESTAMP_MICROS(@last_export)"
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("month", "STRING", m.group(1)),
                bigquery.ScalarQueryParameter("last_export", "INT64", last_us),
            ]
        )
        # The Storage Read API needs Google's gRPC endpoint: not for a source pointed at another endpoint.
        result = self._client().query_and_wait(sql, job_config=config)
        table = result.to_arrow(create_bqstorage_client=not self._access.endpoint_url)
        if table.num_rows != listed_rows:
            raise ObjectSupersededError(
                f"{event.url}: {table.num_rows} rows up to the listed {exported}, {listed_rows} when listed"
            )
        pq.write_table(table, target)

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        try:
            await run_blocking(self._fetch, event, target)
        except _ERRORS as exc:
            raise classify_gcs_error(exc, event.url) from exc
