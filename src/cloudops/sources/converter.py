"""A billing file on local disk -> a stream of FOCUS conversion results, bounded in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from cloudops.errors import BadDataError
from cloudops.focus.convert import ConversionResult, convert_batch
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules
from cloudops.schemas.events import RejectedRow
from cloudops.sources.readers import InvalidLine, iter_csv_batches, read_csv_header

__all__ = ["FileConversion", "batch_id_for", "open_conversion"]


def batch_id_for(file_id: str, row_start: int, row_end: int) -> str:
    """Deterministic id of the batch covering source rows [row_start, row_end) of a file."""
    return hashlib.sha256(f"{file_id}:{row_start}:{row_end}".encode()).hexdigest()[:32]


def _add(into: dict[str, Decimal], more: dict[str, Decimal]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, Decimal(0)) + v


def _malformed(lines: list[InvalidLine]) -> list[RejectedRow]:
    return [RejectedRow(row_number=-1, reason=f"line {x.line}: {x.reason}", raw=x.text) for x in lines]


@dataclass
class FileConversion:
    """Converts one file chunk by chunk; totals accumulate as chunks are taken.

    Iterate :meth:`chunks` (blocking: run it off the event loop). After the loop,
    ``rows_in``, ``rows_rejected``, ``source_totals`` and ``rejected_totals`` describe
    the whole file, malformed CSV records included. BadDataError (naming ``source``)
    is raised if the file cannot be read to its end.
    """

    path: Path
    source: str
    file_id: str
    rules: FormatRules
    header: list[str]
    block_size: int
    rows_in: int = 0
    rows_converted: int = 0
    rows_rejected: int = 0
    source_totals: dict[str, Decimal] = field(default_factory=dict)
    rejected_totals: dict[str, Decimal] = field(default_factory=dict)

    def chunks(self) -> Iterator[tuple[ConversionResult | None, list[RejectedRow]]]:
        """Yield each chunk's result with the malformed records met while reading it."""
        invalid: list[InvalidLine] = []
        offset = 0
        try:
            for raw in iter_csv_batches(
                self.path, self.header, block_size=self.block_size, on_invalid=invalid.append
            ):
                batch_id = batch_id_for(self.file_id, offset, offset + raw.num_rows)
                result = convert_batch(
                    raw, self.rules, file_id=self.file_id, batch_id=batch_id, row_offset=offset
                )
                offset += raw.num_rows
                malformed = _malformed(invalid)
                invalid.clear()
                self.rows_in += raw.num_rows + len(malformed)
                self.rows_converted += result.batch.num_rows
                self.rows_rejected += len(result.rejected) + len(malformed)
                _add(self.source_totals, result.source_totals)
                _add(self.rejected_totals, result.rejected_totals)
                yield result, malformed
        except BadDataError as exc:
            raise BadDataError(exc.reason, source=self.source) from exc
        if invalid:  # malformed records after the last good block
            malformed = _malformed(invalid)
            self.rows_in += len(malformed)
            self.rows_rejected += len(malformed)
            yield None, malformed


def open_conversion(path: Path, *, source: str, file_id: str, block_size: int) -> FileConversion:
    """Read the header and detect the format; BadDataError (naming ``source``) if unreadable or unknown."""
    try:
        header = read_csv_header(path)
    except BadDataError as exc:
        raise BadDataError(exc.reason, source=source) from exc
    rules = detect_format(header, source=source)
    return FileConversion(
        path=path, source=source, file_id=file_id, rules=rules, header=header, block_size=block_size
    )
