"""Synthetic FOCUS rows shaped like a real bill, for benchmarks and property tests (not installed).

Skewed like real spend: a few accounts and services carry most of the cost (Zipf),
many resources with a long tail, hourly usage for compute-like services and daily for
the rest, tags on most rows, some commitment-covered usage, taxes and credits.
Vectorised with numpy: millions of rows per second, deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.columns import DECIMAL, EXTENSION_COLUMNS, FOCUS_COLUMNS

__all__ = ["BillShape", "synthetic_batches"]

_SERVICES = [
    ("Amazon Elastic Compute Cloud", "Compute", "AWS"),
    ("Amazon Simple Storage Service", "Storage", "AWS"),
    ("Amazon Relational Database Service", "Databases", "AWS"),
    ("AWS Lambda", "Compute", "AWS"),
    ("Amazon CloudFront", "Networking", "AWS"),
    ("Amazon Elastic Block Store", "Storage", "AWS"),
    ("Amazon DynamoDB", "Databases", "AWS"),
    ("Amazon CloudWatch", "Management and Governance", "AWS"),
    ("Virtual Machines", "Compute", "Microsoft"),
    ("Storage", "Storage", "Microsoft"),
    ("Azure SQL Database", "Databases", "Microsoft"),
    ("Azure Kubernetes Service", "Compute", "Microsoft"),
    ("Compute Engine", "Compute", "Google Cloud"),
    ("Cloud Storage", "Storage", "Google Cloud"),
    ("BigQuery", "Analytics", "Google Cloud"),
    ("Networking", "Networking", "Google Cloud"),
    ("Compute", "Compute", "Oracle"),
    ("Object Storage", "Storage", "Oracle"),
    ("Elastic Compute Service", "Compute", "Alibaba Cloud"),
    ("Object Storage Service", "Storage", "Alibaba Cloud"),
]
_PROVIDER_ID = {"AWS": "aws", "Microsoft": "azure", "Google Cloud": "gcp", "Oracle": "oci", "Alibaba Cloud": "alibaba"}
_REGIONS = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "eastus",
    "westeurope",
    "us-central1",
    "europe-west1",
    "us-ashburn-1",
    "cn-hangzhou",
    "ap-northeast-1",
]
_TEAMS = ["payments", "search", "platform", "data", "ml", "web", "mobile", "security"]
_ENVS = ["prod", "staging", "dev"]
_HOURLY = {"Compute", "Databases"}


@dataclass(frozen=True)
class BillShape:
    """How the synthetic bill looks."""

    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    days: int = 365
    billing_accounts: int = 4
    sub_accounts: int = 60
    resources: int = 20_000
    tagged_share: float = 0.7
    seed: int = 7


def _zipf_choice(rng: np.random.Generator, n: int, size: int, a: float = 1.3) -> np.ndarray:
    ranks = np.arange(1, n + 1, dtype=np.float64)
    p = ranks ** (-a)
    p /= p.sum()
    return rng.choice(n, size=size, p=p)


def _money(units: np.ndarray) -> pa.Array:
    """int64 millionths -> Decimal(38, 10) (same 128-bit integers, reinterpreted with scale 6)."""
    whole = pa.array(units, pa.int64()).cast(pa.decimal128(19, 0))
    return whole.view(pa.decimal128(19, 6)).cast(DECIMAL)


def _pick(values: list[str], idx: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), pa.array(values)).cast(pa.string())


def synthetic_batches(
    rows: int, *, shape: BillShape | None = None, batch_rows: int = 500_000, file_id: str = "synthetic"
) -> Iterator[pa.RecordBatch]:
    """Yield FOCUS batches (canonical schema) totalling ``rows`` rows, deterministic for the shape's seed."""
    shape = shape or BillShape()
    rng = np.random.default_rng(shape.seed)
    done = 0
    accounts = [f"{100000000000 + i * 7919}" for i in range(shape.billing_accounts)]
    subs = [f"{200000000000 + i * 104729}" for i in range(shape.sub_accounts)]
    resources = [f"res-{i:08x}" for i in range(shape.resources)]
    svc_names = [s[0] for s in _SERVICES]
    svc_cats = [s[1] for s in _SERVICES]
    providers = [s[2] for s in _SERVICES]
    base_us = int(shape.start.timestamp() * 1_000_000)
    # Like real billing files, each batch holds one (billing month, provider): one partition.
    day_month = np.array([(shape.start + timedelta(days=int(x))).month for x in range(shape.days)])
    day_year = np.array([(shape.start + timedelta(days=int(x))).year for x in range(shape.days)])
    periods = sorted({(int(y), int(m)) for y, m in zip(day_year, day_month, strict=True)})
    provider_names = list(dict.fromkeys(providers))
    by_provider = {p: np.array([i for i, s in enumerate(_SERVICES) if s[2] == p]) for p in provider_names}
    seq = 0
    while done < rows:
        n = min(batch_rows, rows - done)
        year, month = periods[seq % len(periods)]
        provider = provider_names[(seq // len(periods)) % len(provider_names)]
        days_in = np.flatnonzero((day_year == year) & (day_month == month))
        svc_pool = by_provider[provider]
        # A resource belongs to one sub account, service, region and team (as in a real bill);
        # rows pick resources with a long tail.
        res = _zipf_choice(rng, shape.resources, n, 1.05)
        mix = (res.astype(np.int64) * 2_654_435_761) % (1 << 32)
        svc = svc_pool[_zipf_choice(np.random.default_rng(1), len(svc_pool), shape.resources, 1.1)[res]]
        sub = _zipf_choice(np.random.default_rng(2), shape.sub_accounts, shape.resources, 1.2)[res]
        acct = sub % shape.billing_accounts
        home = sub % len(_REGIONS)
        region = np.where(mix % 10 < 8, home, mix % len(_REGIONS))
        day = days_in[rng.integers(0, len(days_in), n)]
        hourly = np.isin(np.array(svc_cats)[svc], list(_HOURLY))
        hour = np.where(hourly, rng.integers(0, 24, n), 0)
        start_us = base_us + (day * 86_400 + hour * 3_600) * 1_000_000
        end_us = start_us + np.where(hourly, 3_600, 86_400) * 1_000_000
        month_start = [
            int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1_000_000)
            for d in (shape.start + timedelta(days=int(x)) for x in range(shape.days))
        ]
        ms = np.array(month_start, dtype=np.int64)[day]
        me = np.array(
            [
                int(
                    (datetime.fromtimestamp(m / 1e6, UTC).replace(day=28) + timedelta(days=4))
                    .replace(day=1)
                    .timestamp()
                    * 1_000_000
                )
                for m in month_start
            ],
            dtype=np.int64,
        )[day]
        # Charge kind: 92% usage, 3% committed usage, 3% tax, 2% credit.
        kind = rng.choice(4, size=n, p=[0.92, 0.03, 0.03, 0.02])
        list_units = (rng.lognormal(mean=2.0, sigma=1.6, size=n) * 1_000).astype(np.int64) + 1
        effective = np.where(kind == 1, list_units * 6 // 10, list_units)
        billed = np.where(kind == 3, -(list_units // 5), np.where(kind == 1, effective, list_units))
        qty = (rng.lognormal(1.0, 1.0, n) * 1_000).astype(np.int64)
        tagged = (mix % 1000) < shape.tagged_share * 1000
        team = (mix // 7) % len(_TEAMS)
        env = (mix // 11) % len(_ENVS)
        tags = pc.binary_join_element_wise('{"team":"', _pick(_TEAMS, team), '","env":"', _pick(_ENVS, env), '"}', "")
        tags = pc.if_else(pa.array(tagged), tags, pa.scalar(None, pa.string()))
        cat = np.array(["Usage", "Usage", "Tax", "Credit"])[kind]
        pricing = np.where(kind == 1, "Committed", np.where(kind == 0, "Standard", ""))
        cols: dict[str, pa.Array] = {
            "BilledCost": _money(billed),
            "EffectiveCost": _money(np.where(kind == 3, billed, effective)),
            "ListCost": _money(np.where(kind == 3, 0, list_units)),
            "ContractedCost": _money(np.where(kind == 3, billed, list_units)),
            "ConsumedQuantity": _money(qty),
            "ConsumedUnit": pa.array(np.where(hourly, "Hours", "GB-Mo")),
            "BillingAccountId": _pick(accounts, acct),
            "SubAccountId": _pick(subs, sub),
            "BillingCurrency": pa.nulls(n, pa.string()).fill_null("USD"),
            "BillingPeriodStart": pa.array(ms, pa.timestamp("us", tz="UTC")),
            "BillingPeriodEnd": pa.array(me, pa.timestamp("us", tz="UTC")),
            "ChargePeriodStart": pa.array(start_us, pa.timestamp("us", tz="UTC")),
            "ChargePeriodEnd": pa.array(end_us, pa.timestamp("us", tz="UTC")),
            "ChargeCategory": pa.array(cat),
            "ChargeFrequency": pa.nulls(n, pa.string()).fill_null("Usage-Based"),
            "PricingCategory": pc.if_else(pa.array(pricing == ""), pa.scalar(None, pa.string()), pa.array(pricing)),
            "CommitmentDiscountStatus": pc.if_else(
                pa.array(kind == 1), pa.scalar("Used"), pa.scalar(None, pa.string())
            ),
            "CommitmentDiscountType": pc.if_else(
                pa.array(kind == 1), pa.scalar("Savings Plan"), pa.scalar(None, pa.string())
            ),
            "ProviderName": _pick(providers, svc),
            "PublisherName": _pick(providers, svc),
            "ServiceProviderName": _pick(providers, svc),  # FOCUS 1.3 (mandatory)
            "HostProviderName": _pick(providers, svc),
            "InvoiceIssuerName": _pick(providers, svc),
            "ServiceName": _pick(svc_names, svc),
            "ServiceCategory": _pick(svc_cats, svc),
            "RegionId": _pick(_REGIONS, region),
            "ResourceId": pc.if_else(pa.array(kind >= 2), pa.scalar(None, pa.string()), _pick(resources, res)),
            "Tags": tags,
            "x_Provider": pc.cast(_pick([_PROVIDER_ID[p] for p in providers], svc), pa.string()),
            "x_SourceFormat": pa.nulls(n, pa.string()).fill_null("synthetic"),
            "x_FileId": pa.nulls(n, pa.string()).fill_null(file_id),
            "x_BatchId": pa.nulls(n, pa.string()).fill_null(f"{file_id}:{seq}"),
            "x_RowNumber": pa.array(np.arange(done, done + n, dtype=np.int64)),
        }
        arrays = []
        fields = []
        for c in FOCUS_COLUMNS + EXTENSION_COLUMNS:
            arr = cols.get(c.name)
            if arr is None:
                arr = pa.nulls(n, c.arrow_type)
            elif arr.type != c.arrow_type:
                arr = arr.cast(c.arrow_type)
            arrays.append(arr)
            fields.append(pa.field(c.name, c.arrow_type, nullable=True))
        yield pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
        done += n
        seq += 1
