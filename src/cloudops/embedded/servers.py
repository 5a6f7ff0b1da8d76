"""Throwaway local servers the demo runs as child processes: PostgreSQL, Redis, Azurite, Apollo Gateway.

    with PostgresServer() as pg, RedisServer() as redis:
        ... pg.dsn ... redis.url ...

Each starts on a free 127.0.0.1 port with its files in a temp dir, blocks until it answers, and
deletes its files on stop. Missing programs raise :class:`ServiceUnavailable` (with the one-line
install hint), a failed start :class:`ServiceError` with the server's log. Servers are also stopped
at interpreter exit if a caller forgets.

PostgreSQL: ``initdb`` refuses to run as root, so as root the cluster is created and run as the
``postgres`` user (``runuser``), in a temp dir owned by that user. Azurite (npm ``azurite``) and
Apollo Gateway (``gateway/server.mjs``) are Node programs installed by ``make azurite`` and ``make
gateway`` into the source checkout; they are looked up there (or given explicitly).
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
from pathlib import Path
from types import TracebackType
from typing import Self

from cloudops.embedded.net import free_port

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "AzuriteServer",
    "GatewayServer",
    "PostgresServer",
    "RedisServer",
    "ServiceError",
    "ServiceUnavailable",
    "find_postgres_bin",
]

_HOST = "127.0.0.1"
_START_ATTEMPTS = 3
_CHECKOUT = Path(__file__).resolve().parents[3]
"""The source checkout (``src/cloudops/embedded`` -> repository root) when installed editable."""
# Azurite's documented development account (public, fixed; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ServiceError(RuntimeError):
    """A local server failed to start."""


class ServiceUnavailable(ServiceError):
    """The programs a local server needs are not installed."""


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
    raise ServiceUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((_HOST, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


class _Server:
    """Context-manager plumbing shared by the servers."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PostgresServer(_Server):
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

    def _run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self._as_root:
            cmd = ["runuser", "-u", self._os_user, "--", *cmd]
        # cwd "/": the postgres user may not be allowed into the caller's working directory.
        return subprocess.run(cmd, cwd="/", capture_output=True, text=True, check=False, timeout=120)

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


class RedisServer(_Server):
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
            raise ServiceUnavailable("redis-server not found (apt-get install redis-server)")
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


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ServiceUnavailable("Node.js is not installed (apt-get install nodejs npm)")
    return node


class AzuriteServer(_Server):
    """Azurite (Microsoft's Blob + Queue emulator) on free ports, data in a temp dir deleted on stop.

    ``executable``: default ``tests/support/node/node_modules/.bin/azurite`` of the source checkout
    (``make azurite``), else ``azurite`` on PATH.
    """

    def __init__(self, *, executable: Path | None = None) -> None:
        self._executable = executable
        self.blob_port = 0
        self.queue_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    @staticmethod
    def find() -> Path:
        """The installed azurite program; ServiceUnavailable (with how to install it) otherwise."""
        local = _CHECKOUT / "tests" / "support" / "node" / "node_modules" / ".bin" / "azurite"
        if local.exists():
            return local
        on_path = shutil.which("azurite")
        if on_path:
            return Path(on_path)
        raise ServiceUnavailable("Azurite is not installed (make azurite)")

    @property
    def blob_url(self) -> str:
        """The development account's blob endpoint (the ``endpoint_url`` of an azure-blob source)."""
        return f"http://{_HOST}:{self.blob_port}/{AZURITE_ACCOUNT}"

    @property
    def queue_url(self) -> str:
        """The development account's queue endpoint (append ``/<queue>`` for a queue's URL)."""
        return f"http://{_HOST}:{self.queue_port}/{AZURITE_ACCOUNT}"

    @property
    def credential(self) -> dict[str, str]:
        """The azure-storage SDKs' shared-key credential of the development account."""
        return {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}

    def start(self) -> Self:
        exe = self._executable or self.find()
        _node()
        self._dir = Path(tempfile.mkdtemp(prefix="azurite-"))
        self.blob_port, self.queue_port, table_port = free_port(), free_port(), free_port()
        hosts = ["--blobHost", _HOST, "--queueHost", _HOST, "--tableHost", _HOST]
        ports = ["--blobPort", str(self.blob_port), "--queuePort", str(self.queue_port), "--tablePort", str(table_port)]
        with (self._dir / "azurite.log").open("wb") as log:
            self._proc = subprocess.Popen(
                [str(exe), "--silent", "--skipApiVersionCheck", "--location", str(self._dir / "data"), *hosts, *ports],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        atexit.register(self.stop)
        if not (_wait_port(self.blob_port, 60, self._proc) and _wait_port(self.queue_port, 30, self._proc)):
            text = _tail(self._dir / "azurite.log")
            self.stop()
            raise ServiceError(f"Azurite did not start: {text}")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        atexit.unregister(self.stop)


class GatewayServer(_Server):
    """Apollo Gateway (``gateway/server.mjs``, ``make gateway``) in front of a running ``cloudops api``."""

    def __init__(self, api_url: str, *, gateway_dir: Path | None = None) -> None:
        self.api_url = api_url
        self.dir = gateway_dir or _CHECKOUT / "gateway"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def url(self) -> str:
        """The supergraph's GraphQL endpoint."""
        return f"http://{_HOST}:{self.port}/"

    def start(self, timeout: float = 60.0) -> Self:
        if not (self.dir / "node_modules" / "@apollo" / "gateway").exists():
            raise ServiceUnavailable("Apollo Gateway is not installed (make gateway)")
        node = _node()
        self.port = free_port(_HOST)
        fd, name = tempfile.mkstemp(prefix="cloudops-gateway-", suffix=".log")
        os.close(fd)
        self._log = Path(name)
        env = {**os.environ, "CLOUDOPS_API_URL": self.api_url, "PORT": str(self.port), "HOST": _HOST}
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [node, "server.mjs"], cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while "gateway ready" not in self._log.read_text(errors="replace"):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                text = _tail(self._log)
                self.stop()
                raise ServiceError(f"Apollo Gateway did not start: {text}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
        atexit.unregister(self.stop)
