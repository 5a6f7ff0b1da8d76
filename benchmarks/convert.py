"""Conversion benchmark: cloudops against focus-converter and against reading the file, whole process.

    python benchmarks/convert.py --rows 1000000

Builds N-row inputs by repeating the golden fixtures in tests/fixtures, one per format:

    aws-cur-csv       AWS legacy CUR CSV (the public sample tests/fixtures/aws/cur_sample.csv, 94 columns)
    aws-cur-parquet   the same rows as typed Parquet (money and quantities float64, dates timestamps)
    aws-cur2-parquet  AWS CUR 2.0 Parquet (tests/fixtures/aws/cur2_sample.parquet, 125 columns, maps)
    gcp-jsonl         GCP billing export JSON lines (tests/fixtures/gcp/detailed_json.jsonl; credits exploded)
    azure-mca-csv     Azure MCA cost CSV (tests/fixtures/azure/synthetic/mca_actual.csv)
    azure-ea-csv      Azure EA cost CSV (tests/fixtures/azure/ea_amortized_small.csv)
    alibaba-csv       Alibaba bill CSV (tests/fixtures/alibaba/billing_item_detail.csv)
    alibaba-zip       the Alibaba bill as a zip of 4 CSV parts (deflate), as Alibaba splits large bills

and times, each as its own process (wall time, rows/s, peak RSS of the whole process from wait4):

  1. read ceiling: cloudops' reader alone (pyarrow, the same columns, block size and threads as
     the conversion), no conversion - what reading the file costs;
  2. cloudops: ``cloudops convert FILE -o OUT.parquet`` (detect, convert, reconcile, write FOCUS
     Parquet) - the command a user runs;
  3. focus-converter 1.0.0 (the FinOps Foundation's converter; aws-cur-csv and aws-cur-parquet
     only), ``--provider aws-cur``, in its own virtualenv (.venv-focus-converter, created on first
     use with the pins it needs), under ``timeout``.

Rows/s counts source rows. Prints a table and the issue-10 targets met or missed. Options:
``--rows``, ``--formats a,b``, ``--skip-focus-converter``, ``--work-dir`` (keep and reuse inputs).
Progress goes to stderr. The machine's other load skews
wall times: the table also shows CPU seconds (user + system) per process.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
FC_VENV = ROOT / ".venv-focus-converter"
FC_PINS = ["focus-converter==1.0.0", "multimethod==1.10", "click==8.1.7"]
FC_FORMATS = {"aws-cur-csv": "csv", "aws-cur-parquet": "parquet"}

# Targets from issue 10 (rows/s of source rows, whole process, 1M rows).
TARGET_CSV = 300_000
TARGET_PARQUET = 1_000_000
TARGET_OTHER = 150_000
TARGET_VS_FC = 10.0
TARGET_VS_READ = 1.5


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- inputs


def _repeat_text(src: Path, out: Path, rows: int, *, header: bool) -> int:
    """Write ``src``'s body (after an optional header line) again and again until >= rows records."""
    data = src.read_bytes()
    head = b""
    if header:
        head, data = data.split(b"\n", 1)
        head += b"\n"
    if not data.endswith(b"\n"):
        data += b"\n"
    per = _records(src, header=header)
    copies = -(-rows // per)
    chunk = data * max(1, min(copies, (64 << 20) // max(1, len(data))))
    per_chunk = per * (len(chunk) // len(data))
    written = 0
    with out.open("wb") as fh:
        fh.write(head)
        while written + per_chunk <= copies * per:
            fh.write(chunk)
            written += per_chunk
        while written < copies * per:
            fh.write(data)
            written += per
    return written


def _records(src: Path, *, header: bool) -> int:
    """Records in a CSV (quoted line breaks allowed) or JSON-lines fixture."""
    if not header:
        return sum(1 for line in src.read_text(encoding="utf-8").splitlines() if line.strip())
    import csv

    with src.open(encoding="utf-8-sig", newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def _repeat_parquet(table: object, out: Path, rows: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert isinstance(table, pa.Table)
    per = table.num_rows
    group = pa.concat_tables([table] * max(1, 131_072 // per))  # row groups of ~128k rows, as exporters write
    copies = -(-rows // per)
    written = 0
    with pq.ParquetWriter(out, table.schema, compression="snappy") as writer:
        while written + group.num_rows <= copies * per:
            writer.write_table(group)
            written += group.num_rows
        rest = copies * per - written
        if rest:
            writer.write_table(pa.concat_tables([table] * (rest // per)))
            written += rest
    return written


_CUR_NUMBER = re.compile(
    r"^(lineItem|pricing|reservation|savingsPlan)/.*(Cost|Fee|Rate|Amount|Quantity|Units|Factor|Commitment"
    r"|CommitmentToDate|Value|Reservations|ForUsage|ForBillingPeriod)$"
)


def _cur_parquet(csv_path: Path, out: Path) -> int:
    """The CUR CSV as AWS writes Parquet: money and quantities float64, dates timestamps, the rest text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    header = csv_path.open(encoding="utf-8").readline().rstrip("\r\n").split(",")
    types: dict[str, pa.DataType] = {}
    for name in header:
        if _CUR_NUMBER.match(name) and not name.endswith(("ARN", "Id")):
            types[name] = pa.float64()
        elif name.endswith(("Date", "StartTime", "EndTime")) and name.startswith(("bill/", "lineItem/")):
            types[name] = pa.timestamp("ms", tz="UTC")
        else:
            types[name] = pa.string()
    schema = pa.schema([(n, types[n]) for n in header])
    reader = pacsv.open_csv(
        csv_path,
        read_options=pacsv.ReadOptions(block_size=64 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    rows = 0
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        for batch in reader:
            writer.write_batch(batch.cast(schema), row_group_size=131_072)
            rows += batch.num_rows
    return rows


def _zip_parts(csv_path: Path, out: Path, parts: int = 4) -> int:
    """The CSV split into ``parts`` members with the same header, deflated, as Alibaba delivers big bills."""
    with csv_path.open("rb") as src:
        head = src.readline()
        body = src.read()
    lines = body.splitlines(keepends=True)
    step = -(-len(lines) // parts)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(parts):
            piece = lines[i * step : (i + 1) * step]
            with zf.open(f"BillingItemDetail_202403_{i + 1}.csv", "w") as member:
                member.write(head)
                buf = io.BytesIO()
                for line in piece:
                    buf.write(line)
                    if buf.tell() > 32 << 20:
                        member.write(buf.getvalue())
                        buf = io.BytesIO()
                member.write(buf.getvalue())
    return len(lines)


@dataclass(frozen=True)
class Format:
    id: str
    title: str
    ext: str
    build: Callable[[Path, int, Path], int]  # (out, rows, work dir) -> rows written
    kind: str  # "csv", "parquet" or "other", for the targets


def _csv(fixture: str) -> Callable[[Path, int, Path], int]:
    return lambda out, rows, _work: _repeat_text(FIXTURES / fixture, out, rows, header=True)


def _build_cur_parquet(out: Path, rows: int, work: Path) -> int:
    return _cur_parquet(_input(FORMATS["aws-cur-csv"], rows, work)[0], out)


def _build_cur2(out: Path, rows: int, _work: Path) -> int:
    import pyarrow.parquet as pq

    return _repeat_parquet(pq.read_table(FIXTURES / "aws" / "cur2_sample.parquet"), out, rows)


def _build_zip(out: Path, rows: int, work: Path) -> int:
    return _zip_parts(_input(FORMATS["alibaba-csv"], rows, work)[0], out)


FORMATS: dict[str, Format] = {
    f.id: f
    for f in (
        Format("aws-cur-csv", "AWS legacy CUR CSV", "csv", _csv("aws/cur_sample.csv"), "csv"),
        Format("aws-cur-parquet", "AWS legacy CUR, typed Parquet", "parquet", _build_cur_parquet, "parquet"),
        Format("aws-cur2-parquet", "AWS CUR 2.0 Parquet", "parquet", _build_cur2, "other"),
        Format(
            "gcp-jsonl",
            "GCP billing export JSON lines",
            "jsonl",
            lambda out, rows, _w: _repeat_text(FIXTURES / "gcp" / "detailed_json.jsonl", out, rows, header=False),
            "other",
        ),
        Format("azure-mca-csv", "Azure MCA cost CSV", "csv", _csv("azure/synthetic/mca_actual.csv"), "other"),
        Format("azure-ea-csv", "Azure EA cost CSV", "csv", _csv("azure/ea_amortized_small.csv"), "other"),
        Format("alibaba-csv", "Alibaba bill CSV", "csv", _csv("alibaba/billing_item_detail.csv"), "other"),
        Format("alibaba-zip", "Alibaba bill, zip of 4 CSV parts", "zip", _build_zip, "other"),
    )
}


def _input(fmt: Format, rows: int, work: Path) -> tuple[Path, int]:
    """The N-row input for ``fmt`` in ``work`` (built once; reused while it exists)."""
    path = work / f"{fmt.id}-{rows}.{fmt.ext}"
    meta = path.with_name(path.name + ".rows")
    if path.exists() and meta.exists():
        return path, int(meta.read_text())
    log(f"building {fmt.id} input ({rows:,} rows) ...")
    t = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    written = fmt.build(tmp, rows, work)
    tmp.replace(path)
    meta.write_text(str(written))
    log(f"  {path.name}: {written:,} rows, {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s")
    return path, written


# ---------------------------------------------------------------- processes


@dataclass
class Run:
    format: str
    tool: str
    rows: int
    seconds: float
    cpu: float
    rss_mb: float
    ok: bool
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.ok and self.seconds else 0.0


def _measure(cmd: list[str], *, cwd: Path, log_path: Path) -> tuple[int, float, float, float]:
    """Run ``cmd``; (exit code, wall seconds, cpu seconds, peak RSS in MB) of that process.

    Peak RSS is the largest resident set of the process or any one of its children (ru_maxrss).
    The command runs under GNU time when there is one: Linux starts a child's peak RSS at its
    parent's, so measuring from this (large) process would report its own size for small children.
    """
    stats = log_path.with_suffix(".time")
    wrap = ["/usr/bin/time", "-q", "-f", "%e %U %S %M", "-o", str(stats)] if Path("/usr/bin/time").exists() else []
    with log_path.open("wb") as out:
        t = time.perf_counter()
        proc = subprocess.Popen([*wrap, *cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu, rss_kb = usage.ru_utime + usage.ru_stime, float(usage.ru_maxrss)
    if wrap:
        fields = stats.read_text().split()[-4:]  # GNU time writes "Command exited with ..." first on failure
        cpu, rss_kb = float(fields[1]) + float(fields[2]), float(fields[3])
    return proc.returncode, wall, cpu, rss_kb / 1024


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def ensure_focus_converter() -> Path:
    """The focus-converter executable, installing it into its own virtualenv on first use."""
    exe = FC_VENV / "bin" / "focus-converter"
    if exe.exists():
        return exe
    log(f"creating {FC_VENV.name} with {' '.join(FC_PINS)} (once) ...")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(FC_VENV)], check=True)
    subprocess.run([str(FC_VENV / "bin" / "pip"), "install", "-q", *FC_PINS], check=True)
    return exe


def run_read(fmt: Format, path: Path, rows: int, work: Path) -> Run:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--read-only", str(path)]
    code, wall, cpu, rss = _measure(cmd, cwd=work, log_path=work / f"{fmt.id}.read.log")
    got = _read_log_rows(work / f"{fmt.id}.read.log")
    ok = code == 0 and got == rows
    return Run(fmt.id, "read ceiling", rows, wall, cpu, rss, ok, "" if ok else f"exit {code}, {got} rows")


def _read_log_rows(path: Path) -> int:
    m = re.search(r"rows=(\d+)", path.read_text(errors="replace"))
    return int(m.group(1)) if m else -1


def run_cloudops(fmt: Format, path: Path, rows: int, work: Path) -> Run:
    out = work / f"{fmt.id}.focus.parquet"
    out.unlink(missing_ok=True)
    cloudops = Path(sys.executable).with_name("cloudops")
    cmd = [str(cloudops), "convert", str(path), "-o", str(out)]
    code, wall, cpu, rss = _measure(cmd, cwd=work, log_path=work / f"{fmt.id}.cloudops.log")
    ok = code == 0 and out.exists()
    note = f"{_parquet_rows(out):,} FOCUS rows" if ok else f"exit {code} (see {fmt.id}.cloudops.log)"
    return Run(fmt.id, "cloudops convert", rows, wall, cpu, rss, ok, note)


def run_focus_converter(fmt: Format, path: Path, rows: int, work: Path, timeout: int) -> Run:
    exe = ensure_focus_converter()
    out = work / f"{fmt.id}.focus-converter"
    shutil.rmtree(out, ignore_errors=True)
    data_format = FC_FORMATS[fmt.id]
    cmd = ["timeout", str(timeout), str(exe), "convert", "--provider", "aws-cur"]
    cmd += ["--data-path", str(path), "--data-format", data_format, "--export-path", str(out)]
    if data_format == "parquet":
        cmd += ["--parquet-data-format", "file"]
    code, wall, cpu, rss = _measure(cmd, cwd=work, log_path=work / f"{fmt.id}.focus-converter.log")
    got = _parquet_rows(out) if out.exists() else 0
    ok = code == 0 and got > 0
    note = f"{got:,} FOCUS rows" if ok else ("timed out" if code == 124 else f"exit {code}, {got} rows")
    return Run(fmt.id, "focus-converter 1.0.0", rows, wall, cpu, rss, ok, note)


def read_only(path: Path) -> None:
    """Child process of ``run_read``: read the file the way ``cloudops convert`` does, convert nothing."""
    from cloudops.settings import get_settings
    from cloudops.sources.converter import open_conversion

    t = time.perf_counter()
    conv = open_conversion(path, source=str(path), file_id="bench", block_size=get_settings().ingest.block_bytes)
    rows = 0
    bad = 0

    def invalid(_line: object) -> None:
        nonlocal bad
        bad += 1

    for batch in conv.table.batches(invalid):
        rows += batch.num_rows
    print(f"rows={rows + bad} format={conv.rules.id} seconds={time.perf_counter() - t:.2f}")


# ---------------------------------------------------------------- report


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def _fmt_rate(r: float) -> str:
    return f"{r:,.0f}" if r else "-"


def report(runs: list[Run], inputs: dict[str, tuple[Path, int]], args: argparse.Namespace) -> str:
    lines: list[str] = []
    by = {(r.format, r.tool): r for r in runs}
    head = f"{'format':18s} {'tool':22s} {'rows':>10s} {'wall s':>8s} {'cpu s':>7s} {'rows/s':>11s}"
    head += f" {'peak RSS':>9s} {'vs read':>8s} note"
    lines += [head, "-" * len(head)]
    for fid, (path, rows) in inputs.items():
        read = by.get((fid, "read ceiling"))
        for tool in ("read ceiling", "cloudops convert", "focus-converter 1.0.0"):
            r = by.get((fid, tool))
            if r is None:
                continue
            vs = f"{r.seconds / read.seconds:.2f}x" if read and read.ok and r.ok and tool != "read ceiling" else ""
            note = r.note if r.ok else f"FAILED: {r.note}"
            lines.append(
                f"{fid:18s} {tool:22s} {rows:>10,} {r.seconds:>8.2f} {r.cpu:>7.1f} {_fmt_rate(r.rate):>11s}"
                f" {r.rss_mb:>6.0f} MB {vs:>8s} {note}"
            )
        lines.append(f"{'':18s} input: {path.name}, {path.stat().st_size / 1e6:,.0f} MB")
    lines.append("")
    lines.append("Targets (issue 10, whole process, 1M rows):")
    for fid in inputs:
        c = by.get((fid, "cloudops convert"))
        if c is None or not c.ok:
            continue
        target = {"csv": TARGET_CSV, "parquet": TARGET_PARQUET}.get(FORMATS[fid].kind, TARGET_OTHER)
        short = "met" if c.rate >= target else f"{target / c.rate:.1f}x short"
        verdicts = [f"{_fmt_rate(c.rate)} rows/s vs >= {target:,}: {short}"]
        read = by.get((fid, "read ceiling"))
        if read and read.ok:
            ratio = c.seconds / read.seconds
            verdicts.append(f"{ratio:.2f}x the read time vs <= {TARGET_VS_READ}x: {_met(ratio <= TARGET_VS_READ)}")
        fc = by.get((fid, "focus-converter 1.0.0"))
        if fc and fc.ok:
            speedup = fc.seconds / c.seconds
            verdicts.append(
                f"{speedup:.1f}x focus-converter vs >= {TARGET_VS_FC:.0f}x: {_met(speedup >= TARGET_VS_FC)}"
            )
            verdicts.append(f"RSS {c.rss_mb:,.0f} MB vs focus-converter {fc.rss_mb:,.0f} MB")
        lines.append(f"  {fid:18s} " + "; ".join(verdicts))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="source rows per input (default 1,000,000)")
    ap.add_argument("--formats", default="all", help=f"comma-separated: {', '.join(FORMATS)} (default all)")
    ap.add_argument("--skip-focus-converter", action="store_true", help="do not run focus-converter")
    ap.add_argument("--work-dir", type=Path, help="keep inputs and outputs here (reused by later runs)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds before focus-converter is stopped")
    ap.add_argument("--read-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.read_only:
        read_only(args.read_only)
        return
    wanted = list(FORMATS) if args.formats == "all" else [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        ap.error(f"unknown formats {unknown}; choose from {', '.join(FORMATS)}")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="cloudops-convert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load = _load()
    started = time.perf_counter()
    try:
        inputs = {fid: _input(FORMATS[fid], args.rows, work) for fid in wanted}
        steps: list[tuple[str, str]] = []
        for fid in wanted:
            steps += [(fid, "read"), (fid, "cloudops")]
            if fid in FC_FORMATS and not args.skip_focus_converter:
                steps.append((fid, "focus-converter"))
        runs: list[Run] = []
        for i, (fid, step) in enumerate(steps, 1):
            fmt, (path, rows) = FORMATS[fid], inputs[fid]
            log(f"[{i}/{len(steps)}] {fid}: {step} ...")
            if step == "read":
                run = run_read(fmt, path, rows, work)
            elif step == "cloudops":
                run = run_cloudops(fmt, path, rows, work)
            else:
                run = run_focus_converter(fmt, path, rows, work, args.timeout)
            runs.append(run)
            failed = "" if run.ok else f" FAILED {run.note}"
            log(f"    {run.seconds:.2f} s, {_fmt_rate(run.rate)} rows/s, {run.rss_mb:,.0f} MB{failed}")
        print(f"command: python benchmarks/convert.py {' '.join(sys.argv[1:])}")
        print(
            f"machine: {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()},"
            f" load average {load} at start, {_load()} at end; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        print(report(runs, inputs, args))
        print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


if __name__ == "__main__":
    main()
