"""State a worker keeps between messages lives in PostgreSQL (``public.worker_state``, migration 0012):
a restarted worker (a new process: new objects, same database) picks it up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from cloudops.ingest.recommend import Recommender
from cloudops.ingest.schedule import Scheduler
from cloudops.ingest.state import WorkerState
from cloudops.schemas.events import BillingFile
from cloudops.settings import Settings
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.postgres import migrate, register_tenant
from cloudops.sinks.postgres.tenants import remove_tenant
from cloudops.topics.runtime import Runtime

pytestmark = pytest.mark.integration

TENANT = "acme"


@pytest.fixture
def settings(postgres_db: str) -> Settings:
    migrate(postgres_db, TENANT)
    register_tenant(postgres_db, TENANT)
    return Settings(postgres={"dsn": postgres_db}, ingest={"unclaimed_after_s": 600.0})


@dataclass
class _Ledger:
    """What the ledger would report as abandoned (the part of FileLedger the takeover reads)."""

    stale: list[BillingFile]
    enabled: bool = True

    async def stale_announcements(self) -> list[BillingFile]:
        return list(self.stale)


@dataclass
class _Runtime:
    """The part of Runtime the workers under test use; publish records instead of sending."""

    settings: Settings
    ledger: _Ledger | None = None
    sent: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    async def publish(self, spec: Any, *, key: str, value: bytes, headers: Any = None) -> None:
        self.sent.append(key)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


async def test_values_survive_a_restart_and_go_with_their_tenant(settings: Settings) -> None:
    before = WorkerState(settings, "propose")
    await before.put(TENANT, {"proposed:fp1": "abc", "digest-sent": "def"})
    await before.drop(TENANT, "digest-sent")

    after = WorkerState(settings, "propose")  # a new process: nothing in memory
    assert await after.get(TENANT, "proposed:fp1") == "abc"
    assert await after.get(TENANT, "digest-sent") is None
    assert await after.items("proposed:") == {(TENANT, "proposed:fp1"): "abc"}
    assert await WorkerState(settings, "recommend").items() == {}  # one worker's state is its own

    # A purged tenant leaves no worker state behind (the row goes with public.tenants).
    dsn = settings.postgres.dsn
    assert dsn
    assert remove_tenant(dsn, TENANT)
    assert await WorkerState(settings, "propose").get(TENANT, "proposed:fp1") is None


async def test_an_unregistered_tenant_is_kept_in_memory_without_failing(settings: Settings) -> None:
    state = WorkerState(settings, "recommend")
    await state.put("stranger", {"last_run": "x"})  # no public.tenants row: cannot be stored
    assert await state.get("stranger", "last_run") == "x"
    assert await WorkerState(settings, "recommend").get("stranger", "last_run") is None


async def test_a_restarted_recommender_still_coalesces_a_burst_of_receipts(settings: Settings) -> None:
    rt = cast(Runtime, _Runtime(settings))
    started = datetime.now(UTC)
    first = Recommender(rt, cast(Analytics, None))
    await first.state.put(TENANT, {"last_run": started.isoformat()})  # what its last run recorded

    restarted = Recommender(rt, cast(Analytics, None))  # never reaches ClickHouse: the receipt is coalesced
    # A receipt of data that landed before that run began: the run already saw it.
    assert await restarted._latest(TENANT, started - timedelta(minutes=1)) == 0
    assert rt.counters == {"recommend.coalesced": 1}


async def test_a_restarted_schedule_does_not_announce_the_same_abandoned_files_again(settings: Settings) -> None:
    stale = [
        BillingFile(tenant=TENANT, url=f"s3://b/{k}", bucket="b", key=k, etag="e1", trigger="schedule")
        for k in ("a.csv", "b.csv")
    ]
    rt = _Runtime(settings, _Ledger(stale))
    assert await Scheduler(cast(Runtime, rt)).takeover() == 2
    assert rt.sent == [f.file_id for f in stale]

    restarted = Scheduler(cast(Runtime, rt))  # within unclaimed_after_s of the announcements
    assert await restarted.takeover() == 0
    assert rt.sent == [f.file_id for f in stale]
    stored = await WorkerState(settings, "schedule").items("announced:")
    assert set(stored) == {(TENANT, f"announced:{f.file_id}") for f in stale}
