"""Provider manifests: which files make up one version of one billing period.

Providers restate billing periods by delivering a new, complete set of files plus a
manifest that lists them. Three manifest shapes are understood:

* AWS Cost and Usage Report (legacy CUR): ``assemblyId``, ``billingPeriod.start``
  (``20231101T000000.000Z``), ``bucket`` and ``reportKeys`` (object keys). The same
  manifest is written at the top of the period folder and inside the assembly folder;
  both name the same version.
* AWS Data Exports (CUR 2.0, FOCUS export): ``executionId``, ``billingPeriod.start``
  (ISO 8601) and ``dataFiles`` (``s3://bucket/key`` URIs).
* Azure Cost Management exports (manifest.json): ``runInfo.runId``,
  ``runInfo.startDate`` and ``blobs[].blobName`` (in the manifest's container).

Pure functions over bytes; :class:`~cloudops.errors.BadDataError` for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from cloudops.errors import BadDataError

__all__ = ["DATASETS", "PeriodManifest", "is_manifest_key", "other_dataset", "parse_manifest", "snapshot_period"]

_MANIFEST_KEY = re.compile(r"(^|/)[^/]*manifest\.json$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PeriodManifest:
    """One version of one billing period: the files that together are the whole period."""

    kind: str
    period: date
    version: str
    files: tuple[tuple[str, str], ...]  # (bucket, key), in manifest order, without duplicates
    # Azure exports: which dataset the export holds (actual, amortized, focus; exportConfig.type).
    dataset: str | None = None


_AZURE_DATASETS = {"actualcost": "actual", "amortizedcost": "amortized", "focuscost": "focus"}


# The billing period in an export's path: Azure's ``20240501-20240531`` folder, else a month
# written ``2024-05``, ``202405`` or ``2024/05`` as its own path segment(s).
_RANGE = re.compile(r"(?:^|/)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-(?:19|20)\d{6}(?:/|$)")
_MONTH = re.compile(r"(?:^|/)((?:19|20)\d{2})[-/]?(0[1-9]|1[0-2])(?:/|$)")


def snapshot_period(key: str) -> date:
    """The billing period a snapshot export's object key names (its first day).

    A ``snapshot`` source's objects each hold a whole period so far (Azure month-to-date
    exports, re-exported GCP/OCI months); the period comes from the path:
    ``.../20240501-20240531/...`` (Azure), else a ``2024-05``, ``202405`` or ``2024/05``
    path segment. BadDataError when the key names none.
    """
    for pattern in (_RANGE, _MONTH):
        m = pattern.search(key)
        if m:
            return date(int(m.group(1)), int(m.group(2)), 1)
    raise BadDataError(
        "a snapshot source's object key must name its billing period (a 20240501-20240531, 2024-05, 202405 "
        "or 2024/05 path segment)",
        source=key,
    )


def is_manifest_key(key: str) -> bool:
    """True for object keys that name a provider manifest (``...-Manifest.json``, ``manifest.json``)."""
    return bool(_MANIFEST_KEY.search(key))


def _month(value: Any, source: str) -> date:
    if not isinstance(value, str) or not value:
        raise BadDataError("billing period start missing", source=source)
    text = value.strip()
    for fmt in ("%Y%m%dT%H%M%S.%fZ", "%Y%m%dT%H%M%SZ", "%Y%m%d"):
        try:
            parsed = datetime.strptime(text, fmt)
            return date(parsed.year, parsed.month, 1)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadDataError(f"billing period start {text!r} is not a date", source=source) from None
    return date(parsed.year, parsed.month, 1)


def _split_s3(uri: str, source: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise BadDataError(f"data file {uri!r} is not an s3:// URI", source=source)
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _unique(files: list[tuple[str, str]], source: str) -> tuple[tuple[str, str], ...]:
    out = tuple(dict.fromkeys(files))
    if not out:
        raise BadDataError("manifest lists no data files", source=source)
    for _, key in out:
        if not key or key.endswith("/"):
            raise BadDataError(f"manifest lists an invalid object key {key!r}", source=source)
    return out


def parse_manifest(data: bytes, *, bucket: str, key: str) -> PeriodManifest:
    """Parse a manifest object (``bucket``/``key`` say where it was read from).

    Raises BadDataError when it is not JSON, not a known manifest shape, or lacks the
    period, the version or the files.
    """
    source = f"{bucket}/{key}"
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadDataError(f"manifest is not JSON: {exc}", source=source) from None
    if not isinstance(doc, dict):
        raise BadDataError("manifest is not a JSON object", source=source)
    if "reportKeys" in doc or "assemblyId" in doc:
        version = doc.get("assemblyId")
        keys = doc.get("reportKeys")
        if not isinstance(version, str) or not version or not isinstance(keys, list):
            raise BadDataError("CUR manifest needs assemblyId and reportKeys", source=source)
        where = doc.get("bucket") or bucket
        period = _month((doc.get("billingPeriod") or {}).get("start"), source)
        return PeriodManifest("aws-cur", period, version, _unique([(str(where), str(k)) for k in keys], source))
    if "dataFiles" in doc or "executionId" in doc:
        version = doc.get("executionId")
        uris = doc.get("dataFiles")
        if not isinstance(version, str) or not version or not isinstance(uris, list):
            raise BadDataError("data export manifest needs executionId and dataFiles", source=source)
        period = _month((doc.get("billingPeriod") or {}).get("start"), source)
        return PeriodManifest(
            "aws-data-exports", period, version, _unique([_split_s3(str(u), source) for u in uris], source)
        )
    if "blobs" in doc and "runInfo" in doc:
        run = doc.get("runInfo") or {}
        version = run.get("runId")
        blobs = doc.get("blobs")
        if not isinstance(version, str) or not version or not isinstance(blobs, list):
            raise BadDataError("Azure export manifest needs runInfo.runId and blobs", source=source)
        names = [b.get("blobName") for b in blobs if isinstance(b, dict)]
        if any(not isinstance(n, str) for n in names):
            raise BadDataError("Azure export manifest has a blob without blobName", source=source)
        period = _month(run.get("startDate"), source)
        export_type = str((doc.get("exportConfig") or {}).get("type") or "").lower()
        return PeriodManifest(
            "azure-export",
            period,
            version,
            _unique([(bucket, str(n)) for n in names], source),
            _AZURE_DATASETS.get(export_type, export_type or None),
        )
    raise BadDataError("not a known manifest (AWS CUR, AWS Data Exports or Azure export)", source=source)


DATASETS = ("actual", "amortized", "focus")


def other_dataset(manifest: PeriodManifest, options: Mapping[str, Any]) -> str | None:
    """Why ``manifest`` is not the source's dataset (None: it is, or the source chose none).

    An Azure billing account often exports actual cost, amortised cost and FOCUS side by side;
    each holds the whole month, so a source reads one (``options.dataset``: actual, amortized
    or focus) and the other exports' manifests are skipped, never loaded on top of it.
    """
    want = str(options.get("dataset") or "").lower().replace("amortised", "amortized")
    if not want or manifest.dataset is None or manifest.dataset == want:
        return None
    return f"export holds the {manifest.dataset} dataset; this source reads {want} (options.dataset): skipped"
