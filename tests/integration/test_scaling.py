"""Scaling proven with real workers: a burst of billing files, parse and load scaled 0 -> N -> 0 by
KEDA's Kafka-scaler arithmetic on the live lag (benchmarks/scaling.py), every file exact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from benchmarks.scaling import Plan, run

# Workers join and leave the consumer groups while files are in flight. The test broker (noida-db)
# lacks a Kafka coordinator's member removals, so the run stands in for them (MemberExpiry, counted);
# docs/scaling.md says what it does and why. Small on purpose: at most 2 parse + 2 load workers (and one
# schedule worker, which takes over files cut off by scale-downs while parse is at 0), so it
# fits a loaded 2-core CI machine. CLOUDOPS_TEST_SKIP_BROKER_CHURN=1 leaves it out with the other
# broker-churn scenarios.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        bool(os.environ.get("CLOUDOPS_TEST_SKIP_BROKER_CHURN")), reason="CLOUDOPS_TEST_SKIP_BROKER_CHURN is set"
    ),
]


async def test_a_burst_scales_parse_and_load_from_zero_and_back_with_every_file_exact(tmp_path: Path) -> None:
    plan = Plan(
        files=16,
        rows_each=10,
        partitions=2,
        parse_lag_threshold=4,  # 16 files -> ceil(16 / 4) = 4, capped at the 2 partitions
        load_lag_threshold=4,
        poll_s=1.0,
        cooldown_s=6.0,
        down_window_s=3.0,
        down_period_s=2.0,
        up_period_s=2.0,
        timeout_s=420.0,
    )
    result = await run(plan, tmp_path, log=lambda _msg: None)  # asserts ClickHouse = source per file
    replicas = [(s.replicas["parse"], s.replicas["load"]) for s in result.samples]
    assert replicas[0] == (0, 0)
    assert replicas[-1] == (0, 0)
    assert result.peak["parse"] == 2, replicas  # scaled out, never more than the partitions
    assert result.peak["load"] >= 1
    before = [s for s in result.samples if s.t < result.t_drop]
    assert all(s.replicas == {"parse": 0, "load": 0} for s in before)
    assert max(s.lag["parse"] for s in result.samples) > 0
    assert result.samples[-1].lag == {"parse": 0, "load": 0}
    # A worker's own /metrics carried its group's lag during the burst (what Prometheus scrapes).
    assert "cloudops_consumer_group_lag_messages{" in result.scrape, result.scrape
