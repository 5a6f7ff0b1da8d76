"""The shipped demo data: the compute sample bills are what their script generates, convert cleanly with
the aws-cur rules, and bill exactly the resources of the shipped Terraform sample."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudops.embedded import (
    COMPUTE_SAMPLE_MONTHS,
    compute_sample_files,
    samples_dir,
    terraform_sample_repo,
    terraform_sample_state,
)
from cloudops.sources.converter import open_conversion
from cloudops.terraform import find_in_state

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "make_compute_sample.py"


def _state() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(terraform_sample_state().read_text(encoding="utf-8"))
    return doc


def test_helpers_point_into_the_package() -> None:
    root = samples_dir()
    assert (root.parent.name, root.name) == ("embedded", "samples")
    assert (root / "aws-cur-2023-11.csv").is_file()
    assert [p.name for p in compute_sample_files()] == [f"aws-cur-compute-{m}.csv" for m in COMPUTE_SAMPLE_MONTHS]
    assert all(p.is_file() for p in compute_sample_files())
    repo = terraform_sample_repo()
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.tf")) == [
        "main.tf",
        "modules/rds/main.tf",
        "modules/rds/variables.tf",
        "variables.tf",
    ]
    assert _state()["version"] == 4


def test_committed_files_are_what_the_script_generates() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_check_mode_notices_a_changed_file(tmp_path: Path) -> None:
    # The script writes next to itself: run a copy whose output folder is a scratch copy of the samples.
    out = tmp_path / "src" / "cloudops" / "embedded" / "samples"
    out.mkdir(parents=True)
    for p in compute_sample_files():
        (out / p.name).write_bytes(p.read_bytes())
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / SCRIPT.name
    script.write_bytes(SCRIPT.read_bytes())

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)

    assert check().returncode == 0
    nov = out / "aws-cur-compute-2023-11.csv"
    nov.write_text(nov.read_text().replace(",143.28,", ",143.29,", 1))
    failed = check()
    assert failed.returncode == 1
    assert "aws-cur-compute-2023-11.csv" in failed.stderr


@pytest.mark.parametrize("path", compute_sample_files(), ids=lambda p: p.name)
def test_compute_file_converts_without_rejects_and_reconciles(path: Path) -> None:
    conv = open_conversion(path, source=str(path), file_id=f"sample-{path.stem}", block_size=1 << 20)
    assert conv.rules.id == "aws-cur"
    batches = []
    for result, malformed in conv.chunks():
        assert malformed == []
        assert result is not None
        assert result.rejected == []
        batches.append(result.batch)
    assert conv.rows_in == conv.rows_converted == conv.focus_rows == 12
    assert conv.rows_rejected == 0
    assert conv.source_totals == conv.converted_totals
    assert set(conv.source_totals) == {"USD"}
    month = path.stem.removeprefix("aws-cur-compute-")
    rows = [r for b in batches for r in b.to_pylist()]
    assert {f"{r['BillingPeriodStart']:%Y-%m}" for r in rows} == {month}
    assert {f"{r['ChargePeriodStart']:%Y-%m}" for r in rows} == {month}
    # What the recommenders read: resource ids, AWS usage type / operation / product code, on-demand pricing.
    for r in rows:
        ext = json.loads(r["x_Extensions"])
        assert r["ResourceId"]
        assert ext["x_UsageType"] == r["SkuMeter"]
        assert ext["x_Operation"]
        assert ext["x_ProductCode"] in {"AmazonEC2", "AmazonRDS", "AmazonCloudWatch", "AmazonS3"}
        assert (r["ChargeCategory"], r["PricingCategory"], r["RegionId"]) == ("Usage", "Standard", "us-east-1")
        assert r["BilledCost"] == r["EffectiveCost"] == r["ListCost"]
        assert r["BillingAccountId"] == r["SubAccountId"] == "123456789012"


@pytest.mark.parametrize("path", compute_sample_files(), ids=lambda p: p.name)
def test_costs_are_quantity_times_the_public_rate(path: Path) -> None:
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            qty, rate = Decimal(row["lineItem/UsageAmount"]), Decimal(row["lineItem/UnblendedRate"])
            assert Decimal(row["lineItem/UnblendedCost"]) == qty * rate
            assert Decimal(row["pricing/publicOnDemandCost"]) == qty * rate


def test_bills_charge_exactly_the_terraform_sample_resources() -> None:
    state = _state()
    billed: set[str] = set()
    for path in compute_sample_files():
        with path.open(newline="") as f:
            billed |= {row["lineItem/ResourceId"] for row in csv.DictReader(f)}
    matched = {}
    for rid in billed:
        match = find_in_state(state, rid)
        assert match is not None, f"{rid} is billed but not in the Terraform sample"
        matched[rid] = match.address
    managed = {
        (f"{r['module']}." if r.get("module") else "") + f"{r['type']}.{r['name']}"
        for r in state["resources"]
        if r["mode"] == "managed"
    }
    assert set(matched.values()) == managed  # every managed resource is billed, each by one id
    assert len(matched) == len(managed)
