"""The Faust application: one app, every agent; each role can run alone (``--role``)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable

import faust

from cloudops.agents import ROLES, bridge, load, parse, propose, recommend, schedule
from cloudops.errors import ConfigError
from cloudops.settings import Settings
from cloudops.topics.clients import faust_credentials
from cloudops.topics.health import Health
from cloudops.topics.lag import export_lag
from cloudops.topics.runtime import Runtime

__all__ = ["CONSUMES", "ROLES", "create_app"]

log = logging.getLogger(__name__)

_REGISTER = {
    "bridge": bridge.register,
    "schedule": schedule.register,
    "parse": parse.register,
    "load": load.register,
    "recommend": recommend.register,
    "propose": propose.register,
}


# Topics each role consumes (its lag is what KEDA scales that role on).
_CONSUMES: dict[str, tuple[str, ...]] = {
    "bridge": (),
    "schedule": (),
    "parse": ("billing-files", "billing-files.retry"),
    "load": ("focus-batches",),
    "recommend": ("billing-loaded", "billing-periods"),
    "propose": ("recommendations",),
}


CONSUMES = _CONSUMES
"""Role -> the topics it consumes (read by the Kubernetes manifests' checks: one source of truth)."""


def _broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


def create_app(settings: Settings, roles: Iterable[str] = ROLES) -> tuple[faust.App, Runtime]:
    """Build the Faust app with the agents of ``roles`` registered. Does not start it."""
    chosen = list(dict.fromkeys(roles))
    unknown = [r for r in chosen if r not in _REGISTER]
    if unknown:
        raise ConfigError(f"unknown role(s) {unknown}: choose from {', '.join(ROLES)}")
    kafka = settings.kafka
    settings.app.work_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app.id,
        broker=_broker_url(kafka.bootstrap_servers),
        broker_credentials=faust_credentials(kafka),  # TLS / SASL, as every other client (topics.clients)
        autodiscover=False,
        web_enabled=False,
        store="memory://",
        datadir=str(settings.app.work_dir / "faust"),
        topic_partitions=kafka.topic_partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        # One client id per process, so operators (and the fault tests) can tell group members apart.
        broker_client_id=f"{settings.app.id}-{socket.gethostname()}-{os.getpid()}",
        # Backpressure: at most this many fetched messages wait per partition; a paused agent
        # (e.g. the loader waiting out a ClickHouse outage) leaves the backlog in the broker.
        stream_buffer_maxsize=kafka.stream_buffer_maxsize,
        broker_max_poll_records=kafka.stream_buffer_maxsize,
        broker_session_timeout=kafka.session_timeout_s,
        broker_heartbeat_interval=kafka.heartbeat_interval_s,
        producer_max_request_size=max(kafka.max_message_bytes + 100_000, 1_048_576),
        producer_acks=-1,
        stream_wait_empty=False,
        loghandlers=[],
    )
    rt = Runtime.bind(app, settings)
    for role in chosen:
        _REGISTER[role](app, rt)
    consumed = sorted({t for role in chosen for t in _CONSUMES[role]})
    if settings.health.port:  # /healthz, /readyz, /metrics for Kubernetes and Prometheus
        health = Health(settings, consumes=consumed)
        health.attach(app)
        health.start()
    if kafka.lag_interval_s > 0:

        @app.timer(interval=kafka.lag_interval_s)  # type: ignore[untyped-decorator]
        async def measure_lag() -> None:
            """Export this group's lag (the KEDA trigger's input) as a Prometheus gauge."""
            try:
                await export_lag(kafka, settings.app.id, consumed)
            except Exception as exc:  # the next tick tries again
                log.info("lag: not measured: %s", exc)

    return app, rt
