"""Provider manifests -> (period, version, files)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from tests.support.cur import cur_manifest

from cloudops.errors import BadDataError
from cloudops.sources.manifests import is_manifest_key, parse_manifest


def test_legacy_cur_manifest() -> None:
    data = cur_manifest(bucket="bills", assembly="20231203T0102Z-abc", keys=["cur/a/1.csv.gz", "cur/a/2.csv.gz"])
    m = parse_manifest(data, bucket="other", key="cur/report/20231101-20231201/report-Manifest.json")
    assert (m.kind, m.period, m.version) == ("aws-cur", date(2023, 11, 1), "20231203T0102Z-abc")
    assert m.files == (("bills", "cur/a/1.csv.gz"), ("bills", "cur/a/2.csv.gz"))


def test_data_exports_manifest_with_s3_uris_and_duplicates() -> None:
    doc = {
        "executionId": "6b1f-exec",
        "billingPeriod": {"start": "2024-02-01T00:00:00.000Z", "end": "2024-03-01T00:00:00.000Z"},
        "dataFiles": [
            "s3://b1/x/data/part-0.parquet",
            "s3://b1/x/data/part-1.parquet",
            "s3://b1/x/data/part-0.parquet",
        ],
    }
    m = parse_manifest(json.dumps(doc).encode(), bucket="b1", key="x/metadata/BILLING_PERIOD=2024-02/x-Manifest.json")
    assert (m.kind, m.period, m.version) == ("aws-data-exports", date(2024, 2, 1), "6b1f-exec")
    assert m.files == (("b1", "x/data/part-0.parquet"), ("b1", "x/data/part-1.parquet"))


def test_azure_export_manifest() -> None:
    doc = {
        "manifestVersion": "2024-04-01",
        "runInfo": {"runId": "run-42", "startDate": "2024-04-01T00:00:00", "endDate": "2024-04-30T00:00:00"},
        "blobs": [{"blobName": "exp/20240401-20240430/run-42/part_0_0001.csv", "dataRowCount": 10}],
    }
    m = parse_manifest(json.dumps(doc).encode(), bucket="costs", key="exp/20240401-20240430/run-42/manifest.json")
    assert (m.kind, m.period, m.version) == ("azure-export", date(2024, 4, 1), "run-42")
    assert m.files == (("costs", "exp/20240401-20240430/run-42/part_0_0001.csv"),)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"hello": 1}', "not a known manifest"),
        (
            json.dumps(
                {"assemblyId": "a", "reportKeys": [], "billingPeriod": {"start": "20231101T000000.000Z"}}
            ).encode(),
            "no data files",
        ),
        (
            json.dumps({"assemblyId": "a", "reportKeys": ["k"], "billingPeriod": {"start": "soon"}}).encode(),
            "not a date",
        ),
        (
            json.dumps(
                {"executionId": "e", "dataFiles": ["https://x/y"], "billingPeriod": {"start": "2024-01-01"}}
            ).encode(),
            "s3://",
        ),
    ],
)
def test_bad_manifests_are_bad_data(body: bytes, reason: str) -> None:
    with pytest.raises(BadDataError, match=reason):
        parse_manifest(body, bucket="b", key="k/Manifest.json")


def test_manifest_keys() -> None:
    assert is_manifest_key("cur/report/20231101-20231201/report-Manifest.json")
    assert is_manifest_key("exp/run/manifest.json")
    assert not is_manifest_key("cur/report/20231101-20231201/a/report-1.csv.gz")
    assert not is_manifest_key("manifest.json.gz")
