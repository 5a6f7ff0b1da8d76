"""`cloudops demo` (the main job) on embedded defaults."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cloudops.demo import run_demo, sample_files

pytestmark = pytest.mark.integration


def _unblended(path: Path) -> tuple[int, Decimal]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows), sum((Decimal(r["lineItem/UnblendedCost"]) for r in rows), Decimal(0))


async def test_demo_lands_every_sample_to_the_cent(tmp_path: Path) -> None:
    from cloudops.sinks.clickhouse.client import close_all

    close_all()
    result = await run_demo(tmp_path, timeout=180)
    assert result.ok
    by_name = {Path(r.file_url).name: r for r in result.receipts}
    for path in sample_files():
        rows, total = _unblended(path)
        receipt = by_name[path.name]
        assert receipt.rows_landed == rows
        assert receipt.landed_totals == {"USD": total}
    # The answer printed is the same money.
    assert sum((c["BilledCost"] for c in result.costs), Decimal(0)) == sum(
        (_unblended(p)[1] for p in sample_files()), Decimal(0)
    )
    # The loop is closed: one PR per Terraform-addressable saving in the sample bills, each a
    # one-file change of main.tf, and the time from receipt to PR is measured.
    titles = sorted(pr.title for pr in result.pull_requests)
    assert len(titles) == 6, titles
    assert any("vol-0a1b2c3d4e5f60001 from gp2 to gp3" in t for t in titles)
    assert any("i-0a1b2c3d4e5f60011 from m4.large to m5.large" in t for t in titles)
    assert all(pr.changed_paths == ["main.tf"] for pr in result.pull_requests)
    assert result.receipt_to_first_pr_s is not None
    assert result.receipt_to_first_pr_s > 0


def test_demo_command_exits_zero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cloudops", "demo", "--work-dir", str(tmp_path / "wd")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Reconciliation per file" in proc.stdout
    assert "Savings pull requests opened in the local forge" in proc.stdout
    assert "Time from the last billing-loaded receipt to the first pull request" in proc.stdout.replace("\n", " ")
    assert "OK s3://billing-exports/exports/aws-cur-2023-11.csv" in proc.stdout.replace("\n", " ")
