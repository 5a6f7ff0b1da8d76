"""The lifecycle the faithful HTTP fakes of cloud services share (tests/support/bigquery_fake.py,
oci_objectstorage.py, alibaba_oss.py): a ``ThreadingHTTPServer`` on a free 127.0.0.1 port, served by
a daemon thread of the test process, started and stopped by hand or as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from cloudops.embedded.net import free_port

__all__ = ["LoopbackFake"]


class LoopbackFake:
    """Base of a fake service: subclasses name their thread and give their request handler class."""

    thread_name = "fake-http"
    port = 0
    _server: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler bound to this fake's state."""
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler_class())
        threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True).start()
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
