"""API tokens against a real PostgreSQL: hashed storage, scopes, expiry, revocation, audit, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from cloudops.embedded.net import free_port
from cloudops.errors import ConfigError
from cloudops.service.context import Forbidden, NotFound
from cloudops.service.tokens import (
    Unauthenticated,
    authenticate,
    create_token,
    hash_secret,
    list_tokens,
    revoke_token,
    split_token,
)
from cloudops.sinks.postgres import migrate, register_tenant
from cloudops.sinks.postgres.audit_trail import read_trail

pytestmark = pytest.mark.integration


@pytest.fixture
def control_plane(postgres_db: str) -> str:
    for tenant in ("acme", "globex"):
        migrate(postgres_db, tenant)
        register_tenant(postgres_db, tenant)
    return postgres_db


def _audit_rows(dsn: str, tenant: str) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT actor, action, target, request_id FROM public.audit_log WHERE tenant = %s ORDER BY id", [tenant]
        ).fetchall()
    return [(str(a), str(b), c, d) for a, b, c, d in rows]


def test_token_is_stored_hashed_and_shown_once(control_plane: str) -> None:
    issued = create_token(
        control_plane,
        tenant="acme",
        scopes=["costs:read", "sources:read"],
        name="dashboard",
        expires_at=None,
        actor="cli:test",
        request_id="req-1",
    )
    token_id, secret = split_token(issued.secret)
    assert token_id == issued.token.id
    with psycopg.connect(control_plane) as conn:
        row = conn.execute("SELECT * FROM public.api_tokens WHERE id = %s", [token_id]).fetchone()
        dump = " ".join(str(v) for v in row or ())
    assert secret not in dump
    assert bytes(row[4]) == hash_secret(secret)  # type: ignore[index]

    ident = authenticate(control_plane, issued.secret, request_id="req-2")
    assert (ident.tenant, ident.scopes, ident.actor) == ("acme", {"costs:read", "sources:read"}, f"token:{token_id}")
    listed = list_tokens(control_plane, tenant="acme")
    assert [t.id for t in listed] == [token_id]
    assert listed[0].last_used_at is not None
    assert ("cli:test", "token.created", f"token:{token_id}", "req-1") in _audit_rows(control_plane, "acme")


def test_wrong_secret_unknown_and_malformed_tokens_are_refused(control_plane: str) -> None:
    issued = create_token(
        control_plane, tenant="acme", scopes=["costs:read"], name="x", expires_at=None, actor="cli:test"
    )
    token_id, secret = split_token(issued.secret)
    forged = f"cop_{token_id}_{'A' * 43}"
    for bad in (forged, f"cop_{'0' * 16}_{secret}", "cop_nope", "Bearer"):
        with pytest.raises(Unauthenticated):
            authenticate(control_plane, bad)


def test_expired_and_revoked_tokens_are_refused_and_audited(control_plane: str) -> None:
    soon = create_token(
        control_plane,
        tenant="acme",
        scopes=["costs:read"],
        name="short",
        expires_at=datetime.now(UTC) + timedelta(minutes=1),
        actor="cli:test",
    )
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(control_plane, soon.secret, request_id="req-exp", now=datetime.now(UTC) + timedelta(minutes=2))
    revoked = revoke_token(control_plane, soon.token.id, actor="cli:ops", request_id="req-rev")
    assert revoked.revoked_at is not None
    assert revoke_token(control_plane, soon.token.id, actor="cli:ops").revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(control_plane, soon.secret, request_id="req-after")
    rows = _audit_rows(control_plane, "acme")
    target = f"token:{soon.token.id}"
    assert (target, "auth.denied", target, "req-exp") in rows
    assert ("cli:ops", "token.revoked", target, "req-rev") in rows
    assert (target, "auth.denied", target, "req-after") in rows
    assert sum(1 for r in rows if r[1] == "token.revoked") == 1
    assert list_tokens(control_plane, tenant="acme") == []
    assert len(list_tokens(control_plane, tenant="acme", include_revoked=True)) == 1


def test_scope_rules(control_plane: str) -> None:
    with pytest.raises(ValueError, match="platform-admin"):
        create_token(control_plane, tenant="acme", scopes=["tenants:admin"], name="x", expires_at=None, actor="t")
    with pytest.raises(ValueError, match="unknown scope"):
        create_token(control_plane, tenant="acme", scopes=["costs:write"], name="x", expires_at=None, actor="t")
    with pytest.raises(ConfigError, match="not registered"):
        create_token(control_plane, tenant="initech", scopes=["costs:read"], name="x", expires_at=None, actor="t")

    admin_of_acme = authenticate(
        control_plane,
        create_token(
            control_plane,
            tenant="acme",
            scopes=["tokens:admin", "costs:read"],
            name="acme-admin",
            expires_at=None,
            actor="t",
        ).secret,
    )
    # A tenant token mints tokens for its own tenant, within its own scopes only.
    child = create_token(
        control_plane,
        tenant="acme",
        scopes=["costs:read"],
        name="child",
        expires_at=None,
        actor=admin_of_acme.actor,
        by=admin_of_acme,
    )
    assert child.token.tenant == "acme"
    with pytest.raises(Forbidden, match="own tenant"):
        create_token(
            control_plane,
            tenant="globex",
            scopes=["costs:read"],
            name="x",
            expires_at=None,
            actor="t",
            by=admin_of_acme,
        )
    with pytest.raises(Forbidden, match="does not hold"):
        create_token(
            control_plane,
            tenant="acme",
            scopes=["sources:write"],
            name="x",
            expires_at=None,
            actor="t",
            by=admin_of_acme,
        )
    globex = create_token(control_plane, tenant="globex", scopes=["costs:read"], name="g", expires_at=None, actor="t")
    # Another tenant's token reads as not found, never revoked.
    with pytest.raises(NotFound, match="no token"):
        revoke_token(control_plane, globex.token.id, actor="t", by=admin_of_acme)
    with pytest.raises(NotFound, match="no token"):
        revoke_token(control_plane, globex.token.id, actor="t", tenant="acme")
    authenticate(control_plane, globex.secret)  # still alive


def test_platform_admin_token_is_audited_under_star(control_plane: str) -> None:
    issued = create_token(
        control_plane,
        tenant=None,
        scopes=["tenants:admin", "dlq:admin", "tokens:admin"],
        name="ops",
        expires_at=None,
        actor="cli:root",
        request_id="req-p",
    )
    ident = authenticate(control_plane, issued.secret)
    assert ident.platform_admin
    with pytest.raises(Forbidden):
        ident.require_tenant()
    assert [t.id for t in list_tokens(control_plane, tenant=None)] == [issued.token.id]
    assert ("cli:root", "token.created", f"token:{issued.token.id}", "req-p") in _audit_rows(control_plane, "*")
    assert read_trail(control_plane, "acme", action="token.created") == []


def test_cli_create_list_revoke(control_plane: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
    env["CLOUDOPS_POSTGRES__DSN"] = control_plane
    env["COLUMNS"] = "200"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloudops", *args], env=env, capture_output=True, text=True, timeout=60
        )

    made = cli("tokens", "create", "--tenant", "acme", "--scope", "costs:read,files:read", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[0].strip()
    token_id, _ = split_token(secret)
    assert authenticate(control_plane, secret).scopes == {"costs:read", "files:read"}
    listed = cli("tokens", "list", "--tenant", "acme")
    assert token_id in listed.stdout
    assert secret.split("_")[-1] not in listed.stdout
    bad = cli("tokens", "create", "--tenant", "acme", "--scope", "tenants:admin")
    assert bad.returncode != 0
    assert "platform-admin" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = cli("tokens", "revoke", token_id, "--tenant", "acme")
    assert gone.returncode == 0, gone.stderr
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(control_plane, secret)


def test_cloudops_api_serves_a_cli_token(control_plane: str, tmp_path: Path) -> None:
    """`cloudops api` as an operator runs it: a token from `cloudops tokens create` works at once."""
    port = free_port("127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
    env.update(
        CLOUDOPS_POSTGRES__DSN=control_plane,
        CLOUDOPS_APP__WORK_DIR=str(tmp_path / "work"),
        CLOUDOPS_API__PORT=str(port),
        CLOUDOPS_APP__LOG_LEVEL="WARNING",
    )
    made = subprocess.run(
        [sys.executable, "-m", "cloudops", "tokens", "create", "--tenant", "acme", "--scope", "costs:read"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    secret = made.stdout.splitlines()[0].strip()
    log = (tmp_path / "api.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "cloudops", "api"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cloudops api did not start"
            time.sleep(0.2)
        me = httpx.get(f"http://127.0.0.1:{port}/v1/tenant", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
        assert (me.status_code, me.json()["id"]) == (200, "acme")
        assert httpx.get(f"http://127.0.0.1:{port}/v1/tenant", timeout=10).status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
