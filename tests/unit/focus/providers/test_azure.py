"""Azure formats: Cost Management cost details exports (azure-ea, azure-mca, azure-payg) and Microsoft's FOCUS
export (azure-focus). Detection against the other providers' headers, the engine features these rules brought
(header_names, add_days, drop_unmapped, month_start with a format), the lookup tables, and what the golden
fixtures in tests/fixtures/azure do not pin down on their own (actual + amortised semantics, valid values)."""

from __future__ import annotations

import csv
import filecmp
import importlib.util
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.detect import canonical_header, detect_format
from cloudops.focus.expr import evaluate
from cloudops.focus.rules import Expr, FormatRules, RulesError, load_all_rules, load_lookup, load_rules, rules_dir
from cloudops.focus.validate import load_model
from cloudops.sources.converter import open_conversion

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
AZURE = FIXTURES / "azure"
AZURE_IDS = {"azure-ea", "azure-mca", "azure-payg", "azure-focus"}
RULE_FILES = ["azure_ea.yaml", "azure_mca.yaml", "azure_payg.yaml", "azure_focus.yaml"]


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def _convert(path: Path) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    conv = open_conversion(path, source=str(path), file_id="test", block_size=1 << 16)
    rows: list[dict[str, Any]] = []
    rejected: list[Any] = []
    for result, malformed in conv.chunks():
        rejected += malformed
        if result is not None:
            rejected += result.rejected
            rows += result.batch.to_pylist()
    return conv, rows, rejected


