"""Scaling 0 -> N -> 0 on consumer lag, with KEDA's own arithmetic and real worker processes.

    python benchmarks/scaling.py --files 500 [--partitions 4] [--plot docs/scaling.png]

No Kubernetes API server runs here, so this plays KEDA and the HPA: every ``--poll`` seconds it
reads the live consumer-group lag from the broker (:func:`cloudops.topics.lag.consumer_lag`:
end offset - committed offset per partition) and computes the replicas KEDA's Kafka scaler and the
HPA would ask for, then starts or stops real ``cloudops worker --role parse`` / ``--role load``
processes (SIGTERM, as Kubernetes stops a pod) to match.

The arithmetic (:class:`KafkaTrigger`, :class:`Scaler`), from KEDA's Kafka scaler
(kedacore/keda, ``pkg/scalers/kafka_scaler.go``: ``getLagForPartition``, ``GetMetricsAndActivity``)
and the Kubernetes HPA (``pkg/controller/podautoscaler/replica_calculator.go``,
``horizontal.go``; https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/):

* lag of a partition = latest offset - committed offset; with no committed offset and
  ``offsetResetPolicy: earliest`` the whole partition (the latest offset);
* metric = total lag = the partition lags summed over the trigger's topic; with
  ``allowIdleConsumers: false``, when ``total // lagThreshold > partitions`` the metric is capped at
  ``partitions * lagThreshold`` (never more replicas than partitions);
* active = metric > ``activationLagThreshold``; KEDA scales 0 -> 1 when any trigger is active and
  1 -> 0 once none was active for ``cooldownPeriod`` (``minReplicaCount: 0``);
* from 1 replica up the HPA owns it: the metric is an ``AverageValue`` target of ``lagThreshold``,
  so desired = ceil(metric / lagThreshold) per trigger, unchanged while
  |metric / (lagThreshold * current) - 1| <= 0.1 (the HPA's tolerance); the largest trigger wins;
  clamped to [1, maxReplicaCount];
* HPA behaviour: scale-up at most ``up_pods`` per ``up_period_s``; scale-down takes the highest
  recommendation of the last ``down_window_s`` (stabilization) and at most ``down_pods`` per
  ``down_period_s``.

The run drops ``--files`` billing files at once (uploaded to the S3 server, announced on
``billing-files``), scales parse and load from 0, waits for every file's receipt, waits for both
roles to return to 0, checks ClickHouse equals the source file by file (nothing lost or doubled
while workers came and went), prints the table and writes the plot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test harness (real services, real worker processes) lives in tests/support
    sys.path.insert(0, str(ROOT))

from cloudops.settings import KafkaSettings  # noqa: E402
from cloudops.topics.lag import consumer_lag  # noqa: E402

# -- KEDA's and the HPA's arithmetic (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class KafkaTrigger:
    """One ``kafka`` trigger of a ScaledObject (the fields the arithmetic reads)."""

    topic: str
    lag_threshold: int
    activation_lag_threshold: int = 0
    allow_idle_consumers: bool = False

    def metric(self, lag_by_partition: Mapping[int, int]) -> tuple[int, bool]:
        """(metric value, active) for the partition lags of this trigger's topic."""
        total = sum(lag_by_partition.values())
        partitions = len(lag_by_partition)
        if not self.allow_idle_consumers and partitions and total // self.lag_threshold > partitions:
            total = partitions * self.lag_threshold
        return total, total > self.activation_lag_threshold


