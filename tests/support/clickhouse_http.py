"""chdb (ClickHouse in-process) in its own process, behind a small ClickHouse-compatible HTTP front end.

Why: chdb lets one process open a data path, and an in-process engine cannot "go away".
This module runs the engine in a child process on 127.0.0.1 so the loader and the store
live in different processes, the store can be stopped, killed and restarted on the same
data, and the production client path (clickhouse-connect over HTTP) runs against the
real engine. ``python -m tests.support.clickhouse_http --path DATA --port P`` (from the source
checkout) runs it; :class:`EmbeddedClickHouseServer` starts and stops it from Python. A test and
benchmark harness: it is not part of the installed package.

What the front end speaks (enough of ClickHouse's HTTP interface for clickhouse-connect):

* ``GET /ping``, ``GET /`` (no query) and ``/replicas_status`` answer ``Ok.``
* ``GET|POST /?query=...`` with the SQL in the ``query`` parameter and/or the body (the
  parameter is prepended to the body, as the real server does). ``INSERT ... FORMAT F``
  followed by data (Native, Arrow, CSV, ...) streams the data into chdb's insert API, so
  the engine parses it exactly as a server would (column order, Nullable, LowCardinality,
  Decimal). ``param_<name>`` binds ``{name:Type}`` placeholders server-side (chdb's own
  binding). Other unknown URL parameters are settings (``insert_deduplication_token``,
  ``insert_deduplicate``, ...), applied to the engine for that request only. ``database``,
  ``default_format``, ``query_id`` and ``session_id`` work; ``SET`` and ``USE`` statements
  persist for their ``session_id`` only. Multipart form requests (``query`` and
  ``param_*`` fields) work; external-data tables do not (NOT_IMPLEMENTED).
* Request bodies in ``Content-Encoding`` gzip, deflate, lz4 or zstd; responses are
  compressed (first supported of the client's ``Accept-Encoding``) only when the request
  sets ``enable_http_compression=1``, as on a real server.
* Response headers ``X-ClickHouse-Query-Id``, ``-Format`` (only for statements that return
  a result, as the server does), ``-Timezone``, ``-Summary`` and ``-Server-Display-Name``.
* Errors: the engine's ``Code: N. DB::Exception: ... (NAME) (version V)`` text as the body,
  ``X-ClickHouse-Exception-Code: N``, and the HTTP status the real server maps the code to
  (400, 404, 500, ...). clickhouse-connect raises ``DatabaseError`` exactly as against a
  server.

Not supported (on purpose, to stay small): authentication (any user is accepted and every
query runs as chdb's ``default`` user), ``readonly`` for GET requests, ClickHouse's own
``compress``/``decompress`` block format, progress headers, session-scoped temporary tables
(all sessions share one engine session), and streaming: a result is materialised in
memory before it is sent.

Concurrency and durability: one chdb connection per server process; every request runs on
one engine thread, one at a time, so settings and the current database never leak between
requests. An insert has been committed (written to its data parts) when its response is
sent, so stopping or killing the process afterwards loses nothing; a restart on the same
path sees the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from cloudops.embedded.net import free_port

_ROOT = Path(__file__).resolve().parents[2]  # the source checkout: `tests.support` is importable from it

__all__ = ["EmbeddedClickHouseServer", "main", "serve"]

# URL parameters that are part of the HTTP protocol, not engine settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "user",
        "password",
        "quota_key",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "stacktrace",
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "http_response_buffer_size",
    }
)
# HTTP status per error name, as ClickHouse's exceptionCodeToHTTPStatus maps them.
_STATUS_BY_NAME: dict[str, int] = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"), 403
    ),
    **dict.fromkeys(
        (
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}
_CONTENT_TYPES = (
    ("JSONEachRow", "application/x-ndjson"),
    ("JSON", "application/json"),
    ("TabSeparated", "text/tab-separated-values"),
    ("TSV", "text/tab-separated-values"),
    ("CSV", "text/csv"),
)
_INSERT_CHUNK = 8 << 20  # bytes handed to chdb's streaming insert at a time
_MAX_BODY = 16 << 30
_MAX_SESSIONS = 1_000
_CODE_RE = re.compile(r"Code: (\d+)\.")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)(?:\s*\(version [^)]*\))?\s*$")
_TOKEN_RE = re.compile(
    rb"""(?P<ws>\s+)|(?P<comment>--[^\n]*|\#[\ !][^\n]*|/\*.*?\*/)|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<quoted>'(?:[^'\\]|\\.|'')*'|`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")|(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


class _ClickHouseError(Exception):
    """An error in ClickHouse's shape: code, name and message."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message


def _engine_error(exc: BaseException) -> _ClickHouseError:
    """The ClickHouse error inside a chdb exception (code 1001 STD_EXCEPTION if there is none)."""
    text = str(exc)
    at = text.find("Code: ")
    text = text[at:].strip() if at >= 0 else f"Code: 1001. DB::Exception: {text.strip()}. (STD_EXCEPTION)"
    code = _CODE_RE.match(text)
    name = _NAME_RE.search(text)
    return _ClickHouseError(int(code.group(1)) if code else 1001, name.group(1) if name else "STD_EXCEPTION", text)


def _error(code: int, name: str, message: str) -> _ClickHouseError:
    return _ClickHouseError(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")


# ---- SQL scanning (only as far as needed: never over insert data) -----------------------


@dataclass(frozen=True, slots=True)
class _Statement:
    """What the front end needs to know about one statement."""

    sql: bytes  # the statement (for an insert with data: without ``FORMAT name`` and the data)
    keyword: str  # first word, upper case ("SELECT", "INSERT", "SET", ...)
    format: str | None  # explicit ``FORMAT name`` (input format for inserts)
    data: memoryview | None = None  # insert data after ``FORMAT name``


def _tokens(text: bytes) -> Iterator[tuple[str, bytes, int, int]]:
    """(kind, token, start, end) over ``text``, skipping whitespace and comments; lazy."""
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "other"
        if kind not in ("ws", "comment"):
            yield kind, m.group(), m.start(), m.end()


def _top_level(text: bytes) -> Iterator[tuple[bytes | None, bytes, int, int]]:
    """(WORD upper-cased or None, token, start, end) of the tokens outside parentheses; lazy."""
    depth = 0
    for kind, tok, start, end in _tokens(text):
        if tok == b")":
            depth -= 1
        if depth == 0:
            yield (tok.upper() if kind == "word" else None), tok, start, end
        if tok == b"(":
            depth += 1


def _parse_statement(text: bytes) -> _Statement:
    """Find the statement kind, its top-level ``FORMAT`` and, for ``INSERT ... FORMAT f``, the data.

    For an insert, scanning stops right after the format name: the data that follows
    (binary for Native or Arrow) is never tokenised. It starts after spaces/tabs and at
    most one newline, as in ClickHouse's own parser. A ``FORMAT`` right after INTO, TABLE
    or a dot is a table name. For other statements the clause is the last ``FORMAT name``
    that ends the statement (or precedes ``SETTINGS`` or ``;``).
    """
    toks = _top_level(text)
    first = next(toks, None)
    keyword = first[1].decode().upper() if first and first[0] is not None else ""
    if keyword != "INSERT":
        rest = list(toks)
        found: str | None = None
        for i, (word, _, _, _) in enumerate(rest[:-1]):
            after = rest[i + 2] if i + 2 < len(rest) else None
            if (
                word == b"FORMAT"
                and rest[i + 1][0] is not None
                and (after is None or after[0] == b"SETTINGS" or after[1] == b";")
            ):
                found = rest[i + 1][1].decode()
        return _Statement(text, keyword, found)
    prev = b"INSERT"
    format_at: int | None = None
    for word, tok, start, end in toks:
        if format_at is not None and word is not None:
            pos = end
            while pos < len(text) and text[pos] in b" \t\f":
                pos += 1
            pos += text.startswith(b"\r", pos)
            pos += text.startswith(b"\n", pos)
            return _Statement(text[:format_at], keyword, tok.decode(), memoryview(text)[pos:])
        if word in (b"VALUES", b"SELECT", b"WITH"):
            return _Statement(text, keyword, None)  # inline values / INSERT SELECT: one statement
        format_at = start if word == b"FORMAT" and prev not in (b"INTO", b"TABLE", b".") else None
        prev = word or tok
    return _Statement(text, keyword, None)


# ---- compression -----------------------------------------------------------------------


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_lz4_frame = _optional("lz4.frame")
_zstd = _optional("compression.zstd") or _optional("backports.zstd") or _optional("zstandard")


def _decompress(data: bytes, encoding: str) -> bytes:
    enc = encoding.strip().lower()
    if enc in ("", "identity", "none"):
        return data
    try:
        if enc == "gzip":
            return gzip.decompress(data)
        if enc == "deflate":
            return zlib.decompress(data)
        if enc == "lz4" and _lz4_frame is not None:
            return bytes(_lz4_frame.decompress(data))
        if enc == "zstd" and _zstd is not None:
            return bytes(_zstd.decompress(data))
    except Exception as exc:
        raise _error(271, "CANNOT_DECOMPRESS", f"Cannot decompress {enc} request body: {exc}") from exc
    raise _error(89, "UNKNOWN_COMPRESSION_METHOD", f"Unknown Content-Encoding of the request body: {encoding}")


def _compress(data: bytes, accept: str) -> tuple[bytes, str | None]:
    """Compress with the first encoding of ``accept`` this process supports (or not at all)."""
    for enc in (e.split(";")[0].strip().lower() for e in accept.split(",")):
        if enc == "lz4" and _lz4_frame is not None:
            return bytes(_lz4_frame.compress(data)), enc
        if enc == "zstd" and _zstd is not None:
            return bytes(_zstd.compress(data)), enc
        if enc == "gzip":
            return gzip.compress(data, compresslevel=1), enc
        if enc == "deflate":
            return zlib.compress(data, 1), enc
    return data, None


# ---- the engine --------------------------------------------------------------------------


@dataclass
class _Request:
    sql: bytes
    params: dict[str, str]  # bound query parameters, without the ``param_`` prefix
    settings: dict[str, str]
    database: str | None
    session_id: str | None
    default_format: str | None


@dataclass
class _Reply:
    body: bytes
    format: str | None  # None for statements that return no result
    summary: dict[str, str] = field(default_factory=dict)


@dataclass
class _Session:
    database: str | None = None
    settings: dict[str, str] = field(default_factory=dict)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Engine:
    """One chdb connection; used from one thread only (the caller serialises)."""

    def __init__(self, path: str) -> None:
        chdb = importlib.import_module("chdb")
        os.makedirs(path, exist_ok=True)
        self._conn: Any = chdb.connect(os.path.realpath(path))
        version, tz = self._text("SELECT version(), timezone()").rstrip("\n").split("\t")
        self.version = version
        self.timezone = tz
        # Settings chdb itself changed at startup: restored to these values, not DEFAULT.
        self._baseline = self._changed_settings()
        self._applied: dict[str, str] = {}
        self._database = "default"
        self._sessions: dict[str, _Session] = {}

    def _text(self, sql: str) -> str:
        return bytes(self._conn.query(sql, "TabSeparated").bytes()).decode()

    def _changed_settings(self) -> dict[str, str]:
        rows = self._text("SELECT name, value FROM system.settings WHERE changed FORMAT JSONEachRow")
        return {r["name"]: r["value"] for r in map(json.loads, rows.splitlines())}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    def _set(self, name: str, value: str | None) -> None:
        if not _IDENT.match(name):
            raise _error(115, "UNKNOWN_SETTING", f"Setting name {name!r} is not an identifier")
        literal = "DEFAULT" if value is None else _quote(value)
        try:
            self._conn.query(f"SET {name} = {literal}", "TabSeparated")
        except Exception as exc:
            raise _engine_error(exc) from exc

    def _prepare(self, database: str, settings: Mapping[str, str]) -> None:
        """Make the connection's settings and current database exactly what this request asks for."""
        for name in [n for n in self._applied if n not in settings]:
            self._set(name, self._baseline.get(name))
            del self._applied[name]
        for name, value in settings.items():
            if self._applied.get(name) != value:
                self._applied.pop(name, None)
                self._set(name, value)
                self._applied[name] = value
        if database != self._database:
            if not _IDENT.match(database):
                raise _error(81, "UNKNOWN_DATABASE", f"Database {database!r} does not exist")
            try:
                self._conn.query(f"USE `{database}`", "TabSeparated")
            except Exception as exc:
                raise _engine_error(exc) from exc
            self._database = database

    def execute(self, req: _Request) -> _Reply:
        """Run one request's statement. Raises _ClickHouseError."""
        stmt = _parse_statement(req.sql)
        session = self._sessions.get(req.session_id or "") or _Session()
        settings = {**session.settings, **req.settings}
        self._prepare(req.database or session.database or "default", settings)
        started = time.perf_counter()
        if stmt.data is not None:
            return self._insert(stmt, started)
        try:
            sql = stmt.sql.decode()
        except UnicodeDecodeError as exc:
            raise _error(62, "SYNTAX_ERROR", f"Query is not valid UTF-8: {exc}") from exc
        # Like the in-process client: run format-less statements with a names line, so a
        # statement that returns a result (even no rows) is told apart from one that does not.
        fmt = stmt.format or req.default_format or "TabSeparated"
        probe = stmt.format is None and fmt in ("TabSeparated", "TSV")
        try:
            result = self._conn.query(sql, "TabSeparatedWithNames" if probe else fmt, params=req.params)
        except Exception as exc:
            raise _engine_error(exc) from exc
        body = bytes(result.bytes() or b"")
        if probe:
            newline = body.find(b"\n")
            returns = newline >= 0
            body = body[newline + 1 :] if returns else b""
        else:
            returns = bool(body) or stmt.keyword not in ("INSERT", "CREATE", "ALTER", "DROP", "SET", "USE")
        if stmt.keyword in ("SET", "USE"):
            self._remember(stmt.keyword, req, session)
        summary = {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "total_rows_to_read": "0",
            "result_rows": str(body.count(b"\n")) if probe else "0",
            "result_bytes": str(len(body)),
            "elapsed_ns": str(int((time.perf_counter() - started) * 1e9)),
        }
        return _Reply(body, fmt if returns else None, summary)

    def _insert(self, stmt: _Statement, started: float) -> _Reply:
        assert stmt.data is not None
        assert stmt.format is not None
        try:
            inserter = self._conn.send_insert(stmt.sql.decode(), stmt.format)
        except Exception as exc:
            raise _engine_error(exc) from exc
        try:
            for at in range(0, len(stmt.data), _INSERT_CHUNK):
                inserter.append(stmt.data[at : at + _INSERT_CHUNK])
            result = inserter.finish()
        except Exception as exc:
            with contextlib.suppress(Exception):
                inserter.cancel()
            raise _engine_error(exc) from exc
        summary = {
            "read_rows": str(result.rows_written),
            "read_bytes": str(len(stmt.data)),
            "written_rows": str(result.rows_written),
            "written_bytes": str(result.bytes_written),
            "total_rows_to_read": "0",
            "result_rows": "0",
            "result_bytes": "0",
            "elapsed_ns": str(int((time.perf_counter() - started) * 1e9)),
        }
        return _Reply(b"", None, summary)

    def _remember(self, keyword: str, req: _Request, session: _Session) -> None:
        """After ``SET``/``USE``: keep the change for the request's session (none without one).

        Only sessions that ran SET or USE are remembered, the most recent _MAX_SESSIONS of them.
        """
        if keyword == "USE":
            self._database = session.database = self._text("SELECT currentDatabase()").strip()
        else:
            now = self._changed_settings()
            changed = {
                k: v
                for k, v in now.items()
                if k != "database" and self._baseline.get(k) != v and req.settings.get(k) != v
            }
            self._applied.update(changed)
            session.settings.update(changed)
        if req.session_id:
            self._sessions.pop(req.session_id, None)
            self._sessions[req.session_id] = session
            while len(self._sessions) > _MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]


