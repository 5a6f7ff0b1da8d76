"""Credentials per billing source, resolved from a reference and never stored as secrets.

A source's ``credentials_ref`` names how its object-store credentials are obtained:

* ``env:PREFIX`` - environment variables ``PREFIX_ACCESS_KEY_ID``, ``PREFIX_SECRET_ACCESS_KEY``
  and optionally ``PREFIX_SESSION_TOKEN`` (a Kubernetes Secret exposed with ``envFrom``). This
  provider is the one place besides :mod:`cloudops.settings` that reads the environment: the
  variable names come from the control plane, so they cannot be settings fields.
* ``file:/path`` - a mounted Kubernetes Secret: a directory with one file per key
  (``access_key_id``, ``secret_access_key``, optionally ``session_token``; ``aws_`` prefixes
  accepted), or a JSON file with those keys.
* ``aws-role:arn:aws:iam::<account>:role/<name>`` - cross-account access: ``sts:AssumeRole`` with
  the deployment's own credentials, the source's external id and a session name naming the
  tenant and source (how FinOps products onboard AWS payer accounts). The temporary
  credentials are cached until five minutes before they expire.

* ``oci-instance-principal:`` - only for ``oci-object-storage`` sources: the identity of the OCI
  instance the worker runs on, used by that store (:mod:`cloudops.sources.stores.oci`); no secret.

No reference (``None``): the deployment's own credentials (``CLOUDOPS_AWS__*`` or the default chain).
Secrets are held in :class:`AwsCredentials`, whose ``repr`` masks them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from cloudops.errors import BadDataError, ConfigError, TransientError
from cloudops.settings import AwsSettings

__all__ = [
    "OCI_INSTANCE_PRINCIPAL",
    "AssumeRoleProvider",
    "AwsCredentials",
    "CredentialsProvider",
    "CredentialsResolver",
    "EnvProvider",
    "FileProvider",
    "SourceIdentity",
    "read_secret_ref",
]

OCI_INSTANCE_PRINCIPAL = "oci-instance-principal:"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REFRESH_BEFORE_S = 300.0


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """Object-store credentials (static, or temporary with ``expires_at``). ``repr`` masks the secrets."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for an aiobotocore client."""
        kw = {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}
        if self.session_token:
            kw["aws_session_token"] = self.session_token
        return kw


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """What a provider may use besides the reference: whose source it is, and its AssumeRole external id."""

    tenant: str
    source_id: str
    external_id: str | None = None


class CredentialsProvider(Protocol):
    """Resolves references of one scheme (``env``, ``file``, ``aws-role``)."""

    scheme: str

    async def resolve(self, target: str, source: SourceIdentity) -> AwsCredentials:
        """Credentials for ``target`` (the reference after ``scheme:``). Raises ConfigError for a
        reference that cannot work (missing variable, unreadable file, bad ARN), TransientError
        when STS is unreachable."""
        ...


class EnvProvider:
    """``env:PREFIX``: ``PREFIX_ACCESS_KEY_ID`` / ``PREFIX_SECRET_ACCESS_KEY`` / ``PREFIX_SESSION_TOKEN``."""

    scheme = "env"

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = environ

    async def resolve(self, target: str, source: SourceIdentity) -> AwsCredentials:
        env = self._environ if self._environ is not None else os.environ
        key, secret = env.get(f"{target}_ACCESS_KEY_ID"), env.get(f"{target}_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise ConfigError(
                f"source {source.tenant}/{source.source_id}: env:{target} needs {target}_ACCESS_KEY_ID and "
                f"{target}_SECRET_ACCESS_KEY in the worker's environment"
            )
        return AwsCredentials(key, secret, env.get(f"{target}_SESSION_TOKEN") or None)


class FileProvider:
    """``file:/path``: a mounted Secret directory (one file per key) or a JSON file."""

    scheme = "file"

    async def resolve(self, target: str, source: SourceIdentity) -> AwsCredentials:
        return await asyncio.to_thread(self._read, Path(target), source)

    @staticmethod
    def _read(path: Path, source: SourceIdentity) -> AwsCredentials:
        where = f"source {source.tenant}/{source.source_id}: file:{path}"
        try:
            if path.is_dir():
                doc = {
                    p.name: p.read_text().strip() for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                }
            else:
                loaded = json.loads(path.read_text())
                if not isinstance(loaded, dict):
                    raise ConfigError(f"{where} is not a JSON object")
                doc = {str(k): str(v) for k, v in loaded.items()}
        except OSError as exc:
            raise ConfigError(f"{where} cannot be read ({type(exc).__name__})") from None
        except json.JSONDecodeError:
            raise ConfigError(f"{where} is neither a Secret directory nor JSON") from None

        def get(name: str) -> str | None:
            return doc.get(name) or doc.get(f"aws_{name}") or None

        key, secret = get("access_key_id"), get("secret_access_key")
        if not key or not secret:
            raise ConfigError(f"{where} has no access_key_id and secret_access_key")
        return AwsCredentials(key, secret, get("session_token"))


