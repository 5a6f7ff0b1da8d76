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

Credentials, like Google's: a request with ``Authorization: Bearer <token>`` must carry a token
the fake's OAuth 2.0 token endpoint issued (``POST /token``, the ``token_uri`` of the service-account
keys :func:`service_account_key` makes: a JWT-bearer grant whose assertion is signed with a
registered key; anything else is 400 ``invalid_grant``), else 401 ``UNAUTHENTICATED``. A request
without credentials is served as an emulator would (the suite's other tests use anonymous access).
A table with readers (:meth:`FakeBigQuery.grant`) answers anyone else 403 ``accessDenied``
("User does not have permission to query table ...").

It evaluates only the two statements of :mod:`cloudops.sources.stores.bigquery` (the month listing
and the read of one month up to an export time; the month a column path or, for a FOCUS table, the
``FORMAT_TIMESTAMP('%Y%m', BillingPeriodStart, 'UTC')`` of a TIMESTAMP column), over in-memory
tables of Arrow rows; any other SQL is ``invalidQuery``. Tables grow with :meth:`FakeBigQuery.append`,
like GCP's export does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import urllib.parse
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
import pyarrow as pa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.http_fake import LoopbackFake

__all__ = ["FakeBigQuery", "service_account_key"]

# The invoice month: a column path (``invoice.month``), or the month of a FOCUS table's TIMESTAMP column.
_MONTH = r"(?P<m>[\w.]+|FORMAT_TIMESTAMP\('%Y%m', \w+, 'UTC'\))"
_FORMAT_MONTH = re.compile(r"^FORMAT_TIMESTAMP\('%Y%m', (\w+), 'UTC'\)$")
_LIST = re.compile(
    r"^SELECT " + _MONTH + r" AS month, COUNT\(\*\) AS row_count, UNIX_MICROS\(MAX\((?P<t>\w+)\)\) AS last_export "
    r"FROM `(?P<table>[^`]+)` WHERE (?P=m) >= @since GROUP BY month ORDER BY month$"
)
_READ = re.compile(
    r"^SELECT \* FROM `(?P<table>[^`]+)` WHERE " + _MONTH + r" = @month "
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
    """The value of a column path, or of ``FORMAT_TIMESTAMP('%Y%m', column, 'UTC')``."""
    formatted = _FORMAT_MONTH.match(path)
    if formatted is not None:
        stamp = row.get(formatted.group(1))
        return stamp.astimezone(UTC).strftime("%Y%m") if stamp is not None else None
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# The audience of every service-account assertion, whatever the key's token_uri (google-auth and Google agree).
_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def service_account_key(email: str, token_uri: str, project: str = "billing-admin") -> tuple[str, str]:
    """(the service-account key document as Google issues it, its public key PEM) for ``email``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    doc = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": uuid.uuid4().hex,
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "client_email": email,
        "client_id": str(uuid.uuid4().int)[:21],
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return json.dumps(doc), public.decode()


class FakeBigQuery(LoopbackFake):
    """The fake server (a thread of the test process) and its tables (``project.dataset.table``)."""

    thread_name = "fake-bigquery"

    def __init__(self) -> None:
        self.queries: list[str] = []
        self._tables: dict[str, tuple[pa.Schema, list[dict[str, Any]]]] = {}
        self._readers: dict[str, set[str]] = {}  # table -> service accounts that may query it (unset: anyone)
        self._keys: dict[str, str] = {}  # service account -> public key PEM
        self._tokens: dict[str, str] = {}  # access token -> service account
        self._lock = threading.Lock()

    @property
    def token_uri(self) -> str:
        return f"{self.endpoint}/token"

    def new_service_account(self, email: str, *, registered: bool = True) -> str:
        """A service-account key document for ``email``; ``registered=False``: a key Google does not know
        (deleted, or forged): its token requests are refused."""
        doc, public = service_account_key(email, self.token_uri)
        if registered:
            with self._lock:
                self._keys[email] = public
        return doc

    def grant(self, table: str, email: str) -> None:
        """Let ``email`` query ``table``; once a table has readers, nobody else may."""
        with self._lock:
            self._readers.setdefault(table, set()).add(email)

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """OAuth 2.0 token endpoint: the JWT-bearer grant of a service account."""
        refused = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
        assertion = form.get("assertion", "")
        try:
            email = str(jwt.decode(assertion, options={"verify_signature": False})["iss"])
            with self._lock:
                public = self._keys.get(email)
            if public is None:
                return 400, refused
            jwt.decode(assertion, public, algorithms=["RS256"], audience=_TOKEN_AUDIENCE)
        except (jwt.PyJWTError, KeyError):
            return 400, refused
        token = f"ya29.{uuid.uuid4().hex}"
        with self._lock:
            self._tokens[token] = email
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def principal(self, authorization: str | None) -> str | None:
        """``anonymous`` (no credentials), the service account of a token we issued, or None (refused)."""
        if not authorization:
            return "anonymous"
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            return self._tokens.get(token) if scheme.lower() == "bearer" else None

    def create_table(self, table: str, schema: pa.Schema) -> None:
        with self._lock:
            self._tables[table] = (schema, [])

    def append(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Add rows (a new export batch: corrections are new rows too, as in GCP's export)."""
        with self._lock:
            self._tables[table][1].extend(rows)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def run(self, body: dict[str, Any], principal: str = "anonymous") -> tuple[int, dict[str, Any]]:
        """Answer one jobs.query request of ``principal``: (HTTP status, JSON body)."""
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
            readers = self._readers.get(m["table"])
        if readers is not None and principal not in readers:
            name = m["table"].replace(".", ":", 1)
            message = (
                f"Access Denied: Table {name}: User does not have permission to query table {name}, "
                "or perhaps it does not exist."
            )
            return 403, _error(403, "accessDenied", message)
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
    status = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}.get(
        code, "UNKNOWN"
    )
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
            raw = self.rfile.read(length)
            path = self.path.split("?")[0]
            principal = fake.principal(self.headers.get("authorization"))
            if path == "/token":
                form = dict(urllib.parse.parse_qsl(raw.decode()))
                status, doc = fake.issue_token(form)
            elif principal is None:
                message = "Request had invalid authentication credentials. Expected OAuth 2 access token."
                status, doc = 401, _error(401, "authError", message)
            elif re.fullmatch(r"/bigquery/v2/projects/[^/]+/queries", path):
                status, doc = fake.run(json.loads(raw or b"{}"), principal)
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
