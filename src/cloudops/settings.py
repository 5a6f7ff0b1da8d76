"""One frozen settings tree for the whole process.

Every field is typed, defaulted and documented; the environment is read here and
nowhere else. Nested fields are set as ``CLOUDOPS_<SECTION>__<KEY>``, e.g.
``CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or
``CLOUDOPS_CLICKHOUSE__DSN=https://user:pass@ch.example.com:8443``.

`cloudops settings` prints the table that the README embeds.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, Secret, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "ApiSettings",
    "AppSettings",
    "AwsSettings",
    "ClickHouseSettings",
    "HealthSettings",
    "IngestSettings",
    "KafkaSettings",
    "LoadSettings",
    "PostgresSettings",
    "RedisSettings",
    "SecretDsn",
    "Settings",
    "get_settings",
    "mask_dsn",
    "settings_table",
    "validate_tenant",
]

_TENANT_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def validate_tenant(tenant: str) -> str:
    """Return ``tenant`` if it is a safe tenant id (``[a-z][a-z0-9_]{0,47}``), else raise ValueError.

    Tenant ids become database and schema names (``tenant_<id>``), so they are
    restricted to identifiers that need no quoting anywhere.
    """
    if not _TENANT_RE.fullmatch(tenant):  # fullmatch: `$` alone would accept a trailing newline
        raise ValueError(f"invalid tenant id {tenant!r}: must match {_TENANT_RE.pattern}")
    return tenant


_KV_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def mask_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***``: URL form (``scheme://user:pw@host``, also
    ``?password=`` in the query) and libpq key=value form (``password=pw``). What may be shown."""
    if "://" not in dsn:
        return _KV_PASSWORD.sub(r"\1***", dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if colon else netloc
    query = re.sub(r"(?i)((?:^|&)password=)[^&]*", r"\1***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return dsn  # nothing to hide (urlunsplit would also drop the empty host of `chdb:///path`)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class SecretDsn(Secret[str]):
    """A connection string that may hold a password (ClickHouse, PostgreSQL, Redis).

    ``repr``, ``str``, ``model_dump`` (JSON too) and therefore log lines show it with the password
    masked (:func:`mask_dsn`), so a settings dump still tells which server is meant; only
    ``get_secret_value()`` returns the real string.
    """

    def _display(self) -> str:
        return mask_dsn(self.get_secret_value())


def _reveal(secret: SecretDsn | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AppSettings(_Section):
    """Process-wide settings."""

    id: str = Field("cloudops", description="Faust application id; prefix of consumer group ids.")
    tenant: str = Field("default", description="Tenant used when a command or event names none.")
    work_dir: Path = Field(
        Path(".cloudops"), description="Local state: embedded ClickHouse data, Faust tables, spool files."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    tenant_delete_grace_s: float = Field(
        7 * 86400.0,
        ge=0,
        description=(
            "`cloudops tenants delete` marks a tenant; everything it owns is purged this long after (`--now`: at once)."
        ),
    )

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return validate_tenant(v)


class KafkaSettings(_Section):
    """The event log (any Kafka-wire broker)."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    topic_partitions: int = Field(4, ge=1, description="Partitions for topics cloudops creates.")
    replication_factor: int = Field(1, ge=1, description="Replication factor for topics cloudops creates.")
    max_message_bytes: int = Field(
        900_000, ge=10_000, description="Largest value cloudops produces; bigger FOCUS batches are split."
    )
    session_timeout_s: float = Field(
        30.0, gt=0, description="Consumer session timeout: how fast a dead worker's partitions move."
    )
    heartbeat_interval_s: float = Field(3.0, gt=0, description="Consumer heartbeat interval.")
    publish_budget_s: float = Field(
        120.0, gt=0, description="How long a send waits out an unavailable broker (retrying) before failing."
    )
    lag_interval_s: float = Field(
        30.0, ge=0, description="How often a worker exports its consumer group's lag as a metric (0: never)."
    )
    stream_buffer_maxsize: int = Field(
        32,
        ge=1,
        description=(
            "Messages fetched ahead per partition (and per poll). Bounds worker memory: when an agent pauses, "
            "the backlog stays in the broker."
        ),
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers: TLS (`SSL`, `SASL_SSL`) and/or SASL authentication."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism (with `SASL_PLAINTEXT` / `SASL_SSL`)."
    )
    sasl_username: str | None = Field(None, description="SASL user (needed with `SASL_*`).")
    sasl_password: SecretStr | None = Field(None, description="SASL password (needed with `SASL_*`).")
    ssl_ca_file: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates (with `SSL` / `SASL_SSL`); "
        "unset: the system's trust store.",
    )
    ssl_cert_file: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    ssl_key_file: Path | None = Field(None, description="Private key (PEM) of `ssl_cert_file`.")
    ssl_key_password: SecretStr | None = Field(None, description="Password of `ssl_key_file`, if encrypted.")

    @model_validator(mode="after")
    def _auth(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"kafka security_protocol {self.security_protocol} needs sasl_username and sasl_password")
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("kafka ssl_cert_file and ssl_key_file go together (mutual TLS)")
        tls_files = self.ssl_ca_file or self.ssl_cert_file
        if tls_files and self.security_protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(f"kafka TLS files are set but security_protocol is {self.security_protocol}")
        return self


class ClickHouseSettings(_Section):
    """The analytics store."""

    dsn_secret: SecretDsn | None = Field(
        None,
        alias="dsn",
        description=(
            "clickhouse-connect DSN: `http(s)://user:pass@host:port` for a server, "
            "`chdb:///abs/path` for the in-process engine. Default: chdb under `app.work_dir`/chdb. "
            "Shown with the password masked."
        ),
    )
    dedup_window: int = Field(
        10_000, ge=100, description="Insert blocks remembered for deduplication (non-replicated tables)."
    )
    cluster: str | None = Field(
        None,
        description=(
            "Cluster name: migrations run `ON CLUSTER` it and create `Replicated*` tables (dedup window -> "
            "`replicated_deduplication_window`). Unset: plain DDL (one server, ClickHouse Cloud)."
        ),
    )
    tenant_password_key: SecretStr | None = Field(
        None,
        description=(
            "Secret from which each tenant's ClickHouse password is derived (HMAC-SHA256 of the tenant id). Set: "
            "`cloudops migrate` creates user `tenant_<t>` (role `tenant_<t>_reader`: SELECT on `tenant_<t>` only) "
            "where the server allows access management, and tenant queries run as that user."
        ),
    )

    @property
    def dsn(self) -> str | None:
        """The configured DSN itself, password included (for the client; never print it)."""
        return _reveal(self.dsn_secret)


class PostgresSettings(_Section):
    """The control plane (tenants, sources, ledger, audit)."""

    dsn_secret: SecretDsn | None = Field(
        None,
        alias="dsn",
        description=(
            "libpq DSN, e.g. `postgresql://cloudops:pw@db:5432/cloudops`. Unset: control plane off. "
            "Shown with the password masked."
        ),
    )

    @property
    def dsn(self) -> str | None:
        """The configured DSN itself, password included (for the driver; never print it)."""
        return _reveal(self.dsn_secret)


class RedisSettings(_Section):
    """Cache and pub/sub."""

    url_secret: SecretDsn | None = Field(
        None,
        alias="url",
        description=(
            "Redis URL, e.g. `redis://:pw@127.0.0.1:6379/0` (`rediss://` for TLS). Unset: no cache, no live "
            "events. Shown with the password masked."
        ),
    )

    @property
    def url(self) -> str | None:
        """The configured URL itself, password included (for the client; never print it)."""
        return _reveal(self.url_secret)


class AwsSettings(_Section):
    """Object store and event queue (S3 + SQS, or anything speaking their APIs)."""

    endpoint_url: str | None = Field(
        None, description="S3/SQS endpoint override (moto, MinIO, LocalStack). Unset: AWS itself."
    )
    region: str = Field("us-east-1", description="AWS region.")
    access_key_id: SecretStr | None = Field(None, description="Access key; unset uses the default chain.")
    secret_access_key: SecretStr | None = Field(None, description="Secret key; unset uses the default chain.")
    sqs_queue_url: str | None = Field(
        None,
        description=(
            "Queue(s) receiving S3 ObjectCreated notifications, comma-separated (one bridge reads them all and "
            "routes each object to its tenant's source); unset disables the bridge."
        ),
    )
    sqs_wait_seconds: int = Field(20, ge=0, le=20, description="SQS long-poll wait per receive call.")
    sdk_max_attempts: int = Field(
        3,
        ge=1,
        le=10,
        description=(
            "Attempts the AWS SDK makes per call itself (botocore 'standard' retry mode); cloudops' own "
            "retries (ingest.max_attempts, the retry topic) wrap these, so keep it small."
        ),
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="AWS SDK connect timeout.")
    read_timeout_s: float = Field(
        60.0, gt=0, description="AWS SDK read timeout (longer than `sqs_wait_seconds`, the SQS long poll)."
    )
    sqs_visibility_timeout: int = Field(
        60, ge=1, description="Seconds a received notification stays hidden before SQS redelivers it."
    )


class AzureSettings(_Section):
    """Azure Storage Queues carrying Event Grid ``BlobCreated`` events (the Azure twin of the SQS bridge)."""

    queue_urls: str | None = Field(
        None,
        description=(
            "Azure Storage Queue URL(s), comma-separated, receiving Event Grid Microsoft.Storage.BlobCreated "
            "events (Event Grid or CloudEvents schema); the bridge routes each blob to its tenant's azure-blob "
            "source. Unset: no Azure queue is read."
        ),
    )
    queue_credentials_ref: str | None = Field(
        None,
        description=(
            "Reference (env:PREFIX / file:/path) to the queue's storage account name and key "
            "(PREFIX_ACCESS_KEY_ID / PREFIX_SECRET_ACCESS_KEY); unset: a SAS token in the queue URL."
        ),
    )
    queue_poll_s: float = Field(5.0, gt=0, description="Pause between receives while an Azure queue is empty.")
    queue_visibility_timeout: int = Field(
        60, ge=1, description="Seconds a received queue message stays hidden before Azure redelivers it."
    )


class IngestSettings(_Section):
    """Reading and converting billing files."""

    block_bytes: int = Field(
        4 << 20, ge=64 << 10, description="CSV read block size: bounds memory per file being parsed."
    )
    download_chunk_bytes: int = Field(1 << 20, ge=64 << 10, description="Object download chunk size.")
    max_attempts: int = Field(
        5, ge=1, description="Attempts in place for a transient failure before the file goes to the retry topic."
    )
    backoff_base_s: float = Field(0.5, gt=0, description="First retry delay; doubles per attempt.")
    backoff_max_s: float = Field(30.0, gt=0, description="Upper bound of one retry delay.")
    retry_rounds: int = Field(
        3, ge=0, description="Rounds through `billing-files.retry` after the in-place attempts, before the DLQ."
    )
    retry_delay_s: float = Field(
        60.0, gt=0, description="Wait before the first retry round; doubles per round (at most 15 minutes)."
    )
    schedule_tick_s: float = Field(
        30.0, gt=0, description="How often the schedule agent checks which sources are due for a listing."
    )
    reparse_after_s: float = Field(
        3600.0,
        ge=1,
        description=(
            "A file parsed this long ago but never loaded (its batches were lost on the way, e.g. a broker "
            "that lost acknowledged messages) is parsed again; ClickHouse drops the batches it already has."
        ),
    )
    max_load_lag_batches: int = Field(
        1000,
        ge=0,
        description=(
            "Backpressure: a parse worker publishes the next batch only while the loaders' consumer group "
            "(`load_group`) is at most this many focus-batches messages behind (0: no limit)."
        ),
    )
    load_group: str | None = Field(
        None,
        description="Consumer group of the loaders, for `max_load_lag_batches` (default: this app's id, `app.id`).",
    )
    unclaimed_after_s: float = Field(
        900.0,
        ge=1,
        description=(
            "A file announced this long ago that no parse worker has claimed (its announcement is stuck, "
            "e.g. behind a consumer group that stopped consuming) is taken over from the ledger by a parse "
            "worker's recovery timer. Longer than a normal backlog on billing-files takes to drain."
        ),
    )
    claim_lease_s: float = Field(
        120.0,
        ge=1,
        description=(
            "A parse worker's claim on a file (file ledger) lapses this long after its last heartbeat, so "
            "another worker takes over a file whose worker died. Heartbeats every third of it while parsing."
        ),
    )
    local_root: Path | None = Field(
        None,
        description=(
            "Folder under which `file://` billing files may be read (`cloudops ingest PATH`, local sources). "
            "Unset: events naming local files are refused (dead-lettered)."
        ),
    )
    routes_ttl_s: float = Field(
        30.0,
        ge=0,
        description="How long the bridge reuses its bucket/prefix -> (tenant, source) table before reloading it.",
    )


class LoadSettings(_Section):
    """Landing FOCUS batches in ClickHouse."""

    outage_budget_s: float = Field(
        900.0,
        gt=0,
        description=(
            "How long the loader waits out ClickHouse being unavailable, retrying with backoff while its "
            "consumer is paused (backpressure), before a batch goes to the DLQ as transient."
        ),
    )
    sweep_interval_s: float = Field(
        30.0, gt=0, description="How often a loader looks for complete period versions to swap in (restatements)."
    )


class RecommendSettings(_Section):
    """Finding savings after each load."""

    history_months: int = Field(
        2, ge=0, le=12, description="Earlier months read with the loaded month (trends, e.g. log growth)."
    )


class GitHubSettings(_Section):
    """Where savings pull requests are opened (GitHub, GitHub Enterprise, or the embedded local forge)."""

    base_url: str = Field("https://api.github.com", description="REST API root; GHES: `https://HOST/api/v3`.")
    token: SecretStr | None = Field(None, description="Token with contents + pull-request write. Unset: no PRs.")
    app_id: int | None = Field(
        None,
        gt=0,
        description=(
            "The deployment's GitHub App: tenants' Terraform targets that name only an App installation id "
            "authenticate as this App (with `app_private_key_ref`)."
        ),
    )
    app_private_key_ref: str | None = Field(
        None,
        description="Reference (env:NAME / file:/path, e.g. a mounted Secret) to the PEM private key of `app_id`.",
    )
    repo: str | None = Field(None, description="`owner/name` of the Terraform repository PRs are opened against.")
    max_attempts: int = Field(5, ge=1, description="Attempts per API request (rate limits, 5xx) before giving up.")
    backoff_base_s: float = Field(0.5, gt=0, description="First retry delay; doubles per attempt.")
    backoff_max_s: float = Field(30.0, gt=0, description="Upper bound of one retry delay.")
    rate_limit_max_wait_s: float = Field(
        60.0, gt=0, description="Longest wait for a rate-limit reset; longer resets give up at once."
    )
    timeout_s: float = Field(30.0, gt=0, description="HTTP timeout per request.")
    webhook_secret: SecretStr | None = Field(
        None,
        description=(
            "Secret of the repositories' webhooks: `X-Hub-Signature-256` is verified with it (HMAC-SHA256), so PR "
            "merged/closed events update recommendations. Unset: webhooks are refused (polling only)."
        ),
    )
    request_reviews: bool = Field(
        True, description="Request reviews from (and assign) the CODEOWNERS owners of the changed files on a new PR."
    )
    digest: bool = Field(
        True,
        description="Keep one issue per tenant (updated in place) listing the recommendations that cannot become "
        "PRs, with the reason and the file and line a human would change.",
    )
    group_prs: bool = Field(
        False,
        description="One PR for all recommendations of the same kind that edit the same files (their single PRs "
        "are closed with a pointer to it).",
    )


class TerraformSettings(_Section):
    """The customer's Terraform: a checkout of the repository and its state."""

    repo_dir: Path | None = Field(
        None,
        description="Optional local checkout of the Terraform repository, used only when the base branch is too "
        "large to read through the API (changes are planned on the base branch's files as the API serves them).",
    )
    state: str | None = Field(
        None, description="Terraform state JSON: a file path, or `s3://bucket/key` (an S3 backend object)."
    )


class ApiSettings(_Section):
    """The service API (`cloudops api`): REST, GraphQL subgraphs and subscriptions."""

    host: str = Field("127.0.0.1", description="Address `cloudops api` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `cloudops api` listens on.")
    rate_limit_per_min: int = Field(
        600, ge=1, description="Requests per minute per token (a token's own limit overrides it); 429 beyond."
    )
    auth_cache_s: float = Field(
        5.0,
        ge=0,
        description=(
            "How long a replica trusts a token it checked (0: check every request). A token revoked elsewhere "
            "stops working within this time; revoked through this replica, at once."
        ),
    )
    graphql_max_depth: int = Field(12, ge=2, description="Deepest GraphQL query accepted.")
    graphql_max_cost: int = Field(
        5000, ge=10, description="Largest GraphQL query cost (fields, list fields weighted by their `first`)."
    )
    web_dir: Path | None = Field(
        None,
        description=(
            "The built web UI (`make web`: web/dist) served at `/`. Unset: web/dist of the source checkout "
            "when it has been built; no UI otherwise."
        ),
    )
    gateway_url: str = Field(
        "",
        description=(
            "Apollo Gateway (gateway/server.mjs) that `POST /graphql` passes every operation to. Empty: the API "
            "serves GraphQL alone and `/graphql` answers single-subgraph operations itself."
        ),
    )
    upload_max_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Largest billing file `POST /v1/sources/{id}/uploads` accepts (413 beyond); default 512 MiB.",
    )


class HealthSettings(_Section):
    """The worker's HTTP endpoints for Kubernetes and Prometheus: /healthz, /readyz, /metrics."""

    port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Port of the worker's /healthz, /readyz and /metrics (0: no server; the image and the "
            "Kubernetes manifests set 8080)."
        ),
    )
    host: str = Field("0.0.0.0", description="Address the health server listens on.")
    max_loop_lag_s: float = Field(
        10.0,
        gt=0,
        description=(
            "Liveness: /healthz fails when the worker's event loop has not run its heartbeat for this "
            "long (a stuck loop)."
        ),
    )
    check_timeout_s: float = Field(
        3.0, gt=0, description="Readiness: time each dependency check (broker, ClickHouse, PostgreSQL) may take."
    )


class Settings(BaseSettings):
    """The whole settings tree. Build with :func:`get_settings` or ``Settings(**overrides)``."""

    model_config = SettingsConfigDict(env_prefix="CLOUDOPS_", env_nested_delimiter="__", frozen=True, extra="ignore")

    app: AppSettings = AppSettings()
    kafka: KafkaSettings = KafkaSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    aws: AwsSettings = AwsSettings()
    azure: AzureSettings = AzureSettings()
    ingest: IngestSettings = IngestSettings()
    load: LoadSettings = LoadSettings()
    recommend: RecommendSettings = RecommendSettings()
    github: GitHubSettings = GitHubSettings()
    terraform: TerraformSettings = TerraformSettings()
    api: ApiSettings = ApiSettings()
    health: HealthSettings = HealthSettings()

    @property
    def clickhouse_dsn(self) -> str:
        """The effective ClickHouse DSN (the chdb default resolved to an absolute path)."""
        if self.clickhouse.dsn:
            return self.clickhouse.dsn
        return f"chdb://{(self.app.work_dir / 'chdb').resolve()}"

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """Return a copy with some section fields replaced, e.g. ``kafka={"bootstrap_servers": "x:1"}``."""
        data = self.model_dump(by_alias=True)  # secrets stay Secret objects: nothing is revealed
        for section, values in sections.items():
            data[section] = {**data[section], **values}
        return Settings.model_validate(data)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings, read once from the environment."""
    return Settings()


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every field, in declaration order."""
    rows: list[tuple[str, str, str]] = []
    for section_name, section_field in Settings.model_fields.items():
        section_type = section_field.annotation
        assert isinstance(section_type, type)
        assert issubclass(section_type, BaseModel)
        for key, field in section_type.model_fields.items():
            default = field.default
            shown = "" if default is None else str(default)
            name = field.alias or key  # the environment names a secret field by its alias (`dsn`, `url`)
            rows.append((f"CLOUDOPS_{section_name.upper()}__{name.upper()}", shown, field.description or ""))
    return rows
