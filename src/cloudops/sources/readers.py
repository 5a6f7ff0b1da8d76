"""Streaming readers: a billing file becomes a sequence of all-string Arrow batches.

Memory is bounded by the read block size, whatever the file size. Compression is
detected from the file's magic bytes (gzip), never from its name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv

from cloudops.errors import BadDataError

__all__ = ["InvalidLine", "iter_csv_batches", "open_decompressed", "read_csv_header"]

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


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


def read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file (BOM stripped). Raises BadDataError for empty/bad files."""
    source = str(path)
    try:
        with open_decompressed(path) as fh:
            head = fh.read(1 << 20)
    except (OSError, pa.ArrowInvalid, EOFError) as exc:
        raise _read_error(exc, path, source) from exc
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
    seen: set[str] = set()
    dups = sorted({h for h in header if h in seen or seen.add(h)})  # type: ignore[func-returns-value]
    if dups:
        raise BadDataError(f"duplicate column names in header: {', '.join(dups)}", source=source)
    return header


def iter_csv_batches(
    path: Path,
    header: list[str],
    *,
    block_size: int,
    on_invalid: Callable[[InvalidLine], None],
) -> Iterator[pa.RecordBatch]:
    """Yield all-string record batches of ``path`` (one per read block).

    Records with the wrong number of fields are not yielded: ``on_invalid`` is called
    with each, and reading goes on. Empty fields become null. Raises BadDataError for
    a file that cannot be read to the end (truncated gzip, bad encoding).
    """
    source = str(path)

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
        with open_decompressed(path) as fh:
            reader = pacsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                if batch.num_rows:
                    yield batch
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise _read_error(exc, path, source) from exc


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _read_error(exc: BaseException, path: Path, source: str) -> BadDataError:
    """One clear error for a file that cannot be read to its end."""
    msg = (str(exc).splitlines() or [type(exc).__name__])[0]
    low = msg.lower()
    if _is_gzip(path) or "gzip" in low or "zlib" in low or "compressed" in low:
        return BadDataError(f"corrupt or truncated gzip stream: {msg}", source=source)
    if "utf8" in low or "utf-8" in low:
        return BadDataError(f"not valid UTF-8 text: {msg}", source=source)
    return BadDataError(f"unreadable CSV: {msg}", source=source)
