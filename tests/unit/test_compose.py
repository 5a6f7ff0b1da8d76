"""deploy/compose.yaml (the stack for users with Docker) checked offline: the Compose
Specification's JSON Schema, every role present with its own consumer group, real settings only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cloudops.agents import ROLES
from cloudops.settings import settings_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text()))


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "deploy" / "schema" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_a_wrong_field_fails_the_schema(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "deploy" / "schema" / "compose-spec.json").read_text())
    broken = yaml.safe_load(yaml.safe_dump(compose))
    broken["services"]["parse"]["replica"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_every_role_runs_with_its_own_group_and_real_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    known = {name for name, _d, _m in settings_table()}
    for role in (*ROLES, "api", "migrate"):
        svc = services[role]
        env = svc["environment"]
        assert env["CLOUDOPS_APP__ID"] == f"cloudops-{role}"
        assert set(env) <= known, sorted(set(env) - known)
        if role in ROLES:
            assert svc["command"] == ["worker", "--role", role]
        assert svc["read_only"] is True
    assert services["parse"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # Real Kafka in KRaft mode, a real ClickHouse server, MinIO for S3.
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert all(":" in s["image"] and not s["image"].endswith(":latest") for s in services.values())
