"""cloudops.sources.converter: a whole file converted chunk by chunk, with file-level totals."""

from __future__ import annotations

import csv
import gzip
import io
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.convert import ConversionResult
from cloudops.schemas.events import RejectedRow
from cloudops.sources.converter import FileConversion, batch_id_for, open_conversion

SMALL = 64 << 10
LARGE = 16 << 20
GOLDEN_TOTAL = Decimal("1.6823086974")


def _run(path: Path, block_size: int, file_id: str = "file-1", source: str = "s3://billing/cur.csv"):
    conv = open_conversion(path, source=source, file_id=file_id, block_size=block_size)
    chunks = list(conv.chunks())
    return conv, chunks


def _results(chunks: list[tuple[ConversionResult | None, list[RejectedRow]]]) -> list[ConversionResult]:
    return [r for r, _ in chunks if r is not None]


def _sample_lines(cur_sample_path: Path) -> list[str]:
    return cur_sample_path.read_text(encoding="utf-8").splitlines(keepends=True)


def _csv_text(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_batch_id_for() -> None:
    a = batch_id_for("file", 0, 100)
    assert a == batch_id_for("file", 0, 100)
    assert re.fullmatch(r"[0-9a-f]{32}", a)
    assert len({a, batch_id_for("file", 0, 101), batch_id_for("file", 1, 100), batch_id_for("other", 0, 100)}) == 4


def test_open_conversion_detects_format(cur_sample_path: Path, cur_header: list[str]) -> None:
    conv = open_conversion(cur_sample_path, source="s3://b/k", file_id="f", block_size=SMALL)
    assert isinstance(conv, FileConversion)
    assert conv.rules.id == "aws-cur"
    assert conv.header == cur_header
    assert conv.source == "s3://b/k"
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected) == (0, 0, 0)


def test_single_chunk_totals(cur_sample_path: Path) -> None:
    conv, chunks = _run(cur_sample_path, LARGE)
    assert len(chunks) == 1
    (result, malformed) = chunks[0]
    assert malformed == []
    assert result is not None
    assert result.batch.num_rows == 1281
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected) == (1281, 1281, 0)
    assert conv.source_totals == {"USD": GOLDEN_TOTAL}
    assert conv.rejected_totals == {}


def test_small_blocks_give_the_same_totals(cur_sample_path: Path) -> None:
    one, _ = _run(cur_sample_path, LARGE)
    many, chunks = _run(cur_sample_path, SMALL)
    results = _results(chunks)
    assert len(results) > 5
    assert (many.rows_in, many.rows_converted, many.rows_rejected) == (one.rows_in, one.rows_converted, 0)
    assert many.source_totals == one.source_totals == {"USD": GOLDEN_TOTAL}
    assert many.rejected_totals == one.rejected_totals == {}
    landed = sum((sum(r.batch.column("BilledCost").to_pylist(), Decimal(0)) for r in results), Decimal(0))
    assert landed == GOLDEN_TOTAL


def test_small_blocks_give_the_same_rows(cur_sample_path: Path) -> None:
    _, one = _run(cur_sample_path, LARGE)
    _, many = _run(cur_sample_path, SMALL)
    whole = pa.Table.from_batches([r.batch for r in _results(one)]).drop_columns(["x_BatchId"])
    pieces = pa.Table.from_batches([r.batch for r in _results(many)]).drop_columns(["x_BatchId"])
    assert pieces.equals(whole)
    assert pieces.column("x_RowNumber").to_pylist() == list(range(1281))


def test_batch_ids_are_deterministic_and_cover_row_ranges(cur_sample_path: Path) -> None:
    _, first = _run(cur_sample_path, SMALL, file_id="abc")
    _, second = _run(cur_sample_path, SMALL, file_id="abc")
    _, other_file = _run(cur_sample_path, SMALL, file_id="xyz")
    ids = []
    start = 0
    for result in _results(first):
        n = result.batch.num_rows
        assert set(result.batch.column("x_BatchId").to_pylist()) == {batch_id_for("abc", start, start + n)}
        assert result.batch.column("x_RowNumber").to_pylist() == list(range(start, start + n))
        ids.append(batch_id_for("abc", start, start + n))
        start += n
    assert start == 1281
    assert len(set(ids)) == len(ids)
    again = [r.batch.column("x_BatchId")[0].as_py() for r in _results(second)]
    assert again == ids
    elsewhere = [r.batch.column("x_BatchId")[0].as_py() for r in _results(other_file)]
    assert not set(elsewhere) & set(ids)


