"""The event API as published in ``schemas/``: current with the code, valid AsyncAPI 3.0, draft-07 payloads.

``schemas/`` (a JSON Schema per topic value and DLQ twin, and ``asyncapi.yaml``) is written by
``cloudops topics schema`` (``make schemas``) from ``cloudops.topics.specs``; these tests regenerate
it into a temporary folder and compare byte for byte, then check the document against the official
AsyncAPI 3.0.0 JSON Schema from npm ``@asyncapi/specs`` (installed in ``tests/support/node`` by
``make azurite``, which ``make test`` runs).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from cloudops.app import CONSUMES
from cloudops.topics.specs import (
    ALL_TOPICS,
    ASYNCAPI_FILE,
    FOCUS_BATCHES,
    JSON_SCHEMA_FORMAT,
    REPLAYED_FROM_HEADER,
    RETRY_AT_HEADER,
    RETRY_ROUND_HEADER,
    write_schemas,
)

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "schemas"
OFFICIAL = ROOT / "tests" / "support" / "node" / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"

# Every keyword draft-07 defines (validation, annotation and core); a schema that used one outside
# this set (2019-09/2020-12 ``$defs``, ``prefixItems``, ``unevaluatedProperties``...) would be read
# differently by a draft-07 tool than by us, and the AsyncAPI document declares draft-07.
DRAFT7_KEYWORDS = {
    "$schema", "$id", "$ref", "$comment", "title", "description", "default", "readOnly", "writeOnly",
    "examples", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "additionalItems", "items", "maxItems", "minItems", "uniqueItems", "contains",
    "maxProperties", "minProperties", "required", "additionalProperties", "definitions", "properties",
    "patternProperties", "dependencies", "propertyNames", "const", "enum", "type", "format",
    "contentMediaType", "contentEncoding", "if", "then", "else", "allOf", "anyOf", "oneOf", "not",
}  # fmt: skip
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")
_SCHEMA_ONE = (
    "additionalProperties", "additionalItems", "items", "contains", "propertyNames", "not", "if", "then", "else",
)  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schemas")
    write_schemas(out, CONSUMES)
    return out


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load((COMMITTED / ASYNCAPI_FILE).read_text())


@pytest.fixture(scope="module")
def official() -> jsonschema.Draft7Validator:
    """The official AsyncAPI 3.0.0 JSON Schema, every ``$ref`` resolved offline (the bundle
    carries its definitions; the JSON Schema metaschemas come from jsonschema-specifications)."""
    if not OFFICIAL.exists():
        pytest.fail(f"{OFFICIAL.relative_to(ROOT)} is missing: run `make azurite` (npm ci in tests/support/node)")
    spec = json.loads(OFFICIAL.read_text())

    def offline(uri: str) -> Resource[Any]:
        raise LookupError(f"{uri} is not in the bundled AsyncAPI schema (no network in tests)")

    bundled = [(uri, Resource.from_contents(d, default_specification=DRAFT7)) for uri, d in spec["definitions"].items()]
    registry = Registry(retrieve=offline).with_resources([*bundled, *METASCHEMAS.items()]).crawl()
    jsonschema.Draft7Validator.check_schema(spec)
    return jsonschema.Draft7Validator(spec, registry=registry)


def test_committed_schemas_are_generated_from_the_code(generated: Path) -> None:
    fresh = {p.name: p.read_bytes() for p in sorted(generated.iterdir())}
    committed = {p.name: p.read_bytes() for p in sorted(COMMITTED.iterdir())}
    assert set(committed) == set(fresh), "schemas/ has other files than the code declares: run `make schemas`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"schemas/ drifted from cloudops.topics.specs ({', '.join(stale)}): run `make schemas`"
    assert ASYNCAPI_FILE in fresh
    assert len(fresh) == 2 * len(ALL_TOPICS) + 1


def test_asyncapi_document_is_valid_against_the_official_schema(
    doc: dict[str, Any], official: jsonschema.Draft7Validator
) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in official.iter_errors(doc)]
    assert errors == []
    assert doc["asyncapi"] == "3.0.0"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["operations"]["send-billing-loaded"].update(action="publish"),  # the 2.x verb
        lambda d: d["components"]["messages"]["billing-loaded.v1"]["bindings"]["kafka"].update(bindingVersion="9"),
        lambda d: d["components"]["messages"]["billing-loaded.v1"]["payload"].update(schema={"type": 5}),
        lambda d: d["components"]["messages"]["focus-batches.v1"]["headers"].update(type=5),
        lambda d: d["servers"]["kafka"].pop("protocol"),
        lambda d: d["channels"]["billing-loaded"].update(address=3),
    ],
)
def test_the_official_schema_rejects_broken_documents(
    doc: dict[str, Any], official: jsonschema.Draft7Validator, mutate: Callable[[dict[str, Any]], Any]
) -> None:
    broken = copy.deepcopy(doc)
    mutate(broken)
    assert not official.is_valid(broken)


def test_every_topic_its_retry_and_dlq_twin_is_a_channel(doc: dict[str, Any]) -> None:
    channels = doc["channels"]
    messages = doc["components"]["messages"]
    assert {c["address"] for c in channels.values()} == {n for t in ALL_TOPICS for n in t.names}
    for spec in ALL_TOPICS:
        for name in spec.names:
            (ref,) = channels[name]["messages"].values()
            message = messages[ref["$ref"].removeprefix("#/components/messages/")]
            key = message["bindings"]["kafka"]["key"]
            assert key["type"] == "string"
            if name != spec.dlq:
                assert key["description"] == spec.key
                assert message["contentType"] == spec.content_type
        dlq = messages[f"{spec.dlq}.v1"]
        assert dlq["name"] == "DeadLetter"
        assert dlq["payload"]["schema"] == {"$ref": spec.dlq_schema_file}


def test_payloads_ref_the_committed_json_schemas(doc: dict[str, Any]) -> None:
    for spec in ALL_TOPICS:
        payload = doc["components"]["messages"][f"{spec.name}.v{spec.version}"]["payload"]
        if spec.content_type == "application/json":
            assert payload["schemaFormat"] == JSON_SCHEMA_FORMAT
            target = json.loads((COMMITTED / payload["schema"]["$ref"]).read_text())
            assert target["$id"] == f"urn:cloudops:topic:{spec.name}:v{spec.version}"
        else:  # the Arrow batches: binary value, the model travels in the envelope header
            assert payload["format"] == "binary"
    envelope = doc["components"]["messages"]["focus-batches.v1"]["headers"]
    assert envelope["required"] == ["cloudops-envelope"]
    assert envelope["properties"]["cloudops-envelope"]["x-json-schema"] == FOCUS_BATCHES.schema_file
    assert (COMMITTED / FOCUS_BATCHES.schema_file).exists()
    retry = doc["components"]["messages"]["billing-files.retry.v1"]["headers"]
    assert retry["required"] == [RETRY_ROUND_HEADER, RETRY_AT_HEADER]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_ref_resolves_and_operations_use_their_channels_messages(doc: dict[str, Any]) -> None:
    """What the JSON Schema cannot check: references resolve, and (AsyncAPI 3.0) an operation's
    messages are messages of its own channel."""
    for ref in _refs(doc):
        if ref.startswith("#/"):
            _pointer(doc, ref)
        else:
            assert (COMMITTED / ref).is_file(), ref
    for op_id, op in doc["operations"].items():
        channel = op["channel"]["$ref"]
        for msg in op["messages"]:
            assert msg["$ref"].startswith(f"{channel}/messages/"), op_id
    by_action: dict[str, set[str]] = {"send": set(), "receive": set()}
    for op in doc["operations"].values():
        by_action[op["action"]].add(op["channel"]["$ref"].removeprefix("#/channels/"))
    assert by_action["send"] == set(doc["channels"])
    assert by_action["receive"] == {t for topics in CONSUMES.values() for t in topics}


def test_every_header_constant_in_the_code_is_declared(doc: dict[str, Any]) -> None:
    """A ``*_HEADER = "..."`` constant anywhere in the package names a header cloudops writes or
    reads: each must be in the document (wherever the constant lives as the code moves)."""
    declared = {
        name for m in doc["components"]["messages"].values() for name in m.get("headers", {}).get("properties", {})
    }
    constants = {
        f"{path.relative_to(ROOT)}: {m[1]}": m[2]
        for path in (ROOT / "src" / "cloudops").rglob("*.py")
        for m in re.finditer(r'^([A-Z_]*_HEADER) = "([^"]+)"', path.read_text(), re.MULTILINE)
    }
    assert {RETRY_ROUND_HEADER, RETRY_AT_HEADER, REPLAYED_FROM_HEADER} <= set(constants.values())
    assert {where: name for where, name in constants.items() if name not in declared} == {}


def _keywords(schema: Any) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    yield from schema
    for k in _SCHEMA_MAPS:
        for sub in schema.get(k, {}).values():
            yield from _keywords(sub)
    for k in _SCHEMA_LISTS:
        if isinstance(schema.get(k), list):
            for sub in schema[k]:
                yield from _keywords(sub)
    for k in _SCHEMA_ONE:
        yield from _keywords(schema.get(k))


def test_json_schemas_are_plain_draft_07() -> None:
    for path in sorted(COMMITTED.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#", path.name
        jsonschema.Draft7Validator.check_schema(schema)
        assert set(_keywords(schema)) <= DRAFT7_KEYWORDS, path.name
