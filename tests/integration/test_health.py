"""The worker's /healthz, /readyz and /metrics: a stuck loop fails liveness, readiness names each
dependency, and a real worker process serves its consumer group's lag to a Prometheus scrape."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from tests.support.faults import Cluster, cur_files
from tests.support.settings import local_settings

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.net import free_port
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.settings import Settings
from cloudops.sinks.clickhouse.client import close_all
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.health import Health, default_checks
from cloudops.topics.lag import consumer_lag

pytestmark = pytest.mark.integration


def _get(port: int, path: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _settings(tmp_path: Path, **health: Any) -> Settings:
    return Settings(app={"work_dir": tmp_path / "work"}, health={"max_loop_lag_s": 1.0, **health})


async def test_a_stuck_event_loop_fails_liveness_and_recovers(tmp_path: Path) -> None:
    health = Health(_settings(tmp_path), checks={})
    port = health.start(port=0, host="127.0.0.1")
    try:
        assert _get(port, "/healthz")[0] == 503, "alive before the loop ever beat"
        beat = asyncio.create_task(health.heartbeat())
        await asyncio.sleep(0.3)
        status, body = await asyncio.to_thread(_get, port, "/healthz")
        assert status == 200, body

        seen: list[tuple[int, str]] = []
        probe = threading.Thread(target=lambda: (time.sleep(1.8), seen.append(_get(port, "/healthz"))))
        probe.start()
        time.sleep(2.5)  # blocks the event loop: the heartbeat cannot run (what a stuck agent does)
        probe.join()
        assert seen[0][0] == 503, seen
        assert "stuck" in json.loads(seen[0][1])["reason"], seen

        await asyncio.sleep(0.5)  # the loop runs again: the next heartbeat makes it alive
        status, body = await asyncio.to_thread(_get, port, "/healthz")
        assert status == 200, body
        status, metrics = await asyncio.to_thread(_get, port, "/metrics")
        assert status == 200
        assert "cloudops_event_loop_heartbeat_age_seconds" in metrics
        beat.cancel()
    finally:
        health.stop()


async def test_readiness_names_each_dependency(broker: EmbeddedBroker, postgres_dsn: str, tmp_path: Path) -> None:
    dead = free_port()
    good = Settings(
        app={"work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers},
        clickhouse={"dsn": f"chdb://{tmp_path / 'chdb'}"},
        postgres={"dsn": postgres_dsn},
        health={"check_timeout_s": 3.0},
    )
    health = Health(good, consumes=())
    assert sorted(health.checks) == ["broker", "clickhouse", "postgres"]
    port = health.start(port=0, host="127.0.0.1")
    try:
        status, body = await asyncio.to_thread(_get, port, "/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"] == {"broker": "ok", "clickhouse": "ok", "postgres": "ok", "consumer": "ok"}
    finally:
        health.stop()

    bad = good.with_overrides(
        postgres={"dsn": f"postgresql://nobody@127.0.0.1:{dead}/x"},
        clickhouse={"dsn": f"http://127.0.0.1:{dead}"},
        kafka={"bootstrap_servers": f"127.0.0.1:{dead}"},
    )
    health = Health(bad, consumes=("billing-files",), checks=default_checks(bad))
    port = health.start(port=0, host="127.0.0.1")
    try:
        status, body = await asyncio.to_thread(_get, port, "/readyz", 30)
        checks = json.loads(body)["checks"]
        assert status == 503
        assert all(checks[name] != "ok" for name in ("broker", "clickhouse", "postgres")), checks
        assert checks["consumer"] == "waiting for the consumer group's assignment"
    finally:
        health.stop()


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def _lag_lines(metrics: str, group: str) -> dict[str, float]:
    """topic -> value of cloudops_consumer_group_lag_messages for ``group``."""
    out = {}
    for m in re.finditer(
        r'^cloudops_consumer_group_lag_messages\{group="([^"]+)",topic="([^"]+)"\} (\S+)$', metrics, re.M
    ):
        if m.group(1) == group:
            out[m.group(2)] = float(m.group(3))
    return out


async def test_a_worker_process_serves_probes_and_its_groups_lag(
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
    producer: AIOKafkaProducer,
) -> None:
    settings = local_settings(
        "health",
        unique,
        tmp_path,
        broker,
        f"chdb://{tmp_path / 'chdb'}",  # the worker process owns it; this test never opens it
        tenant=f"h{unique}",
        aws=object_store.settings(),
    )
    await ensure_topics(settings.kafka)
    cluster = Cluster(settings, f"bills-h{unique}", tmp_path)
    async with s3_client(settings.aws) as s3:
        await s3.create_bucket(Bucket=cluster.bucket)
    # Files announced before any worker runs: the group starts 3 messages behind on billing-files.
    files = await cluster.upload_many([(f"cur/{f.name}", f) for f in cur_files(3, 5, prefix="h")])
    await cluster.announce(producer, *files)

    port = free_port()
    group = f"{settings.app.id}-parse-load"
    env = cluster.env("parse-load", CLOUDOPS_HEALTH__PORT=str(port), CLOUDOPS_KAFKA__LAG_INTERVAL_S="0.5")
    env.pop("CLOUDOPS_POSTGRES__DSN", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloudops", "worker", "--role", "parse", "--role", "load"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        seen_lag: dict[str, float] = {}
        deadline = time.monotonic() + 120
        ready = alive = False
        drained = False
        while time.monotonic() < deadline and not (ready and alive and drained):
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                alive = (await asyncio.to_thread(_get, port, "/healthz"))[0] == 200
                ready = (await asyncio.to_thread(_get, port, "/readyz"))[0] == 200
                status, metrics = await asyncio.to_thread(_get, port, "/metrics")
            except (urllib.error.URLError, ConnectionError):
                await asyncio.sleep(0.3)
                continue
            assert status == 200
            lag = _lag_lines(metrics, group)
            seen_lag.update(lag)
            drained = seen_lag.get("billing-files") == 0 and seen_lag.get("focus-batches") == 0
            await asyncio.sleep(0.3)
        assert alive, log.read_text()[-3000:]
        assert ready, log.read_text()[-3000:]
        # The scrape carries the group's lag per topic; once the three files are processed it is 0,
        # equal to what the broker says.
        assert seen_lag.get("billing-files") == 0, (seen_lag, metrics[-2000:])
        assert "focus-batches" in seen_lag, (seen_lag, metrics[-2000:])
        measured = await consumer_lag(settings.kafka, group, ["billing-files", "focus-batches"])
        assert sum(measured.values()) == 0
        await cluster.receipts({u.file_id for u in files}, timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # The files landed (the worker owned the chdb path; it has exited, so this process may open it).
    try:
        landed = cluster.landed()
    finally:
        close_all()
    assert {u.file_id: landed.get(u.file_id) for u in files} == {u.file_id: (u.rows, u.rows, u.cost) for u in files}