@dataclass
class Scaler:
    """What KEDA + the HPA decide for one ScaledObject, one poll at a time (time is passed in)."""

    triggers: Sequence[KafkaTrigger]
    max_replicas: int
    min_replicas: int = 0
    cooldown_s: float = 300.0
    tolerance: float = 0.1
    up_pods: int = 4
    up_period_s: float = 15.0
    down_window_s: float = 300.0
    down_pods: int = 1
    down_period_s: float = 60.0
    _last_active: float | None = None
    _recommendations: list[tuple[float, int]] = field(default_factory=list)
    _changes: list[tuple[float, int]] = field(default_factory=list)  # (time, +n up / -n down)

    def desired(self, now: float, current: int, lags: Mapping[str, Mapping[int, int]]) -> int:
        """Replicas wanted now, given ``current`` replicas and topic -> partition -> lag."""
        metrics = [t.metric(lags.get(t.topic, {})) for t in self.triggers]
        active = any(a for _, a in metrics)
        if active:
            self._last_active = now
        if current == 0:  # KEDA: activation only
            return 1 if active else 0
        if not active and self.min_replicas == 0:
            idle_for = now - (self._last_active if self._last_active is not None else float("-inf"))
            if idle_for >= self.cooldown_s:
                self._recommendations.clear()
                return 0
        wanted = 1
        for (value, _), trig in zip(metrics, self.triggers, strict=True):
            ratio = value / (trig.lag_threshold * current)
            want = current if abs(ratio - 1.0) <= self.tolerance else math.ceil(value / trig.lag_threshold)
            wanted = max(wanted, want)
        wanted = min(max(wanted, max(1, self.min_replicas)), self.max_replicas)
        # Scale-down stabilization: the highest recommendation of the window.
        self._recommendations = [(t, r) for t, r in self._recommendations if now - t < self.down_window_s]
        self._recommendations.append((now, wanted))
        if wanted < current:
            wanted = min(current, max(r for _, r in self._recommendations))
        # Rate policies.
        if wanted > current:
            used = sum(n for t, n in self._changes if n > 0 and now - t < self.up_period_s)
            wanted = min(wanted, current + max(0, self.up_pods - used))
        elif wanted < current:
            used = -sum(n for t, n in self._changes if n < 0 and now - t < self.down_period_s)
            wanted = max(wanted, current - max(0, self.down_pods - used))
        if wanted != current:
            self._changes.append((now, wanted - current))
        return wanted


# -- real workers --------------------------------------------------------------------------------------


@dataclass
class Pool:
    """The replicas of one role: real ``cloudops worker --role R`` processes (newest stopped first)."""

    role: str
    spawn: Callable[[str], Any]  # name -> a started tests.support.faults.Worker
    workers: list[Any] = field(default_factory=list)
    started: int = 0
    restarts: int = 0
    terminating: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def replicas(self) -> int:
        return len(self.workers)

    def restart_dead(self) -> int:
        """Replace workers that exited on their own, as a Deployment's controller restarts a crashed
        pod (the replica count stays what the autoscaler asked for); returns how many."""
        dead = [i for i, w in enumerate(self.workers) if w.proc.poll() is not None]
        for i in dead:
            self.started += 1
            self.workers[i] = self.spawn(f"{self.role}-{self.started}")
        self.restarts += len(dead)
        return len(dead)

    async def scale_to(self, n: int) -> None:
        while len(self.workers) < n:
            self.started += 1
            self.workers.append(self.spawn(f"{self.role}-{self.started}"))
        while len(self.workers) > n:
            # SIGTERM, as Kubernetes sends: the worker leaves the group. Faust does not wait for the file
            # in hand (app.py: stream_wait_empty=False); the ledger takes it over. A terminating pod is
            # no longer a replica and the autoscaler does not wait for it.
            task = asyncio.create_task(asyncio.to_thread(self.workers.pop().stop, 60))
            self.terminating.add(task)
            task.add_done_callback(self.terminating.discard)

    async def drain(self) -> None:
        """Wait until every worker told to stop has exited."""
        await asyncio.gather(*self.terminating)


