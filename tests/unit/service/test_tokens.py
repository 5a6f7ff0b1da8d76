"""Token strings, expiry parsing and scope rules (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudops.service.context import Forbidden
from cloudops.service.tokens import (
    SCOPES,
    Identity,
    Unauthenticated,
    hash_secret,
    parse_expiry,
    split_token,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_split_token_reads_id_and_secret() -> None:
    secret = "A" * 42 + "_"
    assert split_token(f"cop_0123456789abcdef_{secret}") == ("0123456789abcdef", secret)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Bearer x",
        "cop_",
        "cop_0123456789abcdef",
        "cop_0123456789ABCDEF_" + "A" * 43,
        "cop_0123_" + "A" * 43,
        "cop_0123456789abcdef_" + "A" * 42,
        "cop_0123456789abcdef_" + "A" * 42 + "=",
    ],
)
def test_split_token_refuses_malformed(bad: str) -> None:
    with pytest.raises(Unauthenticated):
        split_token(bad)


def test_hash_is_sha256_of_the_secret() -> None:
    assert hash_secret("abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW + timedelta(days=30)),
        ("12h", NOW + timedelta(hours=12)),
        ("90m", NOW + timedelta(minutes=90)),
        ("2w", NOW + timedelta(weeks=2)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:00:00+02:00", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("never", None),
        (None, None),
    ],
)
def test_parse_expiry(text: str | None, expected: datetime | None) -> None:
    assert parse_expiry(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["soon", "2025-01-01", "-3d", "3y"])
def test_parse_expiry_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expires"):
        parse_expiry(text, now=NOW)


def test_identity_scopes_and_tenant() -> None:
    tenant = Identity("0" * 16, "acme", "ui", frozenset({"costs:read"}), None, None)
    tenant.require("costs:read")
    with pytest.raises(Forbidden, match="sources:write"):
        tenant.require("sources:write")
    assert tenant.require_tenant() == "acme"
    admin = Identity("1" * 16, None, "ops", frozenset({"tenants:admin"}), None, None)
    assert admin.platform_admin
    with pytest.raises(Forbidden, match="platform-admin"):
        admin.require_tenant()


def test_every_scope_is_documented() -> None:
    assert all(desc for desc in SCOPES.values())
    assert {"costs:read", "sources:write", "recommendations:write", "tenants:admin"} <= set(SCOPES)
