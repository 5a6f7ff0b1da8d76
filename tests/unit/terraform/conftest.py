"""Fixtures of the Terraform domain tests: the shipped sample repository, its state, Recommendation builders."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudops.embedded import terraform_sample_repo, terraform_sample_state
from cloudops.schemas.recommendations import AttributeChange, Evidence, Recommendation

# The sample repository ships with the package (demo data): cloudops/embedded/samples/terraform.
SAMPLE_REPO = terraform_sample_repo()
STATE_FILE = terraform_sample_state()


@pytest.fixture(scope="session")
def sample_repo() -> Path:
    assert (SAMPLE_REPO / "main.tf").is_file()
    return SAMPLE_REPO


@pytest.fixture(scope="session")
def _state_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    return doc


@pytest.fixture
def state(_state_doc: dict[str, Any]) -> dict[str, Any]:
    """A private deep copy of the fixture state (tests may add resources to it)."""
    return copy.deepcopy(_state_doc)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample repository."""
    dest = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, dest)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to prove that nothing was written."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


RecFactory = Callable[..., Recommendation]


@pytest.fixture
def make_rec() -> RecFactory:
    """``make_rec(resource_id, resource_type, [(attribute, current, proposed, kind), ...], **overrides)``."""

    def make(
        resource_id: str,
        resource_type: str | None,
        changes: Sequence[tuple[str, str | None, str, str]] = (),
        **overrides: Any,
    ) -> Recommendation:
        edits = tuple(
            AttributeChange.model_validate({"attribute": a, "current": c, "proposed": p, "value_kind": k})
            for a, c, p, k in changes
        )
        fields: dict[str, Any] = {
            "tenant": "acme",
            "kind": "aws-test-rightsizing",
            "provider": "aws",
            "resource_id": resource_id,
            "resource_type": resource_type,
            "title": f"Change {resource_id}",
            "current": {a: c or "" for a, c, _, _ in changes},
            "proposed": {a: p for a, _, p, _ in changes},
            "changes": edits,
            "monthly_savings": Decimal("42.125"),
            "currency": "USD",
            "confidence": "high",
            "risk": "none",
            "risk_note": "",
            "evidence": Evidence(
                query=json.dumps(
                    {"from": "focus", "select": ["ResourceId", "EffectiveCost"], "where": {"ResourceId": resource_id}}
                ),
                rows=({"ResourceId": resource_id, "EffectiveCost": "84.25", "BillingPeriodStart": "2023-11-01"},),
            ),
            "period": "2023-11",
        }
        fields.update(overrides)
        return Recommendation(**fields)

    return make
