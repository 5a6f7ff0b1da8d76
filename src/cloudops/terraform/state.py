"""Find the Terraform resource that manages a billed cloud resource, in a v4 JSON state.

A bill names resources by the provider's id (FOCUS ``ResourceId``): an EBS volume id, an
ARN, an Azure resource id, a GCP ``//compute.googleapis.com/...`` name. Terraform state
(format version 4) lists ``resources[]`` with ``mode``, ``type``, ``name``, an optional
``module`` (``module.db``, ``module.a["x"].module.b``) and ``instances[]`` holding
``index_key`` (count/for_each) and ``attributes``. :func:`find_in_state` compares the
billed id with the id-like attributes of every **managed** resource instance (data
sources are ignored):

* every type: ``id``, ``arn``, ``self_link``;
* ``aws_eip``: ``allocation_id``, ``public_ip``; ``aws_cloudwatch_log_group``: ``name``;
  ``aws_s3_bucket``: ``bucket``; ``aws_db_instance``: ``identifier``, ``resource_id``;
  ``aws_rds_cluster``: ``cluster_identifier``, ``cluster_resource_id``;
  ``google_*``: ``name``, ``instance_id``;
* ARNs compare without a trailing ``:*`` (CloudWatch log groups are billed both ways);
  an EC2 ARN (``arn:aws:ec2:...:volume/vol-...``) also matches the bare id;
* Azure ids (``/subscriptions/...``) compare case-insensitively, trailing ``/`` ignored;
* GCP ``//compute.googleapis.com/projects/...`` and ``https://www.googleapis.com/compute/v1/projects/...``
  compare by their ``projects/...`` path.

Contract: pure, no I/O. Raises :class:`~cloudops.terraform.outcome.NotAddressableError`
with code ``bad_state`` for a state that is not version 4 JSON, and with code
``ambiguous`` (listing the candidates) when two or more instances match; returns None
when nothing matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudops.terraform.outcome import NotAddressableError

__all__ = ["StateMatch", "find_all_in_state", "find_in_state", "format_address", "parse_module_path"]

_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "aws_eip": ("allocation_id", "public_ip"),
    "aws_cloudwatch_log_group": ("name",),
    "aws_s3_bucket": ("bucket",),
    "aws_db_instance": ("identifier", "resource_id"),
    "aws_rds_cluster": ("cluster_identifier", "cluster_resource_id"),
}
_GENERIC_KEYS = ("id", "arn", "self_link")
_GOOGLE_KEYS = ("name", "instance_id")
_MODULE_STEP = re.compile(r'module\.([^\W\d][\w-]*)(?:\[(\d+|"(?:[^"\\]|\\.)*")\])?')
_GCP_URL = re.compile(r"^(?:https?:)?//[a-z0-9.-]*googleapis\.com/(?:.*?/)?(projects/.+)$", re.IGNORECASE)
_EC2_ARN = re.compile(r"^arn:aws[\w-]*:ec2:[\w-]*:\d*:[\w-]+/([\w-]+)$")


@dataclass(frozen=True, slots=True)
class StateMatch:
    """One managed resource instance of the state that the billed id names."""

    address: str
    """Full instance address, e.g. ``aws_instance.web[0]`` or ``module.db.aws_db_instance.this``."""
    module: str | None
    """The state's module address (``module.db``, ``module.a[0].module.b``); None at the root."""
    module_path: tuple[str, ...]
    """Module call names from the root, without instance keys: ``("db",)``."""
    type: str
    name: str
    index_key: int | str | None
    attributes: Mapping[str, Any] = field(repr=False)
    matched_on: str
    """The attribute whose value equals the billed id, e.g. ``id`` or ``arn``."""
    instances: int
    """How many instances share this resource block (count/for_each, module count/for_each)."""

    @property
    def config_address(self) -> str:
        """Address of the block in configuration (no instance keys): ``module.db.aws_db_instance.this``."""
        return ".".join([*(f"module.{m}" for m in self.module_path), self.type, self.name])


def format_address(module: str | None, type_: str, name: str, index_key: int | str | None) -> str:
    """Terraform's instance address syntax: ``module.db.aws_x.y["k"]``."""
    key = "" if index_key is None else f"[{index_key}]" if isinstance(index_key, int) else f"[{json.dumps(index_key)}]"
    return f"{module + '.' if module else ''}{type_}.{name}{key}"


