"""Build AWS CUR deliveries for tests: data files cut from the real sample, and their manifest.

Every variant knows its exact expected row count and cost (sum of lineItem/UnblendedCost,
which the aws-cur rules map to BilledCost), so tests compare ClickHouse with the source.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"


@dataclass(frozen=True)
class CurFile:
    name: str
    body: bytes
    rows: int
    cost: Decimal


def sample_rows() -> tuple[list[str], list[list[str]]]:
    with SAMPLE.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, list(reader)


def cur_file(name: str, header: list[str], rows: list[list[str]], *, scale: Decimal = Decimal(1)) -> CurFile:
    """A CUR CSV with ``rows``; ``scale`` multiplies every unblended cost (a restatement that changes amounts)."""
    cost_col = header.index("lineItem/UnblendedCost")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    total = Decimal(0)
    for row in rows:
        row = list(row)
        if scale != 1 and row[cost_col]:
            # ClickHouse keeps 10 decimals (Decimal(38,10)): restated amounts are written at that precision.
            row[cost_col] = str((Decimal(row[cost_col]) * scale).quantize(Decimal("1e-10")))
        if row[cost_col]:
            total += Decimal(row[cost_col])
        writer.writerow(row)
    return CurFile(name, out.getvalue().encode(), len(rows), total)


def cur_manifest(*, bucket: str, assembly: str, keys: list[str], period: str = "20231101-20231201") -> bytes:
    """A legacy CUR manifest (the fields cloudops reads, plus the usual ones)."""
    start, end = period.split("-")
    return json.dumps(
        {
            "assemblyId": assembly,
            "account": "123456789012",
            "charset": "UTF-8",
            "compression": "None",
            "contentType": "text/csv",
            "reportId": "0123456789abcdef",
            "reportName": "report",
            "billingPeriod": {"start": f"{start}T000000.000Z", "end": f"{end}T000000.000Z"},
            "bucket": bucket,
            "reportKeys": keys,
            "additionalArtifactKeys": [],
        }
    ).encode()
