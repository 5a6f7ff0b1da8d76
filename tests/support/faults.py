"""Harness for the fault tests: real worker processes, real services, exact accounting.

A :class:`Cluster` owns the settings every process shares (broker, moto, PostgreSQL,
ClickHouse DSN, tenant, bucket), starts ``cloudops worker`` processes with chosen roles
(each role its own consumer group, as in production), uploads CUR files cut from the
real sample (each with its exact row count and cost), and checks the end state: per file
and per billing period, ClickHouse equals the source, no (file, row) twice, the ledger
says reconciled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.group import LeaveGroupRequest
from tests.support.cur import CurFile, cur_file, sample_rows
from tests.support.kafka import read_topic

from cloudops.schemas.events import BillingFile, BillingLoaded, file_id_for
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres.ledger import get_file
from cloudops.sources.objects import s3_client
from cloudops.topics.codec import decode_record, encode_record


@dataclass
class Uploaded:
    key: str
    file_id: str
    rows: int
    cost: Decimal


def cur_files(n: int, rows_each: int, *, prefix: str = "f") -> list[CurFile]:
    """``n`` distinct CUR files of ``rows_each`` rows (rows cycle through the sample; costs scaled per file)."""
    header, rows = sample_rows()
    out = []
    for i in range(n):
        picked = [rows[(i * rows_each + j) % len(rows)] for j in range(rows_each)]
        out.append(cur_file(f"{prefix}{i:04d}.csv", header, picked, scale=Decimal(1) + Decimal(i) / 1000))
    return out


def big_cur_file(copies: int, name: str = "big.csv") -> CurFile:
    """The whole sample ``copies`` times over: a file that takes a while to parse and load."""
    header, rows = sample_rows()
    return cur_file(name, header, rows * copies)


@dataclass
class Worker:
    name: str
    roles: tuple[str, ...]
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


@dataclass
class Cluster:
    settings: Settings
    bucket: str
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    @property
    def tenant(self) -> str:
        return self.settings.app.tenant

    def env(self, role_group: str, **extra: str) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
        env.update(
            CLOUDOPS_APP__ID=f"{s.app.id}-{role_group}",
            CLOUDOPS_APP__TENANT=s.app.tenant,
            CLOUDOPS_APP__WORK_DIR=str(self.tmp / f"work-{role_group}"),
            CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS=s.kafka.bootstrap_servers,
            CLOUDOPS_KAFKA__SESSION_TIMEOUT_S=str(s.kafka.session_timeout_s),
            CLOUDOPS_KAFKA__HEARTBEAT_INTERVAL_S=str(s.kafka.heartbeat_interval_s),
            CLOUDOPS_CLICKHOUSE__DSN=s.clickhouse_dsn,
            CLOUDOPS_AWS__ENDPOINT_URL=s.aws.endpoint_url or "",
            CLOUDOPS_AWS__ACCESS_KEY_ID="testing",
            CLOUDOPS_AWS__SECRET_ACCESS_KEY="testing",
            CLOUDOPS_INGEST__CLAIM_LEASE_S=str(s.ingest.claim_lease_s),
            CLOUDOPS_INGEST__REPARSE_AFTER_S=str(s.ingest.reparse_after_s),
            CLOUDOPS_INGEST__UNCLAIMED_AFTER_S=str(s.ingest.unclaimed_after_s),
            CLOUDOPS_INGEST__BLOCK_BYTES=str(s.ingest.block_bytes),
            CLOUDOPS_INGEST__BACKOFF_BASE_S=str(s.ingest.backoff_base_s),
            CLOUDOPS_INGEST__BACKOFF_MAX_S=str(s.ingest.backoff_max_s),
            CLOUDOPS_LOAD__SWEEP_INTERVAL_S=str(s.load.sweep_interval_s),
            CLOUDOPS_APP__LOG_LEVEL=os.environ.get("CLOUDOPS_TEST_WORKER_LOG_LEVEL", "INFO"),
        )
        if s.postgres.dsn:
            env["CLOUDOPS_POSTGRES__DSN"] = s.postgres.dsn
        env.update(extra)
        return env

    def spawn(self, name: str, *roles: str, group: str | None = None) -> Worker:
        """Start ``cloudops worker --role ...``; workers of one ``group`` share a consumer group."""
        log = self.tmp / f"{name}.log"
        args = [sys.executable, "-m", "cloudops", "worker"]
        for r in roles:
            args += ["--role", r]
        fh = log.open("ab")
        proc = subprocess.Popen(
            args,
            env=self.env(group or "-".join(roles)),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        fh.close()
        w = Worker(name, roles, proc, log)
        self.workers.append(w)
        return w

    async def expire_member(self, worker: Worker, group_suffix: str) -> int:
        """Stand in for the broker's session timeout: remove the dead ``worker`` from its consumer group.

        A real Kafka broker evicts a member that stopped heartbeating once
        ``session.timeout.ms`` has passed, and the group rebalances. noida-db (the test
        broker) never evicts members, so after waiting out the session timeout this sends
        the same LeaveGroup the broker would act on, for the dead process's members only
        (their client id ends with its pid). Returns how many members were removed.
        """
        assert worker.proc.poll() is not None, "only a dead worker's membership may be expired"
        await asyncio.sleep(self.settings.kafka.session_timeout_s)
        group = f"{self.settings.app.id}-{group_suffix}"
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka.bootstrap_servers)
        await admin.start()
        try:
            [described] = (await admin.describe_consumer_groups([group]))[0].groups
            members = [m[0] for m in described[5] if str(m[1]).endswith(f"-{worker.proc.pid}")]
            coordinator = await admin.find_coordinator(group)
            for member in members:
                await admin._client.send(coordinator, LeaveGroupRequest(group, member))
            return len(members)
        finally:
            await admin.close()

    async def wait_group(self, group_suffix: str, members: int, timeout: float = 90) -> None:
        """Wait until the role's consumer group is Stable with ``members`` members, each assigned partitions.

        A worker that joins while another is mid-file makes the group rebalance under load; the
        scenarios start from a settled group, as a running deployment is.
        """
        group = f"{self.settings.app.id}-{group_suffix}"
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka.bootstrap_servers)
        await admin.start()
        seen: Any = None
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                [seen] = (await admin.describe_consumer_groups([group]))[0].groups
                # (error, group, state, protocol_type, protocol, members[(id, client, host, metadata, assignment)])
                if seen[2] == "Stable" and len(seen[5]) == members and all(m[4] for m in seen[5]):
                    return
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
        raise TimeoutError(f"group {group} not Stable with {members} members within {timeout}s: {seen}")

    def stop_all(self) -> None:
        for w in self.workers:
            w.stop(timeout=15)

    async def wait_logged(self, needle: str, workers: Iterable[Worker], timeout: float = 60) -> Worker:
        """The first worker whose log contains ``needle``."""
        deadline = time.monotonic() + timeout
        ws = list(workers)
        while time.monotonic() < deadline:
            for w in ws:
                if needle in w.text():
                    return w
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.name} exited ({w.proc.returncode}):\n{w.text()[-3000:]}")
            await asyncio.sleep(0.2)
        logs = "\n".join(f"--- {w.name}\n{w.text()[-2000:]}" for w in ws)
        raise TimeoutError(f"no worker logged {needle!r} within {timeout}s\n{logs}")

    async def upload(self, key: str, f: CurFile) -> Uploaded:
        return (await self.upload_many([(key, f)]))[0]

    async def upload_many(self, files: list[tuple[str, CurFile]]) -> list[Uploaded]:
        """Upload with one client (creating a botocore client per object is slow)."""
        out = []
        async with s3_client(self.settings.aws) as s3:
            for key, f in files:
                put = await s3.put_object(Bucket=self.bucket, Key=key, Body=f.body)
                fid = file_id_for(self.tenant, f"s3://{self.bucket}/{key}", put["ETag"].strip('"'), None)
                out.append(Uploaded(key, fid, f.rows, f.cost))
        return out

    def billing_file(self, up: Uploaded, etag: str | None = None) -> BillingFile:
        return BillingFile(
            tenant=self.tenant,
            url=f"s3://{self.bucket}/{up.key}",
            bucket=self.bucket,
            key=up.key,
            etag=etag,
            trigger="manual",
        )

    async def announce(self, producer: Any, *uploads: Uploaded) -> None:
        """Publish a billing-files record for each uploaded object (the schedule/manual trigger)."""
        async with s3_client(self.settings.aws) as s3:
            for up in uploads:
                head = await s3.head_object(Bucket=self.bucket, Key=up.key)
                event = self.billing_file(up, head["ETag"].strip('"'))
                assert event.file_id == up.file_id
                await producer.send_and_wait("billing-files", key=event.file_id.encode(), value=encode_record(event))

    async def receipts(self, file_ids: set[str], timeout: float = 180) -> dict[str, list[BillingLoaded]]:
        """Every receipt of these files, once each file has at least one."""

        def mine(recs: list[Any]) -> dict[str, list[BillingLoaded]]:
            out: dict[str, list[BillingLoaded]] = {}
            for r in recs:
                rec = decode_record(BillingLoaded, r.value)
                if rec.file_id in file_ids:
                    out.setdefault(rec.file_id, []).append(rec)
            return out

        try:
            recs = await read_topic(
                self.settings.kafka.bootstrap_servers,
                "billing-loaded",
                until=lambda rs: len(mine(rs)) == len(file_ids),
                timeout=timeout,
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.diagnose(file_ids)}") from exc
        return mine(recs)

    def diagnose(self, file_ids: set[str]) -> str:
        """Where each file without a receipt got to: ledger state and rows in ClickHouse."""
        landed = self.landed()
        lines = []
        for fid in sorted(file_ids):
            entry = get_file(self.settings.postgres.dsn, self.tenant, fid) if self.settings.postgres.dsn else None
            state = f"{entry.state} attempts={entry.attempts} error={entry.last_error}" if entry else "no ledger row"
            lines.append(f"{fid}: {state}; in ClickHouse {landed.get(fid)}")
        for w in self.workers:  # what each process said last: the reason is usually there
            tail = "\n".join(w.text().splitlines()[-25:])
            lines.append(f"--- {w.name} (exit {w.proc.poll()})\n{tail}")
        return "\n".join(lines)

    def landed(self) -> dict[str, tuple[int, int, Decimal]]:
        """file id -> (FOCUS rows, distinct source rows, sum BilledCost) in ClickHouse."""
        ch = connect(self.settings.clickhouse_dsn)
        db = database_for(self.tenant)
        rows = ch.call(
            lambda c: (
                c.query(
                    "SELECT x_FileId, count(), uniqExact(x_RowNumber), sum(BilledCost) "
                    f"FROM {db}.focus GROUP BY x_FileId"
                ).result_rows
            )
        )
        return {str(r[0]): (int(r[1]), int(r[2]), Decimal(r[3])) for r in rows}

    async def assert_exact(self, files: list[Uploaded]) -> None:
        """Per file: rows and cost equal the source, no row twice; per period: the totals add up; ledger agrees."""
        landed = await asyncio.to_thread(self.landed)
        want = {u.file_id: (u.rows, u.rows, u.cost) for u in files}
        got = {fid: landed.get(fid) for fid in want}
        wrong = {fid: (want[fid], got[fid]) for fid in want if got[fid] != want[fid]}
        assert not wrong, f"{len(wrong)} files differ (want, got): {list(wrong.items())[:3]}"
        extra = set(landed) - set(want)
        assert not extra, f"rows of unexpected files landed: {sorted(extra)[:3]}"
        ch = connect(self.settings.clickhouse_dsn)
        db = database_for(self.tenant)
        n, cost = await ch.run(
            lambda c: c.query(f"SELECT sum(Rows), sum(BilledCost) FROM {db}.rollup_month").result_rows[0]
        )
        assert (int(n), Decimal(cost)) == (
            sum(u.rows for u in files),
            sum((u.cost for u in files), Decimal(0)),
        ), "the month rollup differs from the files"
        if self.settings.postgres.dsn:
            # The loader moves the ledger just after the receipt; a file whose ledger update was lost
            # (e.g. the broker went away mid-receipt) is parsed again after `reparse_after_s`.
            deadline = time.monotonic() + self.settings.ingest.reparse_after_s + 45
            for u in files:
                while True:
                    entry = await asyncio.to_thread(get_file, self.settings.postgres.dsn, self.tenant, u.file_id)
                    assert entry is not None, f"{u.key} has no ledger row"
                    if entry.state == "reconciled" or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)  # never block the loop: the agents under test may share it
                assert (entry.state, entry.rows_landed) == ("reconciled", u.rows), (u.key, entry)
