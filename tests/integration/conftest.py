"""Real services for integration tests, started by the suite on free loopback ports.

``postgres_dsn`` and ``redis_url`` are session-scoped: one throwaway server each per test
run, stopped and deleted at the end. Point them at existing servers instead with
``CLOUDOPS_TEST_POSTGRES_DSN`` (its role needs CREATEDB: tests create and drop their own
databases) and ``CLOUDOPS_TEST_REDIS_URL`` (tests use unique tenant ids and never flush).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from tests.support.services import (
    PostgresServer,
    RedisServer,
    ServiceUnavailable,
    temporary_database,
)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server (superuser or CREATEDB role) for this test session."""
    given = os.environ.get("CLOUDOPS_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    try:
        server = PostgresServer().start()
    except ServiceUnavailable as exc:
        pytest.skip(f"no PostgreSQL for integration tests: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_dsn: str) -> Iterator[str]:
    """DSN of a fresh, empty database on the session server, dropped after the test."""
    with temporary_database(postgres_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis server for this test session."""
    given = os.environ.get("CLOUDOPS_TEST_REDIS_URL")
    if given:
        yield given
        return
    try:
        server = RedisServer().start()
    except ServiceUnavailable as exc:
        pytest.skip(f"no Redis for integration tests: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def tenant_id() -> str:
    """A tenant id no other test uses (valid per settings.validate_tenant)."""
    return f"t{uuid.uuid4().hex[:12]}"
