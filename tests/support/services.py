"""Throwaway PostgreSQL and Redis servers for tests: no Docker, free loopback ports, temp dirs.

    server = PostgresServer().start()   # or: with PostgresServer() as server:
    ... server.dsn ...
    server.stop()                       # stops the server and deletes its files

Both classes are plain (no pytest dependency) so any test or script can reuse them.
``start`` blocks until the server answers; a failed start raises
:class:`ServiceError` with the server's log; missing binaries raise
:class:`ServiceUnavailable` (a subclass), which fixtures may turn into a skip. Servers
are also stopped at interpreter exit if a test run forgets to.

PostgreSQL: ``initdb`` refuses to run as root, so as root the cluster is created and
run as the ``postgres`` user (``runuser``), in a temp dir owned by that user.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cloudops.embedded.net import free_port

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServiceError",
    "ServiceUnavailable",
    "find_postgres_bin",
    "temporary_database",
]

_HOST = "127.0.0.1"
_START_ATTEMPTS = 3


class ServiceError(RuntimeError):
    """A test service failed to start."""


class ServiceUnavailable(ServiceError):
    """The binaries a test service needs are not installed."""


def find_postgres_bin() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: PATH first, then Debian's newest."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    for folder in candidates:
        if all((folder / exe).exists() for exe in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise ServiceUnavailable("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1, user ``postgres``, trust auth, fsync off."""

    def __init__(self, *, bin_dir: Path | None = None, os_user: str = "postgres") -> None:
        self._bin_dir = bin_dir
        self._os_user = os_user
        self._bin: Path | None = None
        self.root: Path | None = None
        self.port: int | None = None
        self._started = False

    @property
    def dsn(self) -> str:
        """libpq URL of the ``postgres`` database as superuser ``postgres``."""
        if not self._started:
            raise RuntimeError("PostgresServer is not running")
        return f"postgresql://postgres@{_HOST}:{self.port}/postgres"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self._as_root:
            cmd = ["runuser", "-u", self._os_user, "--", *cmd]
        # cwd "/": the postgres user may not be allowed into the caller's working directory.
        return subprocess.run(cmd, cwd="/", capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> Self:
        """Create the cluster in a new temp dir and start it on a free port (blocking)."""
        if self._started:
            return self
        self._bin = bin_dir = self._bin_dir or find_postgres_bin()
        if self._as_root and shutil.which("runuser") is None:
            raise ServiceUnavailable("running as root needs `runuser` to start PostgreSQL as another user")
        self.root = root = Path(tempfile.mkdtemp(prefix="cloudops-pg-"))
        data, sock, logfile = root / "data", root / "sock", root / "postgres.log"
        sock.mkdir()
        if self._as_root:
            try:
                pw = pwd.getpwnam(self._os_user)
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise ServiceUnavailable(f"running as root needs an OS user {self._os_user!r}") from None
            for p in (root, sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        atexit.register(self.stop)
        init_opts = ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]
        init = self._run(bin_dir / "initdb", "-D", data, *init_opts)
        if init.returncode != 0:
            self.stop()
            raise ServiceError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        for _attempt in range(_START_ATTEMPTS):
            port = free_port(_HOST)
            opts = (
                f"-p {port} -k {sock} -c listen_addresses={_HOST} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            started = self._run(bin_dir / "pg_ctl", "-D", data, "-l", logfile, "-o", opts, "-w", "-t", "60", "start")
            if started.returncode == 0:
                self.port, self._started = port, True
                return self
            # Most likely the port was taken between probing and binding: try another.
            self._run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        log = _tail(logfile)
        self.stop()
        raise ServiceError(f"PostgreSQL did not start after {_START_ATTEMPTS} attempts:\n{log}")

    def stop(self) -> None:
        """Stop the server (immediate shutdown) and delete its files. Safe to call twice."""
        root, self.root = self.root, None
        if root is None:
            return
        if self._started and self._bin is not None:
            self._started = False
            self._run(self._bin / "pg_ctl", "-D", root / "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def temporary_database(dsn: str) -> Iterator[str]:
    """Create an empty database on the server of ``dsn``; yield its DSN; drop it at exit.

    The role of ``dsn`` needs CREATEDB. Dropping forces other sessions off (PostgreSQL 13+).
    """
    name = f"cloudops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class RedisServer:
    """A throwaway redis-server on 127.0.0.1: no persistence, files in a temp dir."""

    def __init__(self, *, executable: str | None = None) -> None:
        self._executable = executable
        self.port: int | None = None
        self.root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        if self._proc is None:
            raise RuntimeError("RedisServer is not running")
        return f"redis://{_HOST}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> Self:
        """Start redis-server on a free port and wait until it answers PING (blocking)."""
        if self._proc is not None:
            return self
        exe = self._executable or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(exe).exists():
            raise ServiceUnavailable("redis-server not found")
        self.root = root = Path(tempfile.mkdtemp(prefix="cloudops-redis-"))
        logfile = root / "redis.log"
        atexit.register(self.stop)
        for _attempt in range(_START_ATTEMPTS):
            port = free_port(_HOST)
            with logfile.open("ab") as log:
                args = [exe, "--port", str(port), "--bind", _HOST, "--dir", str(root)]
                args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
                proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root)
            if _wait_redis(proc, port, timeout):
                self._proc, self.port = proc, port
                return self
            _terminate(proc)
        log_text = _tail(logfile)
        self.stop()
        raise ServiceError(f"redis-server did not start after {_START_ATTEMPTS} attempts:\n{log_text}")

    def stop(self) -> None:
        """Stop the server and delete its files. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
            atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _wait_redis(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((_HOST, port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
