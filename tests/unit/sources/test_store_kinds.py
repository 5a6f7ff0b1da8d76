"""Source kinds: the store each kind selects, dataset choice of Azure exports, SDK error classes."""

from __future__ import annotations

import json
from datetime import date

import oci  # type: ignore[import-untyped]
import pytest
from alibabacloud_oss_v2 import exceptions as oss_exc  # type: ignore[import-untyped]
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from google.api_core import exceptions as gexc
from oci import exceptions as oci_exc  # type: ignore[import-untyped]

from cloudops.errors import BadDataError, ConfigError, ObjectSupersededError, TransientError
from cloudops.settings import AwsSettings
from cloudops.sources.credentials import OCI_INSTANCE_PRINCIPAL
from cloudops.sources.manifests import PeriodManifest, other_dataset, parse_manifest
from cloudops.sources.objects import ObjectStoreAccess
from cloudops.sources.stores import IMPLEMENTED_KINDS, KINDS, store_for
from cloudops.sources.stores import oci as oci_store
from cloudops.sources.stores.alibaba_oss import AlibabaOssStore, classify_oss_error
from cloudops.sources.stores.azure_blob import AzureBlobStore, classify_azure_error
from cloudops.sources.stores.bigquery import BigQueryStore, export_variant
from cloudops.sources.stores.gcs import GcsStore, classify_gcs_error
from cloudops.sources.stores.oci import OciObjectStore, classify_oci_error
from cloudops.sources.stores.s3 import S3Store


def test_kind_selects_its_store() -> None:
    aws = AwsSettings()
    assert isinstance(store_for(ObjectStoreAccess(), aws), S3Store)
    assert isinstance(store_for(ObjectStoreAccess("http://127.0.0.1:1/acct", kind="azure-blob"), aws), AzureBlobStore)
    assert isinstance(store_for(ObjectStoreAccess(kind="gcs"), aws), GcsStore)
    with pytest.raises(ConfigError, match="endpoint_url"):
        store_for(ObjectStoreAccess(kind="azure-blob"), aws)
    assert isinstance(store_for(ObjectStoreAccess(kind="oci-object-storage"), aws), OciObjectStore)
    assert isinstance(store_for(ObjectStoreAccess(region="cn-hangzhou", kind="alibaba-oss"), aws), AlibabaOssStore)
    with pytest.raises(ConfigError, match="region"):
        store_for(ObjectStoreAccess(kind="alibaba-oss"), aws)
    assert isinstance(store_for(ObjectStoreAccess(kind="bigquery"), aws), BigQueryStore)
    assert set(IMPLEMENTED_KINDS) == set(KINDS)
    with pytest.raises(ConfigError, match="unknown source kind"):
        store_for(ObjectStoreAccess(kind="ftp"), aws)


def _azure_manifest(kind: str) -> bytes:
    return json.dumps(
        {
            "exportConfig": {"type": kind},
            "runInfo": {"runId": "r1", "startDate": "2024-05-01T00:00:00"},
            "blobs": [{"blobName": "exports/x/part_0_0001.csv"}],
        }
    ).encode()


@pytest.mark.parametrize(
    ("export_type", "dataset"), [("ActualCost", "actual"), ("AmortizedCost", "amortized"), ("FocusCost", "focus")]
)
def test_azure_manifest_names_its_dataset_and_a_source_reads_one(export_type: str, dataset: str) -> None:
    m = parse_manifest(_azure_manifest(export_type), bucket="costs", key="exports/x/manifest.json")
    assert (m.kind, m.period, m.version, m.dataset) == ("azure-export", date(2024, 5, 1), "r1", dataset)
    assert other_dataset(m, {}) is None
    assert other_dataset(m, {"dataset": dataset}) is None
    for other in {"actual", "amortised", "focus"} - {dataset.replace("amortized", "amortised")}:
        reason = other_dataset(m, {"dataset": other})
        assert reason is not None
        assert reason.startswith(f"export holds the {dataset} dataset")


def test_manifests_without_a_dataset_are_never_skipped() -> None:
    m = PeriodManifest("aws-cur", date(2024, 5, 1), "v", (("b", "k"),))
    assert other_dataset(m, {"dataset": "focus"}) is None


class _Resp:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "x"
        self.headers: dict[str, str] = {}

    def text(self) -> str:
        return ""


@pytest.mark.parametrize(
    ("exc", "want"),
    [
        (ResourceModifiedError("changed"), ObjectSupersededError),
        (ResourceNotFoundError("gone"), BadDataError),
        (HttpResponseError(response=_Resp(503)), TransientError),  # type: ignore[arg-type]
        (HttpResponseError(response=_Resp(412)), ObjectSupersededError),  # type: ignore[arg-type]
        (HttpResponseError(response=_Resp(403)), BadDataError),  # type: ignore[arg-type]
        (ConnectionResetError("reset"), TransientError),
    ],
)
def test_azure_errors_map_to_the_stores_contract(exc: Exception, want: type[Exception]) -> None:
    assert isinstance(classify_azure_error(exc, "az://c/k"), want)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "want"),
    [
        (gexc.PreconditionFailed("changed"), ObjectSupersededError),
        (gexc.NotFound("gone"), BadDataError),
        (gexc.Forbidden("no"), BadDataError),
        (gexc.ServiceUnavailable("later"), TransientError),
        (gexc.TooManyRequests("slow"), TransientError),
        (TimeoutError(), TransientError),
    ],
)
def test_gcs_errors_map_to_the_stores_contract(exc: Exception, want: type[Exception]) -> None:
    assert isinstance(classify_gcs_error(exc, "gs://b/k"), want)


