"""The shared recommender test bill: AWS account 123456789012, us-east-1, USD, November 2023.

The ids are shared with the Terraform fixture of the proposer's tests: keep them exactly.
:data:`LINE_ITEMS` is the bill as data (one line item per resource and usage type, the
month's total); :func:`recommend_batch` turns it into one FOCUS RecordBatch in the exact
canonical schema of :mod:`cloudops.focus.columns` (as the aws-cur rules would produce it,
``x_Extensions`` carrying x_LineItemType, x_ProductCode, x_UsageType and x_Operation), ready
for ``insert_focus_batch``.

What each resource should yield (see tests/unit/recommend and tests/integration):

* ``vol-0a1b2c3d4e5f60001`` gp2 500 GB-Mo, 50.00 -> gp3 with throughput = 250 (5.00 at list price), saves 5.00
* ``vol-0a1b2c3d4e5f60002`` io1 200 GB-Mo (25.00) + 40,000 IOPS-Mo (2,600.00) -> io2, saves 156.00
* ``vol-0a1b2c3d4e5f60003`` gp2 100 GB-Mo, 10.00 -> gp3, saves 2.00
* ``vol-0a1b2c3d4e5f60004`` gp3: nothing
* ``i-0a1b2c3d4e5f60011`` m4.large 720 h, 72.00 -> m5.large, saves 2.88
* ``i-0a1b2c3d4e5f60012`` c4.xlarge 720 h, 143.28 -> c5.xlarge, saves 20.88
* ``i-0a1b2c3d4e5f60013`` m5.large 720 h, 69.12: nothing
* RDS ``orders-db`` db.m4.large (MySQL) 720 h, 126.00 -> db.m5.large, saves 2.88
* ``eipalloc-0a1b2c3d4e5f60021`` idle 720 h, 3.60 -> release (report-only), saves 3.60
* log group ``/app/web``: 200, 300, 400 GB-Mo stored in Sep, Oct, Nov (6, 9, 12.00) -> 30 days, saves 9.00
* bucket ``cloudops-demo-archive``: 5,000 GB-Mo Standard (115.00), 1,000 GETs -> Intelligent-Tiering, saves 52.50
* the account's instance hours are all on demand -> commitment-low-coverage, saves 55.74
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from cloudops.focus.columns import focus_arrow_schema

__all__ = [
    "ACCOUNT",
    "BUCKET",
    "EIP",
    "EXPECTED_SAVINGS",
    "INSTANCE_C4",
    "INSTANCE_M4",
    "INSTANCE_M5",
    "LINE_ITEMS",
    "LOG_GROUP",
    "PERIOD",
    "RDS_ORDERS",
    "REGION",
    "VOL_GP2",
    "VOL_GP2_SMALL",
    "VOL_GP3",
    "VOL_IO1",
    "LineItem",
    "recommend_batch",
]

ACCOUNT = "123456789012"
REGION = "us-east-1"
PERIOD = "2023-11"
VOL_GP2 = "vol-0a1b2c3d4e5f60001"
VOL_IO1 = "vol-0a1b2c3d4e5f60002"
VOL_GP2_SMALL = "vol-0a1b2c3d4e5f60003"
VOL_GP3 = "vol-0a1b2c3d4e5f60004"
INSTANCE_M4 = "i-0a1b2c3d4e5f60011"
INSTANCE_C4 = "i-0a1b2c3d4e5f60012"
INSTANCE_M5 = "i-0a1b2c3d4e5f60013"
RDS_ORDERS = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
EIP = "eipalloc-0a1b2c3d4e5f60021"
LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/app/web"
BUCKET = "cloudops-demo-archive"

_EC2 = ("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute")
_RDS = ("AmazonRDS", "Amazon Relational Database Service", "Databases")
_LOGS = ("AmazonCloudWatch", "AmazonCloudWatch", "Management and Governance")
_S3 = ("AmazonS3", "Amazon Simple Storage Service", "Storage")


@dataclass(frozen=True, slots=True)
class LineItem:
    """One month's usage of one resource and usage type, at on-demand prices (cost = EffectiveCost = ListCost)."""

    month: date
    resource_id: str
    service: tuple[str, str, str]  # product code, service name, service category
    usage_type: str
    operation: str
    quantity: Decimal
    unit: str
    cost: Decimal
    sku_id: str


