"""cloudops.sources.readers: streaming CSV (optionally gzipped) into all-string Arrow batches."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pyarrow as pa
import pytest

from cloudops.errors import BadDataError
from cloudops.sources.readers import InvalidLine, iter_csv_batches, open_decompressed, read_csv_header

BLOCK = 64 << 10


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read_all(path: Path, block_size: int = BLOCK) -> tuple[list[pa.RecordBatch], list[InvalidLine]]:
    invalid: list[InvalidLine] = []
    header = read_csv_header(path)
    return list(iter_csv_batches(path, header, block_size=block_size, on_invalid=invalid.append)), invalid


def _rows(batches: list[pa.RecordBatch]) -> list[dict]:
    return [row for b in batches for row in b.to_pylist()]


def test_plain_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", b"a,b\n1,2\n3,4\n")
    assert read_csv_header(path) == ["a", "b"]
    batches, invalid = _read_all(path)
    assert _rows(batches) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert invalid == []


def test_every_column_is_a_string(tmp_path: Path) -> None:
    path = _write(tmp_path, "types.csv", b"n,f,d,t\n1,2.5,2024-01-01,true\n")
    batches, _ = _read_all(path)
    assert batches[0].schema.types == [pa.string()] * 4
    assert _rows(batches) == [{"n": "1", "f": "2.5", "d": "2024-01-01", "t": "true"}]


def test_gzip_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "export.csv", gzip.compress(b"a,b\n1,2\n"))
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert read_csv_header(path) == ["a", "b"]
    batches, _ = _read_all(path)
    assert _rows(batches) == [{"a": "1", "b": "2"}]
    with open_decompressed(path) as fh:
        assert fh.read() == b"a,b\n1,2\n"


def test_gz_name_without_gzip_content_is_read_plain(tmp_path: Path) -> None:
    path = _write(tmp_path, "export.csv.gz", b"a,b\n1,2\n")
    batches, _ = _read_all(path)
    assert _rows(batches) == [{"a": "1", "b": "2"}]


def test_bom_is_stripped(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", b"\xef\xbb\xbfa,b\r\n1,2\r\n")
    assert read_csv_header(path) == ["a", "b"]
    batches, _ = _read_all(path)
    assert batches[0].schema.names == ["a", "b"]
    assert _rows(batches) == [{"a": "1", "b": "2"}]


def test_bom_inside_gzip_is_stripped(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", gzip.compress(b"\xef\xbb\xbfcol one,b\n1,2\n"))
    assert read_csv_header(path) == ["col one", "b"]
    batches, _ = _read_all(path)
    assert _rows(batches) == [{"col one": "1", "b": "2"}]


def test_quoted_header_and_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", b'"a,1","b"\n"multi\nline","say ""hi"""\n"",3\n')
    assert read_csv_header(path) == ["a,1", "b"]
    batches, invalid = _read_all(path)
    assert _rows(batches) == [{"a,1": "multi\nline", "b": 'say "hi"'}, {"a,1": None, "b": "3"}]
    assert invalid == []


def test_empty_fields_are_null(tmp_path: Path) -> None:
    path = _write(tmp_path, "e.csv", b"a,b,c\n,x,\n")
    batches, _ = _read_all(path)
    assert _rows(batches) == [{"a": None, "b": "x", "c": None}]


def test_header_only_yields_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, "h.csv", b"a,b\n")
    batches, invalid = _read_all(path)
    assert batches == []
    assert invalid == []


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", gzip.compress(b"")])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, "empty.csv", data)
    with pytest.raises(BadDataError) as info:
        read_csv_header(path)
    assert info.value.reason == "empty file"
    assert info.value.source == str(path)


def test_empty_header_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "blank.csv", b" , \n1,2\n")
    with pytest.raises(BadDataError, match="empty header row"):
        read_csv_header(path)


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = _write(tmp_path, "dup.csv", b"a,b,a,c,b,d\n1,2,3,4,5,6\n")
    with pytest.raises(BadDataError) as info:
        read_csv_header(path)
    assert info.value.reason == "duplicate column names in header: a, b"


def test_header_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, "latin1.csv", "coût,b\n1,2\n".encode("latin-1"))
    with pytest.raises(BadDataError, match="header is not UTF-8") as info:
        read_csv_header(path)
    assert info.value.source == str(path)


def test_body_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.csv", b"a,b\n1,2\n3,caf\xe9\n")
    header = read_csv_header(path)
    with pytest.raises(BadDataError) as info:
        list(iter_csv_batches(path, header, block_size=BLOCK, on_invalid=lambda _: None))
    assert "UTF-8" in info.value.reason or "UTF8" in info.value.reason
    assert info.value.source == str(path)


def _big_gzip(rows: int = 60_000) -> bytes:
    rnd = random.Random(7)
    body = b"".join(b"%d,%032x\n" % (i, rnd.getrandbits(128)) for i in range(rows))
    return gzip.compress(b"id,value\n" + body)


