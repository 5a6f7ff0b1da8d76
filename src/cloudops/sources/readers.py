"""Streaming readers: a billing file becomes a header and a sequence of Arrow batches.

The container and encoding are detected from the file's own bytes, never its name:

* gzip (``1f 8b``) - decompressed on the fly, then detected again (CSV or JSON lines)
* zip (``PK``) - every member in name order, each CSV with the same header (Alibaba
  splits large bills this way); a member with a different header is an error
* Parquet (``PAR1``) - row group by row group, typed columns
* ORC (``ORC``) - stripe by stripe, typed columns
* JSON lines (first byte ``{``) - typed columns, nested records flattened
* anything else - CSV (UTF-8, optional byte-order mark), every column read as text

Nested records are flattened to dotted names (``service.description``); lists and maps
stay as they are for the rules (``json_of``, ``sum_list``, ``explode``). Memory is
bounded by the block size whatever the file size.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.orc as paorc
import pyarrow.parquet as pq

from cloudops.errors import BadDataError

__all__ = [
    "InvalidLine",
    "TableFile",
    "iter_csv_batches",
    "open_decompressed",
    "open_table",
    "read_csv_header",
    "sniff",
]

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # an archive with no members is only its end record
_PARQUET_MAGIC = b"PAR1"
_ORC_MAGIC = b"ORC"
_BOM = b"\xef\xbb\xbf"
Kind = Literal["csv", "csv.gz", "zip", "parquet", "orc", "jsonl", "jsonl.gz"]


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A CSV record that could not be split into the header's columns."""

    line: int | None
    reason: str
    text: str


def open_decompressed(path: Path) -> IO[bytes]:
    """Open ``path`` for reading, transparently gunzipping when it starts with the gzip magic."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        stream = pa.input_stream(str(path), compression="gzip")
    else:
        stream = pa.input_stream(str(path), compression=None)  # default "detect" goes by file name
    return stream  # type: ignore[no-any-return]


def sniff(path: Path, source: str | None = None) -> Kind:
    """The file's container/format from its first bytes."""
    src = source or str(path)
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise BadDataError("empty file", source=src)
    if head.startswith(_GZIP_MAGIC):
        try:
            with open_decompressed(path) as fh:
                inner = fh.read(4096)
        except (OSError, pa.ArrowInvalid, EOFError) as exc:
            raise _read_error(exc, path, src) from exc
        return "jsonl.gz" if inner.lstrip(_BOM).lstrip()[:1] == b"{" else "csv.gz"
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        return "zip"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_ORC_MAGIC):
        return "orc"
    if head.lstrip(_BOM).lstrip()[:1] == b"{":
        return "jsonl"
    return "csv"


def _header_from_bytes(head: bytes, source: str) -> list[str]:
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if not head.strip():
        raise BadDataError("empty file", source=source)
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadDataError(f"header is not UTF-8 ({exc.reason} at byte {exc.start})", source=source) from exc
    header = next(csv.reader(io.StringIO(text)))
    if not any(h.strip() for h in header):
        raise BadDataError("empty header row", source=source)
    _check_unique(header, source)
    return header


def _check_unique(header: list[str], source: str) -> None:
    seen: set[str] = set()
    dups = sorted({h for h in header if h in seen or seen.add(h)})  # type: ignore[func-returns-value]
    if dups:
        raise BadDataError(f"duplicate column names in header: {', '.join(dups)}", source=source)


def read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file (BOM stripped). Raises BadDataError for empty/bad files."""
    source = str(path)
    try:
        with open_decompressed(path) as fh:
            head = fh.read(1 << 20)
    except (OSError, pa.ArrowInvalid, EOFError) as exc:
        raise _read_error(exc, path, source) from exc
    return _header_from_bytes(head, source)


def _csv_batches(
    stream: IO[bytes],
    header: list[str],
    *,
    block_size: int,
    on_invalid: Callable[[InvalidLine], None],
) -> Iterator[pa.RecordBatch]:
    def _invalid(row: pacsv.InvalidRow) -> str:
        on_invalid(
            InvalidLine(
                line=row.number,
                reason=f"malformed CSV record: {row.actual_columns} fields, expected {row.expected_columns}",
                text=row.text,
            )
        )
        return "skip"

    read = pacsv.ReadOptions(block_size=block_size, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=_invalid)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    try:
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):  # a header without a line break after it: no rows
            return
        raise
    for batch in reader:
        if batch.num_rows:
            yield batch


def iter_csv_batches(
    path: Path,
    header: list[str],
    *,
    block_size: int,
    on_invalid: Callable[[InvalidLine], None],
) -> Iterator[pa.RecordBatch]:
    """Yield all-string record batches of a (possibly gzipped) CSV file, one per read block.

    Records with the wrong number of fields are not yielded: ``on_invalid`` is called
    with each, and reading goes on. Empty fields become null. Raises BadDataError for
    a file that cannot be read to the end (truncated gzip, bad encoding).
    """
    source = str(path)
    try:
        with open_decompressed(path) as fh:
            yield from _csv_batches(fh, header, block_size=block_size, on_invalid=on_invalid)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise _read_error(exc, path, source, block_size=block_size) from exc


def _flatten(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Struct columns become dotted columns, recursively; other columns unchanged."""
    if not any(pa.types.is_struct(f.type) for f in batch.schema):
        return batch
    table = pa.Table.from_batches([batch])
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return (
        table.combine_chunks().to_batches()[0]
        if table.num_rows
        else pa.RecordBatch.from_pylist([], schema=table.schema)
    )


