"""Uploads into a source (``POST /v1/sources/{id}/uploads``: moto S3, the broker's billing-files,
the audit log) and the one GraphQL endpoint ``POST /graphql`` of an API served alone (no gateway),
in process against real PostgreSQL, Redis, chdb, moto and the Kafka-wire broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from tests.support.api import World, client, make_world

from cloudops.api.app import create_api
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.net import free_port
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.schemas.events import BillingFile
from cloudops.service.context import Caller
from cloudops.service.sources import add_source
from cloudops.settings import AwsSettings
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sources.objects import s3_client
from cloudops.topics.codec import decode_record
from cloudops.topics.specs import BILLING_FILES

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
async def world(
    tmp_path: Path,
    chdb_dsn: str,
    postgres_db: str,
    redis_url: str,
    unique: str,
    object_store: EmbeddedObjectStore,
    broker: EmbeddedBroker,
) -> World:
    w = await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)
    w.settings = w.settings.model_copy(
        update={
            "aws": AwsSettings(**object_store.settings()),
            "kafka": w.settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers}),
        }
    )
    async with s3_client(w.settings.aws) as s3:
        await s3.create_bucket(Bucket=f"bills-{w.a}")
    return w


@pytest.fixture
async def api(world: World) -> AsyncIterator[object]:
    app = create_api(world.settings, upload_max_bytes=64 * 1024)
    yield app
    await app.state.api.close()


async def _announced(bootstrap: str) -> list[BillingFile]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [
            TopicPartition(BILLING_FILES.name, p)
            for p in sorted(consumer.partitions_for_topic(BILLING_FILES.name) or [])
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        batch = await consumer.getmany(*tps, timeout_ms=5000)
        return [decode_record(BillingFile, r.value) for records in batch.values() for r in records]
    finally:
        await consumer.stop()


def _sample() -> Path:
    return next(p for p in sorted((FIXTURES / "aws").rglob("*.csv")) if 0 < p.stat().st_size < 60_000)


async def test_upload_stores_audits_and_announces(api: object, world: World) -> None:
    sample = _sample()
    body = sample.read_bytes()
    async with client(api) as http:
        done = await http.post(
            "/v1/sources/main/uploads", params={"name": "upload-1.csv"}, content=body, headers=world.headers("a")
        )
        assert done.status_code == 201, done.text
        up = done.json()
    assert (up["source_id"], up["key"], up["size"], up["announced"]) == ("main", "cur/upload-1.csv", len(body), True)
    assert up["url"] == f"s3://bills-{world.a}/cur/upload-1.csv"
    # The object is where the provider's export would be, byte for byte.
    async with s3_client(world.settings.aws) as s3:
        got = await s3.get_object(Bucket=f"bills-{world.a}", Key="cur/upload-1.csv")
        async with got["Body"] as stream:
            assert await stream.read() == body
    # Announced once on billing-files, as the bucket's notification would: same object version, same file id.
    events = await _announced(world.settings.kafka.bootstrap_servers)
    assert [(e.file_id, e.source_id, e.tenant, e.etag) for e in events] == [
        (up["file_id"], "main", world.a, up["etag"])
    ]
    trail = read_trail(world.settings.postgres.dsn or "", world.a, action="file.uploaded")
    assert [(t.target, t.after and t.after["file_id"], t.after and t.after["sha256"]) for t in trail] == [
        ("source:main", up["file_id"], up["sha256"])
    ]


async def test_upload_refusals(api: object, world: World) -> None:
    caller = Caller(actor="test", tenant=world.a, settings=world.settings)
    add_source(caller, "manifests", provider="aws", bucket=f"bills-{world.a}", prefix="cur2/", layout="manifest")
    async with client(api) as http:

        async def post(source: str, name: str, body: bytes = b"a,b\n1,2\n", who: str = "a") -> tuple[int, str]:
            r = await http.post(
                f"/v1/sources/{source}/uploads", params={"name": name}, content=body, headers=world.headers(who)
            )
            return r.status_code, r.text

        assert (await post("main", "x.csv", who="a_costs"))[0] == 403  # needs sources:write
        assert (await post("nope", "x.csv"))[0] == 404
        assert (await post("main", "../x.csv"))[0] == 422
        assert (await post("main", "x.csv", b""))[0] == 422
        status, text = await post("manifests", "x.csv")
        assert (status, "manifest layout" in text) == (422, True), text
        status, text = await post("main", "big.csv", b"x" * (64 * 1024 + 1))
        assert status == 413, text
        # Tenant B's token cannot reach tenant A's source: B has its own "main", in its own bucket (none here).
        status, _ = await post("main", "x.csv", who="b")
        assert status == 409  # moto: no bucket bills-<b>: the store refused the write
    assert read_trail(world.settings.postgres.dsn or "", world.a, action="file.uploaded") == []


async def test_graphql_endpoint_without_gateway(api: object, world: World) -> None:
    async with client(api) as http:

        async def gql(query: str, who: str = "a") -> tuple[int, dict[str, str], dict[str, object]]:
            r = await http.post("/graphql", json={"query": query}, headers=world.headers(who))
            return r.status_code, dict(r.headers), r.json()

        status, headers, body = await gql("{ recommendations(first: 5) { nodes { fingerprint } } }")
        assert (status, headers["x-graphql-served-by"]) == (200, "subgraph:recommendations"), body
        nodes = body["data"]["recommendations"]["nodes"]  # type: ignore[index]
        assert sorted(n["fingerprint"] for n in nodes) == sorted(world.recommendations[world.a])
        status, headers, body = await gql('{ periods(sourceId: "main") { period } }')
        assert (status, headers["x-graphql-served-by"], body) == (200, "subgraph:ingest", {"data": {"periods": []}})
        # A field that spans subgraphs needs the gateway: one clear error, nothing run.
        status, _, body = await gql("{ recommendations { nodes { cost { points { billedCost } } } } }")
        assert status == 400
        assert body["errors"][0]["extensions"]["code"] == "GATEWAY_REQUIRED"  # type: ignore[index]
        # The subgraph checks the token, as it does behind the gateway.
        refused = await http.post("/graphql", json={"query": "{ recommendations { nodes { fingerprint } } }"})
        assert refused.status_code == 401
        forbidden = await gql("{ recommendations { nodes { fingerprint } } }", who="a_costs")
        assert forbidden[2]["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    # A configured gateway that does not answer is a 502 problem, never a silent fallback.
    gone = create_api(world.settings, gateway_url=f"http://127.0.0.1:{free_port('127.0.0.1')}/")
    try:
        async with client(gone) as http:
            r = await http.post("/graphql", json={"query": "{ periods { period } }"}, headers=world.headers("a"))
        assert (r.status_code, r.headers["content-type"]) == (502, "application/problem+json"), r.text
        assert "does not answer" in r.json()["detail"]
    finally:
        await gone.state.api.close()
