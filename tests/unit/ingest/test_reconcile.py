"""cloudops.ingest.load.reconcile: rows and money must balance exactly, per currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cloudops.ingest.load import reconcile
from cloudops.schemas.events import FocusBatchEnvelope

D = Decimal


def _end(
    rows_in: int | None = 10,
    rows_rejected: int | None = 2,
    source: dict[str, Decimal] | None = None,
    rejected: dict[str, Decimal] | None = None,
) -> FocusBatchEnvelope:
    return FocusBatchEnvelope(
        kind="end",
        tenant="acme",
        file_id="f",
        file_url="s3://billing/cur.csv",
        format="aws-cur",
        seq=1,
        batch_id="b",
        row_start=0,
        row_end=10,
        row_count=0,
        rows_in=rows_in,
        rows_rejected=rows_rejected,
        source_totals=source,
        rejected_totals=rejected,
    )


def test_balanced() -> None:
    env = _end(source={"USD": D("10.00"), "EUR": D("5")}, rejected={"USD": D("0.50")})
    assert reconcile(env, 8, {"USD": D("9.50"), "EUR": D("5.0000000000")}) is True


def test_golden_sample() -> None:
    env = _end(rows_in=1281, rows_rejected=0, source={"USD": D("1.6823086974")}, rejected={})
    assert reconcile(env, 1281, {"USD": D("1.6823086974")}) is True


def test_one_cent_mismatch() -> None:
    env = _end(source={"USD": D("10.00")}, rejected={"USD": D("0.50")})
    assert reconcile(env, 8, {"USD": D("9.49")}) is False
    assert reconcile(env, 8, {"USD": D("9.51")}) is False


def test_smallest_unit_mismatch() -> None:
    env = _end(source={"USD": D("1.6823086974")}, rejected={})
    assert reconcile(env, 8, {"USD": D("1.6823086973")}) is False


def test_row_count_mismatch() -> None:
    env = _end(source={"USD": D("1")}, rejected={})
    assert reconcile(env, 7, {"USD": D("1")}) is False
    assert reconcile(env, 9, {"USD": D("1")}) is False
    assert reconcile(env, 8, {"USD": D("1")}) is True


@pytest.mark.parametrize(("rows_in", "rows_rejected"), [(None, 0), (10, None), (None, None)])
def test_missing_counts_never_reconcile(rows_in: int | None, rows_rejected: int | None) -> None:
    env = _end(rows_in=rows_in, rows_rejected=rows_rejected, source={}, rejected={})
    assert reconcile(env, 10, {}) is False


def test_currency_only_landed() -> None:
    env = _end(source={"USD": D("1")}, rejected={})
    assert reconcile(env, 8, {"USD": D("1"), "EUR": D("0.01")}) is False


def test_currency_only_in_source() -> None:
    env = _end(source={"USD": D("1"), "JPY": D("100")}, rejected={})
    assert reconcile(env, 8, {"USD": D("1")}) is False


def test_currency_only_rejected_balances_source() -> None:
    env = _end(source={"USD": D("1"), "": D("4.5")}, rejected={"": D("4.5")})
    assert reconcile(env, 8, {"USD": D("1")}) is True


def test_zero_totals_match_absent_currencies() -> None:
    env = _end(source={"USD": D("0E-10")}, rejected={"EUR": D("0")})
    assert reconcile(env, 8, {}) is True


def test_none_totals_are_empty() -> None:
    env = _end(source=None, rejected=None)
    assert reconcile(env, 8, {}) is True
    assert reconcile(env, 8, {"USD": D("0.01")}) is False


def test_negative_amounts() -> None:
    env = _end(source={"USD": D("-3.30")}, rejected={"USD": D("-0.30")})
    assert reconcile(env, 8, {"USD": D("-3")}) is True
    assert reconcile(env, 8, {"USD": D("3")}) is False


def test_all_rows_rejected() -> None:
    env = _end(rows_in=3, rows_rejected=3, source={"USD": D("2")}, rejected={"USD": D("2")})
    assert reconcile(env, 0, {}) is True
