"""Per-tenant ClickHouse users: derived credentials, the DDL, and the tenant's DSN."""

from __future__ import annotations

import hashlib

import pytest

from cloudops.sinks.clickhouse.access import access_statements, tenant_access, tenant_dsn


def test_credentials_are_derived_per_tenant_and_key_and_never_printed() -> None:
    a = tenant_access("acme", "k1")
    assert (a.user, a.role, a.database) == ("tenant_acme", "tenant_acme_reader", "tenant_acme")
    assert a == tenant_access("acme", "k1")  # deterministic: nothing to store
    assert a.password != tenant_access("globex", "k1").password
    assert a.password != tenant_access("acme", "k2").password
    assert a.password not in repr(a)


def test_the_role_reads_only_its_own_database_and_the_password_goes_in_hashed() -> None:
    a = tenant_access("acme", "k1")
    ddl = access_statements(a)
    grants = [s for s in ddl if s.startswith("GRANT") and " ON " in s]
    assert grants == ["GRANT SELECT ON tenant_acme.* TO tenant_acme_reader"]
    assert all(a.password not in s for s in ddl)
    assert any(hashlib.sha256(a.password.encode()).hexdigest() in s for s in ddl)
    assert "ALTER USER tenant_acme DEFAULT ROLE tenant_acme_reader" in ddl


def test_invalid_tenant_ids_never_reach_the_ddl() -> None:
    with pytest.raises(ValueError, match="invalid tenant id"):
        tenant_access("acme; DROP USER default", "k")


def test_tenant_dsn_swaps_the_user_and_keeps_the_rest() -> None:
    a = tenant_access("acme", "k1")
    dsn = tenant_dsn("https://svc:secret@ch.example:8443/?secure=true", "acme", "k1")
    assert dsn == f"https://tenant_acme:{a.password}@ch.example:8443/?secure=true"
    assert tenant_dsn("chdb:///data/chdb", "acme", "k1") == "chdb:///data/chdb"  # embedded: no users
