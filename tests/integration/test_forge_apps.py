"""GitHub Apps on the local forge: the installation-token flow githubkit's app-installation auth
runs (a JWT signed with the App's private key, verified with its public key, traded at
``POST /app/installations/{id}/access_tokens``), and what an installation token may touch.

The pull-request sink authenticates with an :class:`AppInstallation`; githubkit's own
``AppInstallationAuthStrategy`` is what talks to the forge (no token is forged by the tests).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cloudops.embedded.forge import LocalForge
from cloudops.errors import ConfigError
from cloudops.sinks.github import (
    AppInstallation,
    GitHubAuthError,
    GitHubError,
    GitHubTarget,
    PullRequestChange,
    PullRequestSink,
    RepoRef,
    RetryPolicy,
)

pytestmark = pytest.mark.integration

TOKEN = "ghp_forgeAppsTest0123456789"
FILES = {"main.tf": b'resource "aws_ebs_volume" "data" {\n  type = "gp2"\n}\n'}


def _key_pair() -> tuple[str, str]:
    """(private key PEM, public key PEM) of a fresh RSA key, as a GitHub App has."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
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
    for owner, name in (("acme", "infra"), ("beta", "terraform")):
        f.create_repository(owner, name, files=FILES)
    f.start()
    try:
        yield f
    finally:
        f.stop()


def _sink(forge: LocalForge, auth: AppInstallation, repo: RepoRef) -> PullRequestSink:
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=1.0)
    return PullRequestSink(GitHubTarget(forge.base_url, auth, repo.owner, repo.name), retry=policy, timeout=10)


def _change(fingerprint: str) -> PullRequestChange:
    return PullRequestChange(
        branch=f"cloudops/ebs-gp3-{fingerprint[:6]}",
        files={"main.tf": 'resource "aws_ebs_volume" "data" {\n  type = "gp3"\n}\n'},
        commit_message="Move EBS volume data from gp2 to gp3",
        title="Move EBS volume data from gp2 to gp3",
        body="gp3 is cheaper.",
        labels=("cloudops",),
        fingerprint=fingerprint,
    )


def _app_jwt(private_pem: str, app_id: int, *, iat: float | None = None, lifetime: int = 540) -> str:
    issued = int(iat if iat is not None else time.time() - 30)
    return jwt.encode({"iss": str(app_id), "iat": issued, "exp": issued + lifetime}, private_pem, algorithm="RS256")


def _token_request(forge: LocalForge, installation_id: int, bearer: str) -> httpx.Response:
    return httpx.post(
        f"{forge.base_url}/app/installations/{installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/vnd.github+json"},
        timeout=10,
    )


async def test_each_installation_opens_prs_in_its_own_repository_only(forge: LocalForge) -> None:
    acme_key, acme_public = _key_pair()
    beta_key, beta_public = _key_pair()
    acme_app = forge.register_app(acme_public, slug="cloudops-acme")
    beta_app = forge.register_app(beta_public, slug="cloudops-beta")
    acme = AppInstallation(acme_app, forge.install_app(acme_app, "acme/infra"), acme_key)
    beta = AppInstallation(beta_app, forge.install_app(beta_app, "beta/terraform"), beta_key)

    opened = {}
    for auth, repo in ((acme, RepoRef("acme", "infra")), (beta, RepoRef("beta", "terraform"))):
        result = await _sink(forge, auth, repo).open_or_update(repo, _change(f"{repo.owner}0123456789abcdef"))
        assert result.outcome == "created"
        opened[repo.full_name] = result.number
    # Each PR (and its commit) is authored by the App's bot, in its own repository.
    for repo, slug in (("acme/infra", "cloudops-acme"), ("beta/terraform", "cloudops-beta")):
        owner, name = repo.split("/")
        assert forge.pull_numbers(owner, name) == [opened[repo]]
        assert forge.pull_record(owner, name, opened[repo])["user"] == f"{slug}[bot]"
        assert forge.pull_diff(owner, name, opened[repo]).commit.author.name == f"{slug}[bot]"
    token_calls = [r for r in forge.requests if r.path.startswith("/app/installations/")]
    assert [(r.method, r.status) for r in token_calls] == [("POST", 201), ("POST", 201)]  # one token each, reused

    # An installation token reaches its own repository only: another one is 404, as on GitHub.
    with pytest.raises(GitHubError) as refused:
        await _sink(forge, acme, RepoRef("beta", "terraform")).open_or_update(
            RepoRef("beta", "terraform"), _change("acme0123456789abcdef00")
        )
    assert refused.value.status == 404
    assert forge.pull_numbers("beta", "terraform") == [opened["beta/terraform"]]


