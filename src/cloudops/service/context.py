"""Who is calling, for which tenant: the first argument of every service function.

The tenant of a call comes from the caller's identity (a CLI operator's ``--tenant``, an
API token's tenant, an agent's event that was routed by the control plane), never from a
request body. A :class:`Caller` is bound to at most one tenant; only a platform caller
(``platform=True``: the operator CLI, a platform-admin token) may manage tenants or act on
another tenant through :meth:`Caller.acting_for`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from cloudops.errors import CloudopsError, ConfigError
from cloudops.settings import Settings, get_settings, validate_tenant
from cloudops.sinks.postgres.audit_trail import record_audit
from cloudops.sinks.postgres.client import connect
from cloudops.sinks.postgres.tenants import Tenant, get_tenant

__all__ = [
    "Caller",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "ServiceError",
    "audit",
    "control_plane",
    "require_tenant",
]


class ServiceError(CloudopsError):
    """A use case refused the call; ``str(exc)`` is one line for the user. ``status``: the HTTP analogue."""

    status = 400


class InvalidInput(ServiceError):
    """The arguments are wrong (a bad id, an unknown provider, ...)."""

    status = 422


class NotFound(ServiceError):
    """The tenant, source, file or recommendation does not exist (for this caller)."""

    status = 404


class Conflict(ServiceError):
    """The object is in a state that does not allow this (a tenant being deleted, ...)."""

    status = 409


class Forbidden(ServiceError):
    """The caller may not do this (a tenant-bound caller managing tenants, ...)."""

    status = 403


def _request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity a use case runs as.

    ``actor``: who, as recorded in the audit trail (``cli:<user>``, ``token:<id>``,
    ``agent:<role>``). ``tenant``: the one tenant the identity is bound to (None: a platform
    caller not acting for any tenant yet). ``request_id``: correlates the audit rows of one
    request (a new uuid by default). ``settings``: where the control plane and the stores are.
    """

    actor: str
    tenant: str | None
    settings: Settings = field(default_factory=get_settings)
    request_id: str = field(default_factory=_request_id)
    platform: bool = False

    def __post_init__(self) -> None:
        if self.tenant is not None:
            try:
                validate_tenant(self.tenant)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None

    @property
    def tenant_id(self) -> str:
        """The bound tenant; Forbidden if there is none."""
        if self.tenant is None:
            raise Forbidden("this call needs a tenant: the caller is bound to none")
        return self.tenant

    def acting_for(self, tenant: str) -> Caller:
        """The same caller bound to ``tenant``: a platform caller may pick any; others only their own."""
        if not self.platform and tenant != self.tenant:
            raise Forbidden(f"{self.actor} may not act for tenant {tenant!r}")
        return replace(self, tenant=tenant)

    def require_platform(self) -> None:
        """Forbidden unless this is a platform caller."""
        if not self.platform:
            raise Forbidden(f"{self.actor} may not manage tenants")

    @property
    def dsn(self) -> str:
        """The control-plane DSN (ConfigError if there is none)."""
        dsn = self.settings.postgres.dsn
        if not dsn:
            raise ConfigError("this needs the control plane: set CLOUDOPS_POSTGRES__DSN and run `cloudops migrate`")
        return dsn


@contextlib.contextmanager
def control_plane(caller: Caller) -> Iterator[psycopg.Connection[Any]]:
    """One control-plane connection with one transaction: a mutation and its audit row commit together."""
    with connect(caller.dsn) as conn, conn.transaction():
        yield conn


def require_tenant(conn: psycopg.Connection[Any], caller: Caller, *, writable: bool = False) -> Tenant:
    """The caller's tenant row; NotFound if it does not exist, Conflict if ``writable`` and it is being deleted."""
    tenant = get_tenant(conn, caller.tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {caller.tenant_id!r} (see `cloudops tenants list`)")
    if writable and tenant.state == "deleting":
        raise Conflict(f"tenant {tenant.id!r} is being deleted: resume it first to change it")
    return tenant


def audit(
    conn: psycopg.Connection[Any],
    caller: Caller,
    action: str,
    *,
    target: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    tenant: str | None = None,
) -> int:
    """Append the audit row of a mutation on ``conn`` (inside the mutation's transaction)."""
    return record_audit(
        conn,
        tenant=tenant or caller.tenant_id,
        actor=caller.actor,
        action=action,
        target=target,
        request_id=caller.request_id,
        before=before,
        after=after,
    )
