"""cloudops.sources.readers: every container and format, detected from the bytes, read as batches."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudops.errors import BadDataError
from cloudops.sources.readers import InvalidLine, TableFile, open_table, sniff

CSV = b"a,b\n1,x\n2,y\n"
JSONL = b'{"id": 1, "service": {"id": "S1", "description": "Compute"}, "labels": [{"key": "k", "value": "v"}]}\n'
JSONL += b'{"id": 2, "service": {"id": "S2", "description": "Storage"}, "labels": []}\n'


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def zip_bytes(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def parquet_bytes(table: pa.Table, **kw: Any) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def read(tf: TableFile) -> tuple[list[pa.RecordBatch], list[InvalidLine]]:
    invalid: list[InvalidLine] = []
    return list(tf.batches(invalid.append)), invalid


def rows(tf: TableFile) -> list[dict[str, Any]]:
    batches, invalid = read(tf)
    assert invalid == []
    return [r for b in batches for r in b.to_pylist()]


NESTED = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "service": pa.array(
            [{"id": "S1", "description": "Compute"}, {"id": "S2", "description": None}],
            pa.struct([("id", pa.string()), ("description", pa.string())]),
        ),
        "location": pa.array(
            [{"region": "eu", "zone": {"name": "eu-a"}}, None],
            pa.struct([("region", pa.string()), ("zone", pa.struct([("name", pa.string())]))]),
        ),
        "credits": pa.array(
            [[{"name": "c", "amount": -0.5}], []],
            pa.list_(pa.struct([("name", pa.string()), ("amount", pa.float64())])),
        ),
        "tags": pa.array([[("env", "prod")], None], pa.map_(pa.string(), pa.string())),
    }
)
NESTED_HEADER = ["id", "service.id", "service.description", "location.region", "location.zone.name", "credits", "tags"]


# --------------------------------------------------------------------------- sniff


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("a.csv", CSV, "csv"),
        ("a.csv", b"\xef\xbb\xbf" + CSV, "csv"),
        ("a.txt", b'"quoted",b\n1,2\n', "csv"),
        ("a.csv", gzip.compress(CSV), "csv.gz"),  # the name says nothing: the bytes do
        ("a.json", gzip.compress(CSV), "csv.gz"),
        ("a.csv", gzip.compress(JSONL), "jsonl.gz"),
        ("a.gz", gzip.compress(b"\xef\xbb\xbf \n" + JSONL), "jsonl.gz"),
        ("a.csv", zip_bytes([("x.csv", CSV)]), "zip"),
        ("a.zip", zip_bytes([]), "zip"),
        ("a.csv", parquet_bytes(NESTED), "parquet"),
        ("a.csv", JSONL, "jsonl"),
        ("a.jsonl", b"\xef\xbb\xbf\n  " + JSONL, "jsonl"),
    ],
)
def test_sniff(tmp_path: Path, name: str, data: bytes, kind: str) -> None:
    assert sniff(write(tmp_path, name, data)) == kind


def test_sniff_empty_file_names_the_source(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="empty file") as err:
        sniff(write(tmp_path, "e.csv", b""), "s3://bucket/e.csv")
    assert err.value.source == "s3://bucket/e.csv"


def test_sniff_truncated_gzip_header(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="gzip"):
        sniff(write(tmp_path, "t.gz", gzip.compress(CSV * 100)[:12]))


# --------------------------------------------------------------------------- headers and rows per format


def test_csv(tmp_path: Path) -> None:
    tf = open_table(write(tmp_path, "a.csv", CSV), source="s3://b/a.csv")
    assert (tf.kind, tf.header, tf.source) == ("csv", ["a", "b"], "s3://b/a.csv")
    assert rows(tf) == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}]


def test_gzip_csv_named_csv(tmp_path: Path) -> None:
    tf = open_table(write(tmp_path, "a.csv", gzip.compress(b"\xef\xbb\xbf" + CSV)))
    assert (tf.kind, tf.header) == ("csv.gz", ["a", "b"])
    assert rows(tf) == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}]


def test_csv_with_only_a_header_gives_no_batches(tmp_path: Path) -> None:
    for data in (b"a,b\n", b"a,b", gzip.compress(b"a,b\n")):
        tf = open_table(write(tmp_path, "h.csv", data))
        assert tf.header == ["a", "b"]
        assert read(tf) == ([], [])


def test_parquet_structs_flattened_lists_and_maps_kept(tmp_path: Path) -> None:
    tf = open_table(write(tmp_path, "n.bin", parquet_bytes(NESTED)))
    assert tf.kind == "parquet"
    assert tf.header == NESTED_HEADER
    batches, _ = read(tf)
    assert [b.schema.names for b in batches] == [NESTED_HEADER]
    (batch,) = batches
    assert batch.schema.field("id").type == pa.int64()
    assert pa.types.is_list(batch.schema.field("credits").type)
    assert pa.types.is_map(batch.schema.field("tags").type)
    assert batch.to_pylist() == [
        {
            "id": 1,
            "service.id": "S1",
            "service.description": "Compute",
            "location.region": "eu",
            "location.zone.name": "eu-a",
            "credits": [{"name": "c", "amount": -0.5}],
            "tags": [("env", "prod")],
        },
        {
            "id": 2,
            "service.id": "S2",
            "service.description": None,
            "location.region": None,
            "location.zone.name": None,
            "credits": [],
            "tags": None,
        },
    ]


def test_parquet_row_groups_stream_in_order(tmp_path: Path) -> None:
    table = pa.table({"n": pa.array(range(5000), pa.int64()), "s": pa.array([str(i) for i in range(5000)])})
    tf = open_table(write(tmp_path, "big.parquet", parquet_bytes(table, row_group_size=1000)), block_size=1)
    batches, _ = read(tf)
    assert len(batches) > 1
    assert [v for b in batches for v in b.column("n").to_pylist()] == list(range(5000))


def test_parquet_without_rows(tmp_path: Path) -> None:
    tf = open_table(write(tmp_path, "e.parquet", parquet_bytes(NESTED.slice(0, 0))))
    assert tf.header == NESTED_HEADER
    assert read(tf) == ([], [])


def test_json_lines_structs_flattened_lists_kept(tmp_path: Path) -> None:
    tf = open_table(write(tmp_path, "a.json", JSONL))
    assert tf.kind == "jsonl"
    assert tf.header == ["id", "service.id", "service.description", "labels"]
    assert rows(tf) == [
        {"id": 1, "service.id": "S1", "service.description": "Compute", "labels": [{"key": "k", "value": "v"}]},
        {"id": 2, "service.id": "S2", "service.description": "Storage", "labels": []},
    ]


def test_gzip_json_lines(tmp_path: Path) -> None:
    tf = open_table(write(tmp_path, "a.csv", gzip.compress(JSONL)))
    assert tf.kind == "jsonl.gz"
    assert tf.header == ["id", "service.id", "service.description", "labels"]
    assert [r["service.id"] for r in rows(tf)] == ["S1", "S2"]


def test_json_lines_in_several_blocks(tmp_path: Path) -> None:
    lines = b"".join(json.dumps({"n": i, "s": {"v": str(i)}}).encode() + b"\n" for i in range(3000))
    tf = open_table(write(tmp_path, "many.jsonl", lines), block_size=4096)
    batches, _ = read(tf)
    assert len(batches) > 1
    assert all(b.schema.names == ["n", "s.v"] for b in batches)
    assert [v for b in batches for v in b.column("s.v").to_pylist()] == [str(i) for i in range(3000)]


def test_flattened_name_clash_is_a_duplicate_column(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match=r"duplicate column names in header: a\.b"):
        open_table(write(tmp_path, "d.jsonl", b'{"a": {"b": 1}, "a.b": 2}\n'))


# --------------------------------------------------------------------------- zip


def test_zip_members_read_in_name_order(tmp_path: Path) -> None:
    data = zip_bytes(
        [
            ("bill-2.csv", b"a,b\n3,z\n"),
            ("bill-1.csv", b"a,b\n1,x\n2,y\n"),
            ("__MACOSX/._bill-1.csv", b"\x00\x05junk"),
            ("empty/", b""),
        ]
    )
    tf = open_table(write(tmp_path, "bill.zip", data))
    assert (tf.kind, tf.header) == ("zip", ["a", "b"])
    assert rows(tf) == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}, {"a": "3", "b": "z"}]


def test_zip_members_with_bom_and_header_only_member(tmp_path: Path) -> None:
    data = zip_bytes([("1.csv", b"\xef\xbb\xbfa,b\n1,x\n"), ("2.csv", b"a,b\n"), ("3.csv", b"a,b\n9,q\n")])
    tf = open_table(write(tmp_path, "b.zip", data))
    assert tf.header == ["a", "b"]
    assert rows(tf) == [{"a": "1", "b": "x"}, {"a": "9", "b": "q"}]


def test_zip_member_with_a_different_header(tmp_path: Path) -> None:
    data = zip_bytes([("1.csv", b"a,b\n1,x\n"), ("2.csv", b"a,c\n2,y\n")])
    tf = open_table(write(tmp_path, "d.zip", data), source="oss://bills/d.zip")
    with pytest.raises(BadDataError, match=r"zip member 2\.csv has a different header") as err:
        read(tf)
    assert err.value.source == "oss://bills/d.zip"


def test_corrupt_zip(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="corrupt zip archive") as err:
        open_table(write(tmp_path, "c.zip", b"PK\x03\x04" + b"garbage" * 20), source="s3://b/c.zip")
    assert err.value.source == "s3://b/c.zip"


def test_truncated_zip(tmp_path: Path) -> None:
    data = zip_bytes([("1.csv", b"a,b\n" + b"1,x\n" * 1000)])
    with pytest.raises(BadDataError, match="corrupt zip archive"):
        open_table(write(tmp_path, "t.zip", data[: len(data) // 2]))


def test_zip_member_with_damaged_data(tmp_path: Path) -> None:
    data = bytearray(zip_bytes([("1.csv", b"a,b\n" + b"1,x\n" * 1000)], compression=zipfile.ZIP_STORED))
    data[2000] = ord("9")  # inside the stored member: its CRC no longer matches
    with pytest.raises(BadDataError, match="corrupt zip archive: Bad CRC-32"):
        read(open_table(write(tmp_path, "crc.zip", bytes(data))))


def test_empty_zip(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="zip archive has no files"):
        open_table(write(tmp_path, "e.zip", zip_bytes([])))
    with pytest.raises(BadDataError, match="zip archive has no files"):
        open_table(write(tmp_path, "d.zip", zip_bytes([("dir/", b""), ("__MACOSX/x", b"a,b\n")])))


# --------------------------------------------------------------------------- broken files


def test_truncated_parquet(tmp_path: Path) -> None:
    data = parquet_bytes(NESTED)
    with pytest.raises(BadDataError, match="corrupt Parquet file") as err:
        open_table(write(tmp_path, "t.parquet", data[: len(data) // 2]), source="gs://b/t.parquet")
    assert err.value.source == "gs://b/t.parquet"
    assert str(err.value).startswith("gs://b/t.parquet: ")


def test_json_lines_with_a_bad_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", b'{"a": 1\n{"a": 2}\n')
    with pytest.raises(BadDataError, match="invalid JSON lines") as err:
        open_table(path)
    assert err.value.source == str(path)


def test_json_lines_with_a_bad_line_later(tmp_path: Path) -> None:
    good = b"".join(b'{"a": %d}\n' % i for i in range(2000))
    path = write(tmp_path, "late.jsonl", good + b'{"a": 2\n' + good)
    tf = open_table(path, source="gs://b/late.jsonl", block_size=4096)
    with pytest.raises(BadDataError, match="invalid JSON lines") as err:
        read(tf)
    assert err.value.source == "gs://b/late.jsonl"
    assert "gs://b/late.jsonl" in str(err.value)


def test_truncated_gzip_json_lines(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"a": %d, "b": "%d"}\n' % (i, i * 7919) for i in range(20000)))
    tf = open_table(write(tmp_path, "t.jsonl.gz", data[: len(data) // 2]), block_size=4096)
    with pytest.raises(BadDataError, match="gzip"):
        read(tf)


# --------------------------------------------------------------------------- progress


def _progress(tf: TableFile) -> list[int]:
    seen = [tf.bytes_read]
    for _ in tf.batches(lambda _line: None):
        seen.append(tf.bytes_read)
    seen.append(tf.bytes_read)
    return seen


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet", "zip"])
def test_bytes_read_grows_to_the_file_size(tmp_path: Path, kind: str) -> None:
    n = 5000
    csv_data = b"a,b\n" + b"".join(b"%d,value-%d\n" % (i, i * 7919) for i in range(n))
    json_data = b"".join(b'{"a": %d, "b": "value-%d"}\n' % (i, i * 7919) for i in range(n))
    if kind == "parquet":
        data = parquet_bytes(pa.table({"a": pa.array(range(n), pa.int64())}), row_group_size=500)
    elif kind == "zip":
        data = zip_bytes([("1.csv", csv_data), ("2.csv", csv_data)])
    else:
        data = csv_data if kind.startswith("csv") else json_data
        data = gzip.compress(data, compresslevel=1) if kind.endswith(".gz") else data
    path = write(tmp_path, "f.bin", data)
    tf = open_table(path, block_size=16 << 10)
    assert tf.kind == kind
    seen = _progress(tf)
    assert seen[0] == 0
    assert seen == sorted(seen)
    assert seen[-1] == path.stat().st_size


@pytest.mark.parametrize("compress", [False, True])
def test_bytes_read_moves_while_a_large_csv_is_read(tmp_path: Path, compress: bool) -> None:
    data = b"a,b\n" + b"".join(b"%d,value-%d\n" % (i, i * 7919) for i in range(40_000))
    path = write(tmp_path, "big.csv", gzip.compress(data, compresslevel=1) if compress else data)
    size = path.stat().st_size
    seen = _progress(open_table(path, block_size=16 << 10))
    assert seen == sorted(seen)
    assert any(0 < v < size for v in seen)  # the progress bar moves before the end
    assert seen[-1] == size
