"""FOCUS Parquet output (``cloudops convert``)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from cloudops.focus.convert import focus_schema

__all__ = ["FocusParquetWriter"]


class FocusParquetWriter:
    """Writes converted FOCUS batches to one Parquet file (zstd), streaming.

    The file is written to ``<out>.part`` and renamed into place on a clean close, so a
    reader never sees a half-written file.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._tmp = out.with_name(out.name + ".part")
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def __enter__(self) -> FocusParquetWriter:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self._tmp, focus_schema(), compression="zstd")
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._writer is not None
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        if exc_type is None:
            self._tmp.replace(self.out)
        else:
            self._tmp.unlink(missing_ok=True)
