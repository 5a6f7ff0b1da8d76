"""Live "loaded" notifications against a real redis-server: data version + pub/sub per tenant."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from cloudops.errors import TransientError
from cloudops.sinks.redis import (
    Loaded,
    current_version,
    loaded_channel,
    publish_loaded,
    subscribe_loaded,
    version_key,
)

pytestmark = pytest.mark.integration


def test_key_and_channel_names() -> None:
    assert version_key("acme") == "cloudops:acme:data_version"
    assert loaded_channel("acme") == "cloudops:acme:loaded"
    for bad in ("Acme", "acme:x", "*", ""):
        with pytest.raises(ValueError, match="invalid tenant id"):
            version_key(bad)
        with pytest.raises(ValueError, match="invalid tenant id"):
            subscribe_loaded("redis://127.0.0.1:1/0", bad)


async def test_publish_increments_version_and_subscriber_receives(redis_url: str, tenant_id: str) -> None:
    assert await current_version(redis_url, tenant_id) == 0
    async with subscribe_loaded(redis_url, tenant_id) as sub:
        v1 = await publish_loaded(redis_url, tenant_id, "file-1", {"rows": 3, "BilledCost": Decimal("1.50")})
        v2 = await publish_loaded(redis_url, tenant_id, "file-2")
        m1, m2 = await sub.get(5), await sub.get(5)
        assert await sub.get(0.2) is None
    assert (v1, v2) == (1, 2)
    assert isinstance(m1, Loaded)
    assert isinstance(m2, Loaded)
    assert (m1.tenant, m1.file_id, m1.data_version, m1.detail) == (
        tenant_id,
        "file-1",
        1,
        {"rows": 3, "BilledCost": "1.50"},
    )
    assert (m2.file_id, m2.data_version, m2.detail) == ("file-2", 2, {})
    assert m1.published_at.tzinfo is not None
    assert m1.published_at <= m2.published_at
    assert await current_version(redis_url, tenant_id) == 2


async def test_subscription_is_an_async_iterator(redis_url: str, tenant_id: str) -> None:
    got: list[int] = []
    async with subscribe_loaded(redis_url, tenant_id) as sub:
        for i in range(3):
            await publish_loaded(redis_url, tenant_id, f"file-{i}")
        async with asyncio.timeout(5):
            async for msg in sub:
                got.append(msg.data_version)
                if len(got) == 3:
                    break
    assert got == [1, 2, 3]


async def test_tenant_channels_do_not_cross(redis_url: str, tenant_id: str) -> None:
    a, b = f"{tenant_id}_a", f"{tenant_id}_b"
    async with subscribe_loaded(redis_url, a) as sub_a, subscribe_loaded(redis_url, b) as sub_b:
        await publish_loaded(redis_url, a, "a-1")
        await publish_loaded(redis_url, b, "b-1")
        await publish_loaded(redis_url, a, "a-2")
        got_a = [await sub_a.get(5), await sub_a.get(5)]
        got_b = [await sub_b.get(5)]
        assert await sub_a.get(0.2) is None
        assert await sub_b.get(0.2) is None
    assert [(m.tenant, m.file_id, m.data_version) for m in got_a if m] == [(a, "a-1", 1), (a, "a-2", 2)]
    assert [(m.tenant, m.file_id, m.data_version) for m in got_b if m] == [(b, "b-1", 1)]
    assert (await current_version(redis_url, a), await current_version(redis_url, b)) == (2, 1)


async def test_wire_format_and_borrowed_client(redis_url: str, tenant_id: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        raw = client.pubsub()
        await raw.subscribe(loaded_channel(tenant_id))
        assert (await raw.get_message(timeout=5))["type"] == "subscribe"
        async with subscribe_loaded(client, tenant_id) as sub:
            await client.publish(loaded_channel(tenant_id), b"not json")  # skipped by the helper
            version = await publish_loaded(client, tenant_id, "file-1", {"status": "complete"})
            msg = await sub.get(5)
        assert msg is not None
        assert msg.data_version == version == 1
        frames = [await raw.get_message(ignore_subscribe_messages=True, timeout=5) for _ in range(2)]
        body = json.loads(frames[1]["data"])
        assert set(body) == {"data_version", "tenant", "file_id", "published_at", "detail"}
        assert body["data_version"] == 1
        assert (body["tenant"], body["file_id"]) == (tenant_id, "file-1")
        assert body["detail"] == {"status": "complete"}
        assert await client.get(version_key(tenant_id)) == b"1"
        assert await client.ping()  # the borrowed client is still open
        await raw.aclose()  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()


async def test_get_outside_async_with_is_an_error(redis_url: str, tenant_id: str) -> None:
    sub = subscribe_loaded(redis_url, tenant_id)
    with pytest.raises(RuntimeError, match="async with"):
        await sub.get(0.1)


async def test_unreachable_redis_is_transient(tenant_id: str) -> None:
    with pytest.raises(TransientError):
        await publish_loaded("redis://127.0.0.1:1/0", tenant_id, "file-1")
    with pytest.raises(TransientError):
        await current_version("redis://127.0.0.1:1/0", tenant_id)
    with pytest.raises(TransientError):
        async with subscribe_loaded("redis://127.0.0.1:1/0", tenant_id):
            pass
