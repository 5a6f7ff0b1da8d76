"""Settings for an in-process cloudops app against the suite's local services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.settings import Settings


def local_settings(
    name: str,
    unique: str,
    tmp_path: Path,
    broker: EmbeddedBroker,
    clickhouse_dsn: str,
    *,
    tenant: str,
    postgres_dsn: str | None = None,
    aws: Any = None,
    **sections: Any,
) -> Settings:
    """App ``cloudops-<name>-<unique>`` for ``tenant``: the broker, ClickHouse, PostgreSQL (if given),
    the object store settings ``aws`` (if given), plus any other sections (``ingest={...}``)."""
    return Settings(
        app={"id": f"cloudops-{name}-{unique}", "tenant": tenant, "work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": clickhouse_dsn},
        postgres={"dsn": postgres_dsn},
        **({"aws": aws} if aws is not None else {}),
        **sections,
    )
