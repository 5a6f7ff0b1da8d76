"""The schedule role's takeover path while parse runs no replica: abandoned files are announced again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from cloudops.ingest.schedule import reannounce_stale
from cloudops.schemas.events import BillingFile
from cloudops.settings import Settings
from cloudops.topics.codec import decode_record
from cloudops.topics.runtime import Runtime


@dataclass
class _Ledger:
    """The part of FileLedger reannounce_stale uses: what PostgreSQL would report as abandoned."""

    stale: list[BillingFile]
    enabled: bool = True

    async def stale_announcements(self) -> list[BillingFile]:
        return list(self.stale)


@dataclass
class _Runtime:
    settings: Settings
    ledger: _Ledger
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    async def publish(self, spec: Any, *, key: str, value: bytes) -> None:
        self.sent.append((spec.name, key, value))

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


def _file(key: str) -> BillingFile:
    return BillingFile(tenant="acme", url=f"s3://b/{key}", bucket="b", key=key, etag="e1", trigger="schedule")


async def test_abandoned_files_are_announced_again_once_per_window() -> None:
    a, b = _file("a.csv"), _file("b.csv")
    rt = _Runtime(Settings(ingest={"unclaimed_after_s": 60.0}), _Ledger([a, b]))
    last: dict[str, float] = {}
    assert await reannounce_stale(cast(Runtime, rt), last, now=1000.0) == 2
    assert [(t, k) for t, k, _ in rt.sent] == [("billing-files", a.file_id), ("billing-files", b.file_id)]
    assert decode_record(BillingFile, rt.sent[0][2]) == a
    # Still abandoned on the next tick (parse is scaling up): not announced again within the window.
    assert await reannounce_stale(cast(Runtime, rt), last, now=1030.0) == 0
    # Still abandoned a window later (the announcement was lost too): announced again.
    assert await reannounce_stale(cast(Runtime, rt), last, now=1061.0) == 2
    assert rt.counters == {"schedule.reannounced": 4}


async def test_without_a_control_plane_nothing_is_announced() -> None:
    rt = _Runtime(Settings(), _Ledger([_file("a.csv")], enabled=False))
    assert await reannounce_stale(cast(Runtime, rt), {}, now=0.0) == 0
    assert rt.sent == []
