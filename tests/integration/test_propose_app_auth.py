"""Routing out with GitHub App installations: two tenants' recommendations open pull requests in two
repositories of the local forge, each tenant's target authenticating as its own App installation
(githubkit's app-installation auth: a JWT signed with the App's private key, traded for an
installation token the forge verifies with the App's public key).

Tenant A's target names its App and a private-key reference in the environment; tenant B's names
only an installation id and uses the deployment's App (``CLOUDOPS_GITHUB__APP_ID`` with a key
file). Real PostgreSQL control plane (migration 0013 adds the App columns).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.app_tenants import make_app_tenants, seeded_forge
from tests.support.tenancy import make_recommendation

from cloudops.app import create_app
from cloudops.embedded.forge import LocalForge
from cloudops.errors import ConfigError
from cloudops.ingest.propose import Proposer
from cloudops.service import Caller, InvalidInput
from cloudops.service import targets as targets_svc
from cloudops.service.proposals import ProposalRouter
from cloudops.settings import Settings
from cloudops.sinks.github import PullRequestResult
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.postgres.tenants import register_tenant

pytestmark = pytest.mark.integration
TOKEN = "forge-token-app-auth"
VOLUME = "vol-0a1b2c3d4e5f60001"  # a gp2 volume of the sample state, set literally in main.tf


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[LocalForge]:
    f = seeded_forge(tmp_path / "forge", TOKEN)
    try:
        yield f
    finally:
        f.stop()


async def test_two_tenants_two_app_installations_two_repositories(
    forge: LocalForge, postgres_db: str, tmp_path: Path, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_app_tenants(forge, postgres_db, tmp_path, tenant_id, monkeypatch)
    settings, a, b = world.settings, world.a, world.b
    a_app, a_installation, b_installation = world.a_app, world.a_installation, world.b_installation
    stored_b = targets_svc.get_target(Caller(actor="test:ops", tenant=b, settings=settings), "infra")
    assert (stored_b.app_id, stored_b.app_key_ref, stored_b.token_ref) == (None, None, None)

    route = targets_svc.routes_for(Caller(actor="agent:propose", tenant=a, settings=settings))[0]
    assert route.app is not None
    assert route.app.app_id == a_app
    assert route.token is None
    assert "PRIVATE KEY" not in repr(route)

    _app, rt = create_app(settings, ["propose"])
    proposer = Proposer(rt)
    proposer.router = ProposalRouter(settings, ttl_s=60.0)
    results = {}
    for t in (a, b):
        rec = make_recommendation(t, VOLUME, "5.00")
        RecommendationStore(postgres_db, t).upsert([rec])
        results[t] = await proposer.propose(rec)

    for t, repo, bot in ((a, "acme/infra", "acme-finops[bot]"), (b, "beta/terraform", "cloudops[bot]")):
        result = results[t]
        assert isinstance(result, PullRequestResult), (t, result)
        assert (result.outcome, result.repo.full_name) == ("created", repo)
        owner, name = repo.split("/")
        (number,) = forge.pull_numbers(owner, name)
        record = forge.pull_record(owner, name, number)
        assert record["user"] == bot  # opened as the tenant's App installation
        assert f"cloudops:fingerprint={make_recommendation(t, VOLUME, '5.00').fingerprint}" in record["body"]
        assert list(forge.pull_diff(owner, name, number).changed_paths) == ["main.tf"]
        stored = RecommendationStore(postgres_db, t).get(make_recommendation(t, VOLUME, "5.00").fingerprint)
        assert stored is not None
        assert stored.state == "pr_open"
        assert stored.pr_url is not None
        assert f"/{repo}/pull/{number}" in stored.pr_url
    tokens = [r for r in forge.requests if r.path.startswith("/app/installations/")]
    assert sorted(r.path.split("/")[3] for r in tokens) == sorted([str(a_installation), str(b_installation)])
    assert all(r.status == 201 for r in tokens)


def test_app_target_validation(postgres_db: str, tmp_path: Path, tenant_id: str) -> None:
    settings = Settings(app={"work_dir": tmp_path}, postgres={"dsn": postgres_db})
    migrate(postgres_db, tenant_id)
    register_tenant(postgres_db, tenant_id)
    me = Caller(actor="test:ops", tenant=tenant_id, settings=settings)
    with pytest.raises(InvalidInput, match="both --app-id and --app-key-ref"):
        targets_svc.set_target(me, "t", repository="a/b", app_installation_id=7, app_id=3)
    with pytest.raises(InvalidInput, match="needs --app-installation-id"):
        targets_svc.set_target(me, "t", repository="a/b", app_id=3, app_key_ref="env:K", token_ref="env:T")
    with pytest.raises(InvalidInput, match="never a key"):
        targets_svc.set_target(me, "t", repository="a/b", app_installation_id=7, app_id=3, app_key_ref="-----BEGIN")
    # An installation id alone needs the deployment's App, which this deployment does not have.
    target = targets_svc.set_target(me, "t", repository="a/b", app_installation_id=7)
    with pytest.raises(ConfigError, match="CLOUDOPS_GITHUB__APP_ID"):
        targets_svc.resolve_route(me, target)
