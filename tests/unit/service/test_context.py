"""The caller identity every use case takes first: the tenant comes from it, never from a body."""

from __future__ import annotations

import pytest

from cloudops.errors import ConfigError
from cloudops.service import Caller, Forbidden, InvalidInput
from cloudops.settings import Settings


def test_a_tenant_bound_caller_acts_only_for_its_tenant() -> None:
    settings = Settings()
    bound = Caller(actor="token:1", tenant="acme", settings=settings)
    assert bound.tenant_id == "acme"
    assert bound.acting_for("acme").tenant == "acme"
    with pytest.raises(Forbidden, match="may not act for tenant 'beta'"):
        bound.acting_for("beta")
    with pytest.raises(Forbidden, match="may not manage tenants"):
        bound.require_platform()


def test_a_platform_caller_picks_a_tenant_and_needs_one_for_tenant_calls() -> None:
    op = Caller(actor="cli:root", tenant=None, settings=Settings(postgres={"dsn": None}), platform=True)
    with pytest.raises(Forbidden, match="bound to none"):
        _ = op.tenant_id
    beta = op.acting_for("beta")
    assert (beta.tenant, beta.actor, beta.request_id) == ("beta", "cli:root", op.request_id)
    op.require_platform()
    with pytest.raises(ConfigError, match="CLOUDOPS_POSTGRES__DSN"):
        _ = op.dsn


def test_invalid_tenant_ids_are_refused_at_the_door() -> None:
    for bad in ("Acme", "acme;drop", "", "a" * 49):
        with pytest.raises(InvalidInput, match="invalid tenant id"):
            Caller(actor="x", tenant=bad, settings=Settings())
    assert Caller(actor="x", tenant="a", settings=Settings()).request_id != Caller(actor="x", tenant="a").request_id
