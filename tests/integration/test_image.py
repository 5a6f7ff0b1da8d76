"""The runtime image, run for real (podman + runc, host network) against the suite's services.

Runs when ``CLOUDOPS_TEST_IMAGE`` names a built image (``make image-test`` builds one with
scripts/image.sh, runs this file, and removes the image); skipped otherwise. The containers run
as Kubernetes runs them: read-only root filesystem, writable work dir and /tmp only, non-root.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from tests.support.clickhouse_http import EmbeddedClickHouseServer
from tests.support.faults import Cluster, cur_files

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.net import free_port
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, migrate
from cloudops.sinks.clickhouse.client import close_all
from cloudops.sinks.postgres import migrate as pg_migrate
from cloudops.sinks.postgres.ledger import add_source
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics

IMAGE = os.environ.get("CLOUDOPS_TEST_IMAGE", "")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not IMAGE, reason="CLOUDOPS_TEST_IMAGE not set (make image-test builds and runs the image)"),
]
RUN = ["podman", "run", "--runtime", "runc", "--network", "host"]
RUN += ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def _podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of containers a test started; all removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        _podman("rm", "-f", "-t", "10", name, check=False)


def _start(names: list[str], env: dict[str, str], *args: str) -> str:
    name = f"cloudops-test-{uuid.uuid4().hex[:8]}"
    flags = [f"--env={k}={v}" for k, v in env.items()]
    # Read-only root; writable /tmp only (podman 4.3 ignores tmpfs modes, so the work dir lives under it;
    # on Kubernetes /var/lib/cloudops is an emptyDir the pod's fsGroup may write).
    flags += ["--read-only", "--tmpfs", "/tmp"]
    _podman("run", "--runtime", "runc", "--network", "host", "--ulimit", "nofile=4096:4096", "--ulimit",
            "nproc=4096:4096", "-d", "--name", name, *flags, IMAGE, *args)  # fmt: skip
    names.append(name)
    return name


def test_runtime_image_is_minimal_non_root_and_labelled() -> None:
    assert shutil.which("podman"), "podman missing: apt-get install buildah podman runc debootstrap"
    [info] = json.loads(_podman("image", "inspect", IMAGE).stdout)
    labels = info["Config"]["Labels"]
    for key in ("title", "version", "revision", "source", "licenses", "created"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert info["Config"]["User"] == "10001:10001"
    probe = (
        "id -u; for c in gcc cc make noida-db moto_server; do command -v $c && echo FOUND $c; done; "
        'for m in chdb moto noida_db pytest; do python3 -c "import $m" 2>/dev/null && echo FOUND $m; done; '
        "python3 -c 'import cloudops.app, cloudops.cli'; echo ok"
    )
    out = subprocess.run([*RUN, "--rm", "--entrypoint", "sh", IMAGE, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["10001", "ok"], out.stdout  # nothing FOUND: no compilers, no test servers
    demo = subprocess.run([*RUN, "--rm", IMAGE, "demo"], capture_output=True, text=True)
    assert demo.returncode == 2
    assert "cloudops[embedded]" in demo.stderr + demo.stdout


@pytest.fixture
def clickhouse_server(tmp_path: Path) -> Iterator[EmbeddedClickHouseServer]:
    close_all()
    server = EmbeddedClickHouseServer(tmp_path / "clickhouse").start()
    try:
        yield server
    finally:
        close_all()
        server.stop()


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def test_parse_and_load_from_the_image_land_a_file(
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    clickhouse_server: EmbeddedClickHouseServer,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
    producer: AIOKafkaProducer,
    containers: list[str],
) -> None:
    settings = Settings(
        app={"id": f"image-{unique}", "tenant": f"i{unique}", "work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0, "heartbeat_interval_s": 1.0},
        clickhouse={"dsn": clickhouse_server.dsn},
        postgres={"dsn": postgres_db},
        aws=object_store.settings(),
    )
    cluster = Cluster(settings, f"bills-i{unique}", tmp_path)
    async with s3_client(settings.aws) as s3:
        await s3.create_bucket(Bucket=cluster.bucket)
    pg_migrate(postgres_db, settings.app.tenant)
    add_source(postgres_db, settings.app.tenant, id="aws", provider="aws", bucket=cluster.bucket, prefix="")
    await ensure_topics(settings.kafka)
    migrate(connect(settings.clickhouse_dsn), settings.app.tenant)

    port = free_port()
    env = {k: v for k, v in cluster.env("parse-load").items() if k.startswith("CLOUDOPS_")}
    env.update(
        CLOUDOPS_APP__WORK_DIR="/tmp/cloudops",
        CLOUDOPS_HEALTH__PORT=str(port),
        CLOUDOPS_KAFKA__LAG_INTERVAL_S="1",
    )
    worker = _start(containers, env, "worker", "--role", "parse", "--role", "load")

    await asyncio.sleep(3)
    state = json.loads(_podman("inspect", worker).stdout)[0]["State"]
    logs = _podman("logs", worker, check=False)
    assert state["Running"], (logs.stdout + logs.stderr)[-4000:]
    files = await cluster.upload_many([(f"cur/{f.name}", f) for f in cur_files(2, 25, prefix="img")])
    await cluster.announce(producer, *files)
    try:
        receipts = await cluster.receipts({u.file_id for u in files}, timeout=180)
    except AssertionError as exc:
        logs = _podman("logs", worker, check=False)
        raise AssertionError(f"{exc}\n--- container log\n{(logs.stdout + logs.stderr)[-4000:]}") from exc
    assert all(r.reconciled for rs in receipts.values() for r in rs)
    await cluster.assert_exact(files)

    deadline = time.monotonic() + 60
    while True:
        ready = await asyncio.to_thread(_get, port, "/readyz")
        if ready[0] == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert ready[0] == 200, ready
    assert json.loads(ready[1])["checks"] == {"broker": "ok", "clickhouse": "ok", "postgres": "ok", "consumer": "ok"}
    assert (await asyncio.to_thread(_get, port, "/healthz"))[0] == 200
    status, metrics = await asyncio.to_thread(_get, port, "/metrics")
    assert status == 200
    group = f"{settings.app.id}-parse-load"
    assert f'cloudops_consumer_group_lag_messages{{group="{group}",topic="billing-files"}}' in metrics
    assert "cloudops_files_total" in metrics

    # SIGTERM: the worker shuts down cleanly within the grace period Kubernetes gives it.
    started = time.monotonic()
    _podman("stop", "-t", "60", worker)
    assert time.monotonic() - started < 60
    state = json.loads(_podman("inspect", worker).stdout)[0]["State"]
    assert state["ExitCode"] in (0, 143), state  # 143: SIGTERM


def _has_api() -> bool:
    out = subprocess.run([*RUN, "--rm", IMAGE, "--help"], capture_output=True, text=True)
    return " api " in out.stdout


async def test_api_role_from_the_image_serves(postgres_db: str, unique: str, containers: list[str]) -> None:
    if not _has_api():
        pytest.skip("this image has no `cloudops api` yet")
    port = free_port()
    pg_migrate(postgres_db, f"a{unique}")
    env = {
        "CLOUDOPS_POSTGRES__DSN": postgres_db,
        "CLOUDOPS_APP__TENANT": f"a{unique}",
        "CLOUDOPS_APP__WORK_DIR": "/tmp/cloudops",
        "CLOUDOPS_CLICKHOUSE__DSN": f"http://127.0.0.1:{free_port()}",
    }
    api = _start(containers, env, "api", "--host", "127.0.0.1", "--port", str(port))
    deadline = time.monotonic() + 60
    status, body = 0, ""
    while time.monotonic() < deadline:
        try:
            status, body = await asyncio.to_thread(_get, port, "/openapi.json")
            break
        except OSError:
            await asyncio.sleep(1)
    logs = _podman("logs", api, check=False)
    assert status == 200, (status, body[:500], (logs.stdout + logs.stderr)[-3000:])
    assert "/v1/" in body
    unauthenticated = await asyncio.to_thread(_get, port, "/v1/sources")
    assert unauthenticated[0] == 401, unauthenticated
