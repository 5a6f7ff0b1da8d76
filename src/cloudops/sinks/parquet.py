"""FOCUS Parquet output (``cloudops convert``)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from cloudops.focus.convert import focus_schema

__all__ = ["FocusParquetWriter"]


class FocusParquetWriter:
    """Writes converted FOCUS batches to one Parquet file (zstd), streaming.

    The file is written to ``<out>.part`` and renamed into place on a clean close, so a
    reader never sees a half-written file. Batches are encoded and compressed by a thread
    (pyarrow releases the GIL), so writing overlaps the caller's next conversion; at most
    two batches wait. A write error is raised by a later ``write`` or by the close.
    """

    def __init__(self, out: Path, schema: pa.Schema | None = None) -> None:
        """``schema``: the columns to write (default: every FOCUS and extension column); a batch's
        other columns are left out (e.g. the 1.3 columns in FOCUS 1.2 output)."""
        self.out = out
        self.schema = schema if schema is not None else focus_schema()
        self._tmp = out.with_name(out.name + ".part")
        self._writer: pq.ParquetWriter | None = None
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.rows = 0

    def __enter__(self) -> FocusParquetWriter:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        self._thread = threading.Thread(target=self._drain, name="cloudops-parquet-writer", daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        assert self._writer is not None
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_batch(batch)
                except BaseException as exc:  # raised in the caller's thread by write() or close
                    self._error = exc

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._writer is not None
        if self._error is not None:
            raise self._error
        if batch.num_rows:
            if batch.schema.names != self.schema.names:
                batch = batch.select(self.schema.names)
            self._queue.put(batch)
            self.rows += batch.num_rows

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._writer is not None:
            self._writer.close()
        if exc_type is None and self._error is not None:
            self._tmp.unlink(missing_ok=True)
            raise self._error
        if exc_type is None:
            self._tmp.replace(self.out)
        else:
            self._tmp.unlink(missing_ok=True)
