#!/usr/bin/env python3
"""Write the synthetic compute CUR samples of ``cloudops demo`` (deterministic: same bytes on every run).

.venv/bin/python scripts/make_compute_sample.py          # rewrite the three files
.venv/bin/python scripts/make_compute_sample.py --check  # exit 1 if a committed file differs (or is missing)

Output: ``src/cloudops/embedded/samples/aws-cur-compute-2023-{09,10,11}.csv``, one AWS legacy
CUR file per billing period (as AWS delivers them), "Monthly" time granularity, "include
resource IDs" on. Account 123456789012, us-east-1, USD, on-demand only. The line items are
exactly the resources of the shipped Terraform sample (``samples/terraform``): three EBS
volumes, two EC2 instances, the ``orders-db`` PostgreSQL instance, an idle Elastic IP, the
``/app/web`` log group and the ``cloudops-demo-archive`` bucket. Quantities are the
resources' sizes and the hours of each month; costs are quantity x the public us-east-1
on-demand price (see ``_PRICES``), exact in decimal. November matches
``tests/support/recommend_data.py`` except for the database (PostgreSQL here, as the
Terraform sample says; MySQL there). Synthetic: not a real bill. Standard library only.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import sys
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "cloudops" / "embedded" / "samples"
MONTHS = (date(2023, 9, 1), date(2023, 10, 1), date(2023, 11, 1))
ACCOUNT = "123456789012"
REGION = "us-east-1"
LOCATION = "US East (N. Virginia)"
ENTITY = "Amazon Web Services, Inc."

# Public on-demand prices, us-east-1, as of 2023-11 (the same pages as src/cloudops/recommend/data/README.md).
_PRICES = {
    "gp2": Decimal("0.10"),  # EBS gp2, per GB-month
    "io1": Decimal("0.125"),  # EBS io1 storage, per GB-month
    "io1-iops": Decimal("0.065"),  # EBS io1 provisioned IOPS, per IOPS-month
    "m4.large": Decimal("0.10"),  # EC2 Linux on-demand, per hour
    "c4.xlarge": Decimal("0.199"),
    "db.m4.large-postgres": Decimal("0.182"),  # RDS for PostgreSQL Single-AZ, per hour
    "rds-gp2": Decimal("0.115"),  # RDS gp2 storage (Single-AZ), per GB-month
    "eip-idle": Decimal("0.005"),  # Elastic IP not attached to a running instance, per hour
    "logs-storage": Decimal("0.03"),  # CloudWatch Logs archived storage, per GB-month
    "s3-standard": Decimal("0.023"),  # S3 Standard, first 50 TB, per GB-month
    "s3-get": Decimal("0.0000004"),  # S3 GET and other requests, 0.0004 per 1,000
}

_LOG_GB_MONTH = {9: Decimal(200), 10: Decimal(300), 11: Decimal(400)}
"""Stored log bytes of /app/web (no retention set): they grow by one month of logs every month."""

_PRODUCT_COLUMNS = (
    "product/ProductName",
    "product/currentGeneration",
    "product/databaseEngine",
    "product/deploymentOption",
    "product/group",
    "product/instanceFamily",
    "product/instanceType",
    "product/location",
    "product/locationType",
    "product/memory",
    "product/operatingSystem",
    "product/productFamily",
    "product/region",
    "product/regionCode",
    "product/servicecode",
    "product/servicename",
    "product/sku",
    "product/storageClass",
    "product/storageMedia",
    "product/tenancy",
    "product/usagetype",
    "product/vcpu",
    "product/volumeApiName",
    "product/volumeType",
)
_TAG_COLUMNS = ("resourceTags/user:Name", "resourceTags/user:Team")
HEADER = (
    "identity/LineItemId",
    "identity/TimeInterval",
    "bill/InvoiceId",
    "bill/InvoicingEntity",
    "bill/BillingEntity",
    "bill/BillType",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/AvailabilityZone",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/NormalizationFactor",
    "lineItem/NormalizedUsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "lineItem/BlendedRate",
    "lineItem/BlendedCost",
    "lineItem/LineItemDescription",
    "lineItem/TaxType",
    "lineItem/LegalEntity",
    *_PRODUCT_COLUMNS,
    "pricing/RateCode",
    "pricing/RateId",
    "pricing/currency",
    "pricing/publicOnDemandCost",
    "pricing/publicOnDemandRate",
    "pricing/term",
    "pricing/unit",
    *_TAG_COLUMNS,
)

_EC2 = {"product/ProductName": "Amazon Elastic Compute Cloud", "product/servicecode": "AmazonEC2"}
_EC2_NAME = {"product/servicename": "Amazon Elastic Compute Cloud"}
_RDS = {
    "product/ProductName": "Amazon Relational Database Service",
    "product/servicecode": "AmazonRDS",
    "product/servicename": "Amazon Relational Database Service",
}
_CW = {
    "product/ProductName": "AmazonCloudWatch",
    "product/servicecode": "AmazonCloudWatch",
    "product/servicename": "AmazonCloudWatch",
}
_S3 = {
    "product/ProductName": "Amazon Simple Storage Service",
    "product/servicecode": "AmazonS3",
    "product/servicename": "Amazon Simple Storage Service",
}


@dataclass(frozen=True)
class Charge:
    """One resource's recurring charge; one line item per month."""

    product_code: str
    resource_id: str
    usage_type: str
    operation: str
    unit: str
    price: str  # key of _PRICES
    quantity: str  # "hours", "logs" or a fixed decimal
    sku: str
    description: str
    availability_zone: str = ""
    normalization_factor: str = ""
    product: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def _ec2_instance(resource_id: str, itype: str, family: str, vcpu: str, memory: str, nf: str, sku: str) -> Charge:
    return Charge(
        "AmazonEC2",
        resource_id,
        f"BoxUsage:{itype}",
        "RunInstances",
        "Hrs",
        itype,
        "hours",
        sku,
        f"${_PRICES[itype]} per On Demand Linux {itype} Instance Hour",
        availability_zone="us-east-1a",
        normalization_factor=nf,
        product={
            **_EC2,
            **_EC2_NAME,
            "product/currentGeneration": "No",
            "product/instanceFamily": family,
            "product/instanceType": itype,
            "product/memory": memory,
            "product/operatingSystem": "Linux",
            "product/productFamily": "Compute Instance",
            "product/tenancy": "Shared",
            "product/vcpu": vcpu,
        },
    )


