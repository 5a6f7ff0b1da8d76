"""The ``recommendations`` subgraph: ``Recommendation`` (entity keyed by ``fingerprint``), its PR state,
and the ``CostSeries`` of its resource (an entity of the costs subgraph, referenced by resource id)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info

from cloudops.api.graphql.context import GqlContext, run_service
from cloudops.api.pagination import paginate
from cloudops.service import recommendations as recs
from cloudops.sinks.postgres.recommendations import StoredRecommendation

__all__ = ["schema_parts"]


@strawberry.federation.type(keys=[Key(fields=FieldSet("resourceId"), resolvable=False)])
class CostSeries:
    resource_id: strawberry.ID


@strawberry.federation.type(keys=["fingerprint"], description="A savings recommendation and its pull request.")
class Recommendation:
    fingerprint: strawberry.ID
    kind: str
    title: str
    resource_id: str
    resource_type: str | None
    provider: str
    state: str
    monthly_savings: str = strawberry.field(description="Decimal string.")
    currency: str
    period: str
    first_seen: datetime
    last_seen: datetime
    pr_number: int | None
    pr_url: str | None
    reason: str | None

    @strawberry.field(description="The cost of this recommendation's resource (from the costs subgraph).")
    def cost(self) -> CostSeries:
        return CostSeries(resource_id=strawberry.ID(self.resource_id))

    @classmethod
    async def resolve_reference(cls, info: Info[GqlContext, None], fingerprint: strawberry.ID) -> Recommendation:
        caller = await info.context.caller("recommendations:read")
        return _out(await run_service(recs.get_recommendation, caller, str(fingerprint)))


def _out(s: StoredRecommendation) -> Recommendation:
    return Recommendation(
        fingerprint=strawberry.ID(s.fingerprint),
        kind=s.kind,
        title=s.recommendation.title,
        resource_id=s.resource_id,
        resource_type=s.resource_type,
        provider=s.provider,
        state=s.state,
        monthly_savings=str(s.monthly_savings),
        currency=s.currency,
        period=s.period,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        pr_number=s.pr_number,
        pr_url=s.pr_url,
        reason=s.reason,
    )


@strawberry.type
class RecommendationConnection:
    nodes: list[Recommendation]
    next_cursor: str | None


@strawberry.type
class Query:
    @strawberry.field(description="Largest monthly savings first; `after` is the previous page's nextCursor.")
    async def recommendations(
        self,
        info: Info[GqlContext, None],
        state: list[str] | None = None,
        kind: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> RecommendationConnection:
        caller = await info.context.caller("recommendations:read")
        rows = await run_service(recs.list_recommendations, caller, state=state, kind=kind, limit=10_000)
        page = paginate(
            rows,
            lambda r: (r.monthly_savings, r.fingerprint),
            cursor=after,
            limit=max(1, min(first, 1000)),
            descending=True,
        )
        return RecommendationConnection(nodes=[_out(r) for r in page.items], next_cursor=page.next_cursor)

    @strawberry.field
    async def recommendation(self, info: Info[GqlContext, None], fingerprint: strawberry.ID) -> Recommendation:
        caller = await info.context.caller("recommendations:read")
        return _out(await run_service(recs.get_recommendation, caller, str(fingerprint)))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Dismiss: not proposed again unless its savings change materially.")
    async def dismiss_recommendation(
        self, info: Info[GqlContext, None], fingerprint: strawberry.ID, reason: str
    ) -> Recommendation:
        caller = await info.context.caller("recommendations:write")
        return _out(await run_service(recs.dismiss_recommendation, caller, str(fingerprint), reason=reason))

    @strawberry.mutation(description="Snooze for `days` days.")
    async def snooze_recommendation(
        self, info: Info[GqlContext, None], fingerprint: strawberry.ID, reason: str, days: int
    ) -> Recommendation:
        caller = await info.context.caller("recommendations:write")
        done = await run_service(
            recs.snooze_recommendation, caller, str(fingerprint), reason=reason, duration=timedelta(days=days)
        )
        return _out(done)


def schema_parts() -> dict[str, Any]:
    return {"query": Query, "mutation": Mutation, "types": [Recommendation, CostSeries]}
