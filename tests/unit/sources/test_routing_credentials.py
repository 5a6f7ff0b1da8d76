"""Routing by bucket + longest prefix, credentials references, local-root checks (pure, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudops.errors import ConfigError
from cloudops.settings import AwsSettings
from cloudops.sources.credentials import (
    AwsCredentials,
    CredentialsResolver,
    EnvProvider,
    FileProvider,
    SourceIdentity,
)
from cloudops.sources.notifications import queue_urls
from cloudops.sources.objects import ObjectStoreAccess, client_kwargs, local_path_allowed
from cloudops.sources.routing import Route, RouteEntry, RouteTable, Unroutable

SRC = SourceIdentity("acme", "cur", None)


def _table(*entries: RouteEntry) -> RouteTable:
    return RouteTable(entries)


def test_longest_prefix_wins_within_a_tenant() -> None:
    t = _table(
        RouteEntry("acme", "active", "all", "bills", ""),
        RouteEntry("acme", "active", "cur", "bills", "cur/"),
        RouteEntry("acme", "active", "legacy", "bills", "cur/legacy/"),
    )
    assert t.route("bills", "cur/legacy/x.csv") == Route("acme", "legacy")
    assert t.route("bills", "cur/2024/x.csv") == Route("acme", "cur")
    assert t.route("bills", "other.csv") == Route("acme", "all")
    assert len(t) == 3


def test_no_source_two_tenants_disabled_and_tenant_states_are_unroutable() -> None:
    t = _table(
        RouteEntry("acme", "active", "cur", "shared", "acme/"),
        RouteEntry("beta", "active", "all", "shared", ""),
        RouteEntry("gone", "deleting", "x", "other", ""),
        RouteEntry("paused", "suspended", "x", "paused", "p/"),
        RouteEntry("acme", "active", "off", "off", "", enabled=False),
    )
    with pytest.raises(Unroutable, match="matches no source of any tenant"):
        t.route("nobody", "x")
    with pytest.raises(Unroutable, match=r"several tenants \(acme, beta\)"):
        t.route("shared", "acme/x.csv")  # never guessed by prefix length across tenants
    assert t.route("shared", "beta/x.csv") == Route("beta", "all")
    with pytest.raises(Unroutable, match="being deleted") as deleting:
        t.route("other", "k")
    assert deleting.value.tenant == "gone"
    with pytest.raises(Unroutable, match="tenant paused is suspended"):
        t.route("paused", "p/k")
    with pytest.raises(Unroutable, match="only disabled source"):
        t.route("off", "k")
    assert t.owner("acme", "cur") is not None
    assert t.owner("beta", "cur") is None


async def test_env_provider_reads_prefixed_variables() -> None:
    env = {"ACME_ACCESS_KEY_ID": "AKIA1", "ACME_SECRET_ACCESS_KEY": "s3cr3t", "ACME_SESSION_TOKEN": "tok"}
    creds = await EnvProvider(env).resolve("ACME", SRC)
    assert creds == AwsCredentials("AKIA1", "s3cr3t", "tok")
    assert "s3cr3t" not in repr(creds)
    assert "tok" not in repr(creds)
    with pytest.raises(ConfigError, match="MISSING_ACCESS_KEY_ID"):
        await EnvProvider(env).resolve("MISSING", SRC)


async def test_file_provider_reads_a_secret_directory_or_json(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "aws_access_key_id").write_text("AKIA2\n")
    (secret / "aws_secret_access_key").write_text("shh\n")
    (secret / "..data").write_text("ignored")  # Kubernetes' projection bookkeeping
    assert await FileProvider().resolve(str(secret), SRC) == AwsCredentials("AKIA2", "shh")
    doc = tmp_path / "creds.json"
    doc.write_text(json.dumps({"access_key_id": "AKIA3", "secret_access_key": "x", "session_token": "t"}))
    assert await FileProvider().resolve(str(doc), SRC) == AwsCredentials("AKIA3", "x", "t")
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        await FileProvider().resolve(str(tmp_path / "bad.json"), SRC)
    with pytest.raises(ConfigError, match="cannot be read"):
        await FileProvider().resolve(str(tmp_path / "nope"), SRC)


class _Counting:
    scheme = "count"

    def __init__(self, expires: datetime | None) -> None:
        self.calls = 0
        self.expires = expires

    async def resolve(self, target: str, source: SourceIdentity) -> AwsCredentials:
        self.calls += 1
        return AwsCredentials(f"K{self.calls}", "s", expires_at=self.expires)


async def test_resolver_caches_until_near_expiry_and_refuses_unknown_schemes() -> None:
    fresh = _Counting(datetime.now(UTC) + timedelta(hours=1))
    r = CredentialsResolver(AwsSettings(), [fresh])
    assert await r.resolve(None, SRC) is None  # the deployment's own credentials
    a = await r.resolve("count:x", SRC)
    b = await r.resolve("count:x", SRC)
    assert a == b
    assert fresh.calls == 1
    await r.resolve("count:x", SourceIdentity("other", "cur"))  # another source: its own credentials
    assert fresh.calls == 2
    expiring = _Counting(datetime.now(UTC) + timedelta(seconds=60))  # inside the refresh margin
    r2 = CredentialsResolver(AwsSettings(), [expiring])
    await r2.resolve("count:x", SRC)
    await r2.resolve("count:x", SRC)
    assert expiring.calls == 2
    with pytest.raises(ConfigError, match="must be one of count:"):
        await r.resolve("vault:secret/x", SRC)


def test_client_kwargs_use_the_sources_endpoint_region_and_credentials() -> None:
    aws = AwsSettings(endpoint_url="http://global", region="us-east-1", access_key_id="G", secret_access_key="GS")
    assert client_kwargs(aws)["endpoint_url"] == "http://global"
    kw = client_kwargs(aws, ObjectStoreAccess("http://minio:9000", "eu-west-1", AwsCredentials("K", "S", "T")))
    assert (kw["endpoint_url"], kw["region_name"]) == ("http://minio:9000", "eu-west-1")
    assert (kw["aws_access_key_id"], kw["aws_secret_access_key"], kw["aws_session_token"]) == ("K", "S", "T")


def test_local_files_only_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "f.csv").write_text("x")
    (tmp_path / "in" / "escape").symlink_to("/etc")
    assert local_path_allowed(tmp_path / "in" / "f.csv", tmp_path / "in")
    assert not local_path_allowed(tmp_path / "in" / ".." / "f.csv", tmp_path / "in")
    assert not local_path_allowed(tmp_path / "in" / "escape" / "passwd", tmp_path / "in")
    assert not local_path_allowed(tmp_path / "in" / "f.csv", None)


def test_queue_urls_split_on_commas() -> None:
    assert queue_urls(" http://q/1 , http://q/2,") == ["http://q/1", "http://q/2"]
    assert queue_urls(None) == []


def test_secret_references_resolve_without_showing_the_secret(tmp_path: Path) -> None:
    from cloudops.sources.credentials import read_secret_ref

    assert read_secret_ref("env:GH", {"GH": "ghp_abc"}) == "ghp_abc"
    (tmp_path / "token").write_text("ghp_file\n")
    assert read_secret_ref(f"file:{tmp_path / 'token'}") == "ghp_file"
    with pytest.raises(ConfigError, match="env:NOPE: the variable is not set") as missing:
        read_secret_ref("env:NOPE", {})
    assert "ghp" not in str(missing.value)
    with pytest.raises(ConfigError, match="must be env:NAME or file:/path"):
        read_secret_ref("ghp_literal_token")


def test_a_dead_lettered_record_is_a_notification_the_bridge_reads_again() -> None:
    from datetime import UTC, datetime

    from cloudops.sources.notifications import notification_for
    from cloudops.sources.sqs import S3ObjectCreated, parse_s3_notification

    rec = S3ObjectCreated(
        "b", "exports/a b+c%.csv", "abc", "v1", 12, datetime(2024, 5, 1, tzinfo=UTC), "ObjectCreated:Put"
    )
    assert parse_s3_notification(notification_for(rec)) == [rec]