def _gp2(resource_id: str, size: str, zone: str, tags: dict[str, str]) -> Charge:
    return Charge(
        "AmazonEC2",
        resource_id,
        "EBS:VolumeUsage.gp2",
        "CreateVolume-Gp2",
        "GB-Mo",
        "gp2",
        size,
        "HY3BZPP2B6K8MSJF",
        "$0.10 per GB-month of General Purpose SSD (gp2) provisioned storage - US East (Northern Virginia)",
        availability_zone=zone,
        product={
            **_EC2,
            **_EC2_NAME,
            "product/productFamily": "Storage",
            "product/storageMedia": "SSD-backed",
            "product/volumeApiName": "gp2",
            "product/volumeType": "General Purpose",
        },
        tags=tags,
    )


CHARGES: tuple[Charge, ...] = (
    _gp2("vol-0a1b2c3d4e5f60001", "500", "us-east-1a", {"Name": "data", "Team": "storage"}),
    Charge(
        "AmazonEC2",
        "vol-0a1b2c3d4e5f60002",
        "EBS:VolumeUsage.piops",
        "CreateVolume-P-IOPS",
        "GB-Mo",
        "io1",
        "200",
        "BKRKCJ7DNN5ENXGU",
        "$0.125 per GB-month of Provisioned IOPS SSD (io1) provisioned storage - US East (Northern Virginia)",
        availability_zone="us-east-1a",
        product={
            **_EC2,
            **_EC2_NAME,
            "product/productFamily": "Storage",
            "product/storageMedia": "SSD-backed",
            "product/volumeApiName": "io1",
            "product/volumeType": "Provisioned IOPS",
        },
    ),
    Charge(
        "AmazonEC2",
        "vol-0a1b2c3d4e5f60002",
        "EBS:VolumeP-IOPS.piops",
        "CreateVolume-P-IOPS",
        "IOPS-Mo",
        "io1-iops",
        "40000",
        "6PFYZRS4YYZ6XFRJ",
        "$0.065 per IOPS-month provisioned - US East (Northern Virginia)",
        availability_zone="us-east-1a",
        product={
            **_EC2,
            **_EC2_NAME,
            "product/group": "EBS IOPS",
            "product/productFamily": "System Operation",
            "product/volumeApiName": "io1",
        },
    ),
    _gp2("vol-0a1b2c3d4e5f60003", "100", "us-east-1b", {}),
    _ec2_instance("i-0a1b2c3d4e5f60011", "m4.large", "General purpose", "2", "8 GiB", "4", "4C7N4APU9GEUZ6H6"),
    replace(
        _ec2_instance("i-0a1b2c3d4e5f60012", "c4.xlarge", "Compute optimized", "4", "7.5 GiB", "8", "6WAFB82CP99WZXD9"),
        tags={"Name": "batch-us-east-1"},
    ),
    Charge(
        "AmazonRDS",
        "arn:aws:rds:us-east-1:123456789012:db:orders-db",
        "InstanceUsage:db.m4.large",
        "CreateDBInstance:0014",
        "Hrs",
        "db.m4.large-postgres",
        "hours",
        "7XQ9GJ4PNXR2W6KM",
        "$0.182 per RDS db.m4.large Single-AZ instance hour (or partial hour) running PostgreSQL",
        availability_zone="us-east-1a",
        normalization_factor="4",
        product={
            **_RDS,
            "product/currentGeneration": "No",
            "product/databaseEngine": "PostgreSQL",
            "product/deploymentOption": "Single-AZ",
            "product/instanceFamily": "General purpose",
            "product/instanceType": "db.m4.large",
            "product/memory": "8 GiB",
            "product/productFamily": "Database Instance",
            "product/vcpu": "2",
        },
    ),
    Charge(
        "AmazonRDS",
        "arn:aws:rds:us-east-1:123456789012:db:orders-db",
        "RDS:GP2-Storage",
        "CreateDBInstance:0014",
        "GB-Mo",
        "rds-gp2",
        "100",
        "4K3ESNF4Z3GA7QH5",
        "$0.115 per GB-month of provisioned GP2 storage running PostgreSQL",
        availability_zone="us-east-1a",
        product={
            **_RDS,
            "product/databaseEngine": "PostgreSQL",
            "product/deploymentOption": "Single-AZ",
            "product/productFamily": "Database Storage",
            "product/volumeType": "General Purpose",
        },
    ),
    Charge(
        "AmazonEC2",
        "eipalloc-0a1b2c3d4e5f60021",
        "ElasticIP:IdleAddress",
        "AssociateAddressVPC",
        "Hrs",
        "eip-idle",
        "hours",
        "JQ5SQ5YC3CD7RD6D",
        "$0.005 per Elastic IP address not attached to a running instance per hour (prorated)",
        product={**_EC2, **_EC2_NAME, "product/group": "ElasticIP:Address", "product/productFamily": "IP Address"},
    ),
    Charge(
        "AmazonCloudWatch",
        "arn:aws:logs:us-east-1:123456789012:log-group:/app/web",
        "TimedStorage-ByteHrs",
        "HourlyStorageMetering",
        "GB-Mo",
        "logs-storage",
        "logs",
        "CXKQQWJ9JS5CUKRF",
        "$0.03 per GB-mo of log storage - US East (N. Virginia)",
        product={**_CW, "product/productFamily": "Storage Snapshot"},
    ),
    Charge(
        "AmazonS3",
        "cloudops-demo-archive",
        "TimedStorage-ByteHrs",
        "StandardStorage",
        "GB-Mo",
        "s3-standard",
        "5000",
        "WP9ANXZGBYYSGJEA",
        "$0.023 per GB - first 50 TB / month of storage used",
        product={
            **_S3,
            "product/productFamily": "Storage",
            "product/storageClass": "General Purpose",
            "product/volumeType": "Standard",
        },
    ),
    Charge(
        "AmazonS3",
        "cloudops-demo-archive",
        "Requests-Tier2",
        "GetObject",
        "Requests",
        "s3-get",
        "1000",
        "JRWCPJ4QS6SXXQTF",
        "$0.0004 per 1,000 GET and all other requests",
        product={**_S3, "product/group": "S3-API-Tier2", "product/productFamily": "API Request"},
    ),
)


