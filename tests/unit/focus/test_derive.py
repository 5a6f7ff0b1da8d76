"""cloudops.focus.derive: rules with a ``derive`` block (a conditional extra FOCUS row from scalar columns).

The shape is AWS's: a recurring commitment fee row whose unused part becomes its own Usage
row (CommitmentDiscountStatus Unused, BilledCost 0). A source row converts whole (base +
derived row) or is rejected whole, and the per-currency totals reconcile exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.convert import convert_batch
from cloudops.focus.derive import derived_mask, derived_rows
from cloudops.focus.docs import render_rules
from cloudops.focus.rules import FormatRules

D = Decimal
MANDATORY = [c.name for c in FOCUS_COLUMNS if not c.nullable]
UNUSED = {"sub": ["commitment", "used"]}


def derive_doc(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "unused commitment",
        "when": {"column": "type", "in": ["Fee"]},
        "skip_zero": UNUSED,
        "columns": {
            "BilledCost": {"const": "0"},
            "EffectiveCost": UNUSED,
            "ChargeCategory": {"const": "Usage"},
            "CommitmentDiscountStatus": {"const": "Unused"},
        },
        **overrides,
    }


def rules_doc(*derive: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {name: {"const": "x"} for name in MANDATORY}
    columns.update(
        {
            "BilledCost": "cost",
            "ContractedCost": "cost",
            "EffectiveCost": {
                "cases": [{"when": {"column": "type", "in": ["Fee"]}, "then": {"const": "0"}}],
                "else": "cost",
            },
            "ListCost": "cost",
            "BillingCurrency": "cur",
            "BillingPeriodStart": {"const": "2025-04-01T00:00:00Z"},
            "BillingPeriodEnd": {"const": "2025-05-01T00:00:00Z"},
            "ChargePeriodStart": {"const": "2025-04-01T00:00:00Z"},
            "ChargePeriodEnd": {"const": "2025-05-01T00:00:00Z"},
            "ChargeCategory": {"from": "type", "map": {"Fee": "Purchase"}},
            "CommitmentDiscountId": "id",
        }
    )
    return {
        "id": "derive-test",
        "provider": "aws",
        "title": "Derive test",
        "detect": {"all_of": ["cost", "cur"]},
        "reconcile": {"cost": "cost", "currency": "cur"},
        "columns": columns,
        "derive": list(derive) or [derive_doc()],
    }


RULES = FormatRules.model_validate(rules_doc())


def batch(**columns: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in columns.items()})


SOURCE = batch(
    type=["Usage", "Fee", "Fee", "Fee"],
    cost=["1.5", "73", "10", "5"],
    cur=["USD", "USD", "EUR", "USD"],
    id=[None, "sp-1", "sp-2", "sp-3"],
    commitment=[None, "73", "10", None],
    used=[None, "70.5", "10", None],
)


def test_derived_rows_are_the_matching_source_rows_except_exact_zero() -> None:
    table, parents = derived_rows(SOURCE, RULES.derive[0])
    # Row 2 is fully used (10 - 10 = 0): no row. Row 3 has no amounts: attempted, so its rules decide.
    assert parents.to_pylist() == [1, 3]
    assert table.column("id").to_pylist() == ["sp-1", "sp-3"]
    assert derived_mask(SOURCE.slice(0, 0), RULES.derive[0]).to_pylist() == []


def test_conversion_adds_the_derived_row_and_keeps_totals_exact() -> None:
    res = convert_batch(SOURCE.slice(0, 3), RULES, file_id="f", batch_id="b", row_offset=10)
    out = res.batch.to_pylist()
    assert [r["x_RowNumber"] for r in out] == [10, 11, 12, 11]
    extra = out[3]
    assert (extra["ChargeCategory"], extra["CommitmentDiscountStatus"], extra["CommitmentDiscountId"]) == (
        "Usage",
        "Unused",
        "sp-1",
    )
    assert (extra["BilledCost"], extra["EffectiveCost"], extra["ListCost"]) == (D(0), D("2.5"), D(73))
    # Billed totals are unchanged by the derived row; effective cost moves from the fee to the unused row.
    assert res.source_totals == {"USD": D("74.5"), "EUR": D(10)}
    billed: dict[str, Decimal] = {}
    for r in out:
        billed[r["BillingCurrency"]] = billed.get(r["BillingCurrency"], D(0)) + r["BilledCost"]
    assert billed == res.source_totals
    assert sum((r["EffectiveCost"] for r in out), D(0)) == D("1.5") + D("2.5")


def test_a_bad_derived_row_rejects_its_source_row_whole() -> None:
    res = convert_batch(SOURCE, RULES, file_id="f", batch_id="b", row_offset=0)
    assert [(r.row_number, r.reason) for r in res.rejected] == [
        (3, "unused commitment: EffectiveCost: mandatory value missing (rule gave no value)")
    ]
    assert res.rejected_totals == {"USD": D(5)}
    assert sorted(res.batch.column("x_RowNumber").to_pylist()) == [0, 1, 1, 2]


def test_every_when_condition_must_hold() -> None:
    rules = FormatRules.model_validate(
        rules_doc(
            derive_doc(when=[{"column": "type", "in": ["Fee"]}, {"column": "cur", "in": ["EUR"]}], skip_zero=None)
        )
    )
    assert derived_rows(SOURCE, rules.derive[0])[1].to_pylist() == [2]


@pytest.mark.parametrize("billed", [None, {"from": "cost"}, {"const": "1"}, {"const": "zero"}])
def test_a_derived_row_must_bill_nothing(billed: dict[str, str] | None) -> None:
    columns = {"EffectiveCost": UNUSED} | ({"BilledCost": billed} if billed is not None else {})
    with pytest.raises(ValidationError, match="BilledCost must be `const: 0`"):
        FormatRules.model_validate(rules_doc(derive_doc(columns=columns)))


def test_derive_columns_must_be_focus_columns() -> None:
    with pytest.raises(ValidationError, match="unknown FOCUS column 'NotAColumn'"):
        FormatRules.model_validate(rules_doc(derive_doc(columns={"BilledCost": {"const": "0"}, "NotAColumn": "x"})))


def test_derive_reads_count_as_source_columns_and_are_documented() -> None:
    assert {"type", "commitment", "used"} <= RULES.source_columns()
    text = render_rules(RULES)
    assert "**Derived rows: unused commitment**" in text
    assert "| CommitmentDiscountStatus | " in text


def test_same_as_condition_compares_two_columns_as_text() -> None:
    # `same_as` (also usable in `cases`): e.g. pricing and billing currency are the same.
    rules = FormatRules.model_validate(rules_doc(derive_doc(when={"column": "cur", "same_as": "price_cur"})))
    src = batch(type=["Fee"] * 4, cur=["USD", "USD", None, "EUR"], price_cur=["USD", "EUR", None, None])
    assert derived_mask(src, rules.derive[0]).to_pylist() == [True, False, False, False]
    assert {"cur", "price_cur"} <= rules.source_columns()
    assert "`cur` = `price_cur`" in render_rules(rules)
    with pytest.raises(ValidationError, match="exactly one of"):
        FormatRules.model_validate(rules_doc(derive_doc(when={"column": "cur", "same_as": "price_cur", "in": ["USD"]})))
