"""Local servers for the non-S3 object stores, started by the test suite on free loopback ports.

* :class:`AzuriteServer`: Azurite (npm ``azurite``, Microsoft's emulator of Blob and Queue
  storage): the demo's server (:class:`cloudops.embedded.servers.AzuriteServer`), here installed
  under ``tests/support/node`` from its committed ``package-lock.json`` (``npm ci`` on first use
  when ``node_modules`` is missing).
* :class:`GcsEmulator`: ``gcp-storage-emulator`` (PyPI), the JSON API of Cloud Storage, in memory,
  in a thread of the test process.

Both are emulators of the vendor's REST API, driven by the vendors' real SDKs. A missing
``node``/``npm`` raises :class:`~cloudops.embedded.servers.ServiceUnavailable`.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Self

from cloudops.embedded import servers
from cloudops.embedded.net import free_port
from cloudops.embedded.servers import AZURITE_ACCOUNT, AZURITE_KEY, ServiceError, ServiceUnavailable

__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "AzuriteServer", "GcsEmulator", "azurite_executable"]

_HOST = "127.0.0.1"
_NODE_DIR = Path(__file__).parent / "node"


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
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


class AzuriteServer(servers.AzuriteServer):
    """Azurite Blob + Queue (+ Table) on free ports, data in a temp dir deleted on stop; the test
    suite installs it on first use (:func:`azurite_executable`) instead of asking for ``make azurite``."""

    @staticmethod
    def find() -> Path:
        return azurite_executable()


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