def _next_month(m: date) -> date:
    return date(m.year + 1, 1, 1) if m.month == 12 else date(m.year, m.month + 1, 1)


def _hours(m: date) -> Decimal:
    return Decimal((_next_month(m) - m).days * 24)


def java_number(value: Decimal) -> str:
    """``value`` as Java's Double.toString writes it (as AWS does in the CUR): ``72.0``, ``143.28``, ``4.0E-4``."""
    if value == 0:
        return "0.0"
    value = value.normalize()
    if Decimal("0.001") <= abs(value) < Decimal("10000000"):
        text = format(value, "f")
        return text if "." in text else text + ".0"
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)
    mantissa = "".join(map(str, digits))
    exponent = len(digits) + exp - 1
    head, tail = mantissa[0], mantissa[1:] or "0"
    return f"{'-' if sign else ''}{head}.{tail}E{exponent}"


def _stamp(m: date) -> str:
    return f"{m.isoformat()}T00:00:00.000Z"


def _line_item_id(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def _rate_id(*parts: str) -> str:
    return str(int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16) % 10**10 + 10**10)


def quantity(charge: Charge, month: date) -> Decimal:
    """The charge's usage amount in ``month``."""
    if charge.quantity == "hours":
        return _hours(month)
    if charge.quantity == "logs":
        return _LOG_GB_MONTH[month.month]
    return Decimal(charge.quantity)


