"""A two-tenant world for API tests: control plane, ClickHouse data, Redis, recommendations, tokens.

``make_world`` provisions tenants A and B (unique ids: Redis is shared by the session) through the
service layer, loads synthetic FOCUS rows for each (A: more than B), records sources, ledger files
and recommendations for both, and creates tokens. ``client`` talks to the ASGI app in process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from tests.support.synthetic import BillShape, synthetic_batches

from cloudops.schemas.recommendations import AttributeChange, Evidence, Recommendation
from cloudops.service import sources, tenants
from cloudops.service.context import Caller
from cloudops.service.tokens import SCOPES, create_token
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect
from cloudops.sinks.clickhouse.writer import insert_focus_batch
from cloudops.sinks.postgres.ledger import record_seen
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.redis import publish_loaded

__all__ = ["World", "make_world", "recommendation"]

SHAPE = BillShape(start=datetime(2025, 1, 1, tzinfo=UTC), days=60, resources=200, sub_accounts=6, seed=3)
TENANT_SCOPES = [s for s in SCOPES if s != "tenants:admin"]


@dataclass
class World:
    settings: Settings
    a: str
    b: str
    tokens: dict[str, str] = field(default_factory=dict)
    """Name -> token: ``a``/``b`` (every tenant scope), ``a_costs`` (costs:read only), ``admin`` (platform)."""
    files: dict[str, list[str]] = field(default_factory=dict)
    recommendations: dict[str, list[str]] = field(default_factory=dict)
    resources: dict[str, list[str]] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def recommendation(tenant: str, resource: str, savings: str) -> Recommendation:
    return Recommendation(
        tenant=tenant,
        kind="aws-ebs-gp2-to-gp3",
        provider="aws",
        resource_id=resource,
        resource_type="aws_ebs_volume",
        title=f"Move EBS volume {resource} from gp2 to gp3",
        current={"type": "gp2"},
        proposed={"type": "gp3"},
        changes=(AttributeChange(attribute="type", current="gp2", proposed="gp3"),),
        monthly_savings=Decimal(savings),
        currency="USD",
        confidence="high",
        risk="none",
        evidence=Evidence(query='{"q":1}', rows=({"resource_id": resource, "effective_cost": "50"},)),
        period="2025-01",
        found_at=datetime(2025, 2, 1, tzinfo=UTC),
    )


async def make_world(
    tmp_path: Path,
    chdb_dsn: str,
    postgres_db: str,
    redis_url: str,
    unique: str,
    *,
    rows: tuple[int, int] = (6000, 2000),
) -> World:
    settings = Settings(
        app={"work_dir": tmp_path / "work", "tenant": "default"},
        clickhouse={"dsn": chdb_dsn},
        postgres={"dsn": postgres_db},
        redis={"url": redis_url},
        api={"auth_cache_s": 0},
    )
    world = World(settings, a=f"a{unique}", b=f"b{unique}")
    platform = Caller(actor="test:setup", tenant=None, settings=settings, platform=True)
    ch = connect(chdb_dsn)
    for n, (tenant, count) in enumerate(((world.a, rows[0]), (world.b, rows[1]))):
        tenants.create_tenant(platform, tenant)
        shape = BillShape(**{**SHAPE.__dict__, "seed": SHAPE.seed + n})
        seen: set[str] = set()
        for i, batch in enumerate(synthetic_batches(count, shape=shape, batch_rows=2000, file_id=f"{tenant}-f")):
            await insert_focus_batch(ch, tenant, batch, token=f"{tenant}-{i}")
            seen.update(str(r) for r in batch.column("ResourceId").to_pylist() if r)
        world.resources[tenant] = sorted(seen)
        await publish_loaded(redis_url, tenant, f"{tenant}-f")
        caller = platform.acting_for(tenant)
        sources.add_source(caller, "main", provider="aws", bucket=f"bills-{tenant}", prefix="cur/")
        world.files[tenant] = []
        for k in range(3):
            entry, _ = record_seen(
                postgres_db,
                tenant,
                source_id="main",
                object_key=f"cur/file-{k}.csv",
                version=f"v{k}",
                file_id=f"{tenant}-file-{k}",
                url=f"s3://bills-{tenant}/cur/file-{k}.csv",
                trigger="test",
            )
            world.files[tenant].append(entry.file_id)
        store = RecommendationStore(postgres_db, tenant)
        res = world.resources[tenant][:3]
        store.upsert([recommendation(tenant, r, f"{10 * (j + 1)}.00") for j, r in enumerate(res)])
        world.recommendations[tenant] = [s.fingerprint for s in store.list(None, limit=100)]
    for name, tenant, scopes in (
        ("a", world.a, TENANT_SCOPES),
        ("b", world.b, TENANT_SCOPES),
        ("a_costs", world.a, ["costs:read"]),
        ("admin", None, list(SCOPES)),
    ):
        issued = create_token(postgres_db, tenant=tenant, scopes=scopes, name=name, expires_at=None, actor="test")
        world.tokens[name] = issued.secret
    return world


def client(app: object) -> httpx.AsyncClient:
    """An httpx client for the ASGI app, in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")  # type: ignore[arg-type]
