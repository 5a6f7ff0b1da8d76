"""cloudops.focus.detect: a format is recognised from the file's header only."""

from __future__ import annotations

from typing import Any

import pytest

from cloudops.errors import BadDataError
from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules

AWS_DETECT = [
    "lineItem/LineItemType",
    "lineItem/UnblendedCost",
    "bill/PayerAccountId",
    "lineItem/UsageStartDate",
]


def _rules(rid: str, all_of: list[str], none_of: list[str] | None = None, priority: int = 0) -> FormatRules:
    doc: dict[str, Any] = {
        "id": rid,
        "provider": "focus",
        "title": rid,
        "priority": priority,
        "detect": {"all_of": all_of, "none_of": none_of or []},
        "reconcile": {"cost": "c", "currency": "cur"},
        "columns": {c.name: {"const": "1"} for c in FOCUS_COLUMNS if not c.nullable},
    }
    return FormatRules.model_validate(doc)


def test_sample_header_is_aws_cur(cur_header: list[str]) -> None:
    assert len(cur_header) == 94
    rules = detect_format(cur_header, source="s3://billing/cur.csv")
    assert rules.id == "aws-cur"
    assert rules.provider == "aws"


def test_minimal_aws_header_in_any_order() -> None:
    assert detect_format([*reversed(AWS_DETECT), "something/else"]).id == "aws-cur"


@pytest.mark.parametrize("dropped", AWS_DETECT)
def test_aws_header_missing_one_detect_column(dropped: str) -> None:
    header = [c for c in AWS_DETECT if c != dropped]
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format(header, source="s3://billing/x.csv")


def test_unknown_header_names_the_source() -> None:
    header = ["Date", "Cost", "Currency"]
    with pytest.raises(BadDataError) as info:
        detect_format(header, source="s3://billing/mystery.csv")
    err = info.value
    assert err.source == "s3://billing/mystery.csv"
    assert str(err) == (
        "s3://billing/mystery.csv: unknown billing format: header [Date, Cost, Currency] matches no rules"
    )


def test_unknown_long_header_is_abbreviated() -> None:
    header = [f"col{i}" for i in range(20)]
    with pytest.raises(BadDataError) as info:
        detect_format(header, source="file:///tmp/wide.csv")
    assert info.value.reason == (
        "unknown billing format: header [col0, col1, col2, col3, col4, col5, col6, col7, ...] matches no rules"
    )


def test_empty_header_without_source() -> None:
    with pytest.raises(BadDataError) as info:
        detect_format([])
    assert info.value.source is None
    assert str(info.value) == "unknown billing format: header [] matches no rules"


def test_detection_is_by_header_not_name(cur_header: list[str]) -> None:
    # The source name plays no part: a misleading name still detects from the header.
    assert detect_format(cur_header, source="azure-export.csv").id == "aws-cur"


def test_none_of_excludes_and_first_match_wins() -> None:
    narrow = _rules("narrow", ["a", "b"], none_of=["legacy"], priority=5)
    broad = _rules("broad", ["a"])
    assert detect_format(["a", "b"], rules=[narrow, broad]).id == "narrow"
    assert detect_format(["a", "b", "legacy"], rules=[narrow, broad]).id == "broad"
    assert detect_format(["a"], rules=[narrow, broad]).id == "broad"
    with pytest.raises(BadDataError):
        detect_format(["b"], rules=[narrow, broad], source="x")


def test_explicit_rules_replace_packaged(cur_header: list[str]) -> None:
    with pytest.raises(BadDataError):
        detect_format(cur_header, rules=[_rules("other", ["zzz"])], source="x")
