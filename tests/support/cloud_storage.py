"""Local servers for the non-S3 object stores, started by the test suite on free loopback ports.

* :class:`AzuriteServer`: Azurite (npm ``azurite``, Microsoft's emulator of Blob and Queue
  storage), installed under ``tests/support/node`` from its committed ``package-lock.json``
  (``npm ci`` on first use when ``node_modules`` is missing).
* :class:`GcsEmulator`: ``gcp-storage-emulator`` (PyPI), the JSON API of Cloud Storage, in memory,
  in a thread of the test process.

Both are emulators of the vendor's REST API, driven by the vendors' real SDKs. A missing
``node``/``npm`` raises :class:`~tests.support.services.ServiceUnavailable`.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

from tests.support.services import ServiceError, ServiceUnavailable

from cloudops.embedded.net import free_port

__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "AzuriteServer", "GcsEmulator"]

_HOST = "127.0.0.1"
_NODE_DIR = Path(__file__).parent / "node"
# Azurite's documented development account (public, fixed; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((_HOST, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def azurite_executable() -> Path:
    """``tests/support/node/node_modules/.bin/azurite``, installed with ``npm ci`` if missing."""
    exe = _NODE_DIR / "node_modules" / ".bin" / "azurite"
    if exe.exists():
        return exe
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ServiceUnavailable("node and npm are needed for Azurite (apt-get install nodejs npm)")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=_NODE_DIR, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0 or not exe.exists():
        raise ServiceUnavailable(f"npm ci of Azurite failed: {done.stderr[-2000:]}")
    return exe


class AzuriteServer:
    """Azurite Blob + Queue (+ Table) on free ports, data in a temp dir deleted on stop."""

    def __init__(self) -> None:
        self.blob_port = 0
        self.queue_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

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
        return {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}

    def start(self) -> Self:
        exe = azurite_executable()
        self._dir = Path(tempfile.mkdtemp(prefix="azurite-"))
        self.blob_port, self.queue_port, table_port = free_port(), free_port(), free_port()
        log = (self._dir / "azurite.log").open("wb")
        self._proc = subprocess.Popen(
            [
                str(exe),
                "--silent",
                "--skipApiVersionCheck",
                "--location",
                str(self._dir / "data"),
                "--blobHost",
                _HOST,
                "--blobPort",
                str(self.blob_port),
                "--queueHost",
                _HOST,
                "--queuePort",
                str(self.queue_port),
                "--tableHost",
                _HOST,
                "--tablePort",
                str(table_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)
        if not (_wait_port(self.blob_port, 60, self._proc) and _wait_port(self.queue_port, 30, self._proc)):
            text = (self._dir / "azurite.log").read_text(errors="replace")[-3000:]
            self.stop()
            raise ServiceError(f"Azurite did not start: {text}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GcsEmulator:
    """``gcp-storage-emulator`` in memory on a free port (a thread of this process)."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        """The ``endpoint_url`` of a gcs source reading this emulator."""
        return f"http://{_HOST}:{self.port}"

    def start(self) -> Self:
        from gcp_storage_emulator.server import create_server

        self.port = free_port()
        self._server = create_server(_HOST, self.port, in_memory=True)
        self._server.start()
        if not _wait_port(self.port, 20):
            raise ServiceError("gcp-storage-emulator did not start")
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
