"""cloudops.focus.rules: rules files are validated when loaded; expression semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.convert import convert_batch, evaluate
from cloudops.focus.datasets import dataset
from cloudops.focus.rules import (
    Expr,
    FormatRules,
    RulesError,
    load_all_rules,
    load_lookup,
    load_rules,
    rules_dir,
)

MANDATORY = [c.name for c in FOCUS_COLUMNS if not c.nullable]


def minimal_rules(**overrides: Any) -> dict[str, Any]:
    """A small, valid rules document: every mandatory FOCUS column from a simple source."""
    columns: dict[str, Any] = {name: {"const": "x"} for name in MANDATORY}
    columns.update(
        {
            "BilledCost": "cost",
            "ContractedCost": "cost",
            "EffectiveCost": "cost",
            "ListCost": "cost",
            "BillingCurrency": "cur",
            "BillingPeriodStart": "start",
            "BillingPeriodEnd": "end",
            "ChargePeriodStart": "start",
            "ChargePeriodEnd": "end",
            "BillingAccountId": "account",
        }
    )
    doc: dict[str, Any] = {
        "id": "test-format",
        "provider": "aws",
        "title": "Test format",
        "detect": {"all_of": ["cost", "cur"]},
        "reconcile": {"cost": "cost", "currency": "cur"},
        "columns": columns,
    }
    doc.update(overrides)
    return doc


def write(tmp_path: Path, doc: Any, name: str = "test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def batch(**columns: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in columns.items()})


def expr(doc: Any) -> Expr:
    return Expr.model_validate(doc)


# --------------------------------------------------------------------------- packaged rules


def test_packaged_rules_load() -> None:
    rules = load_all_rules()
    ids = [r.id for r in rules]
    assert "aws-cur" in ids
    assert len(ids) == len(set(ids))
    assert [r.priority for r in rules] == sorted((r.priority for r in rules), reverse=True)
    for r in rules:
        mandatory = MANDATORY
        if r.dataset != "CostAndUsage":  # a supporting dataset's own mandatory columns
            mandatory = [c.name for c in dataset(r.dataset).columns if not c.nullable]
        assert set(mandatory) <= set(r.columns), r.id


def test_packaged_rules_files_each_validate() -> None:
    files = sorted(rules_dir().glob("*.yaml"))
    assert files
    for path in files:
        assert isinstance(load_rules(path), FormatRules)


def test_aws_rules_shape(aws_rules: FormatRules) -> None:
    assert aws_rules.provider == "aws"
    assert aws_rules.priority == 10
    assert aws_rules.reconcile.cost.from_ == "lineItem/UnblendedCost"
    assert aws_rules.reconcile.currency.from_ == "lineItem/CurrencyCode"
    assert aws_rules.tags is not None
    assert aws_rules.tags.prefixes == {"resourceTags/user:": "", "resourceTags/aws:": "aws:"}
    assert aws_rules.columns["ProviderName"].const == "AWS"
    assert aws_rules.columns["BillingAccountId"].from_ == "bill/PayerAccountId"  # shorthand
    assert aws_rules.columns["ServiceCategory"].lookup == "aws_service_categories.csv"
    cols = aws_rules.source_columns()
    assert {"lineItem/UnblendedCost", "lineItem/LineItemType", "identity/LineItemId", "pricing/term"} <= cols
    assert not any(c.startswith("resourceTags/") for c in cols)


def test_load_lookup_reads_two_columns() -> None:
    table = load_lookup("aws_service_categories.csv")
    assert table["AmazonS3"] == "Storage"
    assert table["awskms"] == "Security"
    assert "product_code" not in table  # the header row is skipped


def test_minimal_rules_are_valid(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, minimal_rules()))
    assert rules.id == "test-format"
    assert rules.source_columns() == {"cost", "cur", "start", "end", "account"}


# --------------------------------------------------------------------------- validation


def test_unknown_focus_column(tmp_path: Path) -> None:
    doc = minimal_rules()
    doc["columns"]["BilledKost"] = "cost"
    with pytest.raises(RulesError, match="unknown FOCUS column 'BilledKost'") as info:
        load_rules(write(tmp_path, doc))
    assert str(info.value).startswith("test.yaml: ")


def test_missing_mandatory_columns_are_listed(tmp_path: Path) -> None:
    doc = minimal_rules()
    del doc["columns"]["BilledCost"]
    del doc["columns"]["ServiceName"]
    with pytest.raises(RulesError, match="mandatory FOCUS columns without a rule: BilledCost, ServiceName"):
        load_rules(write(tmp_path, doc))


@pytest.mark.parametrize(
    ("column_rule", "message"),
    [
        ({"from": "a", "const": "b"}, "an expression needs exactly one of"),
        ({"from": "a", "none": True}, "an expression needs exactly one of"),
        ({"map": {"a": "b"}}, "an expression needs exactly one of"),
        ({"cases": [{"when": {"column": "a", "in": ["x"]}, "then": {"const": "y"}}]}, "cases need an else"),
        ({"none": False}, "write `none: true` or leave it out"),
        (
            {
                "cases": [{"when": {"column": "a", "in": ["x"], "is_null": True}, "then": "b"}],
                "else": {"none": True},
            },
            "a condition needs exactly one of in, not_in, is_null",
        ),
        (
            {"cases": [{"when": {"column": "a"}, "then": "b"}], "else": "c"},
            "a condition needs exactly one of",
        ),
        ({"form": "cost"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_expressions(tmp_path: Path, column_rule: Any, message: str) -> None:
    doc = minimal_rules()
    doc["columns"]["ChargeDescription"] = column_rule
    with pytest.raises(RulesError, match=message) as info:
        load_rules(write(tmp_path, doc))
    assert str(info.value).startswith("test.yaml: ")
    assert "ChargeDescription" in str(info.value)


def test_expr_validation_error_directly() -> None:
    with pytest.raises(ValidationError, match="cases need an else"):
        expr({"cases": [{"when": {"column": "a", "in": ["x"]}, "then": "b"}]})
    with pytest.raises(ValidationError, match="exactly one of"):
        expr({"from": "a", "coalesce": ["b", "c"]})


def test_extension_keys_need_x_prefix(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="extension key 'LineItemId' must start with x_"):
        load_rules(write(tmp_path, minimal_rules(extensions={"LineItemId": "id"})))


def test_tags_twice(tmp_path: Path) -> None:
    doc = minimal_rules(tags={"prefixes": {"tag/": ""}})
    doc["columns"]["Tags"] = "tags"
    with pytest.raises(RulesError, match="Tags is set both by a column rule and by tags"):
        load_rules(write(tmp_path, doc))


def test_missing_lookup_table(tmp_path: Path) -> None:
    doc = minimal_rules()
    doc["columns"]["ServiceCategory"] = {"from": "code", "lookup": "nope.csv", "default": "Other"}
    with pytest.raises(RulesError, match=r"test\.yaml: lookup table 'nope\.csv' not found"):
        load_rules(write(tmp_path, doc))


def test_missing_lookup_table_inside_cases(tmp_path: Path) -> None:
    doc = minimal_rules()
    doc["columns"]["ServiceCategory"] = {
        "cases": [{"when": {"column": "a", "is_null": True}, "then": {"from": "b", "lookup": "gone.csv"}}],
        "else": {"const": "Other"},
    }
    with pytest.raises(RulesError, match=r"lookup table 'gone\.csv' not found"):
        load_rules(write(tmp_path, doc))


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"^broken\.yaml: "):
        load_rules(write(tmp_path, "id: [unclosed\n", name="broken.yaml"))


def test_missing_top_level_fields(tmp_path: Path) -> None:
    doc = minimal_rules()
    del doc["detect"]
    with pytest.raises(RulesError, match="detect"):
        load_rules(write(tmp_path, doc))


def test_yaml_scalars_become_text(tmp_path: Path) -> None:
    text = yaml.safe_dump(minimal_rules()) + ""
    doc = yaml.safe_load(text)
    doc["columns"]["ContractedCost"] = {"const": 0}
    doc["columns"]["ChargeDescription"] = {"from": "d", "default": 12}
    rules = load_rules(write(tmp_path, doc))
    assert rules.columns["ContractedCost"].const == "0"
    assert rules.columns["ChargeDescription"].default == "12"


def test_rules_are_frozen(aws_rules: FormatRules) -> None:
    with pytest.raises(ValidationError):
        aws_rules.id = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- expression semantics


def test_from_and_missing_column() -> None:
    b = batch(a=["1", None])
    assert evaluate(expr("a"), b)[0].to_pylist() == ["1", None]
    assert evaluate(expr({"from": "absent"}), b)[0].to_pylist() == [None, None]


def test_const_and_none() -> None:
    b = batch(a=["1", None, "3"])
    assert evaluate(expr({"const": "AWS"}), b)[0].to_pylist() == ["AWS"] * 3
    out = evaluate(expr({"none": True}), b)[0]
    assert out.to_pylist() == [None] * 3
    assert out.type == pa.string()


def test_coalesce() -> None:
    b = batch(a=[None, "a2", None], b=["b1", "b2", None])
    assert evaluate(expr({"coalesce": ["a", "b"]}), b)[0].to_pylist() == ["b1", "a2", None]
    assert evaluate(expr({"coalesce": ["absent", "b"]}), b)[0].to_pylist() == ["b1", "b2", None]


def test_map_keeps_unmapped_values() -> None:
    b = batch(t=["OnDemand", "Spot", "Weird", None])
    out = evaluate(expr({"from": "t", "map": {"OnDemand": "Standard", "Spot": "Dynamic"}}), b)[0]
    assert out.to_pylist() == ["Standard", "Dynamic", "Weird", None]


def test_map_with_default_replaces_unmapped_and_nulls() -> None:
    b = batch(t=["Tax", "Refund", "Weird", None])
    e = expr({"from": "t", "map": {"Tax": "Tax", "Refund": "Credit"}, "default": "Adjustment"})
    assert evaluate(e, b)[0].to_pylist() == ["Tax", "Credit", "Adjustment", "Adjustment"]


def test_default_alone_fills_only_nulls() -> None:
    b = batch(t=["kept", None])
    assert evaluate(expr({"from": "t", "default": "filled"}), b)[0].to_pylist() == ["kept", "filled"]


def test_lookup_with_and_without_default() -> None:
    b = batch(code=["AmazonS3", "AWSGlue", "NotAService", None])
    with_default = expr({"from": "code", "lookup": "aws_service_categories.csv", "default": "Other"})
    assert evaluate(with_default, b)[0].to_pylist() == ["Storage", "Analytics", "Other", "Other"]
    without = expr({"from": "code", "lookup": "aws_service_categories.csv"})
    assert evaluate(without, b)[0].to_pylist() == ["Storage", "Analytics", "NotAService", None]


def test_cases_first_match_wins() -> None:
    b = batch(t=["A", "B", "C", None], x=["xa", "xb", "xc", "xn"])
    e = expr(
        {
            "cases": [
                {"when": {"column": "t", "in": ["A"]}, "then": {"const": "first"}},
                {"when": {"column": "t", "in": ["A", "B"]}, "then": {"from": "x"}},
                {"when": {"column": "t", "is_null": True}, "then": {"const": "null-type"}},
            ],
            "else": {"none": True},
        }
    )
    assert evaluate(e, b)[0].to_pylist() == ["first", "xb", None, "null-type"]


def test_cases_not_in_and_is_null_false() -> None:
    b = batch(t=["Usage", "Tax", None])
    not_in = expr(
        {
            "cases": [{"when": {"column": "t", "not_in": ["Usage"]}, "then": {"const": "y"}}],
            "else": {"const": "n"},
        }
    )
    # A null value is "not in" any list.
    assert evaluate(not_in, b)[0].to_pylist() == ["n", "y", "y"]
    present = expr({"cases": [{"when": {"column": "t", "is_null": False}, "then": "t"}], "else": {"const": "missing"}})
    assert evaluate(present, b)[0].to_pylist() == ["Usage", "Tax", "missing"]


def test_cases_with_map_in_else(aws_rules: FormatRules) -> None:
    b = batch(
        **{
            "lineItem/LineItemType": ["Usage", "Usage", "DiscountedUsage", "Tax", "Usage"],
            "pricing/term": ["OnDemand", "Spot", None, "OnDemand", "Other"],
        }
    )
    out = evaluate(aws_rules.columns["PricingCategory"], b)[0]
    assert out.to_pylist() == ["Standard", "Dynamic", "Committed", None, "Other"]


def test_nested_cases_in_then() -> None:
    b = batch(a=["1", "1", "2"], b=["x", "y", "x"])
    e = expr(
        {
            "cases": [
                {
                    "when": {"column": "a", "in": ["1"]},
                    "then": {
                        "cases": [{"when": {"column": "b", "in": ["x"]}, "then": {"const": "1x"}}],
                        "else": {"const": "1other"},
                    },
                }
            ],
            "else": {"const": "other"},
        }
    )
    assert evaluate(e, b)[0].to_pylist() == ["1x", "1other", "other"]
    assert e.source_columns() == {"a", "b"}


def test_format_rule_parses_custom_dates() -> None:
    doc = minimal_rules()
    doc["columns"]["ChargePeriodStart"] = {"from": "charge_start", "format": "%d/%m/%Y %H:%M"}
    rules = FormatRules.model_validate(doc)
    raw = batch(
        cost=["1", "2"],
        cur=["EUR", "EUR"],
        start=["2024-01-01"] * 2,
        end=["2024-02-01"] * 2,
        account=["acc", "acc"],
        charge_start=["05/01/2024 10:30", "2024-01-05"],
    )
    res = convert_batch(raw, rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 1
    assert res.batch.column("ChargePeriodStart")[0].as_py().isoformat() == "2024-01-05T10:30:00+00:00"
    assert [r.reason for r in res.rejected] == [
        "ChargePeriodStart: not a valid datetime value in charge_start: '2024-01-05'"
    ]


# --------------------------------------------------------------------------- tags


def _tags_of(aws_rules: FormatRules, cur_row, to_batch, rows: list[dict]) -> list[Any]:
    raw = to_batch([cur_row(r) for r in rows])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.rejected == []
    return [None if t is None else json.loads(t) for t in res.batch.column("Tags").to_pylist()]


def test_tags_prefixes_become_keys(aws_rules: FormatRules, cur_row, to_batch) -> None:
    tags = _tags_of(
        aws_rules,
        cur_row,
        to_batch,
        [
            {"resourceTags/user:Team": "data", "resourceTags/aws:createdBy": "Root:1234"},
            {"resourceTags/user:Team": None, "resourceTags/aws:createdBy": "IAMUser:x"},
            {"resourceTags/user:Team": None, "resourceTags/aws:createdBy": None},
        ],
    )
    assert tags == [
        {"Team": "data", "aws:createdBy": "Root:1234"},
        {"aws:createdBy": "IAMUser:x"},
        None,
    ]


def test_tag_values_are_escaped_to_valid_json(aws_rules: FormatRules, cur_row, to_batch) -> None:
    nasty = 'say "hi"\\path\\to\nnext\r\tline\x01end ünïcødé 💸'
    tags = _tags_of(
        aws_rules,
        cur_row,
        to_batch,
        [{"resourceTags/user:Note": nasty, 'resourceTags/user:we"ird\\key': "v"}],
    )
    assert tags == [{"Note": 'say "hi"\\path\\to\nnext\r\tline end ünïcødé 💸', 'we"ird\\key': "v"}]


def test_no_tag_columns_gives_null(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row(), cur_row()])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.column("Tags").to_pylist() == [None, None]


def test_bare_prefix_column_is_not_a_tag(aws_rules: FormatRules, cur_row, to_batch) -> None:
    tags = _tags_of(aws_rules, cur_row, to_batch, [{"resourceTags/user:": "x", "resourceTags/user:k": "v"}])
    assert tags == [{"k": "v"}]


def test_extensions_null_when_all_sources_null(tmp_path: Path) -> None:
    doc = minimal_rules(extensions={"x_Id": "id", "x_Kind": "kind"})
    rules = load_rules(write(tmp_path, doc))
    raw = batch(
        cost=["1", "2"],
        cur=["USD", "USD"],
        start=["2024-01-01"] * 2,
        end=["2024-01-02"] * 2,
        account=["a", "a"],
    )
    raw = raw.append_column("id", pa.array(["id-1", None], pa.string()))
    res = convert_batch(raw, rules, file_id="f", batch_id="b", row_offset=0)
    ext = res.batch.column("x_Extensions").to_pylist()
    assert json.loads(ext[0]) == {"x_Id": "id-1"}
    assert ext[1] is None