# ---- HTTP front end ------------------------------------------------------------------------


def _headers(query_id: str, timezone: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Timezone": timezone,
        "X-ClickHouse-Server-Display-Name": "cloudops-chdb",
        **(extra or {}),
    }


class _FrontEnd:
    """aiohttp handlers; the engine runs on its own single thread."""

    def __init__(self, engine: _Engine, executor: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.executor = executor

    def app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("GET", "/ping", self.ok)
        app.router.add_route("GET", "/replicas_status", self.ok)
        app.router.add_route("*", "/", self.query)
        return app

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(body=b"Ok.\n", content_type="text/html")

    async def query(self, request: web.Request) -> web.StreamResponse:
        url = request.query
        query_id = url.get("query_id") or str(uuid.uuid4())
        tz = self.engine.timezone
        fields: dict[str, str] = {k: url[k] for k in url}
        try:
            if request.method not in ("GET", "POST"):
                raise _error(48, "NOT_IMPLEMENTED", f"HTTP method {request.method} is not supported")
            body = b""
            if request.content_type == "multipart/form-data":
                form = await request.post()
                for key, value in form.items():
                    if not isinstance(value, str):
                        raise _error(48, "NOT_IMPLEMENTED", "External data tables are not supported")
                    fields[key] = value
            elif request.method == "POST":
                body = await request.read()
                if encoding := request.headers.get("Content-Encoding", ""):
                    body = await asyncio.to_thread(_decompress, body, encoding)
            if "query" not in fields and not body:
                if request.method == "GET" and not url:
                    return web.Response(body=b"Ok.\n", content_type="text/html")
                raise _error(62, "SYNTAX_ERROR", "Empty query")
            if fields.get("decompress", "0") not in ("0", "false") or fields.get("compress", "0") not in ("0", "false"):
                raise _error(
                    48, "NOT_IMPLEMENTED", "ClickHouse block compression (compress/decompress) is not supported"
                )
            head = fields.get("query", "")
            req = _Request(
                sql=(head.encode() + b"\n" + body) if head and body else head.encode() or body,
                params={k[6:]: v for k, v in fields.items() if k.startswith("param_")},
                settings={k: v for k, v in fields.items() if k not in _TRANSPORT_PARAMS and not k.startswith("param_")},
                database=fields.get("database") or request.headers.get("X-ClickHouse-Database"),
                session_id=fields.get("session_id"),
                default_format=fields.get("default_format") or request.headers.get("X-ClickHouse-Format"),
            )
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(self.executor, self.engine.execute, req)
        except Exception as exc:  # every failure answers in ClickHouse's error shape
            err = exc if isinstance(exc, _ClickHouseError) else _engine_error(exc)
            text = err.message if "(version " in err.message else f"{err.message} (version {self.engine.version})"
            headers = _headers(query_id, tz, {"X-ClickHouse-Exception-Code": str(err.code)})
            return web.Response(
                status=_STATUS_BY_NAME.get(err.name, 500),
                body=(text + "\n").encode(),
                headers=headers,
                content_type="text/plain",
                charset="UTF-8",
            )
        extra = {"X-ClickHouse-Summary": json.dumps(reply.summary, separators=(",", ":"))}
        if reply.format:
            extra["X-ClickHouse-Format"] = reply.format
        payload = reply.body
        if fields.get("enable_http_compression") in ("1", "true") and payload:
            payload, used = _compress(payload, request.headers.get("Accept-Encoding", ""))
            if used:
                extra["Content-Encoding"] = used
        fmt = reply.format or ""
        content_type = next((t for prefix, t in _CONTENT_TYPES if fmt.startswith(prefix)), None)
        if content_type is None:
            content_type = "application/octet-stream" if fmt else "text/plain"
        return web.Response(body=payload, headers=_headers(query_id, tz, extra), content_type=content_type)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.engine.close()


async def serve(path: str, host: str = "127.0.0.1", port: int = 0, port_file: str | None = None) -> None:
    """Open chdb at ``path`` and serve HTTP on ``host:port`` until SIGTERM/SIGINT (blocking coroutine).

    Prints ``clickhouse-http ready on http://HOST:PORT`` (the real port when ``port`` is 0)
    once it accepts requests, and writes the port to ``port_file`` if given.
    """
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb-engine")
    front = _FrontEnd(await loop.run_in_executor(executor, _Engine, path), executor)
    # auto_decompress off: the handler decodes Content-Encoding itself (gzip, deflate, lz4, zstd).
    runner = web.AppRunner(front.app(), access_log=None, shutdown_timeout=15.0, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = int(runner.addresses[0][1])
    if port_file:
        await asyncio.to_thread(Path(port_file).write_text, f"{bound}\n")
    print(f"clickhouse-http ready on http://{host}:{bound} (chdb {front.engine.version}, {path})", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        front.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.support.clickhouse_http --path DATA [--host H] [--port P] [--port-file F]``."""
    parser = argparse.ArgumentParser(description="chdb behind a ClickHouse-compatible HTTP interface")
    parser.add_argument("--path", required=True, help="chdb data directory (created if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here when ready")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.path, args.host, args.port, args.port_file))


# ---- the child process, from Python ------------------------------------------------------------


class EmbeddedClickHouseServer:
    """Start/stop the HTTP front end over chdb as a child process on loopback.

    The port is chosen once (free at construction unless given) and kept across
    :meth:`restart`, so clients reconnect to the same DSN. ``start`` blocks until ``/ping``
    answers ``Ok.``; it raises RuntimeError if the process exits first and TimeoutError
    if it does not answer in time. The server's output goes to ``log_file``
    (default ``<path>.http.log``).
    """

    def __init__(
        self, path: Path | str, port: int | None = None, *, host: str = "127.0.0.1", log_file: Path | None = None
    ) -> None:
        self.path = Path(path)
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file or self.path.with_name(self.path.name + ".http.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        """``http://HOST:PORT`` for clickhouse-connect and :func:`cloudops.sinks.clickhouse.connect`."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> EmbeddedClickHouseServer:
        if self.running:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        args = ["--path", str(self.path), "--host", self.host, "--port", str(self.port)]
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.clickhouse_http", *args],
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self.proc.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-2000:]
                self.proc = None
                raise RuntimeError(f"clickhouse-http exited at start (see {self.log_file}):\n{tail}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"clickhouse-http did not answer /ping on {self.dsn} within {timeout}s")
            time.sleep(0.1)
        return self

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.dsn}/ping", timeout=1) as resp:
                return bool(resp.read() == b"Ok.\n")
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait for a clean exit (in-flight requests finish); SIGKILL after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def kill(self) -> None:
        """SIGKILL at once (a crash): committed inserts survive, in-flight ones fail."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(10)

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)

    def __enter__(self) -> EmbeddedClickHouseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