def parse_module_path(module: str | None) -> tuple[str, ...]:
    """``module.a["x"].module.b`` -> ``("a", "b")``; raises ValueError for anything else."""
    if not module:
        return ()
    names: list[str] = []
    pos = 0
    while pos < len(module):
        m = _MODULE_STEP.match(module, pos)
        if m is None:
            raise ValueError(f"not a module address: {module!r}")
        names.append(m.group(1))
        pos = m.end()
        if pos < len(module):
            if module[pos] != ".":
                raise ValueError(f"not a module address: {module!r}")
            pos += 1
    return tuple(names)


def _canonical(value: str) -> str:
    v = value.strip()
    if v.lower().startswith("arn:") and v.endswith(":*"):
        v = v[:-2]
    m = _GCP_URL.match(v)
    if m:
        v = m.group(1)
    if v.lower().startswith("/subscriptions/"):
        v = v.rstrip("/").lower()
    return v


def _forms(resource_id: str) -> tuple[set[str], set[str]]:
    """The billed id's canonical form, and its aliases (the bare id inside an EC2 ARN)."""
    m = _EC2_ARN.match(resource_id.strip())
    return {_canonical(resource_id)}, ({m.group(1)} if m else set())


def _keys_for(type_: str) -> tuple[str, ...]:
    extra = _GOOGLE_KEYS if type_.startswith("google_") else ()
    return (*_GENERIC_KEYS, *_TYPE_KEYS.get(type_, ()), *extra)


def _matching_key(attrs: Mapping[str, Any], keys: Sequence[str], forms: set[str]) -> str | None:
    """The first id-like attribute whose canonical value is one of ``forms``."""
    if not forms:
        return None
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and _canonical(str(value)) in forms:
            return key
    return None


def _resources(state: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    if not isinstance(state, Mapping) or state.get("version") != 4:
        version = state.get("version") if isinstance(state, Mapping) else type(state).__name__
        raise NotAddressableError(
            "bad_state", f"Terraform state must be format version 4 JSON, got version {version!r}"
        )
    resources = state.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, Mapping) for r in resources):
        raise NotAddressableError("bad_state", "Terraform state `resources` must be a list of objects")
    return resources


def _instances(resource: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for inst in resource.get("instances") or []:
        if isinstance(inst, Mapping) and isinstance(inst.get("attributes"), Mapping):
            yield inst


def find_all_in_state(
    state: Mapping[str, Any], resource_id: str, resource_type: str | None = None
) -> tuple[StateMatch, ...]:
    """Every managed resource instance whose id-like attributes equal ``resource_id`` (see module doc)."""
    resources = _resources(state)
    exact, aliases = _forms(resource_id)
    siblings: dict[tuple[tuple[str, ...], str, str], int] = {}
    parsed: list[tuple[Mapping[str, Any], tuple[str, ...]]] = []
    for res in resources:
        if res.get("mode") != "managed":
            continue
        try:
            path = parse_module_path(res.get("module"))
        except ValueError as exc:
            raise NotAddressableError("bad_state", str(exc)) from exc
        key = (path, str(res.get("type")), str(res.get("name")))
        siblings[key] = siblings.get(key, 0) + sum(1 for _ in _instances(res))
        parsed.append((res, path))
    matches: dict[str, StateMatch] = {}
    for res, path in parsed:
        type_, name = str(res.get("type")), str(res.get("name"))
        if resource_type is not None and type_ != resource_type:
            continue
        keys = _keys_for(type_)
        for inst in _instances(res):
            attrs = inst["attributes"]
            matched_on = _matching_key(attrs, keys, exact) or _matching_key(attrs, keys, aliases)
            if matched_on is None:
                continue
            index_key = inst.get("index_key")
            address = format_address(res.get("module"), type_, name, index_key)
            matches.setdefault(
                address,
                StateMatch(
                    address=address,
                    module=res.get("module"),
                    module_path=path,
                    type=type_,
                    name=name,
                    index_key=index_key,
                    attributes=attrs,
                    matched_on=matched_on,
                    instances=siblings[(path, type_, name)],
                ),
            )
    return tuple(matches.values())


def find_in_state(state: Mapping[str, Any], resource_id: str, resource_type: str | None = None) -> StateMatch | None:
    """The one managed resource instance the billed ``resource_id`` names, or None.

    Raises NotAddressableError(``ambiguous``) when several instances match, and
    NotAddressableError(``bad_state``) for a state that is not version 4.
    """
    found = find_all_in_state(state, resource_id, resource_type)
    if len(found) > 1:
        listed = ", ".join(f"{m.address} (by {m.matched_on})" for m in found)
        raise NotAddressableError(
            "ambiguous", f"{len(found)} resources in the Terraform state match {resource_id!r}: {listed}"
        )
    return found[0] if found else None
