"""A billing file on local disk -> a stream of FOCUS conversion results, bounded in memory."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from cloudops.errors import BadDataError
from cloudops.focus.convert import ConversionResult, convert_batch
from cloudops.focus.datasets import batch_cost_totals
from cloudops.focus.detect import canonical_header, detect_format
from cloudops.focus.nested import json_schema
from cloudops.focus.quality import merge_warnings
from cloudops.focus.rules import FormatRules
from cloudops.focus.unmapped import unmapped_columns
from cloudops.schemas.events import ColumnWarning, RejectedRow
from cloudops.sources.readers import InvalidLine, TableFile, open_table

__all__ = ["FileConversion", "batch_id_for", "open_conversion"]


def batch_id_for(file_id: str, row_start: int, row_end: int) -> str:
    """Deterministic id of the batch covering source rows [row_start, row_end) of a file."""
    return hashlib.sha256(f"{file_id}:{row_start}:{row_end}".encode()).hexdigest()[:32]


def _add(into: dict[str, Decimal], more: dict[str, Decimal]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, Decimal(0)) + v


def _done(convert: Callable[[], ConversionResult]) -> Future[ConversionResult]:
    """``convert()`` run here and now, as a finished future (one thread: no pool)."""
    future: Future[ConversionResult] = Future()
    future.set_result(convert())
    return future


def _malformed(lines: list[InvalidLine]) -> list[RejectedRow]:
    return [RejectedRow(row_number=-1, reason=f"line {x.line}: {x.reason}", raw=x.text) for x in lines]


@dataclass
class FileConversion:
    """Converts one file chunk by chunk; totals accumulate as chunks are taken.

    Iterate :meth:`chunks` (blocking: run it off the event loop). After the loop,
    ``rows_in`` (source rows, malformed CSV records included), ``rows_rejected``,
    ``focus_rows`` (FOCUS rows produced, exploded credit rows included),
    ``source_totals``, ``rejected_totals`` and ``warnings`` (per FOCUS column, optional values
    that could not be read and landed as null) describe the whole file. BadDataError
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
    warnings: list[ColumnWarning] = field(default_factory=list)
    threads: int = field(default_factory=lambda: default_threads())

    @property
    def source(self) -> str:
        return self.table.source

    @property
    def path(self) -> Path:
        return self.table.path

    @property
    def header(self) -> list[str]:
        return self.table.header

    @property
    def unmapped(self) -> list[str]:
        """Source columns no rule reads (kept in ``x_Extensions``), canonical names in header order."""
        return unmapped_columns(self.rules, self.renames)

    def chunks(self) -> Iterator[tuple[ConversionResult | None, list[RejectedRow]]]:
        """Yield each chunk's result, in file order, with the malformed records met while reading it.

        With ``threads`` > 1 that many chunks are converted at once on a thread pool (the Arrow
        kernels the conversion is made of release the GIL) while one more is read ahead: the
        results, their batch ids and row numbers are exactly those of converting one chunk after
        the other, and at most ``threads`` converted chunks wait here, so memory stays bounded.
        """
        offset = 0
        invalid: list[InvalidLine] = []
        pending: deque[tuple[Future[ConversionResult], int, list[InvalidLine]]] = deque()
        reads = _read_ahead(self.table)
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="cloudops-convert") if self.threads > 1 else None
        with pool or contextlib.nullcontext():
            try:
                for raw, invalid in reads:
                    if raw is None:
                        break
                    raw = _canonical(raw, self.table.header, self.renames)
                    batch_id = batch_id_for(self.file_id, offset, offset + raw.num_rows)
                    convert = functools.partial(
                        convert_batch, raw, self.rules, file_id=self.file_id, batch_id=batch_id, row_offset=offset
                    )
                    future = pool.submit(convert) if pool is not None else _done(convert)
                    pending.append((future, raw.num_rows, invalid))
                    offset += raw.num_rows
                    if len(pending) >= self.threads:
                        yield self._taken(*pending.popleft())
                while pending:
                    yield self._taken(*pending.popleft())
            finally:
                for future, _, _ in pending:  # stopped early: drop what was not taken
                    future.cancel()
                reads.close()
        if invalid:  # malformed records after the last good block
            malformed = _malformed(invalid)
            self.rows_in += len(malformed)
            self.rows_rejected += len(malformed)
            yield None, malformed

    def _taken(
        self, future: Future[ConversionResult], rows: int, invalid: list[InvalidLine]
    ) -> tuple[ConversionResult, list[RejectedRow]]:
        """A converted chunk, counted into the file's totals (chunks are taken in file order)."""
        result = future.result()
        malformed = _malformed(invalid)
        self.rows_in += rows + len(malformed)
        self.rows_rejected += len(result.rejected) + len(malformed)
        self.rows_converted += rows - len(result.rejected)
        self.focus_rows += result.batch.num_rows
        _add(self.source_totals, result.source_totals)
        _add(self.rejected_totals, result.rejected_totals)
        if result.warnings:
            self.warnings = merge_warnings(self.warnings, result.warnings)
        _add(self.converted_totals, batch_cost_totals(result.batch, self.rules.dataset))
        return result, malformed