def _li(
    resource_id: str,
    service: tuple[str, str, str],
    usage_type: str,
    operation: str,
    quantity: str,
    unit: str,
    cost: str,
    sku_id: str,
    month: date = date(2023, 11, 1),
) -> LineItem:
    return LineItem(month, resource_id, service, usage_type, operation, Decimal(quantity), unit, Decimal(cost), sku_id)


LINE_ITEMS: tuple[LineItem, ...] = (
    _li(VOL_GP2, _EC2, "EBS:VolumeUsage.gp2", "CreateVolume-Gp2", "500", "GB-Mo", "50.00", "HY3BZPP2B6K8MSJF"),
    _li(VOL_IO1, _EC2, "EBS:VolumeUsage.piops", "CreateVolume-P-IOPS", "200", "GB-Mo", "25.00", "BKRKCJ7DNN5ENXGU"),
    _li(
        VOL_IO1,
        _EC2,
        "EBS:VolumeP-IOPS.piops",
        "CreateVolume-P-IOPS",
        "40000",
        "IOPS-Mo",
        "2600.00",
        "6PFYZRS4YYZ6XFRJ",
    ),
    _li(VOL_GP2_SMALL, _EC2, "EBS:VolumeUsage.gp2", "CreateVolume-Gp2", "100", "GB-Mo", "10.00", "HY3BZPP2B6K8MSJF"),
    _li(VOL_GP3, _EC2, "EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "200", "GB-Mo", "16.00", "7U7TWP44UP36AT3R"),
    _li(INSTANCE_M4, _EC2, "BoxUsage:m4.large", "RunInstances", "720", "Hrs", "72.00", "4C7N4APU9GEUZ6H6"),
    _li(INSTANCE_C4, _EC2, "BoxUsage:c4.xlarge", "RunInstances", "720", "Hrs", "143.28", "6WAFB82CP99WZXD9"),
    _li(INSTANCE_M5, _EC2, "BoxUsage:m5.large", "RunInstances", "720", "Hrs", "69.12", "8KTQAHWA58GUHDGC"),
    _li(
        RDS_ORDERS,
        _RDS,
        "InstanceUsage:db.m4.large",
        "CreateDBInstance:0002",
        "720",
        "Hrs",
        "126.00",
        "QSTX4ZKF4DUKE3SN",
    ),
    _li(RDS_ORDERS, _RDS, "RDS:GP2-Storage", "CreateDBInstance:0002", "100", "GB-Mo", "11.50", "4K3ESNF4Z3GA7QH5"),
    _li(EIP, _EC2, "ElasticIP:IdleAddress", "AssociateAddressVPC", "720", "Hrs", "3.60", "JQ5SQ5YC3CD7RD6D"),
    _li(
        LOG_GROUP,
        _LOGS,
        "TimedStorage-ByteHrs",
        "HourlyStorageMetering",
        "200",
        "GB-Mo",
        "6.00",
        "CXKQQWJ9JS5CUKRF",
        date(2023, 9, 1),
    ),
    _li(
        LOG_GROUP,
        _LOGS,
        "TimedStorage-ByteHrs",
        "HourlyStorageMetering",
        "300",
        "GB-Mo",
        "9.00",
        "CXKQQWJ9JS5CUKRF",
        date(2023, 10, 1),
    ),
    _li(LOG_GROUP, _LOGS, "TimedStorage-ByteHrs", "HourlyStorageMetering", "400", "GB-Mo", "12.00", "CXKQQWJ9JS5CUKRF"),
    _li(BUCKET, _S3, "TimedStorage-ByteHrs", "StandardStorage", "5000", "GB-Mo", "115.00", "WP9ANXZGBYYSGJEA"),
    _li(BUCKET, _S3, "Requests-Tier2", "GetObject", "1000", "Requests", "0.0004", "JRWCPJ4QS6SXXQTF"),
)

EXPECTED_SAVINGS: dict[tuple[str, str], Decimal] = {
    ("aws-ebs-io1-to-io2", VOL_IO1): Decimal("156.00"),
    ("commitment-low-coverage", ACCOUNT): Decimal("55.74"),
    ("aws-s3-lifecycle", BUCKET): Decimal("52.50"),
    ("aws-ec2-previous-generation", INSTANCE_C4): Decimal("20.88"),
    ("aws-cloudwatch-logs-retention", LOG_GROUP): Decimal("9.00"),
    ("aws-ebs-gp2-to-gp3", VOL_GP2): Decimal("5.00"),
    ("aws-idle-elastic-ip", EIP): Decimal("3.60"),
    ("aws-ec2-previous-generation", INSTANCE_M4): Decimal("2.88"),
    ("aws-rds-previous-generation", RDS_ORDERS): Decimal("2.88"),
    ("aws-ebs-gp2-to-gp3", VOL_GP2_SMALL): Decimal("2.00"),
}
"""(kind, resource id) -> monthly savings the recommenders must find in this bill, and nothing else."""


def _month_end(month: date) -> datetime:
    nxt = date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)
    return datetime(nxt.year, nxt.month, 1, tzinfo=UTC)


