"""Suite-wide fixtures: real local services started by the suite itself.

* ``broker`` - a noida-db Kafka-wire broker on a free loopback port (fresh per test)
* ``object_store`` - a moto S3 + SQS server on loopback (one per session)
* ``chdb_dsn`` - a chdb data path (fresh per test; the engine is closed afterwards,
  since one process can hold only one chdb path at a time)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.sinks.clickhouse.client import close_all

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path / "broker").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def object_store() -> Iterator[EmbeddedObjectStore]:
    s = EmbeddedObjectStore().start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def chdb_dsn(tmp_path: Path) -> Iterator[str]:
    close_all()
    yield f"chdb://{tmp_path / 'chdb'}"
    close_all()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names shared across tests (buckets, queues, tenants)."""
    return uuid.uuid4().hex[:8]