class MemberExpiry:
    """Stand-in for the member removals a Kafka group coordinator makes and the test broker does not.

    noida-db (the test broker, docs/reliability.md) has three consumer-group defects that this run
    exposes, measured with plain aiokafka consumers (docs/scaling.md, "Why groups wedged"):

    1. an OffsetCommit sent while the group is ``PreparingRebalance`` is refused with
       ``ILLEGAL_GENERATION`` (Kafka accepts it), and aiokafka answers that by dropping its member id
       and joining again under a new one, so the process now has two ids in the group;
    2. a member that does not rejoin within the rebalance timeout is not removed (Kafka removes it
       when the join phase ends), and when that stale id was the leader, nobody sends the
       assignment: the group sits in ``CompletingRebalance`` for good;
    3. a member whose session timed out (a process that died without LeaveGroup) is never evicted.

    Each ``check`` removes, with the LeaveGroup a broker's own removal amounts to: every id of a
    client whose process has exited, once ``session_timeout_s`` has passed (3.); and every id of a
    live client but its newest (first seen last): the consumer dropped the older one and can never
    rejoin with it (1. and 2.; Kafka removes it at the end of that rebalance). Client ids carry the
    worker's pid (``cloudops.app``). Every removal is counted and reported; on a Kafka broker the
    check finds nothing to remove.
    """

    def __init__(self, bootstrap: str, session_timeout_s: float, live_pids: Callable[[], set[int]]) -> None:
        self.bootstrap = bootstrap
        self.session_timeout_s = session_timeout_s
        self.live_pids = live_pids
        self.first_seen: dict[str, float] = {}
        self.gone_since: dict[str, float] = {}
        self.expired: list[tuple[float, str, int]] = []  # (time, group, member ids removed)

    def stale(self, members: Sequence[tuple[str, str]], now: float) -> list[str]:
        """The member ids (of ``(member id, client id)`` pairs) a Kafka broker would have removed by ``now``."""
        live = self.live_pids()
        by_client: dict[str, list[str]] = {}
        for member_id, client_id in members:
            self.first_seen.setdefault(member_id, now)
            by_client.setdefault(client_id, []).append(member_id)
        out: list[str] = []
        for client_id, ids in by_client.items():
            pid = client_id.rsplit("-", 1)[-1]
            if not pid.isdigit() or int(pid) not in live:  # its process is gone: session expiry
                for member_id in ids:
                    if now - self.gone_since.setdefault(member_id, now) >= self.session_timeout_s:
                        out.append(member_id)
                continue
            for member_id in ids:
                self.gone_since.pop(member_id, None)
            newest = max(ids, key=lambda m: (self.first_seen[m], m))
            out.extend(m for m in ids if m != newest)
        return out

    async def check(self, groups: Sequence[str], now: float) -> None:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.protocol.group import LeaveGroupRequest

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            for group in groups:
                [desc] = (await admin.describe_consumer_groups([group]))[0].groups
                # (error, group, state, protocol_type, protocol, members[(id, client, host, metadata, assignment)])
                stale = self.stale([(str(m[0]), str(m[1])) for m in desc[5]], now)
                if not stale:
                    continue
                coordinator = await admin.find_coordinator(group)
                for member_id in stale:
                    await admin._client.send(coordinator, LeaveGroupRequest(group, member_id))
                self.expired.append((now, group, len(stale)))
        finally:
            await admin.close()


@dataclass
class Sample:
    t: float
    lag: dict[str, int]
    replicas: dict[str, int]


