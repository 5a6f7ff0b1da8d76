"""cloudops.topics.codec: JSON records and Arrow IPC batches on the wire."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.columns import focus_arrow_schema
from cloudops.focus.convert import convert_batch
from cloudops.focus.rules import FormatRules
from cloudops.schemas.events import BillingFile, BillingLoaded, DeadLetter, FocusBatchEnvelope, RejectedRow
from cloudops.topics.codec import (
    ENVELOPE_HEADER,
    decode_batch,
    decode_envelope,
    decode_record,
    encode_batch,
    encode_record,
    split_to_fit,
)


def _envelope(**kw: object) -> FocusBatchEnvelope:
    base: dict[str, object] = {
        "kind": "end",
        "tenant": "acme",
        "file_id": "f" * 32,
        "file_url": "s3://billing/cur.csv",
        "format": "aws-cur",
        "seq": 3,
        "batch_id": "b" * 32,
        "row_start": 0,
        "row_end": 1281,
        "row_count": 0,
        "cost_totals": {"USD": Decimal("1.6823086974")},
        "rows_in": 1281,
        "rows_rejected": 0,
        "source_totals": {"USD": Decimal("1.6823086974"), "EUR": Decimal("-0.0000000001")},
        "rejected_totals": {},
    }
    base.update(kw)
    return FocusBatchEnvelope.model_validate(base)


@pytest.fixture(scope="module")
def focus_batch(cur_sample_rows: list[dict[str, str]], aws_rules: FormatRules) -> pa.RecordBatch:
    columns = list(cur_sample_rows[0])
    raw = pa.RecordBatch.from_pydict(
        {c: pa.array([r[c] or None for r in cur_sample_rows], pa.string()) for c in columns}
    )
    return convert_batch(raw, aws_rules, file_id="f", batch_id="b", row_offset=0).batch


# --------------------------------------------------------------------------- records


def test_envelope_round_trip_keeps_decimals_exact() -> None:
    env = _envelope()
    data = encode_record(env)
    doc = json.loads(data)
    assert doc["cost_totals"] == {"USD": "1.6823086974"}  # a string, never a float
    assert {k: Decimal(v) for k, v in doc["source_totals"].items()} == {
        "USD": Decimal("1.6823086974"),
        "EUR": Decimal("-0.0000000001"),
    }
    assert all(isinstance(v, str) for v in doc["source_totals"].values())
    assert doc["schema_version"] == 1
    back = decode_record(FocusBatchEnvelope, data)
    assert back == env
    assert back.cost_totals["USD"] == Decimal("1.6823086974")
    assert isinstance(back.source_totals["EUR"], Decimal)


def test_decimal_with_many_digits_round_trips() -> None:
    value = Decimal("12345678901234567890.1234567891")
    back = decode_record(FocusBatchEnvelope, encode_record(_envelope(cost_totals={"USD": value})))
    assert back.cost_totals == {"USD": value}


def test_billing_file_round_trip() -> None:
    bf = BillingFile(
        tenant="acme",
        url="s3://billing/a b.csv",
        bucket="billing",
        key="a b.csv",
        etag="e",
        size=8,
        event_time=datetime(2026, 11, 27, 23, 46, 26, 425000, tzinfo=UTC),
        trigger="s3-event",
    )
    data = encode_record(bf)
    assert json.loads(data)["event_time"] == "2026-11-27T23:46:26.425000Z"
    back = decode_record(BillingFile, data)
    assert back == bf
    assert back.file_id == bf.file_id


def test_billing_loaded_and_dead_letter_round_trip() -> None:
    bl = BillingLoaded(
        tenant="acme",
        file_id="f",
        file_url="u",
        format="aws-cur",
        rows_in=2,
        rows_rejected=1,
        rows_landed=1,
        batches=1,
        source_totals={"USD": Decimal("0.30")},
        rejected_totals={"USD": Decimal("0.10")},
        landed_totals={"USD": Decimal("0.20")},
        reconciled=True,
    )
    assert decode_record(BillingLoaded, encode_record(bl)) == bl
    dl = DeadLetter(
        source_topic="billing-files",
        partition=2,
        offset=40,
        value_b64=DeadLetter.b64(b"\x00\xffraw"),
        error_kind="bad_data",
        reason="nope",
        app_version="0.1.0",
        rejected_row=RejectedRow(row_number=7, reason="r", raw='{"a": "1"}'),
    )
    assert decode_record(DeadLetter, encode_record(dl)) == dl


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "empty FocusBatchEnvelope message"),
        (b"", "invalid FocusBatchEnvelope"),
        (b"not json", "invalid FocusBatchEnvelope"),
        (b"[]", "invalid FocusBatchEnvelope"),
        (b'{"kind": "rows"}', "invalid FocusBatchEnvelope"),
    ],
)
def test_decode_record_errors(data: bytes | None, message: str) -> None:
    with pytest.raises(BadDataError, match=message):
        decode_record(FocusBatchEnvelope, data)


def test_decode_record_rejects_unknown_fields_and_bad_values() -> None:
    doc = orjson.loads(encode_record(_envelope()))
    with pytest.raises(BadDataError, match="invalid FocusBatchEnvelope"):
        decode_record(FocusBatchEnvelope, orjson.dumps({**doc, "surprise": 1}))
    with pytest.raises(BadDataError, match="invalid FocusBatchEnvelope"):
        decode_record(FocusBatchEnvelope, orjson.dumps({**doc, "cost_totals": {"USD": "lots"}}))
    with pytest.raises(BadDataError, match="invalid FocusBatchEnvelope"):
        decode_record(FocusBatchEnvelope, orjson.dumps({**doc, "schema_version": 2}))


def test_decode_envelope_from_headers() -> None:
    env = _envelope(kind="rows", row_count=10)
    assert decode_envelope({ENVELOPE_HEADER: encode_record(env), "other": b"x"}) == env
    with pytest.raises(BadDataError, match="without a cloudops-envelope header"):
        decode_envelope({"other": b"x"})
    with pytest.raises(BadDataError, match="without a cloudops-envelope header"):
        decode_envelope(None)
    with pytest.raises(BadDataError, match="invalid FocusBatchEnvelope"):
        decode_envelope({ENVELOPE_HEADER: b"{}"})


# --------------------------------------------------------------------------- arrow batches


def test_focus_batch_round_trip(focus_batch: pa.RecordBatch) -> None:
    data = encode_batch(focus_batch)
    assert data[:4] != b"PAR1"
    back = decode_batch(data)
    assert back.schema.equals(focus_batch.schema)
    assert back.equals(focus_batch)
    assert back.schema.names == focus_arrow_schema().names
    assert sum(back.column("BilledCost").to_pylist(), Decimal(0)) == Decimal("1.6823086974")


def test_empty_batch_round_trip() -> None:
    empty = pa.RecordBatch.from_pylist([], schema=focus_arrow_schema())
    back = decode_batch(encode_batch(empty))
    assert back.num_rows == 0
    assert back.schema.equals(focus_arrow_schema())


@pytest.mark.parametrize("data", [b"", b"garbage", b"\xff" * 64, b'{"kind": "end"}'])
def test_decode_batch_garbage(data: bytes) -> None:
    with pytest.raises(BadDataError, match="value is not an Arrow IPC stream"):
        decode_batch(data)


def test_split_to_fit_no_split_when_small(focus_batch: pa.RecordBatch) -> None:
    small = focus_batch.slice(0, 10)
    (piece, encoded), *rest = list(split_to_fit(small, 1_000_000))
    assert rest == []
    assert piece.equals(small)
    assert encoded == encode_batch(small)


def test_split_to_fit_splits_in_order(focus_batch: pa.RecordBatch) -> None:
    whole = len(encode_batch(focus_batch))
    limit = whole // 5
    pieces = list(split_to_fit(focus_batch, limit))
    assert len(pieces) >= 5
    for piece, encoded in pieces:
        assert len(encoded) <= limit
        assert decode_batch(encoded).equals(piece)
    rejoined = pa.Table.from_batches([p for p, _ in pieces])
    assert rejoined.num_rows == focus_batch.num_rows
    assert rejoined.equals(pa.Table.from_batches([focus_batch]))
    assert rejoined.column("x_RowNumber").to_pylist() == list(range(1281))


def test_split_to_fit_synthetic_large_batch() -> None:
    n = 5000
    batch = pa.RecordBatch.from_pydict(
        {"i": pa.array(range(n), pa.int64()), "s": pa.array([f"{i:08d}" * 16 for i in range(n)])}
    )
    pieces = list(split_to_fit(batch, 20_000))
    assert len(pieces) > 1
    assert all(len(enc) <= 20_000 for _, enc in pieces)
    assert [i for p, _ in pieces for i in p.column("i").to_pylist()] == list(range(n))


def _incompressible(n: int) -> str:
    return random.Random(n).randbytes(n).hex()


def test_single_oversize_row() -> None:
    batch = pa.RecordBatch.from_pydict({"s": [_incompressible(5000)]})
    with pytest.raises(BadDataError, match=r"one FOCUS row encodes to \d+ bytes, over the 1000 limit"):
        list(split_to_fit(batch, 1000))


def test_one_oversize_row_among_small_ones() -> None:
    values = ["x"] * 8 + [_incompressible(5000)] + ["y"] * 7
    batch = pa.RecordBatch.from_pydict({"s": values})
    with pytest.raises(BadDataError, match="over the 5000 limit"):
        list(split_to_fit(batch, 5000))
