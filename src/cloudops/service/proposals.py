"""Routing out: where (and as whom) each tenant's savings pull requests are opened.

:class:`ProposalRouter` resolves a tenant's enabled Terraform targets (:mod:`cloudops.service.targets`:
repository, base branch, path, token reference, state location(s), API root) into
:class:`ProposalSink` values, each a ready PR sink. Resolved sinks are cached per
(tenant, target) for ``ttl_s`` seconds, and so is the tenant's list of targets: a target set or
removed, or a rotated token, is picked up within one TTL.

Fallback: a tenant with no target at all (no row, not registered in the control plane, no
``terraform_targets`` table yet, or no control plane configured) uses the deployment's global
settings (``github.repo`` / ``github.token`` / ``terraform.state`` / ``terraform.repo_dir``); the
demo and single-tenant deployments work that way. A tenant whose targets are all disabled gets
no sink (no PRs): disabling a tenant's target never sends its PRs to the deployment's repository.

A target's ``path`` is a filter: a change touching a file outside it is not that target's
(:meth:`ProposalSink.covers`). A target with no state location of its own uses
``terraform.state``. GitHub App installation auth is not supported by the PR sink yet: such a
target (without a token reference) raises ConfigError when resolved.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cloudops.errors import ConfigError
from cloudops.service.context import Caller, NotFound
from cloudops.service.targets import TerraformTarget, list_targets, resolve_route
from cloudops.settings import Settings
from cloudops.sinks.github import PullRequestSink, RepoRef, sink_for
from cloudops.sinks.github.configured import sink_for_repository
from cloudops.sources.objects import s3_client, split_s3_url

__all__ = ["ProposalRouter", "ProposalSink", "load_state"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProposalSink:
    """One place a tenant's PRs go: the sink, its repository and what to plan against.

    ``target_id`` None: the deployment's global settings. ``base_branch`` None: the
    repository's default branch. ``path``: the target's directory ("" = the whole repository).
    ``state_refs``: Terraform state location(s) (``s3://bucket/key`` or a path), read on every
    plan. ``repo_dir``: the local checkout to fall back to for a repository too large to fetch.
    """

    tenant: str
    target_id: str | None
    sink: PullRequestSink
    repo: RepoRef
    base_branch: str | None
    path: str
    state_refs: tuple[str, ...]
    repo_dir: Path | None = None

    def covers(self, files: Iterable[str]) -> bool:
        """True when every path in ``files`` (repository-relative) lies under this target's ``path``."""
        if not self.path:
            return True
        prefix = self.path + "/"
        return all(f.startswith(prefix) for f in files)


class ProposalRouter:
    """Per-tenant PR sinks with a TTL cache. Thread-safe; :meth:`sinks` blocks (control plane, secrets)."""

    def __init__(self, settings: Settings, *, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        # tenant -> (expires, its enabled targets; None: no targets at all, use the global sink)
        self._targets: dict[str, tuple[float, list[TerraformTarget] | None]] = {}
        # (tenant, target id) -> (expires, the target as resolved, its sink)
        self._sinks: dict[tuple[str, str], tuple[float, TerraformTarget, ProposalSink]] = {}
        self._global: dict[str, ProposalSink | None] = {}
        self.resolutions = 0  # targets resolved (token read, sink built): how often the cache missed

    def invalidate(self, tenant: str | None = None) -> None:
        """Forget what was resolved for ``tenant`` (None: every tenant)."""
        with self._lock:
            for t in [t for t in self._targets if tenant is None or t == tenant]:
                del self._targets[t]
            for key in [k for k in self._sinks if tenant is None or k[0] == tenant]:
                del self._sinks[key]

    def sinks(self, tenant: str) -> list[ProposalSink]:
        """The tenant's PR sinks, by target id; the global one for a tenant without targets; [] when
        PRs are not configured for it. Raises ConfigError (a token or key reference that cannot be read, an
        App installation without an App, a malformed repository). Blocks."""
        now = self._clock()
        with self._lock:
            cached = self._targets.get(tenant)
        if cached is not None and cached[0] > now:
            targets = cached[1]
        else:
            targets = self._list(tenant)
            with self._lock:
                self._targets[tenant] = (now + self.ttl_s, targets)
        if targets is None:
            fallback = self._global_sink(tenant)
            return [] if fallback is None else [fallback]
        return [self._sink(tenant, t, now) for t in targets]

    def _list(self, tenant: str) -> list[TerraformTarget] | None:
        if not self.settings.postgres.dsn:
            return None
        caller = Caller(actor="agent:propose", tenant=tenant, settings=self.settings)
        try:
            found = list_targets(caller)
        except NotFound:
            return None  # not registered in the control plane: the deployment's settings
        except ConfigError as exc:  # no terraform_targets table in this tenant's schema yet
            log.debug("propose: no targets for %s (%s): global settings", tenant, exc)
            return None
        if not found:
            return None
        return [t for t in found if t.enabled]

    def _sink(self, tenant: str, target: TerraformTarget, now: float) -> ProposalSink:
        key = (tenant, target.id)
        with self._lock:
            hit = self._sinks.get(key)
        if hit is not None and hit[0] > now and hit[1] == target:
            return hit[2]
        route = resolve_route(Caller(actor="agent:propose", tenant=tenant, settings=self.settings), target)
        sink, repo = sink_for_repository(self.settings.github, target.repository, route.auth(), api_url=route.api_url)
        states = tuple(target.state_refs) or ((self.settings.terraform.state,) if self.settings.terraform.state else ())
        if not states:
            raise ConfigError(f"Terraform target {target.id!r} of {tenant!r} has no state location")
        resolved = ProposalSink(tenant, target.id, sink, repo, target.base_branch or None, target.path, states)
        with self._lock:
            self._sinks[key] = (now + self.ttl_s, target, resolved)
            self.resolutions += 1
        return resolved

    def _global_sink(self, tenant: str) -> ProposalSink | None:
        with self._lock:
            if tenant in self._global:
                return self._global[tenant]
        configured = sink_for(self.settings)
        found = None
        if configured is not None:
            sink, repo = configured
            state = self.settings.terraform.state or ""
            found = ProposalSink(tenant, None, sink, repo, None, "", (state,), self.settings.terraform.repo_dir)
        with self._lock:
            self._global[tenant] = found
        return found


async def load_state(settings: Settings, refs: Iterable[str]) -> dict[str, Any]:
    """The Terraform state JSON at ``refs`` (files or ``s3://`` objects; read each time, it changes
    with applies). Several locations are one state: the first document with every location's
    ``resources`` appended. Raises ConfigError for a document that is not a JSON object."""
    merged: dict[str, Any] | None = None
    for where in refs:
        state = await _read_state(settings, where)
        if merged is None:
            merged = state
        else:
            merged.setdefault("resources", [])
            merged["resources"] = [*merged["resources"], *state.get("resources", [])]
    if merged is None:
        raise ConfigError("no Terraform state location")
    return merged


async def _read_state(settings: Settings, where: str) -> dict[str, Any]:
    if where.startswith("s3://"):
        bucket, key = split_s3_url(where)
        async with s3_client(settings.aws) as s3:
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
