"""The read-ahead thread: blocks merged, malformed records counted once, errors raised in order, early stop."""

from __future__ import annotations

import gzip
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from cloudops.errors import BadDataError
from cloudops.sources.converter import open_conversion

FIXTURE = Path(__file__).parents[2] / "fixtures" / "aws" / "cur_sample.csv"


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cloudops-read-ahead"]


def _wait_no_reader() -> None:
    deadline = time.monotonic() + 5
    while _reader_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _reader_threads()


def test_malformed_records_are_counted_once_across_merged_blocks(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines(keepends=True)
    header, body = lines[0], lines[1:] * 5  # ~5 MB: five 1 MiB blocks, merged into fewer batches
    bad = "only,three,fields\n"
    path = tmp_path / "cur.csv"
    path.write_text(header + "".join(body[:400]) + bad + "".join(body[400:4000]) + bad + "".join(body[4000:]) + bad)
    conv = open_conversion(path, source="cur.csv", file_id="f", block_size=1 << 20)
    malformed = 0
    sizes = []
    for result, rejected in conv.chunks():
        malformed += len(rejected)
        if result is not None:
            sizes.append(result.rows_read)
    assert malformed == 3
    assert (conv.rows_in, conv.rows_rejected, conv.rows_converted) == (5 * 1281 + 3, 3, 5 * 1281)
    assert len(sizes) < 5  # blocks were merged
    assert conv.source_totals == {"USD": 5 * Decimal("1.6823086974")}
    _wait_no_reader()


def test_a_read_error_is_raised_in_order_and_stops_the_thread(tmp_path: Path) -> None:
    text = FIXTURE.read_text()
    data = gzip.compress((text + "".join(text.splitlines(keepends=True)[1:]) * 9).encode())
    path = tmp_path / "cur.csv.gz"
    path.write_bytes(data[: len(data) * 2 // 3])  # truncated part-way
    conv = open_conversion(path, source="s3://b/cur.csv.gz", file_id="f", block_size=64 << 10)
    chunks = conv.chunks()
    first, _ = next(chunks)  # the blocks before the break convert first
    assert first is not None
    with pytest.raises(BadDataError, match="gzip"):
        list(chunks)
    _wait_no_reader()


def test_stopping_early_stops_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "cur.csv"
    text = FIXTURE.read_text()
    path.write_text(text + "".join(text.splitlines(keepends=True)[1:]) * 3)
    conv = open_conversion(path, source="cur.csv", file_id="f", block_size=64 << 10)
    chunks = conv.chunks()
    first, _ = next(chunks)
    assert first is not None
    assert first.batch.num_rows > 0
    chunks.close()
    _wait_no_reader()
