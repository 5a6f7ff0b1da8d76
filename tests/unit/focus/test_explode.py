"""cloudops.focus.convert: rules with an ``explode`` block (list elements become extra FOCUS rows).

The shape is GCP's: each usage row carries a ``credits`` list; every credit becomes a
FOCUS Credit row next to its usage row. A source row converts whole (base + credits)
or is rejected whole, and the per-currency totals reconcile exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.convert import ConversionResult, convert_batch, focus_schema, sum_by_currency
from cloudops.focus.rules import FormatRules

D = Decimal
MANDATORY = [c.name for c in FOCUS_COLUMNS if not c.nullable]
CREDIT = pa.struct([("name", pa.string()), ("amount", pa.string()), ("type", pa.string())])
SUM_CREDITS = {"sum_list": {"column": "credits", "field": "amount"}}


def rules_doc(**overrides: Any) -> dict[str, Any]:
    """GCP-like rules: usage rows from flat columns, one Credit row per element of `credits`."""
    columns: dict[str, Any] = {name: {"const": "x"} for name in MANDATORY}
    columns.update(
        {
            "BilledCost": "cost",
            "ContractedCost": "cost",
            "EffectiveCost": "cost",
            "ListCost": "cost",
            "BillingCurrency": "cur",
            "BillingPeriodStart": {"month_start": "month"},
            "BillingPeriodEnd": {"month_end": "month"},
            "ChargePeriodStart": "start",
            "ChargePeriodEnd": "end",
            "BillingAccountId": "account",
            "ChargeCategory": {"const": "Usage"},
            "ChargeDescription": "desc",
            "ServiceName": "service",
        }
    )
    columns.update(overrides.pop("columns", {}))
    doc: dict[str, Any] = {
        "id": "explode-test",
        "provider": "gcp",
        "title": "Explode test",
        "detect": {"all_of": ["cost", "cur"]},
        "reconcile": {"cost": {"add": ["cost", SUM_CREDITS]}, "currency": "cur"},
        "columns": columns,
        "explode": [
            {
                "name": "credits",
                "list": "credits",
                "columns": {
                    "BilledCost": "item.amount",
                    "EffectiveCost": "item.amount",
                    "ListCost": {"const": "0"},
                    "ContractedCost": {"const": "0"},
                    "ChargeCategory": {"const": "Credit"},
                    "ChargeDescription": "item.name",
                    "CommitmentDiscountType": {"from": "item.type", "map": {"COMMITTED_USAGE_DISCOUNT": "CUD"}},
                },
            }
        ],
    }
    doc.update(overrides)
    return doc


RULES = FormatRules.model_validate(rules_doc())


def source(credits: list[Any], credit_type: pa.DataType = CREDIT, **columns: list[Any]) -> pa.RecordBatch:
    n = len(credits)
    data: dict[str, pa.Array] = {
        "cost": pa.array([str(i + 1) for i in range(n)], pa.string()),
        "cur": pa.array(["USD"] * n, pa.string()),
        "month": pa.array(["202312"] * n, pa.string()),
        "start": pa.array([f"2023-12-{i + 1:02d}T00:00:00Z" for i in range(n)], pa.string()),
        "end": pa.array([f"2023-12-{i + 1:02d}T01:00:00Z" for i in range(n)], pa.string()),
        "account": pa.array([f"acct-{i}" for i in range(n)], pa.string()),
        "desc": pa.array([f"usage {i}" for i in range(n)], pa.string()),
        "service": pa.array(["Compute Engine"] * n, pa.string()),
    }
    for k, v in columns.items():
        data[k] = v if isinstance(v, pa.Array) else pa.array(v, pa.string())
    data["credits"] = pa.array(credits, pa.list_(credit_type))
    return pa.RecordBatch.from_pydict(data)


def convert(raw: pa.RecordBatch, rules: FormatRules = RULES, offset: int = 0) -> ConversionResult:
    return convert_batch(raw, rules, file_id="file-x", batch_id="batch-x", row_offset=offset)


def pick(result: ConversionResult, *names: str) -> list[tuple[Any, ...]]:
    rows = result.batch.to_pylist()
    return [tuple(r[n] for n in names) for r in rows]


def assert_reconciles(result: ConversionResult) -> None:
    converted = sum_by_currency(result.batch.column("BilledCost"), result.batch.column("BillingCurrency"))
    currencies = set(result.source_totals) | set(converted) | set(result.rejected_totals)
    for cur in currencies:
        assert result.source_totals.get(cur, D(0)) == converted.get(cur, D(0)) + result.rejected_totals.get(cur, D(0))


def credit(name: str, amount: str | None, kind: str = "PROMOTION") -> dict[str, Any]:
    return {"name": name, "amount": amount, "type": kind}


# --------------------------------------------------------------------------- the basic shape


def test_two_credits_become_two_extra_rows_with_overrides() -> None:
    raw = source(
        [
            [credit("Free tier", "-0.4"), credit("CUD", "-0.25", "COMMITTED_USAGE_DISCOUNT")],
            [],
            None,
        ],
        cost=["1.5", "2", "3"],
    )
    result = convert(raw, offset=40)
    assert result.rejected == []
    assert result.rows_in == 3
    assert result.batch.schema == focus_schema()
    assert pick(
        result, "x_RowNumber", "ChargeCategory", "BilledCost", "EffectiveCost", "ListCost", "ContractedCost"
    ) == [
        (40, "Usage", D("1.5"), D("1.5"), D("1.5"), D("1.5")),
        (41, "Usage", D("2"), D("2"), D("2"), D("2")),
        (42, "Usage", D("3"), D("3"), D("3"), D("3")),
        (40, "Credit", D("-0.4"), D("-0.4"), D("0"), D("0")),
        (40, "Credit", D("-0.25"), D("-0.25"), D("0"), D("0")),
    ]
    assert pick(result, "ChargeDescription", "CommitmentDiscountType") == [
        ("usage 0", None),
        ("usage 1", None),
        ("usage 2", None),
        ("Free tier", "PROMOTION"),
        ("CUD", "CUD"),
    ]


def test_credit_rows_inherit_the_parent_columns() -> None:
    raw = source([[], [credit("a", "-1")]])
    rows = convert(raw).batch.to_pylist()
    base, extra = rows[1], rows[2]
    for name in ("BillingAccountId", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd", "ServiceName"):
        assert extra[name] == base[name], name
    assert extra["BillingAccountId"] == "acct-1"
    assert extra["ChargePeriodStart"] == datetime(2023, 12, 2, tzinfo=UTC)
    assert extra["BillingPeriodStart"] == datetime(2023, 12, 1, tzinfo=UTC)
    assert extra["BillingPeriodEnd"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert extra["x_FileId"] == "file-x"
    assert extra["x_BatchId"] == "batch-x"
    assert extra["x_Provider"] == "gcp"
    assert extra["x_SourceFormat"] == "explode-test"


def test_rows_without_credits_give_only_the_base_row() -> None:
    result = convert(source([[], None, []]))
    assert result.batch.num_rows == 3
    assert pick(result, "x_RowNumber", "ChargeCategory") == [(0, "Usage"), (1, "Usage"), (2, "Usage")]
    assert result.source_totals == {"USD": D("6")}


def test_list_column_missing_from_the_file() -> None:
    raw = source([None, None]).drop_columns(["credits"])
    result = convert(raw)
    assert result.rejected == []
    assert pick(result, "BilledCost", "ChargeCategory") == [(D("1"), "Usage"), (D("2"), "Usage")]
    assert result.source_totals == {"USD": D("3")}


def test_typed_credit_amounts_from_json_or_parquet() -> None:
    float_credit = pa.struct([("name", pa.string()), ("amount", pa.float64()), ("type", pa.string())])
    raw = source(
        [[{"name": "a", "amount": -0.1, "type": None}, {"name": "b", "amount": -0.2, "type": None}]], float_credit
    )
    raw = raw.set_column(0, "cost", pa.array([0.3]))
    result = convert(raw)
    assert pick(result, "BilledCost") == [(D("0.3"),), (D("-0.1"),), (D("-0.2"),)]
    assert result.source_totals == {"USD": D("0")}  # 0.3 - 0.1 - 0.2, exactly
    assert_reconciles(result)


def test_nested_struct_inside_an_element_is_flattened() -> None:
    detail = pa.struct([("name", pa.string()), ("amount", pa.string()), ("info", pa.struct([("kind", pa.string())]))])
    rules = FormatRules.model_validate(
        rules_doc(
            explode=[
                {
                    "name": "credits",
                    "list": "credits",
                    "columns": {
                        "BilledCost": "item.amount",
                        "ChargeCategory": {"const": "Credit"},
                        "ChargeDescription": "item.info.kind",
                    },
                }
            ]
        )
    )
    raw = source([[{"name": "a", "amount": "-1", "info": {"kind": "SUSTAINED_USAGE"}}]], detail)
    result = convert(raw, rules)
    assert result.rejected == []
    assert pick(result, "ChargeCategory", "ChargeDescription", "BilledCost") == [
        ("Usage", "usage 0", D("1")),
        ("Credit", "SUSTAINED_USAGE", D("-1")),
    ]


def test_sliced_input_batch() -> None:
    raw = source([[credit("a", "-1")], [credit("b", "-2"), credit("c", "-3")], [], [credit("d", "-4")]])
    result = convert(raw.slice(1, 2), offset=1)
    assert pick(result, "x_RowNumber", "ChargeDescription", "BilledCost") == [
        (1, "usage 1", D("2")),
        (2, "usage 2", D("3")),
        (1, "b", D("-2")),
        (1, "c", D("-3")),
    ]
    assert result.source_totals == {"USD": D("0")}  # 2 - 2 - 3 + 3
    assert_reconciles(result)


# --------------------------------------------------------------------------- rejection is per source row


def test_bad_credit_rejects_the_whole_source_row() -> None:
    raw = source(
        [
            [credit("ok", "-0.5")],
            [credit("fine", "-1"), credit("broken", "12,5")],
            [credit("ok too", "-0.25")],
        ],
        cost=["10", "20", "30"],
    )
    result = convert(raw, offset=7)
    assert [r.row_number for r in result.rejected] == [8]
    assert result.rejected[0].reason == "credits: BilledCost: not a valid decimal value in item.amount: '12,5'"
    assert json.loads(result.rejected[0].raw)["cost"] == "20"
    # Neither the base row nor any credit of row 8 lands.
    assert pick(result, "x_RowNumber", "BilledCost") == [(7, D("10")), (9, D("30")), (7, D("-0.5")), (9, D("-0.25"))]
    # The bad row's cost cannot be read (its credits are part of it): it is in no total.
    assert result.source_totals == {"USD": D("39.25")}
    assert result.rejected_totals == {}
    assert_reconciles(result)


def test_credit_with_missing_amount_is_rejected_with_its_rule() -> None:
    result = convert(source([[credit("no amount", None)], []]))
    assert [(r.row_number, r.reason) for r in result.rejected] == [
        (0, "credits: BilledCost: mandatory value missing (from item.amount)")
    ]
    assert pick(result, "x_RowNumber", "ChargeCategory") == [(1, "Usage")]
    assert_reconciles(result)


def test_row_rejected_for_its_own_value_counts_credits_in_rejected_totals() -> None:
    raw = source(
        [[credit("a", "-0.5")], [credit("b", "-1"), credit("c", "-0.75")], []],
        cost=["10", "20", "30"],
        account=["a", None, "c"],
    )
    result = convert(raw)
    assert [(r.row_number, r.reason) for r in result.rejected] == [
        (1, "BillingAccountId: mandatory value missing (from account)")
    ]
    assert pick(result, "x_RowNumber", "BilledCost") == [(0, D("10")), (2, D("30")), (0, D("-0.5"))]
    assert result.source_totals == {"USD": D("57.75")}
    assert result.rejected_totals == {"USD": D("18.25")}
    assert_reconciles(result)


def test_bad_base_cost_rejects_row_and_its_credits() -> None:
    raw = source([[credit("a", "-0.5")], [credit("b", "-1")]], cost=["abc", "2"])
    result = convert(raw)
    assert [(r.row_number, r.reason) for r in result.rejected] == [
        (0, "BilledCost: not a valid decimal value in cost: 'abc'")
    ]
    assert pick(result, "x_RowNumber", "BilledCost") == [(1, D("2")), (1, D("-1"))]
    assert result.source_totals == {"USD": D("1")}
    assert_reconciles(result)


def test_every_row_rejected_gives_an_empty_batch() -> None:
    raw = source([[credit("x", "bad")], [credit("y", "-1")]], account=[None, None])
    result = convert(raw)
    assert result.batch.num_rows == 0
    assert result.batch.schema == focus_schema()
    assert [r.row_number for r in result.rejected] == [0, 1]
    assert result.rejected[0].reason == "BillingAccountId: mandatory value missing (from account)"
    assert result.source_totals == {"USD": D("1")}  # row 1: 2 - 1; row 0 unreadable
    assert result.rejected_totals == {"USD": D("1")}
    assert_reconciles(result)


def test_base_reason_wins_over_credit_reason() -> None:
    raw = source([[credit("x", "bad")]], start=["not a date"])
    (rejected,) = convert(raw).rejected
    assert rejected.reason == "ChargePeriodStart: not a valid datetime value in start: 'not a date'"


# --------------------------------------------------------------------------- reconciliation


def test_reconcile_cost_with_credits_sums_to_billed_cost_exactly() -> None:
    raw = source(
        [
            [credit("a", "-0.1234567891"), credit("b", "-0.0000000001")],
            [credit("c", "-1.5")],
            [],
            None,
        ],
        cost=["0.1234567892", "1.5", "0.3333333333", "-0.0000000001"],
        cur=["USD", "EUR", "USD", "USD"],
    )
    result = convert(raw)
    assert result.rejected == []
    assert result.source_totals == {"USD": D("0.3333333332"), "EUR": D("0")}
    landed = sum_by_currency(result.batch.column("BilledCost"), result.batch.column("BillingCurrency"))
    assert landed == result.source_totals
    assert result.batch.num_rows == 4 + 3


def test_source_totals_equal_converted_plus_rejected_in_a_mixed_batch() -> None:
    raw = source(
        [
            [credit("a", "-1")],
            [credit("b", "x")],
            [credit("c", "-2"), credit("d", "-3")],
            [],
            [credit("e", "-0.5")],
        ],
        cost=["5", "6", "7", "8", "9"],
        cur=["USD", "USD", "EUR", "EUR", "USD"],
        account=["a", "b", "c", None, "e"],
    )
    result = convert(raw)
    assert [r.row_number for r in result.rejected] == [1, 3]
    assert result.source_totals == {"USD": D("12.5"), "EUR": D("10")}
    assert result.rejected_totals == {"EUR": D("8")}
    assert_reconciles(result)


# --------------------------------------------------------------------------- several lists


def test_two_explode_blocks() -> None:
    rules = FormatRules.model_validate(
        rules_doc(
            explode=[
                {
                    "name": "credits",
                    "list": "credits",
                    "columns": {"BilledCost": "item.amount", "ChargeCategory": {"const": "Credit"}},
                },
                {
                    "name": "taxes",
                    "list": "taxes",
                    "columns": {"BilledCost": "item.amount", "ChargeCategory": {"const": "Tax"}},
                },
            ],
            reconcile={
                "cost": {"add": ["cost", SUM_CREDITS, {"sum_list": {"column": "taxes", "field": "amount"}}]},
                "currency": "cur",
            },
        )
    )
    tax = pa.list_(pa.struct([("amount", pa.string())]))
    raw = source(
        [[credit("a", "-1")], [], [credit("b", "-1")]],
        taxes=pa.array([[{"amount": "0.2"}], [{"amount": "0.3"}, {"amount": "bad"}], None], tax),
    )
    result = convert(raw, rules)
    assert [(r.row_number, r.reason) for r in result.rejected] == [
        (1, "taxes: BilledCost: not a valid decimal value in item.amount: 'bad'")
    ]
    assert pick(result, "x_RowNumber", "ChargeCategory", "BilledCost") == [
        (0, "Usage", D("1")),
        (2, "Usage", D("3")),
        (0, "Credit", D("-1")),
        (2, "Credit", D("-1")),
        (0, "Tax", D("0.2")),
    ]
    assert result.source_totals == {"USD": D("2.2")}
    assert_reconciles(result)


def test_tags_of_exploded_rows_come_from_the_parent() -> None:
    rules = FormatRules.model_validate(rules_doc(tags={"maps": [{"column": "labels", "prefix": ""}]}))
    labels = pa.array([[("env", "prod")], []], pa.map_(pa.string(), pa.string()))
    raw = source([[credit("a", "-1")], [credit("b", "-2")]], labels=labels)
    assert pick(convert(raw, rules), "x_RowNumber", "Tags") == [
        (0, '{"env":"prod"}'),
        (1, None),
        (0, '{"env":"prod"}'),
        (1, None),
    ]


@pytest.mark.parametrize("block", [1, 2, 5])
def test_converting_in_pieces_gives_the_same_rows(block: int) -> None:
    credits = [[credit("a", "-1")], [], [credit("b", "x")], [credit("c", "-2"), credit("d", "-3")], None]
    raw = source(credits, cost=["1", "2", "3", "4", "5"])
    whole = convert(raw)
    rows: list[tuple[Any, ...]] = []
    rejected: list[int] = []
    for start in range(0, raw.num_rows, block):
        part = convert(raw.slice(start, block), offset=start)
        rows += pick(part, "x_RowNumber", "ChargeCategory", "BilledCost")
        rejected += [r.row_number for r in part.rejected]
    assert sorted(rows) == sorted(pick(whole, "x_RowNumber", "ChargeCategory", "BilledCost"))
    assert rejected == [r.row_number for r in whole.rejected] == [2]


def test_blank_element_fields_are_no_value() -> None:
    # An exploded element's blank text is null like any other: no description, no type to map.
    raw = source([[credit("  ", "-0.4", ""), credit("", "-0.1", " ")]])
    result = convert(raw)
    assert result.rejected == []
    assert result.warnings == []
    credits = [r for r in result.batch.to_pylist() if r["ChargeCategory"] == "Credit"]
    assert [(r["ChargeDescription"], r["CommitmentDiscountType"], r["BilledCost"]) for r in credits] == [
        (None, None, D("-0.4")),
        (None, None, D("-0.1")),
    ]
    assert_reconciles(result)
