"""Azure managed-disk tier and GCP persistent-disk type recommenders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.unit.recommend.helpers import ctx, only, row

from cloudops.recommend.azure import managed_disk_tier
from cloudops.recommend.gcp import pd_ssd_to_balanced
from cloudops.schemas.recommendations import AttributeChange

DISK = "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/disks/data-01"
GDISK = "//compute.googleapis.com/projects/demo/zones/us-central1-a/disks/data-01"
GREGIONAL = "//compute.googleapis.com/projects/demo/regions/us-central1/disks/shared-01"
_AZ = {"provider": "azure", "service_name": "Storage", "service_category": "Storage", "product_code": ""}
_GCP = {"provider": "gcp", "service_name": "Compute Engine", "service_category": "Compute", "product_code": ""}


def _disk(meter: str, cost: str, resource: str = DISK) -> list:
    return [row(resource, meter, "1", cost, **_AZ)]


def test_small_premium_disk_moves_to_standard_ssd() -> None:
    rec = only(managed_disk_tier(_disk("P10 LRS Disk", "19.71"), ctx()))
    assert rec.monthly_savings == Decimal("10.11")  # 19.71 - 9.60 at list price
    assert rec.changes == (
        AttributeChange(attribute="storage_account_type", current="Premium_LRS", proposed="StandardSSD_LRS"),
    )
    assert (rec.resource_type, rec.risk, rec.confidence, rec.provider) == (
        "azurerm_managed_disk",
        "restart",
        "low",
        "azure",
    )
    assert rec.current == {"storage_account_type": "Premium_LRS", "tier": "P10"}
    assert "data-01" in rec.title


def test_disk_saving_is_a_share_of_the_tenants_own_cost() -> None:
    # Discounted bill (15.00 for a P10) and the legacy meter name.
    rec = only(managed_disk_tier(_disk("P10 Disks", "15.00"), ctx()))
    assert rec.monthly_savings == Decimal("7.69")  # 15 x (1 - 9.60 / 19.71) = 7.694


@pytest.mark.parametrize(
    "rows",
    [
        _disk("P30 LRS Disk", "135.17"),  # would lose IOPS: not in the table
        _disk("E10 LRS Disk", "9.60"),  # already Standard SSD
        _disk("P10 ZRS Disk", "29.57"),  # ZRS: not covered
        _disk("P10 LRS Disk", "19.71", resource="/subscriptions/0000/providers/Microsoft.Storage/accounts/x"),
        _disk("P10 LRS Disk", "19.71") + _disk("P15 LRS Disk", "10.00"),  # resized within the month
    ],
)
def test_azure_detects_nothing_where_it_should_not(rows: list) -> None:
    assert managed_disk_tier(rows, ctx()) == []


def test_ssd_pd_moves_to_balanced_and_is_flagged_as_replacement() -> None:
    rec = only(pd_ssd_to_balanced([row(GDISK, "SSD backed PD Capacity", 100, "17.00", **_GCP)], ctx()))
    assert rec.monthly_savings == Decimal("7.00")
    assert rec.kind == "gcp-pd-ssd-to-balanced"
    assert (rec.resource_type, rec.risk) == ("google_compute_disk", "replacement")
    assert rec.changes == (AttributeChange(attribute="type", current="pd-ssd", proposed="pd-balanced"),)


def test_regional_ssd_pd_is_a_region_disk() -> None:
    rec = only(pd_ssd_to_balanced([row(GREGIONAL, "Regional SSD backed PD Capacity", 100, "34.00", **_GCP)], ctx()))
    assert rec.monthly_savings == Decimal("14.00")
    assert rec.resource_type == "google_compute_region_disk"


@pytest.mark.parametrize("sku", ["Storage PD Capacity", "Balanced PD Capacity", "Regional Storage PD Capacity"])
def test_standard_and_balanced_pd_are_not_proposed(sku: str) -> None:
    # pd-standard -> pd-balanced would cost 2.5x more per GiB: no savings recommendation.
    assert pd_ssd_to_balanced([row(GDISK, sku, 100, "4.00", **_GCP)], ctx()) == []


def test_committed_gcp_disk_is_left_alone() -> None:
    rows = [row(GDISK, "SSD backed PD Capacity", 100, "10.00", pricing_category="Committed", **_GCP)]
    assert pd_ssd_to_balanced(rows, ctx()) == []
