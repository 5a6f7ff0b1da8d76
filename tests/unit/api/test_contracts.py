"""The committed API contracts match the code: OpenAPI 3.1 document and the subgraph SDL."""

from __future__ import annotations

import json
from pathlib import Path

from cloudops.api.export import openapi_document, openapi_text, subgraph_sdls

ROOT = Path(__file__).resolve().parents[3]
FIX = "run `python -m cloudops.api.export` and commit docs/openapi.json and gateway/subgraphs/"


def test_openapi_document_is_committed_and_current() -> None:
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == openapi_text(), f"docs/openapi.json drifted from the code: {FIX}"


def test_openapi_is_3_1_with_bearer_auth_and_problem_errors() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    secured = [p for p, ops in doc["paths"].items() for op in ops.values() if op.get("security")]
    assert {"/v1/costs", "/v1/sources", "/v1/recommendations", "/v1/dead-letters", "/v1/tokens"} <= set(secured)
    assert "/healthz" not in secured
    assert json.dumps(doc).count("cursor") > 5


def test_subgraph_sdl_is_committed_and_current() -> None:
    for name, sdl in subgraph_sdls().items():
        committed = (ROOT / "gateway" / "subgraphs" / f"{name}.graphql").read_text()
        assert committed == sdl, f"gateway/subgraphs/{name}.graphql drifted from the code: {FIX}"


def test_entities_cross_subgraphs() -> None:
    sdl = subgraph_sdls()
    assert 'type CostSeries @key(fields: "resourceId")' in sdl["costs"]
    assert 'type CostSeries @key(fields: "resourceId", resolvable: false)' in sdl["recommendations"]
    assert "cost: CostSeries!" in sdl["recommendations"]
    assert 'type Source @key(fields: "id")' in sdl["ingest"]
    assert "files(state: String = null, first: Int! = 50, after: String = null): FileConnection!" in sdl["ingest"]
