"""The ``bigquery`` kind: the GCP Cloud Billing export in BigQuery, read one invoice month at a time
with ``google-cloud-bigquery`` through Arrow (synchronous SDK: run off the event loop).

BigQuery is the only destination Google offers for the billing export (standard
``gcp_billing_export_v1_*``, detailed ``gcp_billing_export_resource_v1_*``, or a FOCUS view a
customer created over them). GCP keeps adding late rows and corrections to a month's earlier
days, each batch stamped with its ``export_time``. The store maps that onto the object contract:

* ``list(table, prefix)``: one *object* per invoice month of the last ``options.months``
  (default 3) months: key ``invoice_month/YYYYMM``, ETag ``<max export_time in µs>-<row count>``.
  A month with new or corrected rows gets a new ETag, so the ledger announces it again.
* ``fetch``: ``SELECT * ... WHERE invoice.month = @month AND export_time <= @listed`` (the
  listed version, whatever arrived since), through Arrow (the BigQuery Storage Read API when
  ``google-cloud-bigquery-storage`` is installed, else the REST pages), written as one Parquet
  file. A row count other than the listed one means the month changed under the listed
  ``export_time``: ObjectSupersededError.

Register such a source with ``--layout snapshot``: each read of a month is then one version of
that billing period, swapped in whole over the previous read (never a mix of two reads). The
source's ``bucket`` is the table ``project.dataset.table``; ``options.project`` is the project
that runs (and pays for) the queries, ``options.location`` the dataset's location;
``options.month_column`` overrides ``invoice.month`` (a FOCUS view: ``x_InvoiceMonth``),
``options.time_column`` overrides ``export_time``. ``credentials_ref`` names a service-account
key (JSON), as for ``gcs``.
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

__all__ = ["BigQueryStore", "month_key"]

_SCOPES = ["https://www.googleapis.com/auth/bigquery.readonly"]
_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_KEY = re.compile(r"(?:^|/)invoice_month/((?:19|20)\d{2}(?:0[1-9]|1[0-2]))$")
_ERRORS = (gexc.GoogleAPIError, auth_exc.GoogleAuthError, req_exc.RequestException, OSError, TimeoutError)


def month_key(prefix: str, month: str) -> str:
    """The object key of one invoice month (``YYYYMM``) under the source's prefix."""
    return f"{prefix}invoice_month/{month}"


class BigQueryStore:
    """One billing export table, read by invoice month."""

    scheme = "bq"

    def __init__(self, access: ObjectStoreAccess) -> None:
        self._access = access
        opts = access.options
        self._month_col = str(opts.get("month_column") or "invoice.month")
        self._time_col = str(opts.get("time_column") or "export_time")
        if not (_COLUMN.fullmatch(self._month_col) and _COLUMN.fullmatch(self._time_col)):
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

    @staticmethod
    def _table(bucket: str) -> str:
        if not _TABLE.fullmatch(bucket):
            raise ConfigError(f"a bigquery source's bucket must be the table project.dataset.table, not {bucket!r}")
        return f"`{bucket}`"

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        since = (datetime.now(UTC).replace(day=1) - timedelta(days=31 * (self._months - 1))).strftime("%Y%m")
        sql = (
            f"SELECT {self._month_col} AS month, COUNT(*) AS row_count, "
            f"UNIX_MICROS(MAX({self._time_col})) AS last_export FROM {self._table(bucket)} "
            f"WHERE {self._month_col} >= @since GROUP BY month ORDER BY month"
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
        last_us, rows = (int(x) for x in event.etag.split("-"))
        sql = (
            f"SELECT * FROM {self._table(event.bucket or '')} "
            f"WHERE {self._month_col} = @month AND {self._time_col} <= TIMESTAMP_MICROS(@last_export)"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("month", "STRING", m.group(1)),
                bigquery.ScalarQueryParameter("last_export", "INT64", last_us),
            ]
        )
        table = self._client().query_and_wait(sql, job_config=config).to_arrow()
        if table.num_rows != rows:
            raise ObjectSupersededError(
                f"{event.url}: {table.num_rows} rows up to the listed export_time, {rows} when listed"
            )
        pq.write_table(table, target)

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        try:
            await run_blocking(self._fetch, event, target)
        except _ERRORS as exc:
            raise classify_gcs_error(exc, event.url) from exc