def _azure_fixtures() -> Iterator[Path]:
    for expected in sorted(AZURE.rglob("*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        yield next(p for p in expected.parent.iterdir() if p.name == stem + ".csv")


@pytest.fixture(scope="module")
def converted() -> dict[Path, list[dict[str, Any]]]:
    """FOCUS rows of every Azure golden fixture, converted once for the module."""
    return {path: _convert(path)[1] for path in _azure_fixtures()}


def _rules(rules_id: str) -> FormatRules:
    return next(r for r in load_all_rules() if r.id == rules_id)


# --- detection ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "rules_id"),
    [
        ("ea_actual_small.csv", "azure-ea"),
        ("ea_focus_converters.csv", "azure-ea"),
        ("opencost/headersets__Enterprise.csv", "azure-ea"),
        ("opencost/headersets__EnterpriseCamel.csv", "azure-mca"),
        ("synthetic/mca_actual.csv", "azure-mca"),
        ("opencost/headersets__PayAsYouGo.csv", "azure-payg"),
        ("opencost/headersets__BOM.csv", "azure-payg"),
        ("opencost/headersets__German.csv", "azure-payg"),
        ("opencost/headersets__YA.csv", "azure-payg"),
        ("opencost/values__MissingBrackets.csv", "azure-payg"),
        ("synthetic/focus_1_0.csv", "azure-focus"),
        ("synthetic/focus_1_2_preview.csv", "azure-focus"),
    ],
)
def test_azure_header_sets_are_detected(fixture: str, rules_id: str) -> None:
    assert detect_format(_header(AZURE / fixture)).id == rules_id


def test_bom_is_stripped_before_detection() -> None:
    raw = (AZURE / "opencost" / "headersets__BOM.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader([raw.decode("utf-8").splitlines()[0]]))  # BOM kept on purpose
    assert header[0] == "\ufeffSubscriptionGuid"
    assert detect_format(header).id == "azure-payg"
    assert canonical_header(header, _rules("azure-payg"))[0] == "SubscriptionGuid"


def test_localised_headers_use_the_english_name_in_parentheses() -> None:
    german = _header(AZURE / "opencost" / "headersets__German.csv")
    names = canonical_header(german, _rules("azure-payg"))
    assert names[:4] == ["SubscriptionGuid", "ResourceGroup", "ResourceLocation", "UsageDateTime"]
    assert "UnitOfMeasure" in names
    assert "MeterSubcategory" in names
    # Any language: the rules need the English name only (here French, invented for the test).
    french = [
        "ID d'abonnement (SubscriptionGuid)",
        "Date d'utilisation (UsageDateTime)",
        "Catégorie du compteur (MeterCategory)",
        "Coût avant taxes (PreTaxCost)",
        "Devise (Currency)",
    ]
    assert detect_format(french).id == "azure-payg"
    ea_localised = [
        "Abrechnungskonto-ID (BillingAccountId)",
        "Abonnement-ID (SubscriptionId)",
        "Datum (Date)",
        "Kosten (CostInBillingCurrency)",
        "Gebührentyp (ChargeType)",
        "Währung (BillingCurrencyCode)",
    ]
    assert detect_format(ea_localised).id == "azure-ea"


def test_ea_and_mca_are_told_apart_by_the_pricing_currency_columns() -> None:
    ea = _header(AZURE / "synthetic" / "ea_commitments_actual.csv")
    assert detect_format(ea).id == "azure-ea"
    assert detect_format([*ea, "PricingCurrencyCode", "ExchangeRatePricingToBilling"]).id == "azure-mca"
    # camelCase alone does not make a file MCA.
    assert detect_format([h[:1].lower() + h[1:] for h in ea]).id == "azure-ea"


def test_usage_only_rules_never_take_a_file_with_charge_types() -> None:
    payg = _header(AZURE / "opencost" / "headersets__PayAsYouGo.csv")
    with pytest.raises(BadDataError, match="matches no rules"):
        detect_format([*payg, "ChargeType"])


def test_azure_focus_needs_microsofts_x_columns() -> None:
    azure_focus = _header(AZURE / "synthetic" / "focus_1_2_preview.csv")
    assert detect_format(azure_focus).id == "azure-focus"
    plain = [h for h in azure_focus if not h.startswith("x_")]
    assert detect_format(plain).id.startswith("focus-")  # a generic FOCUS file, not Microsoft's


def test_other_providers_fixtures_are_not_detected_as_azure_and_azure_not_as_others() -> None:
    """Every golden fixture's header goes to its own format (the other providers' real headers)."""
    checked = 0
    for expected in sorted(FIXTURES.rglob("*.expected.json")):
        want = json.loads(expected.read_text())["format"]
        stem = expected.name.removesuffix(".expected.json")
        data = next(p for p in expected.parent.iterdir() if p.name.startswith(stem + ".") and p != expected)
        if data.suffix != ".csv":
            continue
        got = detect_format(_header(data)).id
        assert (got in AZURE_IDS) == (want in AZURE_IDS), f"{data}: detected {got}, expected {want}"
        checked += 1
    assert checked >= 15


def test_priorities() -> None:
    prio = {r.id: r.priority for r in load_all_rules()}
    assert prio["azure-focus"] == 20
    assert prio["azure-focus"] > max(v for k, v in prio.items() if k.startswith("focus-"))
    assert prio["azure-mca"] > prio["azure-ea"] > prio["azure-payg"]


# --- whole-file behaviour -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["MissingBrackets", "Template", "VirtualMachine"])
def test_file_without_a_currency_column_is_one_clear_error(name: str) -> None:
    path = AZURE / "opencost" / f"values__{name}.csv"
    with pytest.raises(BadDataError) as err:
        open_conversion(path, source=str(path), file_id="t", block_size=1 << 16)
    assert "missing required columns for azure-payg: Currency" in str(err.value)
    assert str(path) in str(err.value)


def test_bom_file_row_without_cost_is_rejected() -> None:
    """OpenCost's BOM.csv: the pay-as-you-go header behind a byte-order mark, one row with only a date.

    (Not a golden fixture: its FOCUS output is empty, which the official validator cannot judge.)"""
    conv, rows, rejected = _convert(AZURE / "opencost" / "headersets__BOM.csv")
    assert conv.rules.id == "azure-payg"
    assert (conv.rows_in, conv.rows_rejected, rows) == (1, 1, [])
    assert conv.source_totals == {}
    assert len(rejected) == 1
    assert rejected[0].row_number == 0
    assert "BilledCost: mandatory value missing (from PreTaxCost)" in rejected[0].reason


def test_short_rows_are_rejected_as_malformed(tmp_path: Path) -> None:
    """OpenCost's Template.csv rows lack the last field: with a currency column added after it (and no
    padding) every record is one field short and is rejected with its line, never shifted."""
    src = (AZURE / "opencost" / "values__Template.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "short.csv"
    path.write_text("\n".join([src[0] + ",billingcurrency", *(line + ",USD" for line in src[1:4])]) + "\n")
    conv, rows, rejected = _convert(path)
    assert (conv.rows_in, conv.rows_rejected, rows) == (3, 3, [])
    assert all("malformed CSV record: 11 fields, expected 12" in r.reason for r in rejected)


def test_actual_plus_amortised_commitments_reconcile_as_microsoft_describes() -> None:
    """Microsoft's recipe: all amortised rows + the actual file's commitment purchases and refunds.

    The union's BilledCost is the actual (invoice) total and its EffectiveCost the amortised total;
    commitment usage and unused commitment are billed 0, commitment purchases are effective 0.
    """
    _, actual, _ = _convert(AZURE / "synthetic" / "ea_commitments_actual.csv")
    _, amortised, _ = _convert(AZURE / "synthetic" / "ea_commitments_amortized.csv")
    purchases = [
        r
        for r in actual
        if r["ChargeCategory"] == "Purchase" and r["CommitmentDiscountType"] in ("Reservation", "Savings Plan")
    ]
    assert len(purchases) == 3  # reservation, savings plan, reservation refund
    union = amortised + purchases

    def total(rows: list[dict[str, Any]], col: str) -> Decimal:
        return sum((r[col] for r in rows), Decimal(0))

    assert total(union, "BilledCost") == total(actual, "BilledCost") == Decimal("221.320487")
    assert total(union, "EffectiveCost") == total(amortised, "EffectiveCost") == Decimal("261.320487")
    # A commitment's used + unused amortised cost is its billed purchase (FOCUS DiscountHandling).
    for cd_type, purchase in (("Reservation", Decimal("3.3")), ("Savings Plan", Decimal("2"))):
        amortised_rows = [r for r in amortised if r["CommitmentDiscountType"] == cd_type]
        assert {r["CommitmentDiscountStatus"] for r in amortised_rows} == {"Used", "Unused"}
        assert total(amortised_rows, "EffectiveCost") == purchase
        assert total(amortised_rows, "BilledCost") == 0


def test_every_azure_fixture_row_has_valid_focus_values(converted: dict[Path, list[dict[str, Any]]]) -> None:
    model = load_model()["ModelRules"]
    pairs = {
        item["Items"][0]["Value"]: item["Items"][1]["Value"]
        for item in model["ServiceSubcategory-C-004-M"]["ValidationCriteria"]["Requirement"]["Items"]
    }
    categories = set(pairs.values())
    seen = 0
    for path, rows in converted.items():
        for r in rows:
            seen += 1
            where = f"{path.name} row {r['x_RowNumber']}"
            assert r["ChargeCategory"] in {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}, where
            assert r["ChargeClass"] in {None, "Correction"}, where
            assert r["ChargeFrequency"] in {"One-Time", "Recurring", "Usage-Based"}, where
            assert not (r["ChargeCategory"] == "Purchase" and r["ChargeFrequency"] == "Usage-Based"), where
            assert r["PricingCategory"] in {None, "Standard", "Dynamic", "Committed", "Other"}, where
            if r["ChargeCategory"] in ("Usage", "Purchase"):
                assert r["PricingCategory"] is not None, where
            if r["ChargeCategory"] == "Tax":
                assert r["PricingCategory"] is None, where
            assert r["CommitmentDiscountStatus"] in {None, "Used", "Unused"}, where
            assert r["CommitmentDiscountCategory"] in {None, "Spend", "Usage"}, where
            if r["CommitmentDiscountStatus"] is not None:
                assert r["ChargeCategory"] == "Usage", where
                assert r["CommitmentDiscountId"] is not None, where
            if r["CommitmentDiscountStatus"] == "Unused" or r["ChargeCategory"] != "Usage":
                assert r["ConsumedQuantity"] is None, where
            assert (r["ConsumedQuantity"] is None) == (r["ConsumedUnit"] is None), where
            assert r["ServiceCategory"] in categories, where
            assert pairs.get(r["ServiceSubcategory"]) == r["ServiceCategory"], where
            if r["SkuId"] is None:
                assert r["SkuMeter"] is None, where
            for col in ("Tags", "x_Extensions"):
                if r[col] is not None:
                    assert isinstance(json.loads(r[col]), dict), f"{where} {col}: {r[col]}"
            if r["ChargePeriodEnd"] is not None:
                assert r["ChargePeriodEnd"] > r["ChargePeriodStart"], where
            assert r["BillingPeriodEnd"] > r["BillingPeriodStart"], where
    assert seen > 150


def test_service_name_has_one_category_across_all_fixtures(converted: dict[Path, list[dict[str, Any]]]) -> None:
    by_name: dict[str, set[str]] = {}
    for rows in converted.values():
        for r in rows:
            by_name.setdefault(r["ServiceName"], set()).add(r["ServiceCategory"])
    assert {k: v for k, v in by_name.items() if len(v) > 1} == {}


# --- rules and lookup tables ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULE_FILES)
def test_rules_files_load(name: str) -> None:
    rules = load_rules(rules_dir() / name)
    assert rules.provider == "azure"
    assert rules.id in AZURE_IDS


@pytest.mark.parametrize(
    "name",
    [
        "azure_region_ids.csv",
        "azure_region_names.csv",
        "azure_service_names.csv",
        "azure_service_categories.csv",
        "azure_service_subcategories.csv",
        "azure_service_name_categories.csv",
        "azure_service_name_subcategories.csv",
        "azure_pricing_block_sizes.csv",
        "azure_pricing_units.csv",
        "azure_consumed_units.csv",
    ],
)
def test_lookup_tables_are_two_columns_with_unique_keys(name: str) -> None:
    with (rules_dir() / name).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert all(len(row) == 2 for row in rows), name
    keys = [row[0] for row in rows[1:]]
    assert len(keys) == len(set(keys)), name
    assert all(row[1] for row in rows[1:]), name
    assert len(load_lookup(name)) == len(keys)


def test_service_tables_only_use_focus_values() -> None:
    model = load_model()["ModelRules"]
    pairs = {
        item["Items"][0]["Value"]: item["Items"][1]["Value"]
        for item in model["ServiceSubcategory-C-004-M"]["ValidationCriteria"]["Requirement"]["Items"]
    }
    categories = load_lookup("azure_service_name_categories.csv")
    for service, sub in load_lookup("azure_service_name_subcategories.csv").items():
        assert pairs[sub] == categories[service], service
    for table in ("azure_service_categories.csv", "azure_service_name_categories.csv"):
        assert set(load_lookup(table).values()) <= set(pairs.values())
    assert set(load_lookup("azure_service_subcategories.csv").values()) <= set(pairs)
    blocks = load_lookup("azure_pricing_block_sizes.csv")
    assert (blocks["10K"], blocks["1 Hour"], blocks["100 Hours"]) == ("10000", "1", "100")
    assert load_lookup("azure_pricing_units.csv")["10K"] == "10000 Units"
    assert load_lookup("azure_region_ids.csv")["us east"] == "eastus"


# --- engine features used by the Azure rules -------------------------------------------------------------


def _batch(**cols: list[Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in cols.items()})


def test_add_days_parses_with_the_format_and_flags_bad_dates() -> None:
    expr = Expr.model_validate({"from": "d", "format": ["%m/%d/%Y", "%Y-%m-%d"], "add_days": 1})
    values, bad = evaluate(expr, _batch(d=["09/30/2023", "2023-12-31", None, "13/45/2024"]))
    assert [v.isoformat() if v else None for v in values.to_pylist()] == [
        "2023-10-01T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
        None,
        None,
    ]
    assert bad is not None
    assert bad.to_pylist() == [False, False, False, True]


def test_month_start_and_end_honour_the_inner_format() -> None:
    inner = {"from": "d", "format": ["%m/%d/%Y"]}
    batch = _batch(d=["9/2/2023", "12/31/2023", "bad"])
    start, bad = evaluate(Expr.model_validate({"month_start": inner}), batch)
    end, _ = evaluate(Expr.model_validate({"month_end": inner}), batch)
    assert [v.date().isoformat() if v else None for v in start.to_pylist()] == ["2023-09-01", "2023-12-01", None]
    assert [v.date().isoformat() if v else None for v in end.to_pylist()] == ["2023-10-01", "2024-01-01", None]
    assert bad is not None
    assert bad.to_pylist() == [False, False, True]


def test_drop_unmapped_turns_unknown_keys_into_null() -> None:
    batch = _batch(loc=["EastUS2", "Nowhere", None])
    kept, _ = evaluate(Expr.model_validate({"from": "loc", "lower": True, "lookup": "azure_region_ids.csv"}), batch)
    dropped, _ = evaluate(
        Expr.model_validate({"from": "loc", "lower": True, "lookup": "azure_region_ids.csv", "drop_unmapped": True}),
        batch,
    )
    assert kept.to_pylist() == ["eastus2", "nowhere", None]
    assert dropped.to_pylist() == ["eastus2", None, None]
    with pytest.raises(ValueError, match="drop_unmapped needs map or lookup"):
        Expr.model_validate({"from": "loc", "drop_unmapped": True})


def _minimal(**extra: Any) -> dict[str, Any]:
    from cloudops.focus.columns import FOCUS_COLUMNS

    columns = {c.name: {"const": "x"} for c in FOCUS_COLUMNS if not c.nullable}
    return {
        "id": "t",
        "provider": "azure",
        "title": "t",
        "detect": {"all_of": ["A"]},
        "reconcile": {"cost": {"const": "0"}, "currency": {"const": "USD"}},
        "columns": columns,
        **extra,
    }


def test_header_names_regex_is_validated_and_applied() -> None:
    rules = FormatRules.model_validate(_minimal(header_names=r"\(([A-Za-z]+)\)\s*$", aliases={"Cost": ["PreTaxCost"]}))
    names = rules.canonical_names(["Kosten (PreTaxCost)", "Datum (Date)", "Plain", "\ufeffTags (Tags) "])
    assert names == {"Kosten (PreTaxCost)": "Cost", "Datum (Date)": "Date", "\ufeffTags (Tags) ": "Tags"}
    with pytest.raises(ValueError, match="needs a capturing group"):
        FormatRules.model_validate(_minimal(header_names=r"\(\w+\)"))
    with pytest.raises(ValueError, match="not a regular expression"):
        FormatRules.model_validate(_minimal(header_names=r"(unclosed"))


def test_invalid_rules_file_is_a_rules_error(tmp_path: Path) -> None:
    text = (rules_dir() / "azure_payg.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("header_names: '", "header_names: '(("), encoding="utf-8")
    with pytest.raises(RulesError, match=r"bad\.yaml"):
        load_rules(bad)


# --- fixtures -------------------------------------------------------------------------------------------


def test_focus_fixtures_have_exactly_microsofts_columns() -> None:
    for fixture, meta in (
        ("focus_1_2_preview.csv", "FocusCost_1.2-preview.json"),
        ("focus_1_0.csv", "FocusCost_1.0.json"),
    ):
        columns = [c["ColumnName"] for c in json.loads((AZURE / "metadata" / meta).read_text())["Columns"]]
        assert _header(AZURE / "synthetic" / fixture) == columns


def test_derived_and_synthetic_fixtures_are_what_the_builder_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("azure_build_fixtures", AZURE / "build_fixtures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv"))
    assert len(built) == 9
    for rel in built:
        assert filecmp.cmp(tmp_path / rel, AZURE / rel, shallow=False), f"{rel} differs from build_fixtures.py"


def test_costs_with_more_than_18_decimals_round_exactly_and_stay_columnar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure writes costs such as 0.0000000072922557592391990000: half-even to 10 places, exactly as
    Python's Decimal does, without the per-row fallback (ties and sticky digits included)."""
    import random
    from decimal import ROUND_HALF_EVEN

    from cloudops.focus import values

    rng = random.Random(7)
    texts = [
        "0.0000000072922557592391990000",
        "1.00000000005000000000001",
        "1.000000000050000000000000",
        "-2.00000000015000000000000",
        "0.0001188669167459011366",
        "12.5",
        None,
    ]
    for _ in range(300):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(19, 28)))
        texts.append(f"{rng.choice(['', '-'])}{rng.randint(0, 10**6)}.{digits}")
    monkeypatch.setattr(values, "localcontext", None)  # the per-row fallback must not run
    parsed, bad = values.parse_decimal(pa.array(texts, pa.string()))
    assert not any(bad.to_pylist())
    want = [None if t is None else Decimal(t).quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN) for t in texts]
    assert parsed.to_pylist() == want


@pytest.mark.parametrize(
    ("fixture", "charge_type", "quantity"),
    [
        ("mca_actual.csv", "chargeType", "quantity"),
        ("ea_commitments_actual.csv", "ChargeType", "Quantity"),
    ],
)
def test_tax_rows_have_no_pricing_quantity_or_unit(
    tmp_path: Path, fixture: str, charge_type: str, quantity: str
) -> None:
    """FOCUS PricingQuantity-C-004-C: null on Tax, even where the export writes a quantity there."""
    with (AZURE / "synthetic" / fixture).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]
    tax = {**first, charge_type: "Tax", quantity: "1"}
    out = tmp_path / fixture
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(first))
        writer.writeheader()
        writer.writerows([first, tax])
    _, converted, rejected = _convert(out)
    assert rejected == []
    assert [(r["ChargeCategory"], r["PricingQuantity"] is None, r["PricingUnit"] is None) for r in converted] == [
        ("Usage", False, False),
        ("Tax", True, True),
    ]
