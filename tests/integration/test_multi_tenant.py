"""One worker fleet, three tenants (issue 11): S3 events from two queues and a scheduled listing are
routed by bucket and prefix to each tenant's source; one source is read with credentials from
``sts:AssumeRole`` (moto's STS) with its external id; every tenant's rows land in its own database
only; an object of no source, a forged event naming another tenant's source, and an event of a
deleted tenant are dead-lettered with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from moto.sts.models import sts_backends
from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.schemas.events import BillingFile, BillingLoaded, DeadLetter
from cloudops.service import Caller
from cloudops.service import dlq as dlq_svc
from cloudops.service import sources as sources_svc
from cloudops.service import tenants as tenants_svc
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record, encode_record

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"
ROWS = 1281
ROLE_ACCOUNT = "210987654321"
ROLE = f"arn:aws:iam::{ROLE_ACCOUNT}:role/cloudops-billing-read"


@pytest.fixture
async def fleet(
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[tuple[Settings, Any, dict[str, str]]]:
    names = {
        "a": f"a{unique}",
        "b": f"b{unique}",
        "c": f"c{unique}",
        "shared": f"shared-{unique}",
        "cross": f"cross-{unique}",
    }
    settings = local_settings(
        "tenants",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant="unused",
        postgres_dsn=postgres_db,
        aws=object_store.settings(sqs_wait_seconds=1),
        ingest={"schedule_tick_s": 0.5, "routes_ttl_s": 1.0, "local_root": str(tmp_path)},
    )
    q1 = await provision_bucket_queue(settings.aws, names["shared"], f"shared-{unique}")
    q2 = await provision_bucket_queue(settings.aws, names["cross"], f"cross-{unique}")
    settings = settings.with_overrides(aws={"sqs_queue_url": f"{q1},{q2}"})
    op = Caller(actor="test:operator", tenant=None, settings=settings, platform=True)
    for key in ("a", "b", "c"):
        tenants_svc.create_tenant(op, names[key])
    sources_svc.add_source(op.acting_for(names["a"]), "cur", provider="aws", bucket=names["shared"], prefix="acme/")
    sources_svc.add_source(op.acting_for(names["b"]), "bsrc", provider="aws", bucket=names["shared"], prefix="beta/")
    sources_svc.add_source(
        op.acting_for(names["c"]),
        "payer",
        provider="aws",
        bucket=names["cross"],
        prefix="exports/",
        credentials_ref=f"aws-role:{ROLE}",
        external_id=f"ext-{unique}",
        schedule_s=60,
    )
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    try:
        yield settings, rt, names
    finally:
        await app.stop()


async def test_three_tenants_one_fleet(fleet: tuple[Settings, Any, dict[str, str]], unique: str) -> None:
    settings, rt, n = fleet
    bootstrap = settings.kafka.bootstrap_servers
    body = SAMPLE.read_bytes()
    async with s3_client(settings.aws) as s3:
        await s3.put_object(Bucket=n["shared"], Key="acme/2023-11/cur.csv", Body=body)
        await s3.put_object(Bucket=n["shared"], Key="beta/2023-11/cur.csv", Body=body)
        await s3.put_object(Bucket=n["shared"], Key="gamma/2023-11/cur.csv", Body=body)  # no source
        await s3.put_object(Bucket=n["cross"], Key="exports/2023-11/cur.csv", Body=body)

    def receipts(recs: list[Any]) -> dict[str, BillingLoaded]:
        return {r.tenant: r for r in (decode_record(BillingLoaded, x.value) for x in recs)}

    got = receipts(await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(receipts(rs)) >= 3, timeout=120))
    assert set(got) == {n["a"], n["b"], n["c"]}
    for tenant, receipt in got.items():
        assert receipt.reconciled, tenant
        assert receipt.rows_landed == ROWS, tenant
    assert got[n["b"]].file_url == f"s3://{n['shared']}/beta/2023-11/cur.csv"

    # Each tenant's rows are in its own database only.
    ch = connect(settings.clickhouse_dsn)
    for key in ("a", "b", "c"):
        rows = ch.call(lambda c, t=n[key]: c.query(f"SELECT count() FROM tenant_{t}.focus").result_rows[0][0])
        assert rows == ROWS, key

    # Tenant c's bucket was read with credentials from sts:AssumeRole, with its external id.
    roles = [r for r in sts_backends[ROLE_ACCOUNT]["aws"].assumed_roles if r.role_arn == ROLE]
    assert roles
    assert {r.external_id for r in roles} == {f"ext-{unique}"}
    assert roles[0].session_name == f"cloudops-{n['c']}-payer"

    # The object of no source is dead-lettered with the reason.
    def letters(recs: list[Any]) -> list[DeadLetter]:
        return [decode_record(DeadLetter, x.value) for x in recs]

    dead = letters(await read_topic(bootstrap, "billing-files.dlq", until=lambda rs: len(rs) >= 1))
    assert dead[0].reason == f"s3://{n['shared']}/gamma/2023-11/cur.csv matches no source of any tenant"

    # Once a source covers it, replaying the dead letter puts the notification back on its queue.
    op = Caller(actor="test:operator", tenant=None, settings=settings, platform=True)
    await asyncio.to_thread(
        sources_svc.add_source, op.acting_for(n["a"]), "gamma", provider="aws", bucket=n["shared"], prefix="gamma/"
    )
    [unrouted] = await dlq_svc.list_dead_letters(op, topic="billing-files.dlq")
    assert [r.position for r in await dlq_svc.replay_dead_letters(op, [unrouted])] == [unrouted.position]
    gamma_url = f"s3://{n['shared']}/gamma/2023-11/cur.csv"

    def gamma(recs: list[Any]) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in recs) if r.file_url == gamma_url]

    [replayed] = gamma(await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(gamma(rs)) >= 1, timeout=120))
    assert replayed.tenant == n["a"]
    assert replayed.reconciled

    # A forged event: tenant a naming tenant b's source (and b's object) is refused, never read.
    forged = BillingFile(
        tenant=n["a"],
        url=f"s3://{n['shared']}/beta/2023-11/cur.csv",
        bucket=n["shared"],
        key="beta/2023-11/cur.csv",
        trigger="manual",
        source_id="bsrc",
    )
    await rt.publish("billing-files", key=forged.file_id, value=encode_record(forged))
    own_source = forged.model_copy(update={"source_id": "cur"})  # its own source, another tenant's prefix
    await rt.publish("billing-files", key=own_source.file_id, value=encode_record(own_source))
    dead = letters(await read_topic(bootstrap, "billing-files.dlq", until=lambda rs: len(rs) >= 3))
    assert dead[1].tenant == n["a"]
    assert dead[1].reason == f"tenant {n['a']} has no source 'bsrc': event refused"
    assert "is outside source" in dead[2].reason

    # A local file outside the configured root is refused too.
    local = BillingFile(tenant=n["a"], url="file:///etc/passwd", key="/etc/passwd", trigger="manual")
    await rt.publish("billing-files", key=local.file_id, value=encode_record(local))
    dead = letters(await read_topic(bootstrap, "billing-files.dlq", until=lambda rs: len(rs) >= 4))
    assert "outside CLOUDOPS_INGEST__LOCAL_ROOT" in dead[3].reason

    # Tenant b is deleted; an event still in flight for it is dead-lettered as a deleted tenant's.
    await asyncio.to_thread(tenants_svc.delete_tenant, op, n["b"], now=True)
    late = BillingFile(
        tenant=n["b"],
        url=f"s3://{n['shared']}/beta/late.csv",
        bucket=n["shared"],
        key="beta/late.csv",
        trigger="s3-event",
        source_id="bsrc",
    )
    await rt.publish("billing-files", key=late.file_id, value=encode_record(late))
    dead = letters(await read_topic(bootstrap, "billing-files.dlq", until=lambda rs: len(rs) >= 5))
    assert dead[4].reason == f"belongs to a deleted tenant ({n['b']}): not ingested"
    tables = ch.call(lambda c: c.query(f"SELECT count() FROM system.databases WHERE name = 'tenant_{n['b']}'"))
    assert tables.result_rows[0][0] == 0