@pytest.mark.parametrize(
    ("status", "code", "want"),
    [
        (412, "IfMatchFailed", ObjectSupersededError),
        (404, "BucketNotFound", BadDataError),
        (401, "NotAuthenticated", BadDataError),
        (429, "TooManyRequests", TransientError),
        (503, "ServiceUnavailable", TransientError),
    ],
)
def test_oci_errors_map_to_the_stores_contract(status: int, code: str, want: type[Exception]) -> None:
    exc = oci_exc.ServiceError(status, code, {}, "message")
    assert isinstance(classify_oci_error(exc, "oci://b/k"), want)
    assert isinstance(classify_oci_error(oci_exc.RequestException("reset"), "oci://b/k"), TransientError)


@pytest.mark.parametrize(
    ("status", "code", "want"),
    [
        (412, "PreconditionFailed", ObjectSupersededError),
        (404, "NoSuchKey", BadDataError),
        (403, "AccessDenied", BadDataError),
        (503, "ServiceUnavailable", TransientError),
    ],
)
def test_oss_errors_map_to_the_stores_contract(status: int, code: str, want: type[Exception]) -> None:
    inner = oss_exc.ServiceError(
        status_code=status, code=code, message="m", request_id="r", ec="0", timestamp="t", request_target="GET /b/k"
    )
    wrapped = oss_exc.OperationError(name="GetObject", error=inner)
    assert isinstance(classify_oss_error(wrapped, "oss://b/k"), want)
    assert isinstance(classify_oss_error(oss_exc.RequestError(error=OSError("reset")), "oss://b/k"), TransientError)


@pytest.mark.parametrize(
    ("table", "configured", "variant"),
    [
        ("p.billing.gcp_billing_export_v1_0123AB_456CDE_789EF0", None, "standard"),
        ("p.billing.gcp_billing_export_resource_v1_0123AB_456CDE_789EF0", None, "detailed"),
        (
            "p.gcp_billing_immutable_0123AB_456CDE_789EF0_us.gcp_billing_export_focus_0123AB_456CDE_789EF0",
            None,
            "focus",
        ),
        ("p.finops.my_focus_view", "focus", "focus"),
        ("p.billing.gcp_billing_export_v1_0123AB_456CDE_789EF0", "detailed", "detailed"),  # configured wins
    ],
)
def test_bigquery_export_variant_from_the_table_name_or_the_option(
    table: str, configured: str | None, variant: str
) -> None:
    assert export_variant(table, configured) == variant


def test_bigquery_unknown_export_variant_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"set option export=standard\|detailed\|focus"):
        export_variant("p.finops.my_focus_view")
    with pytest.raises(ConfigError, match="choose from standard, detailed, focus"):
        BigQueryStore(ObjectStoreAccess(kind="bigquery", options={"export": "everything"}))


def test_oci_credentials_select_the_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``oci-instance-principal:`` selects the SDK's instance principal signer (built once per endpoint);
    any other reference is an API signing key document; none is a clear error."""
    built: list[str | None] = []

    class Signer:
        region = "us-phoenix-1"

        def __init__(self, **kw: object) -> None:
            built.append(kw["federation_endpoint"])  # type: ignore[arg-type]

    monkeypatch.setattr(oci.auth.signers, "InstancePrincipalsSecurityTokenSigner", Signer)
    monkeypatch.setattr(oci_store, "_signers", {})
    access = ObjectStoreAccess(
        kind="oci-object-storage",
        options={"federation_endpoint": "https://auth.test/v1/x509"},
        secret_ref=OCI_INSTANCE_PRINCIPAL,
    )
    client = OciObjectStore(access)._client()
    assert isinstance(client.base_client.signer, Signer)
    assert client.base_client.endpoint.startswith("https://objectstorage.us-phoenix-1.")  # the instance's region
    OciObjectStore(access)._client()
    assert built == ["https://auth.test/v1/x509"]
    with pytest.raises(
        ConfigError, match=r"credentials_ref: an API signing key document .* or oci-instance-principal:"
    ):
        OciObjectStore(ObjectStoreAccess(kind="oci-object-storage"))._client()
    monkeypatch.setenv("NOT_A_KEY", "{}")
    with pytest.raises(ConfigError, match="is not an OCI API signing key document"):
        OciObjectStore(ObjectStoreAccess(kind="oci-object-storage", secret_ref="env:NOT_A_KEY"))._client()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidAccessKeyId", "refused the credentials"),
        ("SignatureDoesNotMatch", "refused the credentials"),
        ("AccessDenied", "no permission"),
    ],
)
def test_oss_403_tells_bad_credentials_from_no_permission(code: str, reason: str) -> None:
    inner = oss_exc.ServiceError(
        status_code=403, code=code, message="m", request_id="r", ec="0", timestamp="t", request_target="GET /b"
    )
    assert reason in str(classify_oss_error(oss_exc.OperationError(name="ListObjectsV2", error=inner), "oss://b/"))
