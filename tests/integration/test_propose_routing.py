"""Routing out: each tenant's recommendations become pull requests in its own repository.

Real PostgreSQL control plane (tenants, Terraform targets, lifecycle rows) and the local forge
(GitHub's REST API over real bare git repositories) holding four copies of the sample Terraform
repository. Tenant A has two targets: the first (by id) points at ``beta/terraform`` under the
path ``envs/prod``, which does not hold the edited ``main.tf``, so A's PR goes to its second
target ``acme/infra``; tenant B's goes to ``beta/terraform``; suspended tenant C (target
``gamma/infra``) gets no PR; tenant D, with no targets and not registered, falls back to the
deployment's ``github.repo``. Resolved sinks are cached per (tenant, target) until the TTL ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.tenancy import make_recommendation

from cloudops.app import create_app
from cloudops.embedded import terraform_sample_repo, terraform_sample_state
from cloudops.embedded.forge import LocalForge
from cloudops.ingest.propose import Proposer
from cloudops.service import Caller
from cloudops.service import targets as targets_svc
from cloudops.service import tenants as tenants_svc
from cloudops.service.proposals import ProposalRouter
from cloudops.settings import Settings
from cloudops.sinks.github import PullRequestResult
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.postgres.tenants import register_tenant
from cloudops.terraform import NotAddressable

pytestmark = pytest.mark.integration
TOKEN = "forge-token-routing"
VOLUME = "vol-0a1b2c3d4e5f60001"  # a gp2 volume of the sample state, set literally in main.tf
REPOS = (("acme", "infra"), ("beta", "terraform"), ("gamma", "infra"), ("globex", "fallback"))


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[LocalForge]:
    f = LocalForge(tmp_path / "forge", token=TOKEN)
    for owner, name in REPOS:
        f.create_repository(owner, name, seed_dir=terraform_sample_repo())
    f.start()
    try:
        yield f
    finally:
        f.stop()


async def test_two_tenants_two_repositories_suspended_none_fallback_global(
    forge: LocalForge, postgres_db: str, tmp_path: Path, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDOPS_TEST_FORGE_TOKEN", TOKEN)
    state = str(terraform_sample_state())
    settings = Settings(
        app={"id": f"route-{tenant_id}", "tenant": tenant_id, "work_dir": tmp_path / "work"},
        postgres={"dsn": postgres_db},
        github={"base_url": forge.base_url, "token": TOKEN, "repo": "globex/fallback", "backoff_base_s": 0.05},
        terraform={"state": state},
    )
    a, b, c, d = (f"{tenant_id}{x}" for x in "abcd")
    for t in (a, b, c, d):
        migrate(postgres_db, t)
    for t in (a, b, c):
        register_tenant(postgres_db, t)
    ref = "env:CLOUDOPS_TEST_FORGE_TOKEN"

    def target(t: str, target_id: str, repository: str, **kw: Any) -> None:
        me = Caller(actor="test:ops", tenant=t, settings=settings)
        targets_svc.set_target(me, target_id, repository=repository, token_ref=ref, state_refs=[state], **kw)

    target(a, "a-prod", "beta/terraform", path="envs/prod")  # holds no main.tf: not A's for this change
    target(a, "infra", "acme/infra", base_branch="main", api_url=forge.base_url)
    target(b, "infra", "beta/terraform")
    target(c, "infra", "gamma/infra")
    tenants_svc.suspend_tenant(Caller(actor="test:ops", tenant=None, settings=settings, platform=True), c)

    now = [1000.0]
    _app, rt = create_app(settings, ["propose"])
    proposer = Proposer(rt)
    proposer.router = ProposalRouter(settings, ttl_s=60.0, clock=lambda: now[0])

    results = {}
    for t in (a, b, c, d):
        rec = make_recommendation(t, VOLUME, "5.00")
        RecommendationStore(postgres_db, t).upsert([rec])
        results[t] = await proposer.propose(rec)

    for t, repo in ((a, "acme/infra"), (b, "beta/terraform"), (d, "globex/fallback")):
        result = results[t]
        assert isinstance(result, PullRequestResult), (t, result)
        assert result.outcome == "created"
        assert result.repo.full_name == repo
        stored = RecommendationStore(postgres_db, t).get(make_recommendation(t, VOLUME, "5.00").fingerprint)
        assert stored is not None
        assert stored.state == "pr_open"
        assert stored.pr_url is not None
        assert f"/{repo}/pull/" in stored.pr_url
    assert results[c] is None
    assert rt.counters.get("propose.tenant_inactive") == 1
    pulls = {f"{o}/{n}": forge.pull_numbers(o, n) for o, n in REPOS}
    assert {r: len(p) for r, p in pulls.items()} == {
        "acme/infra": 1,
        "beta/terraform": 1,
        "gamma/infra": 0,
        "globex/fallback": 1,
    }
    for repo, tenant in (("acme/infra", a), ("beta/terraform", b), ("globex/fallback", d)):
        owner, name = repo.split("/")
        (number,) = pulls[repo]
        assert VOLUME in forge.pull_record(owner, name, number)["title"]
        assert list(forge.pull_diff(owner, name, number).changed_paths) == ["main.tf"]
        fingerprint = make_recommendation(tenant, VOLUME, "5.00").fingerprint
        assert f"cloudops:fingerprint={fingerprint}" in forge.pull_record(owner, name, number)["body"]

    # Cached per (tenant, target): A's two targets and B's one were resolved once each.
    assert proposer.router.resolutions == 3
    await proposer.propose(make_recommendation(a, VOLUME, "5.00"))  # unchanged: no PR, no new resolution
    assert proposer.router.resolutions == 3
    assert rt.counters.get("propose.unchanged") == 1
    now[0] += 61  # TTL over: the targets (and their tokens) are read again
    await proposer.propose(make_recommendation(a, VOLUME, "5.00"))
    assert proposer.router.resolutions == 5
    assert [len(forge.pull_numbers(o, n)) for o, n in REPOS] == [1, 1, 0, 1]

    # A target removed is noticed after the TTL: A's next PR has no target left but the path-filtered
    # one, whose path does not hold main.tf, so none is opened (and never on the global repository).
    targets_svc.remove_target(Caller(actor="test:ops", tenant=a, settings=settings), "infra")
    now[0] += 61
    outcome = await proposer.propose(make_recommendation(a, VOLUME, "9.00"))
    assert isinstance(outcome, NotAddressable)
    assert outcome.code == "unsupported"
    assert "envs/prod" in outcome.reason
    assert [len(forge.pull_numbers(o, n)) for o, n in REPOS] == [1, 1, 0, 1]
