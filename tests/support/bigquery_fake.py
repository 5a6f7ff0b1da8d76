"""A fake of the BigQuery REST API (v2) for ``google-cloud-bigquery`` over HTTP on 127.0.0.1.

No BigQuery emulator installs here (``local-bigquery`` is not served by the package index), so
this fake answers the one REST call the ``bigquery`` store makes, with the shapes of the API
reference (cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query):

* ``POST /bigquery/v2/projects/{projectId}/queries`` (jobs.query): the request's ``query``,
  ``queryParameters`` (named, scalar) and ``formatOptions.useInt64Timestamp``; the response
  ``{"kind": "bigquery#queryResponse", "jobReference", "jobComplete": true, "schema": {"fields"},
  "rows": [{"f": [{"v": ...}]}], "totalRows", "cacheHit": false}``, values in the REST row encoding
  (RECORD as ``{"f": [...]}``, REPEATED as ``[{"v": ...}]``, INT64 / NUMERIC as strings, TIMESTAMP as
  int64 microseconds when asked). Errors: ``{"error": {"code", "message", "errors": [{"reason"}],
  "status"}}`` (404 ``notFound`` for a missing table, 400 ``invalidQuery``).

It evaluates only the two statements of :mod:`cloudops.sources.stores.bigquery` (the month listing
and the read of one month up to an ``export_time``), over in-memory tables of Arrow rows; any other
SQL is ``invalidQuery``. Tables grow with :meth:`FakeBigQuery.append`, like GCP's export does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pyarrow as pa

from cloudops.embedded.net import free_port

__all__ = ["FakeBigQuery"]

_LIST = re.compile(
    r"^SELECT (?P<m>[\w.]+) AS month, COUNT\(\*\) AS row_count, UNIX_MICROS\(MAX\((?P<t>\w+)\)\) AS last_export "
    r"FROM `(?P<table>[^`]+)` WHERE (?P=m) >= @since GROUP BY month ORDER BY month$"
)
_READ = re.compile(
    r"^SELECT \* FROM `(?P<table>[^`]+)` WHERE (?P<m>[\w.]+) = @month "
    r"AND (?P<t>\w+) <= TIMESTAMP_MICROS\(@last_export\)$"
)


def _bq_type(t: pa.DataType) -> tuple[str, str, list[dict[str, Any]] | None]:
    """(type, mode, sub-fields) of an Arrow type as a BigQuery schema field."""
    if pa.types.is_list(t):
        inner, _, fields = _bq_type(t.value_type)
        return inner, "REPEATED", fields
    if pa.types.is_struct(t):
        return "RECORD", "NULLABLE", [_field(t.field(i)) for i in range(t.num_fields)]
    if pa.types.is_timestamp(t):
        return "TIMESTAMP", "NULLABLE", None
    if pa.types.is_date(t):
        return "DATE", "NULLABLE", None
    if pa.types.is_integer(t):
        return "INTEGER", "NULLABLE", None
    if pa.types.is_floating(t):
        return "FLOAT", "NULLABLE", None
    if pa.types.is_decimal(t):
        return "NUMERIC", "NULLABLE", None
    if pa.types.is_boolean(t):
        return "BOOLEAN", "NULLABLE", None
    return "STRING", "NULLABLE", None


def _field(f: pa.Field) -> dict[str, Any]:
    kind, mode, fields = _bq_type(f.type)
    out: dict[str, Any] = {"name": f.name, "type": kind, "mode": mode}
    if fields is not None:
        out["fields"] = fields
    return out


def _cell(value: Any, field: dict[str, Any], int64_ts: bool) -> Any:
    if value is None:
        return None
    if field["mode"] == "REPEATED":
        scalar = {**field, "mode": "NULLABLE"}
        return [{"v": _cell(v, scalar, int64_ts)} for v in value]
    kind = field["type"]
    if kind == "RECORD":
        return {"f": [{"v": _cell(value.get(sub["name"]), sub, int64_ts)} for sub in field["fields"]]}
    if kind == "TIMESTAMP":
        micros = (value - datetime(1970, 1, 1, tzinfo=UTC)) // _MICRO
        return str(micros) if int64_ts else f"{micros / 1e6:.6E}"
    if kind == "DATE" and isinstance(value, date):
        return value.isoformat()
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "BYTES":
        return base64.b64encode(value).decode()
    if isinstance(value, (float, Decimal, int)):
        return str(value)
    return str(value)


_MICRO = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def _get(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class FakeBigQuery:
    """The fake server (a thread of the test process) and its tables (``project.dataset.table``)."""

    def __init__(self) -> None:
        self.port = 0
        self.queries: list[str] = []
        self._tables: dict[str, tuple[pa.Schema, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_table(self, table: str, schema: pa.Schema) -> None:
        with self._lock:
            self._tables[table] = (schema, [])

    def append(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Add rows (a new export batch: corrections are new rows too, as in GCP's export)."""
        with self._lock:
            self._tables[table][1].extend(rows)

    def start(self) -> Self:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        threading.Thread(target=self._server.serve_forever, name="fake-bigquery", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one jobs.query request: (HTTP status, JSON body)."""
        sql = " ".join(str(body.get("query", "")).split())
        self.queries.append(sql)
        params = {
            p["name"]: p["parameterValue"]["value"] for p in body.get("queryParameters", []) if "parameterValue" in p
        }
        int64_ts = bool((body.get("formatOptions") or {}).get("useInt64Timestamp"))
        m = _LIST.match(sql) or _READ.match(sql)
        if m is None:
            return 400, _error(400, "invalidQuery", f"Syntax error: unsupported statement: {sql[:80]}")
        with self._lock:
            found = self._tables.get(m["table"])
            if found is None:
                return 404, _error(404, "notFound", f"Not found: Table {m['table']} was not found in location US")
            schema, rows = found[0], list(found[1])
        if m.re is _LIST:
            groups: dict[str, tuple[int, datetime]] = {}
            for row in rows:
                month = _get(row, m["m"])
                if month is None or month < params["since"]:
                    continue
                n, last = groups.get(month, (0, row[m["t"]]))
                groups[month] = (n + 1, max(last, row[m["t"]]))
            fields = [
                {"name": "month", "type": "STRING", "mode": "NULLABLE"},
                {"name": "row_count", "type": "INTEGER", "mode": "NULLABLE"},
                {"name": "last_export", "type": "INTEGER", "mode": "NULLABLE"},
            ]
            out = [
                [month, str(n), str((last - datetime(1970, 1, 1, tzinfo=UTC)) // _MICRO)]
                for month, (n, last) in sorted(groups.items())
            ]
            encoded = [{"f": [{"v": v} for v in r]} for r in out]
        else:
            limit = datetime(1970, 1, 1, tzinfo=UTC) + int(params["last_export"]) * _MICRO
            chosen = [r for r in rows if _get(r, m["m"]) == params["month"] and r[m["t"]] <= limit]
            fields = [_field(f) for f in schema]
            encoded = [{"f": [{"v": _cell(r.get(f["name"]), f, int64_ts)} for f in fields]} for r in chosen]
        project = m["table"].split(".")[0]
        return 200, {
            "kind": "bigquery#queryResponse",
            "schema": {"fields": fields},
            "jobReference": {"projectId": project, "jobId": f"job_{uuid.uuid4().hex}", "location": "US"},
            "totalRows": str(len(encoded)),
            "rows": encoded,
            "totalBytesProcessed": "0",
            "jobComplete": True,
            "cacheHit": False,
            "queryId": uuid.uuid4().hex,
        }


def _error(code: int, reason: str, message: str) -> dict[str, Any]:
    status = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(code, "UNKNOWN")
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }
    }


def _handler(fake: FakeBigQuery) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if re.fullmatch(r"/bigquery/v2/projects/[^/]+/queries", self.path.split("?")[0]):
                status, doc = fake.run(body)
            else:
                status, doc = 404, _error(404, "notFound", f"unknown path {self.path}")
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    return Handler
