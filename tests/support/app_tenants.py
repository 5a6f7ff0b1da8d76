"""Two tenants whose Terraform targets authenticate as GitHub App installations on the local forge.

``make_app_tenants`` is the setup of the App-auth routing tests: repositories ``acme/infra`` and
``beta/terraform`` (seeded with the Terraform sample), tenant A's target naming its own App (key
in the environment), tenant B's naming only an installation of the deployment's App (key file,
``CLOUDOPS_GITHUB__APP_ID``). Real PostgreSQL control plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cloudops.embedded import terraform_sample_repo, terraform_sample_state
from cloudops.embedded.forge import LocalForge
from cloudops.service import Caller
from cloudops.service import targets as targets_svc
from cloudops.settings import Settings
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.tenants import register_tenant

__all__ = ["REPOS", "AppTenants", "key_pair", "make_app_tenants", "seeded_forge"]

REPOS = (("acme", "infra"), ("beta", "terraform"))


@dataclass(frozen=True)
class AppTenants:
    settings: Settings
    a: str
    b: str
    a_app: int
    deployment_app: int
    a_installation: int
    b_installation: int

    @property
    def repositories(self) -> dict[str, str]:
        """Tenant -> the ``owner/name`` its target points at."""
        return {self.a: "acme/infra", self.b: "beta/terraform"}


def key_pair() -> tuple[str, str]:
    """A fresh RSA key pair for a GitHub App: (private PEM, public PEM)."""
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


def seeded_forge(root: Path, token: str) -> LocalForge:
    """A started forge holding :data:`REPOS`, each seeded with the Terraform sample (stop it when done)."""
    forge = LocalForge(root, token=token)
    for owner, name in REPOS:
        forge.create_repository(owner, name, seed_dir=terraform_sample_repo())
    return forge.start()


def make_app_tenants(
    forge: LocalForge,
    postgres_db: str,
    tmp_path: Path,
    tenant_id: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    github: dict[str, Any] | None = None,
    **sections: Any,
) -> AppTenants:
    """Register two Apps, install one on each repository, create tenants ``<tenant_id>a`` / ``b``
    with one target each. ``github``: more ``github.*`` settings (e.g. ``webhook_secret``);
    ``sections``: more settings sections (e.g. ``kafka={...}``, ``clickhouse={...}``)."""
    a_private, a_public = key_pair()
    shared_private, shared_public = key_pair()
    a_app = forge.register_app(a_public, slug="acme-finops")
    deployment_app = forge.register_app(shared_public, slug="cloudops")
    a_installation = forge.install_app(a_app, "acme/infra")
    b_installation = forge.install_app(deployment_app, "beta/terraform")
    monkeypatch.setenv("CLOUDOPS_TEST_ACME_APP_KEY", a_private)
    key_file = tmp_path / "secrets" / "app.pem"
    key_file.parent.mkdir(exist_ok=True)
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
            **(github or {}),
        },
        terraform={"state": state},
        **sections,
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
    targets_svc.set_target(
        Caller(actor="test:ops", tenant=b, settings=settings),
        "infra",
        repository="beta/terraform",
        app_installation_id=b_installation,
        state_refs=[state],
    )
    return AppTenants(settings, a, b, a_app, deployment_app, a_installation, b_installation)