def _decimals_as_text(t: pa.DataType) -> pa.DataType:
    """``t`` with every decimal (also inside structs and lists) replaced by string."""
    if pa.types.is_decimal(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_decimals_as_text(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_decimals_as_text(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_decimals_as_text(t.value_type)))
    return t


def _flat_names(schema: pa.Schema) -> list[str]:
    names: list[str] = []

    def walk(prefix: str, t: pa.DataType) -> None:
        if pa.types.is_struct(t):
            for f in t:
                walk(f"{prefix}.{f.name}", f.type)
        else:
            names.append(prefix)

    for f in schema:
        walk(f.name, f.type)
    return names


@dataclass
class TableFile:
    """A billing file opened for reading: its kind, flattened header and batches.

    ``bytes_read`` tells how far into the (compressed) file reading has got, for progress.
    """

    path: Path
    source: str
    kind: Kind
    header: list[str]
    block_size: int
    bytes_read: int = 0
    json_schema: pa.Schema | None = None

    def _json_parse_options(self) -> pajson.ParseOptions:
        if self.json_schema is None:
            return pajson.ParseOptions()
        return pajson.ParseOptions(explicit_schema=self.json_schema, unexpected_field_behavior="infer")

    def use_json_schema(self, schema: pa.Schema) -> None:
        """Read JSON lines with these field types (other fields inferred); the header is read again.

        Without it Arrow guesses each field's type from the first block, and a field that is
        null or an empty list all through that block cannot hold a value later in the file.
        No effect on other kinds of file. BadDataError if the file cannot be read with them.
        Decimal fields are read as their JSON text (BigQuery writes NUMERIC as strings, and
        ``""`` - no value - would fail the whole file): the converter parses it exactly.
        """
        if self.kind not in ("jsonl", "jsonl.gz"):
            return
        self.json_schema = pa.schema([f.with_type(_decimals_as_text(f.type)) for f in schema])
        try:
            with open_decompressed(self.path) as fh:
                reader = pajson.open_json(
                    fh,
                    read_options=pajson.ReadOptions(block_size=self.block_size),
                    parse_options=self._json_parse_options(),
                )
                self.header = _flat_names(reader.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError) as exc:
            raise _read_error(exc, self.path, self.source) from exc
        _check_unique(self.header, self.source)

    def _open_counted(self) -> tuple[pa.NativeFile, pa.NativeFile]:
        """The raw file (its position is the progress) and the stream to parse (gunzipped if need be).

        Native Arrow files only: a Python file object read from Arrow's threads can deadlock
        the interpreter at exit after a reader failed on it.
        """
        raw = pa.OSFile(str(self.path), "rb")
        gz = self.kind in ("csv.gz", "jsonl.gz")
        return raw, (pa.CompressedInputStream(raw, "gzip") if gz else raw)

    def batches(self, on_invalid: Callable[[InvalidLine], None]) -> Iterator[pa.RecordBatch]:
        """Batches in file order (blocking). BadDataError if the file breaks part-way."""
        try:
            if self.kind in ("csv", "csv.gz"):
                counted, fh = self._open_counted()
                with fh:
                    for batch in _csv_batches(fh, self.header, block_size=self.block_size, on_invalid=on_invalid):
                        self.bytes_read = counted.tell()
                        yield batch
            elif self.kind == "zip":
                yield from self._zip_batches(on_invalid)
            elif self.kind == "orc":
                yield from self._orc_batches()
            elif self.kind == "parquet":
                pf = pq.ParquetFile(self.path)
                # Rows per batch: a block's worth of rows about 128 bytes wide once decoded (fewer,
                # larger batches: each batch has a fixed conversion cost of a few milliseconds).
                rows = max(1024, self.block_size // 128)
                total_rows = max(1, pf.metadata.num_rows)
                size = self.path.stat().st_size
                done = 0
                for batch in pf.iter_batches(batch_size=rows):
                    done += batch.num_rows
                    self.bytes_read = size * done // total_rows
                    if batch.num_rows:
                        yield _flatten(batch)
            else:
                counted, fh = self._open_counted()
                with fh:
                    reader = pajson.open_json(
                        fh,
                        read_options=pajson.ReadOptions(block_size=self.block_size),
                        parse_options=self._json_parse_options(),
                    )
                    for batch in reader:
                        self.bytes_read = counted.tell()
                        if batch.num_rows:
                            yield _flatten(batch)
            self.bytes_read = self.path.stat().st_size  # read to the end
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise _read_error(exc, self.path, self.source, block_size=self.block_size) from exc

    def _orc_batches(self) -> Iterator[pa.RecordBatch]:
        """Stripe by stripe (one stripe in memory at a time), in slices of a block's worth of rows."""
        f = paorc.ORCFile(str(self.path))
        rows = max(1024, self.block_size // 128)
        total_rows, size, done = max(1, f.nrows), self.path.stat().st_size, 0
        for i in range(f.nstripes):
            stripe = f.read_stripe(i)
            for start in range(0, stripe.num_rows, rows):
                batch = stripe.slice(start, rows)
                done += batch.num_rows
                self.bytes_read = size * done // total_rows
                yield _flatten(batch)

    def _zip_batches(self, on_invalid: Callable[[InvalidLine], None]) -> Iterator[pa.RecordBatch]:
        with zipfile.ZipFile(self.path) as zf:
            for name in _zip_members(zf):
                self.bytes_read += zf.getinfo(name).compress_size
                with zf.open(name) as member:
                    header = _header_from_bytes(member.read(1 << 20), f"{self.source}!{name}")
                if header != self.header:
                    raise BadDataError(f"zip member {name} has a different header", source=self.source)
                with zf.open(name) as member:
                    yield from _csv_batches(member, self.header, block_size=self.block_size, on_invalid=on_invalid)


def _zip_members(zf: zipfile.ZipFile) -> list[str]:
    return sorted(i.filename for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/"))


def open_table(path: Path, *, source: str | None = None, block_size: int = 4 << 20) -> TableFile:
    """Detect the file's format and read its header; BadDataError (naming ``source``) if unreadable."""
    src = source or str(path)
    kind = sniff(path, src)
    try:
        if kind in ("csv", "csv.gz"):
            with open_decompressed(path) as fh:
                header = _header_from_bytes(fh.read(1 << 20), src)
        elif kind == "zip":
            with zipfile.ZipFile(path) as zf:
                members = _zip_members(zf)
                if not members:
                    raise BadDataError("zip archive has no files", source=src)
                with zf.open(members[0]) as member:
                    header = _header_from_bytes(member.read(1 << 20), src)
        elif kind == "parquet":
            header = _flat_names(pq.ParquetFile(path).schema_arrow)
        elif kind == "orc":
            header = _flat_names(paorc.ORCFile(str(path)).schema)
        else:
            with open_decompressed(path) as fh:
                reader = pajson.open_json(fh, read_options=pajson.ReadOptions(block_size=block_size))
                header = _flat_names(reader.schema)
    except BadDataError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _read_error(exc, path, src) from exc
    _check_unique(header, src)
    return TableFile(path=path, source=src, kind=kind, header=header, block_size=block_size)


def _is_orc(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(3) == _ORC_MAGIC


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _read_error(exc: BaseException, path: Path, source: str, *, block_size: int | None = None) -> BadDataError:
    """One clear error for a file that cannot be read to its end."""
    msg = (str(exc).splitlines() or [type(exc).__name__])[0]
    low = msg.lower()
    if "straddl" in low:  # Arrow: one record spans more than a whole read block (not corruption)
        size = f" ({block_size:,} bytes)" if block_size else ""
        return BadDataError(
            f"a line is longer than the read block{size}: raise the block size "
            "(setting ingest.block_bytes, CLOUDOPS_INGEST__BLOCK_BYTES)",
            source=source,
        )
    if isinstance(exc, zipfile.BadZipFile):
        return BadDataError(f"corrupt zip archive: {msg}", source=source)
    if _is_gzip(path) or "gzip" in low or "zlib" in low or "compressed" in low:
        return BadDataError(f"corrupt or truncated gzip stream: {msg}", source=source)
    if "utf8" in low or "utf-8" in low:
        return BadDataError(f"not valid UTF-8 text: {msg}", source=source)
    if "parquet" in low or "par1" in low or "footer" in low:
        return BadDataError(f"corrupt Parquet file: {msg}", source=source)
    if _is_orc(path):
        return BadDataError(f"corrupt ORC file: {msg}", source=source)
    if "json" in low:
        return BadDataError(f"invalid JSON lines: {msg}", source=source)
    return BadDataError(f"unreadable file: {msg}", source=source)
