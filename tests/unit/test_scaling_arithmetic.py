"""KEDA's Kafka-scaler arithmetic and the HPA's rules as benchmarks/scaling.py applies them."""

from __future__ import annotations

from benchmarks.scaling import KafkaTrigger, MemberExpiry, Scaler


def test_metric_is_the_summed_lag_capped_at_one_replica_per_partition() -> None:
    t = KafkaTrigger("billing-files", lag_threshold=5)
    assert t.metric({0: 3, 1: 4}) == (7, True)
    assert t.metric({0: 0, 1: 0}) == (0, False)
    # 100 // 5 = 20 replicas' worth > 2 partitions: capped at 2 * 5.
    assert t.metric({0: 60, 1: 40}) == (10, True)
    assert KafkaTrigger("x", 5, allow_idle_consumers=True).metric({0: 60, 1: 40}) == (100, True)
    assert KafkaTrigger("x", 5, activation_lag_threshold=3).metric({0: 3}) == (3, False)


def test_zero_to_n_to_zero() -> None:
    s = Scaler([KafkaTrigger("t", 5)], max_replicas=4, cooldown_s=30, up_pods=4, up_period_s=15, down_window_s=10)
    lag = {"t": {0: 10, 1: 10, 2: 10, 3: 10}}
    assert s.desired(0, 0, {"t": {0: 0}}) == 0  # idle stays at 0
    assert s.desired(1, 0, lag) == 1  # KEDA activates 0 -> 1
    assert s.desired(2, 1, lag) == 4  # HPA: ceil(40 / 5) = 8, capped by the partitions (4)
    assert s.desired(3, 4, {"t": {0: 5, 1: 5, 2: 5, 3: 4}}) == 4  # 19 / (5 * 4) within the 10 % tolerance
    # Drained: the HPA may go to 1 only after the stabilization window; KEDA to 0 after the cooldown.
    drained = {"t": {0: 0, 1: 0, 2: 0, 3: 0}}
    assert s.desired(5, 4, drained) == 4  # 3 s after the last recommendation of 4: held
    assert s.desired(14, 4, drained) == 3  # window passed: down by 1 pod per period
    assert s.desired(80, 3, drained) == 0  # idle for the cooldown (last active at t=3)


def test_scale_up_rate_is_limited() -> None:
    s = Scaler([KafkaTrigger("t", 1)], max_replicas=12, up_pods=2, up_period_s=15)
    lag = {"t": {p: 10 for p in range(12)}}
    assert s.desired(0, 1, lag) == 3
    assert s.desired(5, 3, lag) == 3  # 2 pods already added in this period
    assert s.desired(16, 3, lag) == 5


def test_the_largest_trigger_wins() -> None:
    s = Scaler([KafkaTrigger("a", 10), KafkaTrigger("b", 1)], max_replicas=4)
    assert s.desired(0, 1, {"a": {0: 5}, "b": {0: 3, 1: 0, 2: 0}}) == 3


def test_member_expiry_removes_what_a_kafka_coordinator_would() -> None:
    """MemberExpiry (the stand-in for the test broker's missing member removals): a live process keeps
    only its newest member id; a process that exited loses its ids once the session timeout passed."""
    live = {101, 102}
    e = MemberExpiry("unused:9092", session_timeout_s=10, live_pids=lambda: live)
    a_old, a_new, b, c = ("app-h-101-0001", "app-h-101-0002", "app-h-102-0001", "app-h-103-0001")
    assert e.stale([(a_old, "app-h-101"), (b, "app-h-102")], now=0) == []
    # 101 dropped its id after an ILLEGAL_GENERATION and joined again; 103 joined.
    # 103 is not (yet) a live worker: like any unknown client it goes only after a session timeout.
    assert e.stale([(a_old, "app-h-101"), (a_new, "app-h-101"), (b, "app-h-102"), (c, "app-h-103")], now=1) == [a_old]
    live.add(103)
    live.discard(102)  # 102 died without LeaveGroup
    members = [(a_new, "app-h-101"), (b, "app-h-102"), (c, "app-h-103")]
    assert e.stale(members, now=2) == []  # within its session timeout
    assert e.stale(members, now=12) == [b]  # 103 turned live at 2: its earlier absence is forgotten
    live.discard(103)
    assert e.stale(members, now=13) == [b]
    assert e.stale(members, now=23) == [b, c]
