"""cloudops.focus.convert: the pure, columnar FOCUS conversion."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from cloudops.focus.columns import DECIMAL, FOCUS_COLUMNS, TIMESTAMP, focus_arrow_schema
from cloudops.focus.convert import (
    ConversionResult,
    convert_batch,
    parse_decimal,
    parse_timestamp,
    sum_by_currency,
)
from cloudops.focus.rules import FormatRules, rules_dir
from cloudops.focus.unmapped import unmapped_columns

GOLDEN_TOTAL = Decimal("1.6823086974")
TEN_PLACES = Decimal("1e-10")


def _strings(values: list[str | None]) -> pa.Array:
    return pa.array(values, pa.string())


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- golden sample


@pytest.fixture(scope="module")
def golden(cur_sample_rows: list[dict[str, str]], aws_rules: FormatRules) -> ConversionResult:
    columns = list(cur_sample_rows[0])
    raw = pa.RecordBatch.from_pydict(
        {c: pa.array([r[c] or None for r in cur_sample_rows], pa.string()) for c in columns}
    )
    return convert_batch(raw, aws_rules, file_id="file-1", batch_id="batch-1", row_offset=0)


@pytest.fixture(scope="module")
def golden_rows(golden: ConversionResult) -> list[dict[str, object]]:
    return golden.batch.to_pylist()


def test_golden_converts_every_row(golden: ConversionResult) -> None:
    assert golden.batch.num_rows == 1281
    assert golden.rejected == []
    assert golden.rows_in == 1281


def test_golden_billed_cost_equals_source_column_exactly(golden: ConversionResult, cur_sample_path: Path) -> None:
    # Independent of cloudops: Python's csv module and Decimal.
    with cur_sample_path.open(encoding="utf-8", newline="") as fh:
        source_sum = sum(
            (Decimal(r["lineItem/UnblendedCost"]) for r in csv.DictReader(fh) if r["lineItem/UnblendedCost"]),
            Decimal(0),
        )
    billed = golden.batch.column("BilledCost")
    assert billed.type == DECIMAL
    assert billed.null_count == 0
    landed = sum(billed.to_pylist(), Decimal(0))
    assert landed == GOLDEN_TOTAL
    assert source_sum == GOLDEN_TOTAL
    assert golden.source_totals == {"USD": GOLDEN_TOTAL}
    assert golden.rejected_totals == {}


def test_golden_billed_cost_row_by_row(golden_rows: list[dict], cur_sample_rows: list[dict[str, str]]) -> None:
    for out, src in zip(golden_rows, cur_sample_rows, strict=True):
        expected = Decimal(src["lineItem/UnblendedCost"]).quantize(TEN_PLACES, rounding=ROUND_HALF_EVEN)
        assert out["BilledCost"] == expected
        # No commitment discounts in the sample: every cost column is the unblended cost.
        assert out["EffectiveCost"] == expected
        assert out["ContractedCost"] == expected


def test_golden_schema_is_canonical(golden: ConversionResult) -> None:
    assert golden.batch.schema.names == focus_arrow_schema().names
    for field in golden.batch.schema:
        assert field.type == focus_arrow_schema().field(field.name).type


def test_golden_mandatory_columns_never_null(golden: ConversionResult) -> None:
    for col in FOCUS_COLUMNS:
        if not col.nullable:
            assert golden.batch.column(col.name).null_count == 0, col.name


def test_golden_charge_category(golden_rows: list[dict], cur_sample_rows: list[dict[str, str]]) -> None:
    tax_rows = [i for i, r in enumerate(cur_sample_rows) if r["lineItem/LineItemType"] == "Tax"]
    assert len(tax_rows) == 12
    assert tax_rows[0] == 0
    for i, (out, src) in enumerate(zip(golden_rows, cur_sample_rows, strict=True)):
        expected = "Tax" if i in tax_rows else "Usage"
        assert src["lineItem/LineItemType"] in ("Tax", "Usage")
        assert out["ChargeCategory"] == expected
        assert out["ChargeFrequency"] == "Usage-Based"
        assert out["ChargeClass"] is None


def test_golden_service_category_lookup(golden_rows: list[dict], cur_sample_rows: list[dict[str, str]]) -> None:
    with (rules_dir() / "aws_service_categories.csv").open(encoding="utf-8", newline="") as fh:
        table = {row[0]: row[1] for row in list(csv.reader(fh))[1:]}
    seen: dict[str, str] = {}
    for out, src in zip(golden_rows, cur_sample_rows, strict=True):
        code = src["lineItem/ProductCode"]
        assert out["ServiceCategory"] == table.get(code, "Other")
        seen[code] = out["ServiceCategory"]
    assert seen["AmazonS3"] == "Storage"
    assert seen["AWSGlue"] == "Analytics"
    assert seen["awskms"] == "Security"
    assert seen["AWSQueueService"] == "Integration"
    assert seen["AWSCloudTrail"] == "Management and Governance"
    assert seen["AWSCloudShell"] == "Other"  # not in the table -> default


def test_golden_first_row_values(golden_rows: list[dict]) -> None:
    row = golden_rows[0]
    assert row["ChargeCategory"] == "Tax"
    assert row["ChargeDescription"] == "Tax for product code AWSCloudTrail"
    assert row["ServiceName"] == "AWS CloudTrail"
    assert row["ServiceCategory"] == "Management and Governance"
    assert row["BillingAccountId"] == "123412340534"
    assert row["SubAccountId"] == "123412340534"
    assert row["BillingCurrency"] == "USD"
    assert row["InvoiceIssuerName"] == "Amazon Web Services Canada, Inc."
    assert row["BilledCost"] == Decimal(0)
    assert row["PricingQuantity"] is None  # FOCUS: no pricing quantity (or unit) on tax rows
    assert row["PricingUnit"] is None
    assert row["ConsumedQuantity"] is None  # only usage line items consume
    assert row["Tags"] is None


def test_golden_provider_constants(golden: ConversionResult) -> None:
    for name, value in [
        ("ProviderName", "AWS"),
        ("PublisherName", "AWS"),
        ("ServiceProviderName", "AWS"),
        ("HostProviderName", "AWS"),
        ("x_Provider", "aws"),
        ("x_SourceFormat", "aws-cur"),
        ("x_FileId", "file-1"),
        ("x_BatchId", "batch-1"),
    ]:
        assert set(golden.batch.column(name).to_pylist()) == {value}, name


def test_golden_timestamps_are_utc(golden_rows: list[dict], cur_sample_rows: list[dict[str, str]]) -> None:
    row = golden_rows[0]
    assert row["ChargePeriodStart"] == datetime(2023, 11, 1, tzinfo=UTC)
    assert row["BillingPeriodStart"] == datetime(2023, 11, 1, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2023, 12, 1, tzinfo=UTC)
    for out, src in zip(golden_rows, cur_sample_rows, strict=True):
        assert out["ChargePeriodStart"] == _iso(src["lineItem/UsageStartDate"])
        assert out["ChargePeriodEnd"] == _iso(src["lineItem/UsageEndDate"])
        assert out["ChargePeriodStart"].utcoffset().total_seconds() == 0


def test_golden_timestamp_types(golden: ConversionResult) -> None:
    for name in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
        assert golden.batch.column(name).type == TIMESTAMP
        assert golden.batch.column(name).type.tz == "UTC"


def test_golden_extensions_json(
    golden_rows: list[dict], cur_sample_rows: list[dict[str, str]], aws_rules: FormatRules
) -> None:
    sources = {
        "x_LineItemId": "identity/LineItemId",
        "x_LineItemType": "lineItem/LineItemType",
        "x_ProductCode": "lineItem/ProductCode",
        "x_UsageType": "lineItem/UsageType",
        "x_Operation": "lineItem/Operation",
    }
    # Every source column no rule reads is kept too, as x_<name> (nothing is dropped silently).
    unmapped = unmapped_columns(aws_rules, list(cur_sample_rows[0]))
    assert "bill/BillType" in unmapped
    assert "lineItem/BlendedCost" in unmapped
    assert "lineItem/UnblendedCost" not in unmapped  # BilledCost reads it
    sources |= {f"x_{name}": name for name in unmapped}
    for out, src in zip(golden_rows, cur_sample_rows, strict=True):
        parsed = json.loads(out["x_Extensions"])
        assert parsed == {k: src[v] for k, v in sources.items() if src[v]}
    assert json.loads(golden_rows[0]["x_Extensions"])["x_LineItemId"] == (
        "qmooz4hg3jabcdabcdabcdabcdabcdabcdabcdabcjqpgg7ep3a"
    )


def test_golden_row_numbers(golden: ConversionResult) -> None:
    assert golden.batch.column("x_RowNumber").to_pylist() == list(range(1281))


def test_conversion_is_deterministic(
    cur_sample_rows: list[dict[str, str]], aws_rules: FormatRules, golden: ConversionResult, to_batch
) -> None:
    raw = to_batch(cur_sample_rows)
    again = convert_batch(raw, aws_rules, file_id="file-1", batch_id="batch-1", row_offset=0)
    assert again.batch.equals(golden.batch)
    assert again.source_totals == golden.source_totals


def test_row_offset_numbers_rows(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row(), cur_row(), cur_row()])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=1000)
    assert res.batch.column("x_RowNumber").to_pylist() == [1000, 1001, 1002]


def test_empty_batch(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row()]).slice(0, 0)
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 0
    assert res.rejected == []
    assert res.source_totals == {}
    assert res.rejected_totals == {}


# --------------------------------------------------------------------------- decimals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "1"),
        ("0.5", "0.5"),
        ("1.81E-8", "0.0000000181"),
        ("1.3e-9", "0.0000000013"),
        ("1E+3", "1000"),
        ("-3.5", "-3.5"),
        ("-1.81E-8", "-0.0000000181"),
        ("  2.25\t", "2.25"),
        ("+.5", "0.5"),
        ("1.", "1"),
        ("00012", "12"),
        ("12345678901234567890.5", "12345678901234567890.5"),
    ],
)
def test_parse_decimal_valid(text: str, expected: str) -> None:
    values, bad = parse_decimal(_strings([text]))
    assert values.type == DECIMAL
    assert bad.to_pylist() == [False]
    assert values[0].as_py() == Decimal(expected)


@pytest.mark.parametrize("text", ["abc", "1,5", "NaN", "inf", "1.2.3", "--1", "0x10", "1e", "$5"])
def test_parse_decimal_garbage_is_bad(text: str) -> None:
    values, bad = parse_decimal(_strings(["7", text, "8"]))
    assert bad.to_pylist() == [False, True, False]
    assert values.to_pylist() == [Decimal(7), None, Decimal(8)]


@pytest.mark.parametrize("text", ["", " ", "\t", "  \u00a0 "])
def test_parse_decimal_blank_is_null_not_bad(text: str) -> None:
    values, bad = parse_decimal(_strings(["7", text, "8"]))
    assert bad.to_pylist() == [False, False, False]
    assert values.to_pylist() == [Decimal(7), None, Decimal(8)]


def test_parse_decimal_null_is_not_bad() -> None:
    values, bad = parse_decimal(_strings([None, "1"]))
    assert values.to_pylist() == [None, Decimal(1)]
    assert bad.to_pylist() == [False, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.12345678905", "0.1234567890"),  # tie, previous digit even: down
        ("0.12345678915", "0.1234567892"),  # tie, previous digit odd: up
        ("2.00000000025", "2.0000000002"),
        ("2.00000000035", "2.0000000004"),
        ("-0.12345678915", "-0.1234567892"),
        ("0.123456789049", "0.1234567890"),
        ("0.123456789051", "0.1234567891"),
        ("0.00000000005", "0"),
        ("1e-20", "0"),
        # More than 18 decimals: one rounding straight to 10 places, not 18 then 10.
        ("0.12345678905000000001", "0.1234567891"),
        ("0.1234567890123456789", "0.1234567890"),
    ],
)
def test_parse_decimal_rounds_half_even_to_ten_places(text: str, expected: str) -> None:
    values, bad = parse_decimal(_strings([text]))
    assert bad.to_pylist() == [False]
    assert values[0].as_py() == Decimal(expected)
    assert values[0].as_py() == Decimal(text).quantize(TEN_PLACES, rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize("text", ["1e30", "-1e30", "1e25", "123456789012345678901", "1e400", "9" * 60])
def test_parse_decimal_overflow_is_bad_not_a_crash(text: str) -> None:
    values, bad = parse_decimal(_strings([text]))
    assert bad.to_pylist() == [True]
    assert values.to_pylist() == [None]


def test_parse_decimal_overflow_in_a_batch_never_yields_a_wrong_value() -> None:
    # Arrow's cast wraps "1e30" around to a 20-digit number when the rest of the batch casts fine.
    values, bad = parse_decimal(_strings(["1e30", "0.5", "1.81E-8", " -2 "]))
    assert bad.to_pylist() == [True, False, False, False]
    assert values.to_pylist() == [None, Decimal("0.5"), Decimal("1.81E-8"), Decimal(-2)]


def test_parse_decimal_slow_path_keeps_large_valid_values() -> None:
    # The 19-decimal value forces the per-value path; the 11-digit value must still parse.
    values, bad = parse_decimal(_strings(["12345678901.5", "0.1234567890123456789", "oops", None]))
    assert bad.to_pylist() == [False, False, True, False]
    assert values.to_pylist() == [Decimal("12345678901.5"), Decimal("0.1234567890"), None, None]


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-01T00:00:00.000Z", datetime(2023, 11, 1, tzinfo=UTC)),
        ("2023-11-01T00:00:00Z", datetime(2023, 11, 1, tzinfo=UTC)),
        ("2023-11-01T02:00:00+02:00", datetime(2023, 11, 1, tzinfo=UTC)),
        ("2023-11-01T00:00:00-05:00", datetime(2023, 11, 1, 5, tzinfo=UTC)),
        ("2023-11-01T00:00:00+0530", datetime(2023, 10, 31, 18, 30, tzinfo=UTC)),
        ("2023-11-01T07:08:09", datetime(2023, 11, 1, 7, 8, 9, tzinfo=UTC)),  # naive: UTC
        ("2023-11-01 07:08:09", datetime(2023, 11, 1, 7, 8, 9, tzinfo=UTC)),
        ("2023-11-01T07:08Z", datetime(2023, 11, 1, 7, 8, tzinfo=UTC)),
        ("2023-11-01", datetime(2023, 11, 1, tzinfo=UTC)),  # date only: midnight UTC
        ("2023-11-01T00:00:00.123456789Z", datetime(2023, 11, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2023-11-01T00:00:00.1234567+01:00", datetime(2023, 10, 31, 23, 0, 0, 123456, tzinfo=UTC)),
        ("2023-11-01T00:00:00.5", datetime(2023, 11, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_iso(text: str, expected: datetime) -> None:
    values, bad = parse_timestamp(_strings([text]))
    assert values.type == TIMESTAMP
    assert bad.to_pylist() == [False]
    assert values[0].as_py() == expected


@pytest.mark.parametrize(
    "text",
    ["nope", "2023-13-01T00:00:00Z", "2023-02-30", "01/11/2023", "2023-11-01T25:00:00Z", "20231101"],
)
def test_parse_timestamp_invalid_is_bad(text: str) -> None:
    values, bad = parse_timestamp(_strings(["2024-01-01T00:00:00Z", text, None]))
    assert bad.to_pylist() == [False, True, False]
    assert values.to_pylist() == [datetime(2024, 1, 1, tzinfo=UTC), None, None]


@pytest.mark.parametrize("fmt", [None, "%m/%d/%Y %H:%M:%S"])
def test_parse_timestamp_blank_is_null_not_bad(fmt: str | None) -> None:
    values, bad = parse_timestamp(_strings(["", "   ", None]), fmt)
    assert bad.to_pylist() == [False, False, False]
    assert values.to_pylist() == [None, None, None]


def test_parse_timestamp_strptime_format() -> None:
    values, bad = parse_timestamp(_strings(["11/01/2023 13:45:00", "2023-11-01T00:00:00Z", None]), "%m/%d/%Y %H:%M:%S")
    assert values.type == TIMESTAMP
    assert bad.to_pylist() == [False, True, False]
    assert values.to_pylist() == [datetime(2023, 11, 1, 13, 45, tzinfo=UTC), None, None]


def test_parse_timestamp_strptime_with_zone() -> None:
    values, bad = parse_timestamp(_strings(["2023-11-01 01:00:00 +0100"]), "%Y-%m-%d %H:%M:%S %z")
    assert bad.to_pylist() == [False]
    assert values.type == TIMESTAMP
    assert values[0].as_py() == datetime(2023, 11, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- rejections


def test_unparseable_cost_is_rejected_with_reason(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row(), cur_row({"lineItem/UnblendedCost": "twelve"}), cur_row()])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=10)
    assert res.batch.num_rows == 2
    assert res.batch.column("x_RowNumber").to_pylist() == [10, 12]
    (rej,) = res.rejected
    assert rej.row_number == 11
    assert rej.reason == "BilledCost: not a valid decimal value in lineItem/UnblendedCost: 'twelve'"
    assert json.loads(rej.raw)["lineItem/UnblendedCost"] == "twelve"
    # An unreadable cost counts nowhere: it cannot be summed.
    assert res.source_totals == {"USD": Decimal("1.0")}
    assert res.rejected_totals == {}


def test_overflowing_cost_is_rejected(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row({"lineItem/UnblendedCost": "1e30"}), cur_row()])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 1
    assert [r.reason for r in res.rejected] == [
        "BilledCost: not a valid decimal value in lineItem/UnblendedCost: '1e30'"
    ]
    assert res.source_totals == {"USD": Decimal("0.5")}


def test_bad_timestamp_is_rejected(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row({"lineItem/UsageStartDate": "yesterday"}), cur_row()])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 1
    (rej,) = res.rejected
    assert rej.row_number == 0
    assert rej.reason == "ChargePeriodStart: not a valid datetime value in lineItem/UsageStartDate: 'yesterday'"
    # The cost was readable, so it is accounted for as rejected.
    assert res.rejected_totals == {"USD": Decimal("0.5")}


def test_bad_decimal_mandatory_for_the_row_rejects_it(aws_rules: FormatRules, cur_row, to_batch) -> None:
    # FOCUS: ConsumedQuantity MUST NOT be null on a Usage row that is not a correction.
    raw = to_batch(
        [cur_row({"lineItem/UsageAmount": "n/a", "lineItem/UnblendedCost": "0.25", "lineItem/LineItemType": "Usage"})]
    )
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert [r.reason for r in res.rejected] == [
        "ConsumedQuantity: not a valid decimal value in lineItem/UsageAmount: 'n/a'"
    ]
    assert res.source_totals == res.rejected_totals == {"USD": Decimal("0.25")}
    assert res.warnings == []


@pytest.mark.parametrize("line_item_type", ["Usage", "Tax"])
@pytest.mark.parametrize("blank", ["", " ", "\t  "])
def test_blank_optional_decimal_is_null_without_warning(
    aws_rules: FormatRules, cur_row, to_batch, line_item_type: str, blank: str
) -> None:
    blanks = {"lineItem/UsageAmount": blank, "lineItem/UnblendedRate": blank}
    raw = to_batch([cur_row({**blanks, "lineItem/LineItemType": line_item_type})])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.rejected == []
    assert res.warnings == []
    out = res.batch.to_pylist()[0]
    assert out["ConsumedQuantity"] is None
    assert out["ContractedUnitPrice"] is None


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("bill/PayerAccountId", "BillingAccountId: mandatory value missing (from bill/PayerAccountId)"),
        ("lineItem/UnblendedCost", "BilledCost: mandatory value missing (from lineItem/UnblendedCost)"),
        ("bill/InvoicingEntity", "InvoiceIssuerName: mandatory value missing (from bill/InvoicingEntity)"),
        ("lineItem/UsageEndDate", "ChargePeriodEnd: mandatory value missing (from lineItem/UsageEndDate)"),
    ],
)
def test_missing_mandatory_value_rejects_only_that_row(
    aws_rules: FormatRules, cur_row, to_batch, missing: str, reason: str
) -> None:
    raw = to_batch([cur_row(), cur_row({missing: None}), cur_row({"lineItem/UnblendedCost": "2"})])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 2
    assert len(res.rejected) == 1
    assert res.rejected[0].row_number == 1
    assert res.rejected[0].reason == reason
    assert missing not in json.loads(res.rejected[0].raw)


def test_service_name_missing_everywhere_names_all_sources(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row({"product/ProductName": None, "lineItem/ProductCode": None})])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert [r.reason for r in res.rejected] == [
        "ServiceName: mandatory value missing (from product/ProductName / product/servicename / lineItem/ProductCode)"
    ]


def test_first_reason_wins(aws_rules: FormatRules, cur_row, to_batch) -> None:
    raw = to_batch([cur_row({"lineItem/UnblendedCost": "x", "bill/PayerAccountId": None})])
    res = convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0)
    # An unreadable value is reported before a missing one.
    assert [r.reason for r in res.rejected] == ["BilledCost: not a valid decimal value in lineItem/UnblendedCost: 'x'"]


def test_totals_reconcile_exactly_per_currency(aws_rules: FormatRules, cur_row, to_batch) -> None:
    rows = [
        cur_row({"lineItem/UnblendedCost": "0.0000000001", "lineItem/CurrencyCode": "USD"}),
        cur_row({"lineItem/UnblendedCost": "1.81E-8", "lineItem/CurrencyCode": "USD"}),
        cur_row({"lineItem/UnblendedCost": "-3.3", "lineItem/CurrencyCode": "EUR"}),
        cur_row({"lineItem/UnblendedCost": "10.01", "lineItem/CurrencyCode": "EUR", "bill/PayerAccountId": None}),
        cur_row({"lineItem/UnblendedCost": "7", "lineItem/CurrencyCode": "USD", "lineItem/UsageEndDate": "?"}),
        cur_row({"lineItem/UnblendedCost": "bad", "lineItem/CurrencyCode": "USD"}),
        cur_row({"lineItem/UnblendedCost": "4.5", "lineItem/CurrencyCode": None}),
        cur_row({"lineItem/UnblendedCost": "0.1", "lineItem/CurrencyCode": "JPY"}),
    ]
    res = convert_batch(to_batch(rows), aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 4
    assert sorted(r.row_number for r in res.rejected) == [3, 4, 5, 6]
    assert res.rows_in == 8
    assert res.source_totals == {
        "USD": Decimal("7.0000000182"),
        "EUR": Decimal("6.71"),
        "": Decimal("4.5"),
        "JPY": Decimal("0.1"),
    }
    assert res.rejected_totals == {"EUR": Decimal("10.01"), "USD": Decimal(7), "": Decimal("4.5")}
    landed = sum_by_currency(res.batch.column("BilledCost"), res.batch.column("BillingCurrency"))
    for cur in set(res.source_totals) | set(res.rejected_totals) | set(landed):
        assert res.source_totals.get(cur, Decimal(0)) == landed.get(cur, Decimal(0)) + res.rejected_totals.get(
            cur, Decimal(0)
        ), cur


def test_sum_by_currency() -> None:
    values = pa.array([Decimal("1.1"), Decimal("2.2"), None, Decimal("3")], DECIMAL)
    currency = _strings(["USD", "USD", "EUR", None])
    assert sum_by_currency(values, currency) == {"USD": Decimal("3.3"), "": Decimal(3)}
    assert sum_by_currency(pa.array([], DECIMAL), _strings([])) == {}


def test_sample_with_sparse_tags_converts_every_row(
    cur_sample_rows: list[dict[str, str]], aws_rules: FormatRules, to_batch
) -> None:
    # Real CURs carry resourceTags/* columns that are empty on most rows.
    rows = [
        {**r, "resourceTags/user:Team": "data" if i % 100 == 0 else "", "resourceTags/aws:createdBy": ""}
        for i, r in enumerate(cur_sample_rows)
    ]
    res = convert_batch(to_batch(rows), aws_rules, file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 1281
    assert res.rejected == []
    tags = res.batch.column("Tags").to_pylist()
    assert [i for i, t in enumerate(tags) if t is not None] == list(range(0, 1281, 100))
    assert {t for t in tags if t is not None} == {'{"Team":"data"}'}
    assert sum(res.batch.column("BilledCost").to_pylist(), Decimal(0)) == GOLDEN_TOTAL
