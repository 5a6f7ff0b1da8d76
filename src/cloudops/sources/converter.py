"""A billing file on local disk -> a stream of FOCUS conversion results, bounded in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from cloudops.errors import BadDataError
from cloudops.focus.convert import ConversionResult, convert_batch
from cloudops.focus.detect import canonical_header, detect_format
from cloudops.focus.nested import json_schema
from cloudops.focus.rules import FormatRules
from cloudops.schemas.events import RejectedRow
from cloudops.sources.readers import InvalidLine, TableFile, open_table

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
    ``rows_in`` (source rows, malformed CSV records included), ``rows_rejected``,
    ``focus_rows`` (FOCUS rows produced, exploded credit rows included),
    ``source_totals`` and ``rejected_totals`` describe the whole file. BadDataError
    (naming ``source``) is raised if the file cannot be read to its end.
    """

    table: TableFile
    file_id: str
    rules: FormatRules
    renames: list[str]
    rows_in: int = 0
    rows_converted: int = 0
    rows_rejected: int = 0
    focus_rows: int = 0
    source_totals: dict[str, Decimal] = field(default_factory=dict)
    rejected_totals: dict[str, Decimal] = field(default_factory=dict)
    converted_totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.table.source

    @property
    def path(self) -> Path:
        return self.table.path

    @property
    def header(self) -> list[str]:
        return self.table.header

    def chunks(self) -> Iterator[tuple[ConversionResult | None, list[RejectedRow]]]:
        """Yield each chunk's result with the malformed records met while reading it."""
        from cloudops.focus.convert import sum_by_currency

        invalid: list[InvalidLine] = []
        offset = 0
        for raw in self.table.batches(invalid.append):
            raw = _canonical(raw, self.table.header, self.renames)
            batch_id = batch_id_for(self.file_id, offset, offset + raw.num_rows)
            result = convert_batch(raw, self.rules, file_id=self.file_id, batch_id=batch_id, row_offset=offset)
            offset += raw.num_rows
            malformed = _malformed(invalid)
            invalid.clear()
            self.rows_in += raw.num_rows + len(malformed)
            self.rows_rejected += len(result.rejected) + len(malformed)
            self.rows_converted += raw.num_rows - len(result.rejected)
            self.focus_rows += result.batch.num_rows
            _add(self.source_totals, result.source_totals)
            _add(self.rejected_totals, result.rejected_totals)
            _add(
                self.converted_totals,
                sum_by_currency(result.batch.column("BilledCost"), result.batch.column("BillingCurrency")),
            )
            yield result, malformed
        if invalid:  # malformed records after the last good block
            malformed = _malformed(invalid)
            self.rows_in += len(malformed)
            self.rows_rejected += len(malformed)
            yield None, malformed


def _canonical(raw: pa.RecordBatch, header: list[str], renames: list[str]) -> pa.RecordBatch:
    if renames == header or list(raw.schema.names) != header:
        return raw
    return raw.rename_columns(renames)


def open_conversion(path: Path, *, source: str, file_id: str, block_size: int) -> FileConversion:
    """Open the file, detect its format from the header, check the columns the rules need.

    BadDataError (naming ``source``) if the file is unreadable, of no known format, or
    lacks a required column.
    """
    table = open_table(path, source=source, block_size=block_size)
    rules = detect_format(table.header, source=source)
    if rules.json_types:
        table.use_json_schema(json_schema(rules.json_types))  # JSON lines only
    renames = canonical_header(table.header, rules)
    if len(set(renames)) != len(renames):
        raise BadDataError("two header columns mean the same field after aliasing", source=source)
    missing = sorted(rules.required_columns() - set(renames))
    if missing:
        raise BadDataError(f"missing required columns for {rules.id}: {', '.join(missing)}", source=source)
    return FileConversion(table=table, file_id=file_id, rules=rules, renames=renames)
