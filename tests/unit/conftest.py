"""Shared fixtures of the unit suite: the AWS CUR golden sample and small synthetic batches."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cloudops.focus.rules import FormatRules, load_all_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CUR_SAMPLE = FIXTURES / "aws" / "cur_sample.csv"

# The smallest AWS CUR row that converts: every column a mandatory FOCUS column reads.
MINIMAL_CUR_ROW: dict[str, str | None] = {
    "identity/LineItemId": "li-1",
    "bill/PayerAccountId": "111122223333",
    "bill/InvoicingEntity": "Amazon Web Services, Inc.",
    "bill/BillingEntity": "AWS",
    "bill/BillingPeriodStartDate": "2024-01-01T00:00:00Z",
    "bill/BillingPeriodEndDate": "2024-02-01T00:00:00Z",
    "lineItem/LineItemType": "Usage",
    "lineItem/UsageStartDate": "2024-01-05T10:00:00Z",
    "lineItem/UsageEndDate": "2024-01-05T11:00:00Z",
    "lineItem/UsageAccountId": "444455556666",
    "lineItem/ProductCode": "AmazonS3",
    "lineItem/UsageAmount": "1",
    "lineItem/CurrencyCode": "USD",
    "lineItem/UnblendedCost": "0.5",
    "product/ProductName": "Amazon Simple Storage Service",
}


def strings_batch(rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> pa.RecordBatch:
    """An all-string RecordBatch like the CSV reader yields (empty or missing fields are null)."""
    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    data = {c: pa.array([(r.get(c) or None) for r in rows], pa.string()) for c in columns}
    return pa.RecordBatch.from_pydict(data) if columns else pa.RecordBatch.from_pydict({})


@pytest.fixture(scope="session")
def cur_sample_path() -> Path:
    assert CUR_SAMPLE.is_file(), f"missing fixture {CUR_SAMPLE}"
    return CUR_SAMPLE


@pytest.fixture(scope="session")
def cur_sample_rows(cur_sample_path: Path) -> list[dict[str, str]]:
    """The sample read independently of cloudops, with Python's csv module."""
    with cur_sample_path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def cur_header(cur_sample_path: Path) -> list[str]:
    with cur_sample_path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


@pytest.fixture(scope="session")
def aws_rules() -> FormatRules:
    (rules,) = [r for r in load_all_rules() if r.id == "aws-cur"]
    return rules


@pytest.fixture
def cur_row() -> Callable[..., dict[str, str | None]]:
    """``cur_row({"lineItem/UnblendedCost": "x"})``: a minimal valid CUR row with overrides."""

    def make(overrides: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
        return {**MINIMAL_CUR_ROW, **(overrides or {})}

    return make


@pytest.fixture
def to_batch() -> Callable[..., pa.RecordBatch]:
    """``to_batch(rows, columns=None)``: see :func:`strings_batch`."""
    return strings_batch
