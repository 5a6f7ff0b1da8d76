"""``propose``: Terraform-addressable recommendations become pull requests.

For each ``recommendations`` record whose resource Terraform manages: map the resource
id to its address through the Terraform state, patch the HCL minimally and check it
(:func:`cloudops.terraform.plan_change`, blocking, run in a thread), then open or update
one pull request per fingerprint on the configured repository (githubkit sink). The
lifecycle row moves to ``pr_open``. Idempotent: the same recommendation again updates
the same PR (or leaves it alone), never opens a second. Recommendations that cannot be
addressed (not in state, set from a variable, ...) are logged with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cloudops.errors import ConfigError, classify, describe
from cloudops.metrics import PULL_REQUESTS, RECOMMENDATION_TO_PR_SECONDS
from cloudops.schemas.recommendations import Recommendation
from cloudops.sinks.github import PullRequestChange, PullRequestResult, sink_for
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sources.objects import s3_client, split_s3_url
from cloudops.terraform import NotAddressable, plan_change
from cloudops.topics.codec import decode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import RECOMMENDATIONS

__all__ = ["Proposer", "register"]

log = logging.getLogger(__name__)
_CLOSED_STATES = {"dismissed", "merged", "superseded", "expired"}


class Proposer:
    """Turns recommendations into pull requests (one per fingerprint)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._sink = sink_for(rt.settings)
        self.opened: list[tuple[Recommendation, PullRequestResult, float]] = []
        # fingerprint -> content of the recommendation last turned into its PR by this process
        self._proposed: dict[str, bytes] = {}

    async def load_state(self) -> dict[str, Any]:
        """The Terraform state JSON from a file or an S3 object (read each time: it changes with applies)."""
        where = self.rt.settings.terraform.state or ""
        if where.startswith("s3://"):
            bucket, key = split_s3_url(where)
            async with s3_client(self.rt.settings.aws) as s3:
                obj = await s3.get_object(Bucket=bucket, Key=key)
                data = await obj["Body"].read()
        else:
            data = await asyncio.to_thread(Path(where).read_bytes)
        try:
            state = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"Terraform state {where} is not JSON: {exc}") from exc
        if not isinstance(state, dict):
            raise ConfigError(f"Terraform state {where} is not a JSON object")
        return state

    async def propose(self, rec: Recommendation) -> PullRequestResult | NotAddressable | None:
        """Open or update the PR for ``rec``; None when it is report-only, closed, or PRs are not configured."""
        if not rec.terraform_addressable:
            self.rt.count("propose.report_only")
            return None
        if self._sink is None:
            self.rt.count("propose.unconfigured")
            return None
        sink, repo = self._sink
        dsn = self.rt.settings.postgres.dsn
        store = RecommendationStore(dsn, rec.tenant, actor="propose") if dsn else None
        if store is not None:
            stored = await asyncio.to_thread(store.get, rec.fingerprint)
            if stored is not None and stored.state in _CLOSED_STATES:
                self.rt.count("propose.closed")
                return None
        content = rec.model_dump_json(exclude={"found_at"}).encode()
        if self._proposed.get(rec.fingerprint) == content:
            # Found again with the same figures: its PR already says exactly this.
            self.rt.count("propose.unchanged")
            PULL_REQUESTS.labels("unchanged").inc()
            return None
        state = await self.load_state()
        repo_dir = self.rt.settings.terraform.repo_dir
        assert repo_dir is not None
        outcome = await asyncio.to_thread(plan_change, repo_dir, state, rec)
        if isinstance(outcome, NotAddressable):
            self.rt.count(f"propose.not_addressable.{outcome.code}")
            PULL_REQUESTS.labels(f"not_addressable:{outcome.code}").inc()
            log.info(
                "propose: %s on %s not addressable (%s): %s", rec.kind, rec.resource_id, outcome.code, outcome.reason
            )
            return outcome
        change = PullRequestChange(
            branch=outcome.branch,
            files=outcome.files,
            commit_message=outcome.commit_message,
            title=outcome.title,
            body=outcome.body,
            labels=outcome.labels,
            fingerprint=outcome.fingerprint,
        )
        result = await sink.open_or_update(repo, change)
        if store is not None and result.number is not None:
            await asyncio.to_thread(
                store.set_state,
                rec.fingerprint,
                "pr_open",
                pr_number=result.number,
                pr_url=result.url,
                branch=result.branch,
            )
        self._proposed[rec.fingerprint] = content
        elapsed = (datetime.now(UTC) - rec.found_at).total_seconds()
        RECOMMENDATION_TO_PR_SECONDS.observe(elapsed)
        PULL_REQUESTS.labels(result.outcome).inc()
        self.rt.count(f"propose.{result.outcome}")
        self.opened.append((rec, result, time.time()))
        log.info(
            "propose: %s PR #%s %s for %s (%s)", result.outcome, result.number, result.url, rec.resource_id, rec.kind
        )
        return result

    async def handle(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        """Process one recommendation; never raises for bad data or dependency failures (dead-lettered)."""
        rec: Recommendation | None = None
        try:
            rec = decode_record(Recommendation, value)
            await self.propose(rec)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind == "bug":
                log.exception("propose: unexpected error")
            reason = describe(exc)
            PULL_REQUESTS.labels("failed").inc()
            await self.rt.dead_letter(
                RECOMMENDATIONS,
                error_kind=kind,
                reason=f"propose: {reason}",
                key=key,
                value=value,
                partition=partition,
                offset=offset,
                tenant=rec.tenant if rec else None,
            )


def register(app: Any, rt: Runtime) -> Proposer:
    """Add the propose agent to the app."""
    proposer = Proposer(rt)

    @app.agent(rt.topic(RECOMMENDATIONS), name="cloudops.propose")  # type: ignore[untyped-decorator]
    async def propose(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            await proposer.handle(msg.key, msg.value, msg.partition, msg.offset)

    return proposer