def rows(month: date) -> list[dict[str, str]]:
    """The line items of ``month``'s file, in file order."""
    end = _next_month(month)
    out: list[dict[str, str]] = []
    for c in sorted(CHARGES, key=lambda c: (c.product_code, c.resource_id, c.usage_type)):
        qty = quantity(c, month)
        rate = _PRICES[c.price]
        cost = qty * rate
        row = dict.fromkeys(HEADER, "")
        row.update(
            {
                "identity/LineItemId": _line_item_id(month.isoformat(), c.resource_id, c.usage_type, c.operation),
                "identity/TimeInterval": f"{month.isoformat()}T00:00:00Z/{end.isoformat()}T00:00:00Z",
                "bill/InvoicingEntity": ENTITY,
                "bill/BillingEntity": "AWS",
                "bill/BillType": "Anniversary",
                "bill/PayerAccountId": ACCOUNT,
                "bill/BillingPeriodStartDate": _stamp(month),
                "bill/BillingPeriodEndDate": _stamp(end),
                "lineItem/UsageAccountId": ACCOUNT,
                "lineItem/LineItemType": "Usage",
                "lineItem/UsageStartDate": _stamp(month),
                "lineItem/UsageEndDate": _stamp(end),
                "lineItem/ProductCode": c.product_code,
                "lineItem/UsageType": c.usage_type,
                "lineItem/Operation": c.operation,
                "lineItem/AvailabilityZone": c.availability_zone,
                "lineItem/ResourceId": c.resource_id,
                "lineItem/UsageAmount": java_number(qty),
                "lineItem/CurrencyCode": "USD",
                "lineItem/UnblendedRate": java_number(rate),
                "lineItem/UnblendedCost": java_number(cost),
                "lineItem/BlendedRate": java_number(rate),
                "lineItem/BlendedCost": java_number(cost),
                "lineItem/LineItemDescription": c.description,
                "lineItem/LegalEntity": ENTITY,
                "product/location": LOCATION,
                "product/locationType": "AWS Region",
                "product/region": REGION,
                "product/regionCode": REGION,
                "product/sku": c.sku,
                "product/usagetype": c.usage_type,
                "pricing/RateCode": f"{c.sku}.JRTCKXETXF.6YS6EN2CT7",
                "pricing/RateId": _rate_id(c.sku, c.usage_type),
                "pricing/currency": "USD",
                "pricing/publicOnDemandCost": java_number(cost),
                "pricing/publicOnDemandRate": java_number(rate),
                "pricing/term": "OnDemand",
                "pricing/unit": c.unit,
                **c.product,
                **{f"resourceTags/user:{k}": v for k, v in c.tags.items()},
            }
        )
        if c.normalization_factor:
            nf = Decimal(c.normalization_factor)
            row["lineItem/NormalizationFactor"] = java_number(nf)
            row["lineItem/NormalizedUsageAmount"] = java_number(qty * nf)
        unknown = set(row) - set(HEADER)
        assert not unknown, f"columns missing from HEADER: {sorted(unknown)}"
        out.append(row)
    return out


def render(month: date) -> str:
    """The CSV text of ``month``'s file (LF line ends, like the real sample)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(month))
    return buf.getvalue()


def path_for(month: date) -> Path:
    return OUT_DIR / f"aws-cur-compute-{month:%Y-%m}.csv"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale: list[str] = []
    for month in MONTHS:
        path, text = path_for(month), render(month)
        if check:
            if not path.is_file() or path.read_bytes() != text.encode():
                stale.append(str(path))
            continue
        path.write_bytes(text.encode())
        print(f"wrote {path} ({text.count(chr(10)) - 1} line items)")
    if stale:
        print(f"out of date: {', '.join(stale)}: run .venv/bin/python scripts/make_compute_sample.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