_Read = tuple[pa.RecordBatch | None, list[InvalidLine]]
# Blocks of wide rows are merged up to this many rows (at most _MAX_BLOCKS blocks) before they are
# converted: a batch has a fixed conversion cost of a few milliseconds, which a 4 MiB block of a
# 94-column CUR (about 5,000 rows) would pay 200 times per million rows. Blocks smaller than
# _MERGE_FROM are a deliberate memory (or latency) choice and are converted as they are.
_MIN_ROWS = 16_384
_MAX_BLOCKS = 4
_MERGE_FROM = 1 << 20


def _merged(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _read_ahead(table: TableFile) -> Generator[_Read, None, None]:
    """The file's batches, each with the malformed records met while reading it, read one block ahead.

    A thread reads (and parses) the next block while the caller converts this one: pyarrow
    releases the GIL while it parses, so reading and converting use both cores. Consecutive
    blocks of 1 MiB or more are merged up to ``_MIN_ROWS`` rows (at most ``_MAX_BLOCKS``); at most one
    merged batch waits in the queue, so memory stays bounded by the block size. The last item is
    ``(None, malformed records after the last batch)``. A reader error is raised here, in
    order; stopping early (an exception in the caller, or closing the generator) stops the
    thread after the block it is reading.
    """
    q: queue.Queue[_Read | BaseException] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: _Read | BaseException) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    most = _MAX_BLOCKS if table.block_size >= _MERGE_FROM else 1

    def run() -> None:
        invalid: list[InvalidLine] = []
        held: list[pa.RecordBatch] = []
        try:
            for batch in table.batches(invalid.append):
                if held and batch.schema != held[0].schema:  # (JSON lines may type a field anew per block)
                    if not put((_merged(held), invalid[:0])):
                        return
                    held = []
                held.append(batch)
                if sum(b.num_rows for b in held) < _MIN_ROWS and len(held) < most:
                    continue
                if not put((_merged(held), invalid[:])):
                    return
                held = []
                invalid.clear()
            if held:
                if not put((_merged(held), invalid[:])):
                    return
                invalid.clear()
            put((None, invalid[:]))
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(exc)

    thread = threading.Thread(target=run, name="cloudops-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if item[0] is None:
                return
    finally:
        stop.set()
        thread.join()


def _canonical(raw: pa.RecordBatch, header: list[str], renames: list[str]) -> pa.RecordBatch:
    if renames == header or list(raw.schema.names) != header:
        return raw
    return raw.rename_columns(renames)


def default_threads() -> int:
    """Chunks converted at once: both cores of a 2-core machine, at most 4 (memory grows with it)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def open_conversion(
    path: Path, *, source: str, file_id: str, block_size: int, threads: int | None = None
) -> FileConversion:
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
    conversion = FileConversion(table=table, file_id=file_id, rules=rules, renames=renames)
    if threads is not None:
        conversion.threads = max(1, threads)
    return conversion