class Autoscaler:
    """Polls the lag of each role's group and resizes its pool as KEDA + the HPA would."""

    def __init__(
        self,
        bootstrap: str,
        groups: Mapping[str, str],
        scalers: Mapping[str, Scaler],
        pools: Mapping[str, Pool],
        poll_s: float,
        expiry: MemberExpiry | None = None,
    ):
        self.expiry = expiry
        self.bootstrap = bootstrap
        self.groups = dict(groups)
        self.scalers = dict(scalers)
        self.pools = dict(pools)
        self.poll_s = poll_s
        self.samples: list[Sample] = []
        self.failed_polls: list[str] = []
        self.t0 = time.monotonic()
        self._stop = asyncio.Event()

    async def tick(self) -> Sample:
        now = time.monotonic() - self.t0
        lags: dict[str, int] = {}
        for role, scaler in self.scalers.items():
            topics = [t.topic for t in scaler.triggers]
            measured = await consumer_lag(KafkaSettings(bootstrap_servers=self.bootstrap), self.groups[role], topics)
            by_topic: dict[str, dict[int, int]] = {t: {} for t in topics}
            for (topic, partition), n in measured.items():
                by_topic[topic][partition] = n
            lags[role] = sum(measured.values())
            pool = self.pools[role]
            pool.restart_dead()
            want = scaler.desired(now, pool.replicas, by_topic)
            if want != pool.replicas:
                await pool.scale_to(want)
        if self.expiry is not None:
            await self.expiry.check(list(self.groups.values()), now)
        sample = Sample(now, lags, {r: p.replicas for r, p in self.pools.items()})
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self.tick()
            except Exception as exc:  # e.g. the group coordinator moving: KEDA keeps the replicas, polls again
                self.failed_polls.append(f"t={time.monotonic() - self.t0:.0f}s {type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, self.poll_s - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()


# -- the run ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    files: int
    rows: int
    t_drop: float
    first_replica_s: float
    first_receipt_s: float
    drained_s: float
    back_to_zero_s: float
    peak: dict[str, int]
    replica_seconds: dict[str, float]
    samples: list[Sample]
    scrape: str = ""
    expired: list[tuple[float, str, int]] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    failed_polls: list[str] = field(default_factory=list)
    reannounced: int = 0  # abandoned files the schedule worker announced again
    taken_over: int = 0  # takeovers of abandoned files started by parse workers' own timers

    def table(self) -> str:
        busy = self.drained_s
        lines = [
            f"files dropped at once           {self.files} ({self.rows:,} rows)",
            f"time to first replica           {self.first_replica_s:.1f} s (parse 0 -> 1)",
            f"time to first rows landed       {self.first_receipt_s:.1f} s",
            f"peak replicas                   parse {self.peak['parse']}, load {self.peak['load']}",
            f"drain time                      {self.drained_s:.1f} s (drop -> every file reconciled, lag 0)",
            f"back to 0 replicas              {self.back_to_zero_s:.1f} s after the drop",
            f"throughput                      {self.files / busy:.2f} files/s overall",
        ]
        for role in ("parse", "load"):
            rs = self.replica_seconds[role]
            lines.append(f"files/s per {role} replica        {self.files / rs:.3f} ({rs:.0f} replica-seconds)")
        lines.append("exact                           every file: rows and cost in ClickHouse = source, none twice")
        lines.append(f"workers crashed and replaced    {self.restarts or 'none'}")
        lines.append(f"failed autoscaler polls         {len(self.failed_polls)}")
        lines.append(
            f"abandoned files recovered       {self.reannounced} announced again by schedule, "
            f"{self.taken_over} takeover(s) started by parse workers"
        )
        removed = sum(n for _, _, n in self.expired)
        lines.append(
            f"stale member ids removed        {removed} (MemberExpiry: what a Kafka broker removes itself, "
            "the test broker does not)"
        )
        return "\n".join(lines)


async def _announce(cluster: Any, producer: Any, uploads: Sequence[Any]) -> None:
    """Announce each file as the production triggers do: record it in the ledger (``seen``), then
    publish it on ``billing-files`` (so a file whose announcement is stuck is still taken over)."""
    from cloudops.sources.objects import s3_client
    from cloudops.topics.codec import encode_record
    from cloudops.topics.ledger import FileLedger

    ledger = FileLedger(cluster.settings)
    async with s3_client(cluster.settings.aws) as s3:
        for up in uploads:
            head = await s3.head_object(Bucket=cluster.bucket, Key=up.key)
            event = cluster.billing_file(up, head["ETag"].strip('"'))
            assert await ledger.record_announced(event), f"{up.key} was already in the ledger"
            await producer.send_and_wait("billing-files", key=event.file_id.encode(), value=encode_record(event))


def _scrape_lag(ports: Mapping[str, int]) -> str:
    """The consumer-group lag lines of the first worker whose /metrics shows a backlog ("" if none)."""
    for name, port in list(ports.items()):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        lines = [ln for ln in text.splitlines() if ln.startswith("cloudops_consumer_group_lag_messages{")]
        if any(not ln.endswith(" 0.0") for ln in lines):
            return f"# scraped from {name}'s /metrics\n" + "\n".join(lines)
    return ""


def _replica_seconds(samples: Sequence[Sample], role: str) -> float:
    total = 0.0
    for a, b in itertools.pairwise(samples):
        total += a.replicas[role] * (b.t - a.t)
    return total


def plot(result: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = [s.t - result.t_drop for s in result.samples]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for role, color in (("parse", "tab:blue"), ("load", "tab:orange")):
        ax1.step(ts, [s.replicas[role] for s in result.samples], where="post", label=f"{role} replicas", color=color)
        ax2.plot(ts, [s.lag[role] for s in result.samples], label=f"{role} lag", color=color)
    ax1.set_ylabel("replicas")
    ax1.legend(loc="upper right")
    ax1.set_title(f"{result.files} billing files dropped at t=0: KEDA Kafka-scaler arithmetic, real workers")
    ax2.set_ylabel("consumer-group lag (messages)")
    ax2.set_xlabel("seconds since the drop")
    ax2.legend(loc="upper right")
    for ax in (ax1, ax2):
        ax.axvline(result.drained_s, color="grey", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass(frozen=True)
class Plan:
    """The knobs of one run (the test uses a small burst and short windows)."""

    files: int = 500
    rows_each: int = 20
    partitions: int = 4
    parse_lag_threshold: int = 25
    load_lag_threshold: int = 50
    poll_s: float = 2.0
    cooldown_s: float = 20.0
    down_window_s: float = 10.0
    down_period_s: float = 5.0
    up_period_s: float = 5.0
    timeout_s: float = 900.0
    session_timeout_s: float = 10.0
    # The ledger's recovery paths are a safety net here, not the way files move: a claim lapses after
    # 2 x the lease without a heartbeat (generous: a loaded machine delays heartbeats), and a file is
    # taken over as "never claimed" only after longer than the burst takes to drain.
    claim_lease_s: float = 30.0
    unclaimed_after_s: float = 600.0
    reparse_after_s: float = 240.0  # parsed, never loaded (a loader stopped mid-file): parsed again
    member_expiry: bool = True  # MemberExpiry: stand in for the broker's member removals (test broker only)


async def run(plan: Plan, work: Path, *, log: Callable[[str], None] = print) -> Result:
    """Start the services, drop the files, autoscale until everything landed and both roles are back
    at 0, check exactness. Raises AssertionError when a file is missing, doubled or wrong."""
    from aiokafka import AIOKafkaProducer
    from tests.support.clickhouse_http import EmbeddedClickHouseServer
    from tests.support.faults import Cluster, Worker, cur_files
    from tests.support.services import PostgresServer, temporary_database

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

    stack = contextlib.ExitStack()
    broker = EmbeddedBroker(work / "broker").start()
    stack.callback(broker.stop)
    store = EmbeddedObjectStore().start()
    stack.callback(store.stop)
    ch_server = EmbeddedClickHouseServer(work / "clickhouse").start()
    stack.callback(ch_server.stop)
    stack.callback(close_all)
    given_pg = os.environ.get("CLOUDOPS_TEST_POSTGRES_DSN")
    if given_pg:
        pg_dsn = stack.enter_context(temporary_database(given_pg))
    else:
        pg = PostgresServer().start()
        stack.callback(pg.stop)
        pg_dsn = pg.dsn
    pools: dict[str, Pool] = {}
    fixed: list[Any] = []
    try:
        unique = os.urandom(4).hex()
        settings = Settings(
            app={"id": f"scaling-{unique}", "tenant": f"s{unique}", "work_dir": work / "work"},
            kafka={
                "bootstrap_servers": broker.bootstrap_servers,
                "topic_partitions": plan.partitions,
                "session_timeout_s": plan.session_timeout_s,
                "heartbeat_interval_s": plan.session_timeout_s / 10,
            },
            clickhouse={"dsn": ch_server.dsn},
            postgres={"dsn": pg_dsn},
            aws=store.settings(),
            ingest={
                "claim_lease_s": plan.claim_lease_s,
                "unclaimed_after_s": plan.unclaimed_after_s,
                "reparse_after_s": plan.reparse_after_s,
                "backoff_base_s": 0.1,
                "backoff_max_s": 1.0,
            },
            load={"sweep_interval_s": 5.0},
        )
        cluster = Cluster(settings, f"bills-{settings.app.tenant}", work)
        async with s3_client(settings.aws) as s3:
            await s3.create_bucket(Bucket=cluster.bucket)
        pg_migrate(pg_dsn, settings.app.tenant)
        add_source(pg_dsn, settings.app.tenant, id="aws", provider="aws", bucket=cluster.bucket, prefix="")
        await ensure_topics(settings.kafka)
        migrate(connect(settings.clickhouse_dsn), settings.app.tenant)
        close_all()
        groups = {role: f"{settings.app.id}-{role}" for role in ("parse", "load")}
        ports: dict[str, int] = {}

        def spawner(role: str) -> Callable[[str], Worker]:
            def spawn(name: str) -> Worker:
                port = free_port()
                ports[name] = port
                env = cluster.env(
                    role,
                    CLOUDOPS_INGEST__LOAD_GROUP=groups["load"],
                    CLOUDOPS_HEALTH__PORT=str(port),
                    CLOUDOPS_KAFKA__LAG_INTERVAL_S="2",
                    CLOUDOPS_KAFKA__TOPIC_PARTITIONS=str(plan.partitions),
                )
                logf = work / f"{name}.log"
                with logf.open("ab") as fh:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "cloudops", "worker", "--role", role],
                        env=env,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                w = Worker(name, (role,), proc, logf)
                cluster.workers.append(w)
                log(f"  +{name} (pid {proc.pid})")
                return w

            return spawn

        pools = {role: Pool(role, spawner(role)) for role in ("parse", "load")}
        # schedule is never scaled (one replica in k8s/): while parse is at 0 it is the role that takes
        # abandoned files over (docs/kubernetes.md), e.g. a file a parse worker was stopped in the middle of.
        fixed.append(spawner("schedule")("schedule-1"))
        from cloudops.app import CONSUMES

        common: dict[str, Any] = {
            "max_replicas": plan.partitions,
            "cooldown_s": plan.cooldown_s,
            "down_window_s": plan.down_window_s,
            "down_period_s": plan.down_period_s,
            "up_period_s": plan.up_period_s,
        }
        scalers = {
            "parse": Scaler([KafkaTrigger(t, plan.parse_lag_threshold) for t in CONSUMES["parse"]], **common),
            "load": Scaler([KafkaTrigger(t, plan.load_lag_threshold) for t in CONSUMES["load"]], **common),
        }

        def live_pids() -> set[int]:
            return {w.proc.pid for w in cluster.workers if w.proc.poll() is None}

        expiry = (
            MemberExpiry(broker.bootstrap_servers, plan.session_timeout_s, live_pids) if plan.member_expiry else None
        )
        scaler = Autoscaler(broker.bootstrap_servers, groups, scalers, pools, plan.poll_s, expiry)
        first = await scaler.tick()
        assert first.replicas == {"parse": 0, "load": 0}, first

        log(f"uploading {plan.files} files ...")
        uploads = await cluster.upload_many(
            [(f"cur/{f.name}", f) for f in cur_files(plan.files, plan.rows_each, prefix="s")]
        )
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=5)
        await producer.start()
        try:
            t_drop = time.monotonic() - scaler.t0
            await _announce(cluster, producer, uploads)
        finally:
            await producer.stop()
        log(f"dropped {plan.files} files at t={t_drop:.1f}s; autoscaling ...")
        loop_task = asyncio.create_task(scaler.run())
        scrape = ""
        try:
            ids = {u.file_id for u in uploads}
            first_receipt: list[float] = []
            receipts_task = asyncio.create_task(cluster.receipts(ids, timeout=plan.timeout_s))
            deadline = time.monotonic() + plan.timeout_s
            while not receipts_task.done():
                if time.monotonic() > deadline:
                    receipts_task.cancel()
                    tail = "\n".join(f"t={x.t:.0f} replicas={x.replicas} lag={x.lag}" for x in scaler.samples[-10:])
                    raise TimeoutError(
                        f"files did not all land\n{tail}\nfailed polls: {scaler.failed_polls[-5:]}\n"
                        f"{cluster.diagnose(ids)[-6000:]}"
                    )
                if not scrape:  # a worker's own /metrics while the backlog is there
                    scrape = await asyncio.to_thread(_scrape_lag, ports)
                if not first_receipt:
                    landed = await asyncio.to_thread(cluster.landed)
                    if landed:
                        first_receipt.append(time.monotonic() - scaler.t0)
                await asyncio.sleep(0.5)
            await receipts_task
            drained = time.monotonic() - scaler.t0
            log(f"every file has its receipt at t={drained:.1f}s; waiting for 0 replicas ...")
            while any(p.replicas for p in pools.values()):
                if time.monotonic() > deadline:
                    tail = "\n".join(f"t={x.t:.0f} replicas={x.replicas} lag={x.lag}" for x in scaler.samples[-10:])
                    raise TimeoutError(f"did not scale back to 0\n{tail}\nfailed polls: {scaler.failed_polls[-5:]}")
                await asyncio.sleep(0.5)
            back = time.monotonic() - scaler.t0
        finally:
            scaler.stop()
            await loop_task
            await asyncio.gather(*(p.drain() for p in pools.values()))
        await cluster.assert_exact(uploads)
        samples = scaler.samples
        peak = {r: max(s.replicas[r] for s in samples) for r in pools}
        first_replica = min(s.t for s in samples if s.replicas["parse"] > 0) - t_drop
        return Result(
            files=plan.files,
            rows=sum(u.rows for u in uploads),
            t_drop=t_drop,
            first_replica_s=first_replica,
            first_receipt_s=(first_receipt[0] if first_receipt else drained) - t_drop,
            drained_s=drained - t_drop,
            back_to_zero_s=back - t_drop,
            peak=peak,
            replica_seconds={r: _replica_seconds(samples, r) for r in pools},
            samples=samples,
            scrape=scrape,
            expired=list(expiry.expired) if expiry else [],
            restarts={r: p.restarts for r, p in pools.items()},
            failed_polls=list(scaler.failed_polls),
            reannounced=sum(
                int(n) for w in fixed for n in re.findall(r"schedule: announced (\d+) abandoned file", w.text())
            ),
            taken_over=sum(w.text().count("was abandoned mid-file; taking it over") for w in cluster.workers),
        )
    finally:
        for w in [*fixed, *(w for p in pools.values() for w in p.workers)]:
            w.stop(30)
        stack.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20, help="rows per file")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--parse-lag-threshold", type=int, default=25)
    parser.add_argument("--load-lag-threshold", type=int, default=50)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--cooldown", type=float, default=20.0)
    parser.add_argument(
        "--no-member-expiry",
        action="store_true",
        help="do not stand in for the member removals the test broker lacks (MemberExpiry): groups may wedge",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the burst to land and return to 0")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (worker logs)")
    args = parser.parse_args()
    plan = Plan(
        files=args.files,
        rows_each=args.rows,
        partitions=args.partitions,
        parse_lag_threshold=args.parse_lag_threshold,
        load_lag_threshold=args.load_lag_threshold,
        poll_s=args.poll,
        cooldown_s=args.cooldown,
        member_expiry=not args.no_member_expiry,
        timeout_s=args.timeout,
    )
    work = Path(tempfile.mkdtemp(prefix="cloudops-scaling-"))
    try:
        result = asyncio.run(run(plan, work))
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(result.table())
    print()
    print("replicas over time (t since the drop: parse, load | lag parse, load):")
    last = None
    for s in result.samples:
        key = (s.replicas["parse"], s.replicas["load"])
        if key != last:
            t = s.t - result.t_drop
            print(f"  t={t:7.1f}s  replicas {key[0]}, {key[1]}  |  lag {s.lag['parse']}, {s.lag['load']}")
            last = key
    for t, group, n in result.expired:
        print(f"  t={t - result.t_drop:7.1f}s  MemberExpiry removed {n} stale member id(s) of {group}")
    if result.scrape:
        print()
        print(result.scrape)
    plot(result, args.plot)
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
