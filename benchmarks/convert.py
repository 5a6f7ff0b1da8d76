"""Conversion benchmark: how close is cloudops' FOCUS conversion to the speed of reading the file?

    python benchmarks/convert.py --rows 500000

Builds an AWS legacy CUR CSV of N rows by repeating the public sample
(tests/fixtures/aws/cur_sample.csv, 94 columns), then times, on the same file:
  1. the ceiling: pyarrow's streaming CSV reader alone (every column as text, as cloudops reads it);
  2. cloudops: read + detect + convert every block to FOCUS (all columns, tags, extensions, reject checks);
  3. cloudops convert to Parquet (2. plus writing FOCUS Parquet).
Prints rows/s for each and the ratio to the ceiling. Single process; default block size.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from cloudops.sinks.parquet import FocusParquetWriter
from cloudops.sources.converter import open_conversion
from cloudops.sources.readers import read_csv_header

SAMPLE = Path(__file__).parents[1] / "tests" / "fixtures" / "aws" / "cur_sample.csv"


def build(path: Path, rows: int) -> None:
    text = SAMPLE.read_text()
    header, body = text.split("\n", 1)
    body = body if body.endswith("\n") else body + "\n"
    per = body.count("\n")
    with path.open("w") as out:
        out.write(header + "\n")
        written = 0
        while written < rows:
            out.write(body)
            written += per


def ceiling(path: Path) -> int:
    header = read_csv_header(path)
    types = {h: pa.string() for h in header}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=4 << 20, use_threads=False),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    return sum(b.num_rows for b in reader)


def convert(path: Path, out: Path | None) -> int:
    conv = open_conversion(path, source=str(path), file_id="bench", block_size=4 << 20)
    if out is None:
        for _result, _ in conv.chunks():
            pass
        return conv.focus_rows
    with FocusParquetWriter(out) as writer:
        for result, _ in conv.chunks():
            if result is not None:
                writer.write(result.batch)
    return conv.focus_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cloudops-convert-bench-"))
    try:
        src = work / "cur.csv"
        build(src, args.rows)
        size = src.stat().st_size
        results = []
        for name, fn in (
            ("pyarrow CSV read (ceiling)", lambda: ceiling(src)),
            ("cloudops read + convert", lambda: convert(src, None)),
            ("cloudops convert -> Parquet", lambda: convert(src, work / "out.parquet")),
        ):
            t = time.perf_counter()
            n = fn()
            results.append((name, n, time.perf_counter() - t))
        base = results[0][2]
        print(f"input: AWS legacy CUR CSV, {results[0][1]:,} rows x 94 columns, {size / 1e6:.0f} MB")
        print(f"{'step':32s} {'rows':>10s} {'seconds':>8s} {'rows/s':>10s} {'vs ceiling':>10s}")
        for name, n, s in results:
            print(f"{name:32s} {n:>10,} {s:>8.2f} {n / s:>10,.0f} {s / base:>9.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