def test_gzipped_file_converts_the_same(tmp_path: Path, cur_sample_path: Path) -> None:
    path = tmp_path / "cur.csv"  # gzipped, but not named so
    path.write_bytes(gzip.compress(cur_sample_path.read_bytes()))
    conv, chunks = _run(path, SMALL)
    assert len(chunks) > 1
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected) == (1281, 1281, 0)
    assert conv.source_totals == {"USD": GOLDEN_TOTAL}


def test_malformed_line_is_counted(
    tmp_path: Path, cur_sample_path: Path, cur_sample_rows: list[dict[str, str]]
) -> None:
    lines = _sample_lines(cur_sample_path)
    path = tmp_path / "m.csv"
    path.write_text("".join([*lines[:4], "only,three,fields\n", *lines[4:11]]), encoding="utf-8")
    conv, chunks = _run(path, SMALL)
    assert conv.rows_in == 11
    assert conv.rows_converted == 10
    assert conv.rows_rejected == 1
    malformed = [m for _, ms in chunks for m in ms]
    assert malformed == [
        RejectedRow(
            row_number=-1,
            reason="line 5: malformed CSV record: 3 fields, expected 94",
            raw="only,three,fields",
        )
    ]
    expected = sum((Decimal(r["lineItem/UnblendedCost"]) for r in cur_sample_rows[:10]), Decimal(0))
    assert conv.source_totals == {"USD": expected}
    assert conv.rejected_totals == {}


def test_only_malformed_rows(tmp_path: Path, cur_sample_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(_sample_lines(cur_sample_path)[0] + "1,2,3\n4,5\n", encoding="utf-8")
    conv, chunks = _run(path, SMALL)
    assert len(chunks) == 1
    result, malformed = chunks[0]
    assert result is None
    assert [m.raw for m in malformed] == ["1,2,3", "4,5"]
    assert all(m.row_number == -1 for m in malformed)
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected) == (2, 0, 2)
    assert conv.source_totals == {}


def test_rejected_rows_and_totals(tmp_path: Path, cur_header: list[str], cur_sample_rows: list[dict[str, str]]) -> None:
    rows = [dict(r) for r in cur_sample_rows[:5]]
    rows[1]["lineItem/UnblendedCost"] = "garbage"
    rows[2]["bill/PayerAccountId"] = ""
    rows[2]["lineItem/UnblendedCost"] = "0.25"
    path = tmp_path / "r.csv"
    path.write_text(_csv_text(cur_header, rows), encoding="utf-8")
    conv, chunks = _run(path, SMALL)
    (result, malformed) = chunks[0]
    assert malformed == []
    assert result is not None
    assert [(r.row_number, r.reason) for r in result.rejected] == [
        (1, "BilledCost: not a valid decimal value in lineItem/UnblendedCost: 'garbage'"),
        (2, "BillingAccountId: mandatory value missing (from bill/PayerAccountId)"),
    ]
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected) == (5, 3, 2)
    landed = sum(result.batch.column("BilledCost").to_pylist(), Decimal(0))
    assert conv.rejected_totals == {"USD": Decimal("0.25")}
    assert conv.source_totals == {"USD": landed + Decimal("0.25")}


def test_unknown_format_names_the_source(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Date,Cost\n2024-01-01,1\n", encoding="utf-8")
    with pytest.raises(BadDataError) as info:
        open_conversion(path, source="s3://billing/x.csv", file_id="f", block_size=SMALL)
    assert info.value.source == "s3://billing/x.csv"
    assert "unknown billing format" in info.value.reason


def test_empty_file_names_the_source(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(BadDataError) as info:
        open_conversion(path, source="s3://billing/empty.csv", file_id="f", block_size=SMALL)
    assert info.value.source == "s3://billing/empty.csv"
    assert info.value.reason == "empty file"


def test_truncated_file_fails_part_way_naming_the_source(tmp_path: Path, cur_sample_path: Path) -> None:
    header, body = cur_sample_path.read_bytes().split(b"\n", 1)
    data = gzip.compress(header + b"\n" + body * 3, compresslevel=1)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: int(len(data) * 0.9)])
    conv = open_conversion(path, source="s3://billing/cut.csv.gz", file_id="f", block_size=SMALL)
    chunks = conv.chunks()
    converted = 0
    with pytest.raises(BadDataError) as info:  # noqa: PT012 - fails part-way through the loop
        for result, _ in chunks:
            converted += result.batch.num_rows if result is not None else 0
    assert converted > 0  # some chunks converted before the damage was met
    assert conv.rows_in == converted
    assert conv.rows_rejected == 0
    assert info.value.source == "s3://billing/cut.csv.gz"
    assert "gzip" in info.value.reason
