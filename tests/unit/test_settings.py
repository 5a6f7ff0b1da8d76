"""cloudops.settings: one frozen, typed settings tree read from CLOUDOPS_* variables."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from cloudops import settings as settings_module
from cloudops.settings import Settings, get_settings, settings_table, validate_tenant


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CLOUDOPS_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("CLOUDOPS_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults() -> None:
    s = Settings()
    assert s.app.tenant == "default"
    assert s.app.work_dir == Path(".cloudops")
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka.max_message_bytes == 900_000
    assert s.clickhouse.dsn is None
    assert s.postgres.dsn is None
    assert s.redis.url is None
    assert s.aws.sqs_queue_url is None
    assert s.ingest.block_bytes == 4 << 20
    assert s.load.outage_budget_s == 900.0


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("CLOUDOPS_KAFKA__TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("CLOUDOPS_APP__TENANT", "acme_corp")
    monkeypatch.setenv("CLOUDOPS_APP__WORK_DIR", str(tmp_path))
    monkeypatch.setenv("CLOUDOPS_CLICKHOUSE__DSN", "https://user:pass@ch.example.com:8443")
    monkeypatch.setenv("CLOUDOPS_AWS__ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("CLOUDOPS_AWS__SQS_WAIT_SECONDS", "1")
    monkeypatch.setenv("CLOUDOPS_INGEST__BACKOFF_BASE_S", "0.25")
    monkeypatch.setenv("CLOUDOPS_REDIS__URL", "redis://127.0.0.1:6379/0")
    s = Settings()
    assert s.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert s.kafka.topic_partitions == 12
    assert s.app.tenant == "acme_corp"
    assert s.app.work_dir == tmp_path
    assert s.clickhouse.dsn == "https://user:pass@ch.example.com:8443"
    assert s.clickhouse_dsn == "https://user:pass@ch.example.com:8443"
    assert s.aws.endpoint_url == "http://127.0.0.1:5000"
    assert s.aws.sqs_wait_seconds == 1
    assert s.ingest.backoff_base_s == 0.25
    assert s.redis.url == "redis://127.0.0.1:6379/0"
    # Untouched fields of a section keep their defaults.
    assert s.kafka.replication_factor == 1


def test_unrelated_env_vars_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPS_NOT_A_SECTION", "x")
    monkeypatch.setenv("KAFKA__BOOTSTRAP_SERVERS", "no-prefix:1")
    assert Settings().kafka.bootstrap_servers == "127.0.0.1:9092"


def test_get_settings_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS", "first:1")
    first = get_settings()
    monkeypatch.setenv("CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS", "second:2")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().kafka.bootstrap_servers == "second:2"


def test_secrets_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPS_AWS__ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("CLOUDOPS_AWS__SECRET_ACCESS_KEY", "very-secret")
    s = Settings()
    assert isinstance(s.aws.secret_access_key, SecretStr)
    assert s.aws.secret_access_key.get_secret_value() == "very-secret"
    assert "very-secret" not in repr(s)
    assert "very-secret" not in str(s.model_dump())


def test_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.kafka = s.kafka  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        s.kafka.bootstrap_servers = "elsewhere:9092"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        s.app.tenant = "other"  # type: ignore[misc]
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"


def test_with_overrides_returns_a_new_tree() -> None:
    s = Settings()
    t = s.with_overrides(kafka={"bootstrap_servers": "x:1"}, app={"tenant": "acme"})
    assert t.kafka.bootstrap_servers == "x:1"
    assert t.app.tenant == "acme"
    assert t.kafka.topic_partitions == s.kafka.topic_partitions
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.app.tenant == "default"
    with pytest.raises(ValidationError):
        s.with_overrides(app={"tenant": "Not Valid"})
    with pytest.raises(ValidationError):
        s.with_overrides(kafka={"no_such_field": 1})


@pytest.mark.parametrize(
    "tenant",
    ["Acme", "1acme", "acme-corp", "", "a" * 49, "acme corp", "acme\n", "tenant;drop", "_acme", "ünï"],
)
def test_invalid_tenant_rejected(tenant: str) -> None:
    with pytest.raises(ValueError, match="invalid tenant id"):
        validate_tenant(tenant)
    with pytest.raises(ValidationError, match="invalid tenant id"):
        Settings(app={"tenant": tenant})


def test_invalid_tenant_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPS_APP__TENANT", "Bad-Tenant")
    with pytest.raises(ValidationError, match="invalid tenant id 'Bad-Tenant'"):
        Settings()


@pytest.mark.parametrize("tenant", ["a", "acme", "acme_corp_2", "a" * 48, "default"])
def test_valid_tenants(tenant: str) -> None:
    assert validate_tenant(tenant) == tenant
    assert Settings(app={"tenant": tenant}).app.tenant == tenant


def test_api_gateway_and_upload_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().api.gateway_url, Settings().api.upload_max_bytes) == ("", 512 * 1024 * 1024)
    monkeypatch.setenv("CLOUDOPS_API__GATEWAY_URL", "http://gateway:4000/")
    monkeypatch.setenv("CLOUDOPS_API__UPLOAD_MAX_BYTES", "1048576")
    s = Settings()
    assert (s.api.gateway_url, s.api.upload_max_bytes) == ("http://gateway:4000/", 1 << 20)


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("CLOUDOPS_INGEST__BLOCK_BYTES", "1024"),  # below 64 KiB
        ("CLOUDOPS_KAFKA__TOPIC_PARTITIONS", "0"),
        ("CLOUDOPS_KAFKA__MAX_MESSAGE_BYTES", "lots"),
        ("CLOUDOPS_AWS__SQS_WAIT_SECONDS", "21"),
        ("CLOUDOPS_INGEST__BACKOFF_BASE_S", "0"),
        ("CLOUDOPS_API__UPLOAD_MAX_BYTES", "0"),
    ],
)
def test_out_of_range_values_rejected(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError):
        Settings()


def test_clickhouse_dsn_defaults_to_chdb_under_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings(app={"work_dir": tmp_path / "state"})
    assert s.clickhouse.dsn is None
    assert s.clickhouse_dsn == f"chdb://{(tmp_path / 'state' / 'chdb').resolve()}"
    monkeypatch.chdir(tmp_path)
    relative = Settings()
    assert relative.clickhouse_dsn == f"chdb://{tmp_path.resolve() / '.cloudops' / 'chdb'}"
    assert Path(relative.clickhouse_dsn.removeprefix("chdb://")).is_absolute()


def test_settings_table_lists_every_field() -> None:
    rows = settings_table()
    expected = []
    for section, section_field in Settings.model_fields.items():
        model = section_field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        # A secret field is read from the variable of its alias (`dsn_secret` <- CLOUDOPS_POSTGRES__DSN).
        names = [f.alias or key for key, f in model.model_fields.items()]
        expected.extend(f"CLOUDOPS_{section.upper()}__{name.upper()}" for name in names)
    assert [r[0] for r in rows] == expected
    assert len(rows) == len(set(r[0] for r in rows))
    for env, _default, description in rows:
        assert description, f"{env} has no description"
    by_env = {env: default for env, default, _ in rows}
    assert by_env["CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert by_env["CLOUDOPS_APP__TENANT"] == "default"
    assert by_env["CLOUDOPS_INGEST__BLOCK_BYTES"] == str(4 << 20)
    assert by_env["CLOUDOPS_CLICKHOUSE__DSN"] == ""
    assert {"CLOUDOPS_APP__WORK_DIR", "CLOUDOPS_AWS__SQS_QUEUE_URL", "CLOUDOPS_LOAD__OUTAGE_BUDGET_S"} <= set(by_env)


def test_settings_table_names_are_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every variable the table documents really is read: set each to a non-default valid value.
    values = {
        "CLOUDOPS_APP__ID": "otherapp",
        "CLOUDOPS_KAFKA__HEARTBEAT_INTERVAL_S": "1.5",
        "CLOUDOPS_CLICKHOUSE__DEDUP_WINDOW": "500",
        "CLOUDOPS_POSTGRES__DSN": "postgresql://u@h/db",
        "CLOUDOPS_AWS__REGION": "eu-west-1",
        "CLOUDOPS_INGEST__DOWNLOAD_CHUNK_BYTES": str(128 << 10),
        "CLOUDOPS_LOAD__OUTAGE_BUDGET_S": "2",
    }
    documented = {r[0] for r in settings_table()}
    assert set(values) <= documented
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    assert s.app.id == "otherapp"
    assert s.kafka.heartbeat_interval_s == 1.5
    assert s.clickhouse.dedup_window == 500
    assert s.postgres.dsn == "postgresql://u@h/db"
    assert s.aws.region == "eu-west-1"
    assert s.ingest.download_chunk_bytes == 128 << 10
    assert s.load.outage_budget_s == 2.0


def test_module_exports() -> None:
    for name in settings_module.__all__:
        assert hasattr(settings_module, name), name


_SECRET_DSNS = {
    "CLOUDOPS_CLICKHOUSE__DSN": "https://default:ch-s3cret@ch.example.com:8443",
    "CLOUDOPS_POSTGRES__DSN": "postgresql://cloudops:pg-s3cret@db:5432/cloudops?sslmode=require",
    "CLOUDOPS_REDIS__URL": "rediss://:redis-s3cret@cache:6380/0",
}
_PASSWORDS = ("ch-s3cret", "pg-s3cret", "redis-s3cret")


def test_dsn_passwords_never_print(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for k, v in _SECRET_DSNS.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    # The clients get the real strings ...
    assert s.clickhouse_dsn == _SECRET_DSNS["CLOUDOPS_CLICKHOUSE__DSN"]
    assert s.postgres.dsn == _SECRET_DSNS["CLOUDOPS_POSTGRES__DSN"]
    assert s.redis.url == _SECRET_DSNS["CLOUDOPS_REDIS__URL"]
    # ... everything that shows settings sees them masked, host and user still there.
    shown = [repr(s), str(s), str(s.model_dump()), s.model_dump_json(), str(s.model_dump(mode="json"))]
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s; postgres %s", s, s.postgres)
    shown.append(caplog.text)
    for text in shown:
        assert not [p for p in _PASSWORDS if p in text], text
    assert "postgresql://cloudops:***@db:5432/cloudops?sslmode=require" in repr(s)
    assert s.model_dump(mode="json")["redis"]["url_secret"] == "rediss://:***@cache:6380/0"
    # A copy with overrides keeps the secrets (Secret objects are copied, never their display text).
    copy = s.with_overrides(kafka={"bootstrap_servers": "b:1"})
    assert copy.postgres.dsn == _SECRET_DSNS["CLOUDOPS_POSTGRES__DSN"]
    assert copy.with_overrides(redis={"url": "redis://other:6379/1"}).redis.url == "redis://other:6379/1"


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db?password=zz&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("host=db user=u password='a b' dbname=x", "host=db user=u password=*** dbname=x"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("chdb:///var/lib/chdb", "chdb:///var/lib/chdb"),
    ],
)
def test_mask_dsn(dsn: str, shown: str) -> None:
    assert settings_module.mask_dsn(dsn) == shown


def test_secret_fields_keep_their_variable_names() -> None:
    names = {r[0] for r in settings_table()}
    assert {"CLOUDOPS_CLICKHOUSE__DSN", "CLOUDOPS_POSTGRES__DSN", "CLOUDOPS_REDIS__URL"} <= names
    assert not [n for n in names if n.endswith(("__DSN_SECRET", "__URL_SECRET"))]


def test_kafka_security_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="needs sasl_username and sasl_password"):
        Settings(kafka={"security_protocol": "SASL_SSL", "sasl_username": "svc"})
    with pytest.raises(ValidationError, match="go together"):
        Settings(kafka={"security_protocol": "SSL", "ssl_cert_file": "/c.pem"})
    with pytest.raises(ValidationError, match="security_protocol is PLAINTEXT"):
        Settings(kafka={"ssl_ca_file": "/ca.pem"})
    with pytest.raises(ValidationError):
        Settings(kafka={"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"})
    s = Settings(
        kafka={
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "svc",
            "sasl_password": "kafka-s3cret",
        }
    )
    assert "kafka-s3cret" not in repr(s)
    assert "kafka-s3cret" not in s.model_dump_json()


def test_cloudops_settings_command_never_prints_a_configured_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cloudops.cli import app

    for k, v in _SECRET_DSNS.items():
        monkeypatch.setenv(k, v)
    for args in (["settings"], ["settings", "--markdown"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "CLOUDOPS_POSTGRES__DSN" in result.output
        assert not [p for p in _PASSWORDS if p in result.output]
