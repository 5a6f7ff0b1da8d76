"""Propose: Terraform-addressable recommendations become pull requests.

For each ``recommendations`` record whose resource Terraform manages: map the resource
id to its address through the Terraform state, patch the HCL minimally and check it
(:func:`cloudops.terraform.plan_change`, blocking, run in a thread), then open or update
one pull request per fingerprint on the tenant's repository (githubkit sink). The
lifecycle row moves to ``pr_open``. Idempotent: the same recommendation again updates
the same PR (or leaves it alone), never opens a second.

The change is planned on the base branch's files as the API serves them at its head
commit (fetched once per commit into ``app.work_dir/base-trees``), not on a local
checkout; ``terraform.repo_dir`` is only a fallback for a repository too large to fetch
that way. The commit then carries only the edited hunks onto the base branch's current
content (the sink reads each file at the base commit again), so a teammate's change is
never reverted even if the base moved meanwhile; an edit whose lines changed on the base
is a ``conflict`` (logged, retried when the recommendation comes again). A new PR asks
the CODEOWNERS owners of the changed files for review (``github.request_reviews``).
With ``github.group_prs``, recommendations of one kind that edit the same files share
one PR (:func:`cloudops.terraform.plan_group`); their single PRs are closed with a
pointer to it, and every member's lifecycle row points at the group PR (a member
superseded later closes that PR: the others come back as a group on their next run).

Routing out (:class:`cloudops.service.proposals.ProposalRouter`): each tenant's Terraform
targets name its repository, base branch, path, token and state; the first target whose state
holds the resource and whose path holds the edited files gets the PR. A tenant without targets
uses the deployment's ``github.*`` / ``terraform.*`` settings.

Recommendations that cannot be addressed (report-only, not in state, set from a
variable, wider effect, ...) are logged with the reason and listed in the tenant's
digest issue (``github.digest``), updated in place.

What the proposer remembers between recommendations lives in ``public.worker_state``
(:class:`~cloudops.ingest.state.WorkerState`), so a restart neither re-pushes an unchanged PR nor
forgets the digest or a PR group: the content last proposed per fingerprint (as a SHA-256),
each tenant's digest entries and the digest text last sent, and the members of each PR group.
Only the cache of base-tree blobs stays in memory (losing it costs a re-fetch).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudops.errors import BadDataError
from cloudops.ingest.state import WorkerState
from cloudops.metrics import PULL_REQUESTS, RECOMMENDATION_TO_PR_SECONDS
from cloudops.schemas.recommendations import Recommendation
from cloudops.service.proposals import ProposalRouter, ProposalSink, load_state
from cloudops.service.tenants import ingest_verdict
from cloudops.sinks.github import PullRequestChange, PullRequestResult
from cloudops.sinks.github.pulls import validate_path
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.terraform import NotAddressable, ProposedChange, branch_name, plan_change, plan_group, render_digest
from cloudops.topics.codec import decode_record
from cloudops.topics.runtime import Handler, Message, Runtime, Subject
from cloudops.topics.specs import RECOMMENDATIONS

__all__ = ["Proposer"]

log = logging.getLogger(__name__)
_CLOSED_STATES = {"dismissed", "merged", "superseded", "expired"}


class Proposer:
    """Turns recommendations into pull requests (one per fingerprint)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.router = ProposalRouter(rt.settings)
        self.opened: list[tuple[Recommendation, PullRequestResult, float]] = []
        # Per tenant: "proposed:<fingerprint>" -> SHA-256 of the recommendation last turned into its PR;
        # "digest:<fingerprint>" -> [recommendation, reason code, reason, file:line] of what cannot
        # become a PR; "digest-sent" -> SHA-256 of the digest issue's text; "group:<repository>|<kind>|
        # <hash of the files>|<fingerprint>" -> recommendation, members of a PR group (github.group_prs).
        self.state = WorkerState(rt.settings, "propose")
        self._blobs: dict[str, dict[str, bytes]] = {}  # repository -> blob sha -> bytes of its base tree last fetched

    async def routes(self, tenant: str) -> list[ProposalSink]:
        """The tenant's PR sinks (cached with a TTL by the router); [] when PRs are not configured for it."""
        return await asyncio.to_thread(self.router.sinks, tenant)

    async def base_checkout(self, route: ProposalSink) -> tuple[Path, str | None]:
        """A directory holding the base branch's files at its head commit, and the branch (None: local fallback).

        Fetched through the API once per commit and kept under ``app.work_dir/base-trees``
        (the two newest commits). A repository too large to fetch (BadDataError) falls back
        to the route's local checkout (``terraform.repo_dir``, global route only) when it is set;
        API failures propagate (retried by the caller).
        """
        sink, repo = route.sink, route.repo
        branch, sha = await sink.base_head(repo, route.base_branch)
        root = Path(self.rt.settings.app.work_dir) / "base-trees" / f"{repo.owner}+{repo.name}"
        target = root / sha
        if target.is_dir():
            return target, branch
        try:
            tree = await sink.fetch_tree(repo, branch, sha, blobs=self._blobs.setdefault(repo.full_name, {}))
        except BadDataError as exc:
            local = route.repo_dir
            if local is None:
                raise
            log.warning("propose: %s; planning on the local checkout %s instead", exc, local)
            return local, None
        await asyncio.to_thread(_write_tree, root, target, tree.files)
        return target, branch

    async def _update_digest(
        self, rec: Recommendation, entry: tuple[Recommendation, str, str, str | None] | None
    ) -> None:
        """Add (or, ``entry`` None, drop) ``rec`` in its tenant's digest and push the issue when its text changed."""
        if not self.rt.settings.github.digest:
            return
        routes = await self.routes(rec.tenant)
        if not routes:
            return
        key = f"digest:{rec.fingerprint}"
        if entry is None:
            if await self.state.get(rec.tenant, key) is None:
                return
            await self.state.drop(rec.tenant, key)
        else:
            await self.state.put(rec.tenant, {key: [entry[0].model_dump(mode="json"), *entry[1:]]})
        stored = await self.state.items("digest:", tenant=rec.tenant)
        items = [(Recommendation.model_validate(r), code, why, at) for r, code, why, at in stored.values()]
        title, body = render_digest(rec.tenant, items)
        sent = _digest(title + body)
        if await self.state.get(rec.tenant, "digest-sent") == sent:
            return
        sink, repo = routes[0].sink, routes[0].repo  # the digest goes to the tenant's first target
        result = await sink.upsert_digest(repo, rec.tenant, title, body, labels=("cloudops", "finops"))
        await self.state.put(rec.tenant, {"digest-sent": sent})
        self.rt.count(f"propose.digest.{result.outcome}")

    async def propose(self, rec: Recommendation) -> PullRequestResult | NotAddressable | None:
        """Open or update the PR for ``rec``; None when it is report-only, closed, or PRs are not configured."""
        if not rec.terraform_addressable:
            self.rt.count("propose.report_only")
            await self._update_digest(rec, (rec, "report_only", rec.risk_note or rec.title, None))
            return None
        dsn = self.rt.settings.postgres.dsn
        if dsn and await asyncio.to_thread(ingest_verdict, dsn, rec.tenant) in ("suspended", "deleting", "deleted"):
            self.rt.count("propose.tenant_inactive")  # a suspended or deleted tenant gets no PRs
            return None
        routes = await self.routes(rec.tenant)
        if not routes:
            self.rt.count("propose.unconfigured")
            return None
        store = RecommendationStore(dsn, rec.tenant, actor="propose") if dsn else None
        stored = await asyncio.to_thread(store.get, rec.fingerprint) if store is not None else None
        if stored is not None and stored.state in _CLOSED_STATES:
            self.rt.count("propose.closed")
            return None
        content = _digest(rec.model_dump_json(exclude={"found_at"}))
        # A lifecycle row back at "open" (a dismissal revived) has no PR, whatever was proposed before.
        revived = stored is not None and stored.state == "open"
        if not revived and await self.state.get(rec.tenant, f"proposed:{rec.fingerprint}") == content:
            # Found again with the same figures: its PR already says exactly this.
            self.rt.count("propose.unchanged")
            PULL_REQUESTS.labels("unchanged").inc()
            return None
        route, repo_dir, base, state, outcome = await self._plan(routes, rec)
        sink, repo = route.sink, route.repo
        if isinstance(outcome, NotAddressable):
            self.rt.count(f"propose.not_addressable.{outcome.code}")
            PULL_REQUESTS.labels(f"not_addressable:{outcome.code}").inc()
            log.info(
                "propose: %s on %s not addressable (%s): %s", rec.kind, rec.resource_id, outcome.code, outcome.reason
            )
            if outcome.code != "already_applied":
                await self._update_digest(rec, (rec, outcome.code, outcome.reason, outcome.location))
            return outcome
        members = [rec]
        if self.rt.settings.github.group_prs:
            files = hashlib.sha256("\n".join(sorted(outcome.files)).encode()).hexdigest()[:16]
            prefix = f"group:{repo.full_name}|{rec.kind}|{files}|"
            await self.state.put(rec.tenant, {prefix + rec.fingerprint: rec.model_dump(mode="json")})
            grouped = await self.state.items(prefix, tenant=rec.tenant)
            group = [Recommendation.model_validate(v) for _, v in sorted(grouped.items())]
            if len(group) > 1:
                combined = await asyncio.to_thread(plan_group, repo_dir, state, group)
                if isinstance(combined, NotAddressable):
                    await self.state.drop(rec.tenant, prefix + rec.fingerprint)
                    log.info("propose: %s not grouped (%s): %s", rec.resource_id, combined.code, combined.reason)
                else:
                    outcome, members = combined, group
        people = outcome.reviewers if self.rt.settings.github.request_reviews else ()
        change = PullRequestChange(
            branch=outcome.branch,
            files=outcome.files,
            originals=outcome.originals,
            commit_message=outcome.commit_message,
            title=outcome.title,
            body=outcome.body,
            labels=outcome.labels,
            fingerprint=outcome.fingerprint,
            reviewers=people,
            assignees=tuple(p for p in people if "/" not in p),
            base=base,
        )
        result = await sink.open_or_update(repo, change)
        if result.outcome == "conflict":
            self.rt.count("propose.conflict")
            PULL_REQUESTS.labels("conflict").inc()
            log.warning("propose: %s on %s not opened: %s", rec.kind, rec.resource_id, "; ".join(result.conflicts))
            return result
        await self._update_digest(rec, None)
        for member in members:
            if store is not None and result.number is not None:
                await asyncio.to_thread(
                    store.set_state,
                    member.fingerprint,
                    "pr_open",
                    pr_number=result.number,
                    pr_url=result.url,
                    branch=result.branch,
                )
            single = branch_name(member)
            if len(members) > 1 and single != result.branch:
                note = f"Grouped with {len(members) - 1} other change(s) of {member.kind} into #{result.number}."
                closed = await sink.close(repo, single, note, delete_branch=True)
                if closed is not None:
                    self.rt.count("propose.grouped_closed")
        await self.state.put(rec.tenant, {f"proposed:{rec.fingerprint}": content})
        elapsed = (datetime.now(UTC) - rec.found_at).total_seconds()
        RECOMMENDATION_TO_PR_SECONDS.observe(elapsed)
        PULL_REQUESTS.labels(result.outcome).inc()
        self.rt.count(f"propose.{result.outcome}")
        self.opened.append((rec, result, time.time()))
        log.info(
            "propose: %s PR #%s %s for %s (%s)", result.outcome, result.number, result.url, rec.resource_id, rec.kind
        )
        return result

    async def _plan(
        self, routes: list[ProposalSink], rec: Recommendation
    ) -> tuple[ProposalSink, Path, str | None, dict[str, Any], ProposedChange | NotAddressable]:
        """Plan ``rec`` on each route in turn: the first whose state holds the resource and whose path
        holds every edited file wins; otherwise the first route's outcome (or "outside every path")."""
        first: tuple[ProposalSink, Path, str | None, dict[str, Any], ProposedChange | NotAddressable] | None = None
        for route in routes:
            state = await load_state(self.rt.settings, route.state_refs)
            repo_dir, base = await self.base_checkout(route)
            outcome = await asyncio.to_thread(plan_change, repo_dir, state, rec)
            if not isinstance(outcome, NotAddressable) and not route.covers(outcome.files):
                paths = ", ".join(sorted(outcome.files))
                outcome = NotAddressable("unsupported", f"{paths} outside the path {route.path!r} of {route.repo}")
            planned = (route, repo_dir, base, state, outcome)
            if not isinstance(outcome, NotAddressable) or outcome.code not in ("not_in_state", "unsupported"):
                return planned
            first = first or planned
        assert first is not None
        return first

    def handler(self) -> Handler[Recommendation]:
        """The agent's handler: one recommendation at a time."""

        def failed(_: object) -> None:
            PULL_REQUESTS.labels("failed").inc()

        async def process(rec: Recommendation, _: Message) -> None:
            await self.propose(rec)

        return Handler(
            RECOMMENDATIONS,
            "propose",
            decode=lambda m: decode_record(Recommendation, m.value),
            process=process,
            subject=lambda r: Subject(r.tenant),
            reason_prefix="propose: ",
            on_failure=failed,
        )


def _digest(text: str) -> str:
    """What the state keeps of a text it only compares: its SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()


def _write_tree(root: Path, target: Path, files: dict[str, bytes] | Any) -> None:
    """Write ``files`` under ``target`` atomically (a temporary sibling renamed); keep the two newest trees."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        for rel, data in files.items():
            path = tmp / validate_path(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise  # not a concurrent writer that got there first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    trees = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=os.path.getmtime)
    for old in trees[:-2]:
        shutil.rmtree(old, ignore_errors=True)