def recommend_batch(*, file_id: str = "recommend-fixture-2023-11") -> pa.RecordBatch:
    """:data:`LINE_ITEMS` as one FOCUS batch (canonical schema, extension columns included)."""
    n = len(LINE_ITEMS)
    starts = [datetime(li.month.year, li.month.month, 1, tzinfo=UTC) for li in LINE_ITEMS]
    ends = [_month_end(li.month) for li in LINE_ITEMS]
    costs = [li.cost for li in LINE_ITEMS]
    const = lambda v: [v] * n  # noqa: E731
    values: dict[str, list[object]] = {
        "BilledCost": list(costs),
        "EffectiveCost": list(costs),
        "ListCost": list(costs),
        "ContractedCost": list(costs),
        "ContractedUnitPrice": [li.cost / li.quantity for li in LINE_ITEMS],
        "ListUnitPrice": [li.cost / li.quantity for li in LINE_ITEMS],
        "BillingAccountId": const(ACCOUNT),
        "BillingAccountName": const("cloudops-demo"),
        "BillingCurrency": const("USD"),
        "BillingPeriodStart": starts,
        "BillingPeriodEnd": ends,
        "ChargePeriodStart": starts,
        "ChargePeriodEnd": ends,
        "ChargeCategory": const("Usage"),
        "ChargeFrequency": const("Usage-Based"),
        "ChargeDescription": [f"{li.usage_type} {li.quantity} {li.unit}" for li in LINE_ITEMS],
        "ConsumedQuantity": [li.quantity for li in LINE_ITEMS],
        "ConsumedUnit": [li.unit for li in LINE_ITEMS],
        "PricingQuantity": [li.quantity for li in LINE_ITEMS],
        "PricingUnit": [li.unit for li in LINE_ITEMS],
        "PricingCategory": const("Standard"),
        "InvoiceIssuerName": const("Amazon Web Services, Inc."),
        "ProviderName": const("AWS"),
        "PublisherName": const("AWS"),
        "ServiceProviderName": const("AWS"),
        "HostProviderName": const("AWS"),
        "RegionId": const(REGION),
        "RegionName": const("US East (N. Virginia)"),
        "ResourceId": [li.resource_id for li in LINE_ITEMS],
        "ServiceName": [li.service[1] for li in LINE_ITEMS],
        "ServiceCategory": [li.service[2] for li in LINE_ITEMS],
        "SkuId": [li.sku_id for li in LINE_ITEMS],
        "SkuMeter": [li.usage_type for li in LINE_ITEMS],
        "SubAccountId": const(ACCOUNT),
        "SubAccountName": const("cloudops-demo"),
        "x_Provider": const("aws"),
        "x_SourceFormat": const("aws-cur"),
        "x_FileId": const(file_id),
        "x_BatchId": const(f"{file_id}:0"),
        "x_RowNumber": list(range(n)),
        "x_Extensions": [
            json.dumps(
                {
                    "x_LineItemType": "Usage",
                    "x_ProductCode": li.service[0],
                    "x_UsageType": li.usage_type,
                    "x_Operation": li.operation,
                },
                separators=(",", ":"),
            )
            for li in LINE_ITEMS
        ],
    }
    schema = focus_arrow_schema()
    arrays = [pa.array(values.get(f.name, const(None)), type=f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
