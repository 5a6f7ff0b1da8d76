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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.tenancy import make_recommendation

from cloudops.app import create_app
from cloudops.embedded import terraform_sample_repo, terraform_sample_state
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
REPOS = (("acme", "infra"), ("beta", "terraform"))


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


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


async def test_two_tenants_two_app_installations_two_repositories(
    forge: LocalForge, postgres_db: str, tmp_path: Path, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_private, a_public = _key_pair()
    shared_private, shared_public = _key_pair()
    a_app = forge.register_app(a_public, slug="acme-finops")
    deployment_app = forge.register_app(shared_public, slug="cloudops")
    a_installation = forge.install_app(a_app, "acme/infra")
    b_installation = forge.install_app(deployment_app, "beta/terraform")
    monkeypatch.setenv("CLOUDOPS_TEST_ACME_APP_KEY", a_private)
    key_file = tmp_path / "secrets" / "app.pem"
    key_file.parent.mkdir()
    key_file.write_text(shared_private)

    state = str(terraform_sample_state())
    settings = Settings(
        app={"id": f"app-{tenant_id}", "tenant": tenant_id, "work_dir": tmp_path / "work"},
        postgres={"dsn": postgres_db},
        github={
            "base_url": forge.base_url,
            "backoff_base_s": 0.05,
            "app_id": deployment_app,
            "app_private_key_ref": f"file:{key_file}",
        },
        terraform={"state": state},
    )
    a, b = f"{tenant_id}a", f"{tenant_id}b"
    for t in (a, b):
        migrate(postgres_db, t)
        register_tenant(postgres_db, t)
    targets_svc.set_target(
        Caller(actor="test:ops", tenant=a, settings=settings),
        "infra",
        repository="acme/infra",
        app_installation_id=a_installation,
        app_id=a_app,
        app_key_ref="env:CLOUDOPS_TEST_ACME_APP_KEY",
        state_refs=[state],
    )
    stored_b = targets_svc.set_target(
        Caller(actor="test:ops", tenant=b, settings=settings),
        "infra",
        repository="beta/terraform",
        app_installation_id=b_installation,
        state_refs=[state],
    )
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
