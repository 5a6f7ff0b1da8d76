"""noida-db as an embedded Kafka-wire broker on 127.0.0.1 (a child process)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cloudops.embedded.net import free_port, wait_for_port

__all__ = ["EmbeddedBroker", "noida_binary"]


def noida_binary() -> str:
    """Path of the ``noida-db`` command installed with the package."""
    beside = Path(sys.executable).parent / "noida-db"
    if beside.exists():
        return str(beside)
    found = shutil.which("noida-db")
    if not found:
        raise FileNotFoundError("noida-db not found: pip install noida-db")
    return found


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """Start/stop a noida-db Kafka broker. Data lives in ``data_dir`` (saved on stop).

    ``start`` blocks until the port accepts connections. The same port is reused by
    ``restart`` so clients can reconnect.
    """

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "broker.log").open("ab")
        self.proc = subprocess.Popen(
            [
                noida_binary(),
                "start",
                "--host",
                self.host,
                "--only",
                "kafka",
                "--kafka-port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        """Stop the broker (SIGINT: it saves its data; ``kill``: SIGKILL) and wait until its port is closed.

        ``noida-db`` is a Python wrapper that runs the real binary as a child, in the process group
        ``start`` created: the signal goes to the whole group, as Ctrl-C in a terminal would. Signalling
        the wrapper alone left the binary running (and listening) after every stop.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGINT)
        while _listening(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            if _listening(self.host, self.port):
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self, timeout: float = 30.0) -> None:
        self.stop()
        self.start(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