class AssumeRoleProvider:
    """``aws-role:ARN``: ``sts:AssumeRole`` with the deployment's credentials and the source's external id."""

    scheme = "aws-role"

    def __init__(self, aws: AwsSettings, *, duration_s: int = 3600) -> None:
        self._aws = aws
        self._duration_s = duration_s

    async def resolve(self, target: str, source: SourceIdentity) -> AwsCredentials:
        if not _ROLE_ARN.fullmatch(target):
            raise ConfigError(f"source {source.tenant}/{source.source_id}: {target!r} is not an IAM role ARN")
        from cloudops.sources.objects import client_kwargs

        args: dict[str, Any] = {
            "RoleArn": target,
            "RoleSessionName": f"cloudops-{source.tenant}-{source.source_id}"[:64],
            "DurationSeconds": self._duration_s,
        }
        if source.external_id:
            args["ExternalId"] = source.external_id
        try:
            async with get_session().create_client("sts", **client_kwargs(self._aws)) as sts:
                resp = await sts.assume_role(**args)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("AccessDenied", "InvalidClientTokenId", "ValidationError", "MalformedPolicyDocument"):
                raise BadDataError(
                    f"source {source.tenant}/{source.source_id}: sts:AssumeRole on {target} refused ({code}): "
                    "check the role's trust policy and external id"
                ) from None
            raise TransientError(f"sts:AssumeRole on {target}: {code or exc}") from exc
        except (BotoCoreError, OSError) as exc:
            raise TransientError(f"sts:AssumeRole on {target}: {type(exc).__name__}: {exc}") from exc
        c = resp["Credentials"]
        expires = c.get("Expiration")
        if isinstance(expires, datetime) and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return AwsCredentials(c["AccessKeyId"], c["SecretAccessKey"], c.get("SessionToken"), expires)


class CredentialsResolver:
    """Resolves any ``credentials_ref`` through its provider, caching until shortly before expiry.

    One per worker process. ``resolve`` returns None for no reference (the deployment's own
    credentials). Raises ConfigError for an unknown scheme, and whatever the provider raises.
    """

    def __init__(self, aws: AwsSettings, providers: list[CredentialsProvider] | None = None) -> None:
        chosen: list[CredentialsProvider] = (
            providers if providers is not None else [EnvProvider(), FileProvider(), AssumeRoleProvider(aws)]
        )
        self._providers = {p.scheme: p for p in chosen}
        self._cache: dict[tuple[str, SourceIdentity], tuple[AwsCredentials, float]] = {}
        self._lock = asyncio.Lock()

    async def resolve(self, ref: str | None, source: SourceIdentity) -> AwsCredentials | None:
        if not ref:
            return None
        scheme, sep, target = ref.partition(":")
        provider = self._providers.get(scheme)
        if not sep or provider is None or not target:
            raise ConfigError(
                f"source {source.tenant}/{source.source_id}: credentials_ref {ref!r} must be one of "
                f"{', '.join(f'{s}:...' for s in sorted(self._providers))}"
            )
        key = (ref, source)
        async with self._lock:
            hit = self._cache.get(key)
            if hit is not None and time.monotonic() < hit[1]:
                return hit[0]
            creds = await provider.resolve(target, source)
            self._cache[key] = (creds, self._good_until(creds))
        return creds

    @staticmethod
    def _good_until(creds: AwsCredentials) -> float:
        if creds.expires_at is None:
            return time.monotonic() + 300.0  # static secrets: re-read every 5 minutes (rotation)
        left = (creds.expires_at - datetime.now(UTC)).total_seconds() - _REFRESH_BEFORE_S
        return time.monotonic() + max(left, 0.0)


def read_secret_ref(ref: str, environ: dict[str, str] | None = None) -> str:
    """The secret a reference names: ``env:NAME`` (a variable) or ``file:/path`` (a mounted Secret
    file, surrounding whitespace stripped). Raises ConfigError when it is missing or unreadable
    (the message names the reference, never the secret). Blocks (file read)."""
    scheme, _, target = ref.partition(":")
    if scheme == "env" and target:
        value = (environ if environ is not None else os.environ).get(target)
        if not value:
            raise ConfigError(f"{ref}: the variable is not set in this process")
        return value
    if scheme == "file" and target:
        try:
            value = Path(target).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{ref} cannot be read ({type(exc).__name__})") from None
        if not value:
            raise ConfigError(f"{ref} is empty")
        return value
    raise ConfigError(f"{ref!r} must be env:NAME or file:/path")
