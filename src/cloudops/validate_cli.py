"""``cloudops validate FILE``: check a FOCUS file (Parquet or CSV) against FOCUS 1.2.

cloudops' own checks (:mod:`cloudops.focus.validate`, the FOCUS 1.2 requirements model read
column at a time) always run; ``--official`` also runs the FinOps Foundation's validator through
``scripts/focus-validator.sh`` when its virtualenv ``.venv-focus-validator`` exists (found in the
working directory or the source checkout; create it with ``scripts/focus-validator.sh --setup-only``).

Registered in ``cli.py`` with ``app.command("validate")(validate_command)``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from cloudops.focus.validate import ALL, OfficialResult, ValidationReport, parse_junit, validate_table

__all__ = ["find_official_harness", "read_focus_file", "run_official", "validate_command"]

_NULLS = ["", "NULL", "null"]


def read_focus_file(path: Path) -> pa.Table:
    """A FOCUS Parquet file as is, or a CSV (optionally .gz) with every column read as text.

    Raises ValueError naming the file when it cannot be read.
    """
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pq.read_table(path)
        if name.endswith((".csv", ".csv.gz")):
            header = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).schema.names
            opts = pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True, null_values=_NULLS
            )
            return pacsv.read_csv(path, convert_options=opts)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    raise ValueError(f"{path}: not a .parquet, .csv or .csv.gz file")


def find_official_harness(start: Path | None = None) -> Path | None:
    """``scripts/focus-validator.sh`` of a checkout whose validator virtualenv exists, else None."""
    candidates = [start or Path.cwd(), *(start or Path.cwd()).parents, Path(__file__).resolve().parents[2]]
    for root in candidates:
        script = root / "scripts" / "focus-validator.sh"
        if script.is_file() and (root / ".venv-focus-validator" / "bin" / "focus-validator").exists():
            return script
    return None


def run_official(path: Path, script: Path, timeout: float = 1800) -> dict[str, OfficialResult]:
    """Run the official validator (FOCUS 1.2, ALL applicability) on one file; rule id -> result."""
    with tempfile.TemporaryDirectory(prefix="focus-validator-") as out:
        proc = subprocess.run(
            ["bash", str(script), out, str(path.resolve())],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"official validator failed: {proc.stderr.strip()[-2000:]}")
        xml = Path(proc.stdout.strip().splitlines()[-1])
        return parse_junit(xml.read_text(encoding="utf-8"))


def _print_report(console: Console, path: Path, report: ValidationReport) -> None:
    table = Table(title=f"{path.name}: cloudops checks (FOCUS 1.2 requirements model)")
    for col in ("rule", "severity", "check", "rows failing", "example", "requirement"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        rows = "dataset" if f.rows_failing is None else f"{f.rows_failing}/{report.rows}"
        table.add_row(f.rule_id, f.severity, f.check, rows, f.example or "", f.requirement)
    if report.findings:
        console.print(table)
    console.print(
        f"{path.name}: {report.rows} rows, {len(report.checked)} rules checked, {len(report.skipped)} not applicable "
        f"or not executable; {len(report.errors)} errors, {len(report.warnings)} warnings"
    )


def validate_command(
    path: Annotated[Path, typer.Argument(help="FOCUS file: .parquet, .csv or .csv.gz.", exists=True, dir_okay=False)],
    official: Annotated[
        bool, typer.Option("--official", help="Also run the official focus-validator (if set up).")
    ] = False,
    all_criteria: Annotated[
        bool,
        typer.Option("--all-criteria", help="Also apply presence rules that depend on provider features."),
    ] = False,
) -> None:
    """Check a FOCUS file against the FOCUS 1.2 rules; exit 1 if a MUST rule fails."""
    console = Console()
    try:
        table = read_focus_file(path)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    report = validate_table(table, criteria=ALL if all_criteria else None)
    _print_report(console, path, report)
    failed = not report.ok
    if official:
        script = find_official_harness()
        if script is None:
            console.print(
                "official validator not set up: run scripts/focus-validator.sh --setup-only in the cloudops checkout"
            )
        else:
            results = run_official(path, script)
            bad = [r for r in results.values() if r.status in ("failed", "errored")]
            t = Table(title=f"{path.name}: official focus-validator (FOCUS 1.2, ALL criteria)")
            for col in ("rule", "check", "status", "message"):
                t.add_column(col, overflow="fold")
            for r in sorted(bad, key=lambda r: r.rule_id):
                t.add_row(r.rule_id, r.check, r.status, r.message)
            if bad:
                console.print(t)
            counts = {s: sum(r.status == s for r in results.values()) for s in ("passed", "failed", "skipped")}
            console.print(
                f"official: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
            )
            failed = failed or bool(bad)
    if failed:
        raise typer.Exit(1)
