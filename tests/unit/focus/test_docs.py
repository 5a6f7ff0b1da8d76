"""docs/mappings.md is generated from the rules files and must match them."""

from __future__ import annotations

from pathlib import Path

from cloudops.focus.docs import render_expr, render_mappings, render_rules
from cloudops.focus.rules import Expr, load_all_rules

DOC = Path(__file__).parents[3] / "docs" / "mappings.md"


def test_mappings_doc_is_current() -> None:
    rendered = render_mappings(load_all_rules())
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == rendered, (
        "docs/mappings.md does not match the rules files: regenerate it with "
        "`.venv/bin/python scripts/render-mappings.py`"
    )


def test_every_rules_file_and_column_is_documented() -> None:
    text = render_mappings(load_all_rules())
    for rules in load_all_rules():
        assert f"(`{rules.id}`)" in text
        section = render_rules(rules)
        for column in rules.columns:
            assert f"| {column} |" in section


def _e(data: object) -> Expr:
    return Expr.model_validate(data)


def test_expressions_render_readably() -> None:
    assert render_expr(_e("lineItem/UnblendedCost")) == "`lineItem/UnblendedCost`"
    assert render_expr(_e({"from": "a", "required": True})) == "`a` (required)"
    assert render_expr(_e({"coalesce": ["a", {"const": "x"}]})) == '`a` ?? "x"'
    cases = _e(
        {
            "cases": [{"when": {"column": "t", "in": ["Tax", "Fee"]}, "then": {"const": "Tax"}}],
            "else": {"none": True},
        }
    )
    assert render_expr(cases) == 'cases: `t` in [Tax, Fee] -> "Tax"; else null'
    mapped = _e({"from": "t", "map": {"A": "B"}, "default": "Other"})
    assert render_expr(mapped) == '`t` · map {A: B}, default "Other"'
    assert render_expr(_e({"sub": ["a", {"neg": "b"}]})) == "`a` - (-`b`)"
    assert render_expr(_e({"map_get": {"column": "labels", "key": "env"}})) == '`labels`["env"]'
    assert render_expr(_e({"sum_list": {"column": "credits", "field": "amount"}})) == "sum of `credits`[].amount"
    assert render_expr(_e({"month_start": {"from": "month"}})) == "month start of `month`"
    lookup = _e({"from": "code", "lookup": "aws_service_categories.csv", "default": "Other"})
    assert render_expr(lookup) == '`code` · lookup aws_service_categories.csv, default "Other"'


def test_table_cells_escape_pipes() -> None:
    rules = load_all_rules()[0]
    section = render_rules(rules)
    for line in section.splitlines():
        if line.startswith("| ") and " | " in line and not line.startswith("|---"):
            assert line.endswith(" |")