def test_truncated_gzip_mid_stream(tmp_path: Path) -> None:
    data = _big_gzip()
    path = _write(tmp_path, "cut.csv.gz", data[: len(data) // 2])
    assert read_csv_header(path) == ["id", "value"]  # the start is still readable
    with pytest.raises(BadDataError) as info:
        list(iter_csv_batches(path, ["id", "value"], block_size=BLOCK, on_invalid=lambda _: None))
    assert "gzip" in info.value.reason
    assert info.value.source == str(path)


def test_truncated_gzip_in_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "tiny.csv", gzip.compress(b"a,b\n1,2\n")[:12])
    with pytest.raises(BadDataError) as info:
        read_csv_header(path)
    assert "gzip" in info.value.reason


def test_corrupt_gzip_body(tmp_path: Path) -> None:
    data = bytearray(_big_gzip(20_000))
    for i in range(200, 400):
        data[i] ^= 0xFF
    path = _write(tmp_path, "corrupt.csv", bytes(data))
    with pytest.raises(BadDataError, match="gzip"):
        _read_all(path)


def test_malformed_row_reported_others_yielded(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", b"a,b\n1,2\n3,4,5\n6\n7,8\n")
    batches, invalid = _read_all(path)
    assert _rows(batches) == [{"a": "1", "b": "2"}, {"a": "7", "b": "8"}]
    assert invalid == [
        InvalidLine(line=3, reason="malformed CSV record: 3 fields, expected 2", text="3,4,5"),
        InvalidLine(line=4, reason="malformed CSV record: 1 fields, expected 2", text="6"),
    ]


def test_small_blocks_stream_the_sample(cur_sample_path: Path, cur_sample_rows: list[dict[str, str]]) -> None:
    batches, invalid = _read_all(cur_sample_path, block_size=BLOCK)
    assert len(batches) > 1
    assert invalid == []
    assert sum(b.num_rows for b in batches) == 1281
    assert max(b.nbytes for b in batches) < 4 * BLOCK
    rows = _rows(batches)
    assert [r["identity/LineItemId"] for r in rows] == [r["identity/LineItemId"] for r in cur_sample_rows]
    assert [r["lineItem/UnblendedCost"] for r in rows] == [r["lineItem/UnblendedCost"] for r in cur_sample_rows]


def test_gzipped_sample_reads_the_same(tmp_path: Path, cur_sample_path: Path) -> None:
    path = _write(tmp_path, "cur.csv", gzip.compress(cur_sample_path.read_bytes()))
    plain, _ = _read_all(cur_sample_path)
    zipped, _ = _read_all(path)
    assert pa.Table.from_batches(zipped).equals(pa.Table.from_batches(plain))


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_line_longer_than_the_block_is_reported_as_such(tmp_path: Path, gz: bool) -> None:
    from cloudops.sources.readers import open_table

    data = b"a,b\n1,2\n3," + b"x" * 5000 + b"\n4,5\n"
    path = _write(tmp_path, "long.csv.gz" if gz else "long.csv", gzip.compress(data, mtime=0) if gz else data)
    for read in (
        lambda: _read_all(path, block_size=1024),
        lambda: list(open_table(path, block_size=1024).batches(lambda _: None)),
    ):
        with pytest.raises(BadDataError) as info:
            read()
        msg = str(info.value)
        assert "a line is longer than the read block (1,024 bytes)" in msg
        assert "CLOUDOPS_INGEST__BLOCK_BYTES" in msg
        assert "gzip" not in msg
        assert "corrupt" not in msg
    # With a block that holds the line, the same file reads whole.
    batches, invalid = _read_all(path, block_size=64 << 10)
    assert [r["a"] for r in _rows(batches)] == ["1", "3", "4"]
    assert invalid == []


def test_json_line_longer_than_the_block_is_reported_as_such(tmp_path: Path) -> None:
    from cloudops.sources.readers import open_table

    path = _write(tmp_path, "long.jsonl", b'{"a": "1"}\n{"a": "' + b"x" * 5000 + b'"}\n')
    with pytest.raises(BadDataError, match="a line is longer than the read block"):
        list(open_table(path, block_size=1024).batches(lambda _: None))


def test_orc_is_detected_by_magic_and_read_stripe_by_stripe(tmp_path: Path) -> None:
    import pyarrow.orc as orc

    from cloudops.sources.readers import open_table, sniff

    path = tmp_path / "bill.data"  # no telling name: detected from the bytes
    orc.write_table(pa.table({"a": [str(i) for i in range(5000)], "b": [1.5] * 5000}), path, stripe_size=1024)
    assert sniff(path) == "orc"
    table = open_table(path, block_size=64 << 10)
    assert table.header == ["a", "b"]
    batches = list(table.batches(lambda _: None))
    assert sum(b.num_rows for b in batches) == 5000
    assert table.bytes_read == path.stat().st_size
    truncated = _write(tmp_path, "bad.orc", path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadDataError, match="corrupt ORC file"):
        list(open_table(truncated).batches(lambda _: None))