def test_the_forge_verifies_the_app_jwt(forge: LocalForge) -> None:
    private, public = _key_pair()
    other_private, _ = _key_pair()
    app_id = forge.register_app(public, slug="cloudops")
    installation = forge.install_app(app_id, "acme/infra")

    ok = _token_request(forge, installation, _app_jwt(private, app_id))
    assert ok.status_code == 201
    token = ok.json()["token"]
    assert token.startswith("ghs_")
    assert ok.json()["expires_at"].endswith("Z")
    repo = httpx.get(f"{forge.base_url}/repos/acme/infra", headers={"Authorization": f"token {token}"}, timeout=10)
    assert repo.status_code == 200
    assert (
        httpx.get(f"{forge.base_url}/user", headers={"Authorization": f"token {token}"}, timeout=10).status_code == 403
    )

    refusals = {
        "signed with another key": _app_jwt(other_private, app_id),
        "expired": _app_jwt(private, app_id, iat=time.time() - 1200),
        "too long-lived": _app_jwt(private, app_id, lifetime=3600),
        "unknown App": _app_jwt(private, app_id + 1),
        "not a JWT": "not-a-jwt",
        "the user's token": TOKEN,
    }
    for why, bearer in refusals.items():
        answer = _token_request(forge, installation, bearer)
        assert answer.status_code == 401, (why, answer.text)
        assert answer.json()["message"], why
    # Another App's installation, or none at all: 404.
    _, second_public = _key_pair()
    second = forge.register_app(second_public, slug="second")
    assert (
        _token_request(forge, forge.install_app(second, "beta/terraform"), _app_jwt(private, app_id)).status_code == 404
    )
    assert _token_request(forge, 123, _app_jwt(private, app_id)).status_code == 404
    # A made-up installation token is no credential.
    bad = httpx.get(f"{forge.base_url}/repos/acme/infra", headers={"Authorization": "token ghs_madeup"}, timeout=10)
    assert bad.status_code == 401


def test_apps_survive_a_forge_restart(tmp_path: Path) -> None:
    private, public = _key_pair()
    first = LocalForge(tmp_path / "forge", token=TOKEN)
    first.create_repository("acme", "infra", files=FILES)
    app_id = first.register_app(public)
    installation = first.install_app(app_id, "acme/infra")
    with first:
        token = _token_request(first, installation, _app_jwt(private, app_id)).json()["token"]
    with LocalForge(tmp_path / "forge", token=TOKEN) as second:
        headers = {"Authorization": f"token {token}"}
        assert httpx.get(f"{second.base_url}/repos/acme/infra", headers=headers, timeout=10).status_code == 200
        assert _token_request(second, installation, _app_jwt(private, app_id)).status_code == 201


async def test_a_wrong_private_key_is_an_auth_error(forge: LocalForge) -> None:
    _, public = _key_pair()
    wrong_private, _ = _key_pair()
    app_id = forge.register_app(public)
    auth = AppInstallation(app_id, forge.install_app(app_id, "acme/infra"), wrong_private)
    with pytest.raises(GitHubAuthError):
        await _sink(forge, auth, RepoRef("acme", "infra")).open_or_update(
            RepoRef("acme", "infra"), _change("feed0123456789abcdef00")
        )
    assert forge.pull_numbers("acme", "infra") == []
    with pytest.raises(ConfigError, match="not a PEM private key"):
        AppInstallation(app_id, 1, "ghp_not_a_key")
    assert wrong_private not in repr(auth)
    assert "PRIVATE KEY" not in repr(GitHubTarget(forge.base_url, auth, "a", "b"))
