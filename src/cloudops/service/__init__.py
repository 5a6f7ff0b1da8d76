"""Use cases, written once: the CLI, the API and the agents call these (layer L3).

Every function takes a :class:`~cloudops.service.context.Caller` first: who calls, and
the one tenant the call is bound to (from the caller's identity, never from a request
body). Mutations are audited in ``public.audit_log`` in the same transaction. Errors are
:class:`~cloudops.service.context.ServiceError` subclasses (InvalidInput, NotFound,
Conflict, Forbidden) with a one-line message, or the package-wide ConfigError /
TransientError.

Modules: :mod:`.tenants`, :mod:`.sources`, :mod:`.files`, :mod:`.periods`,
:mod:`.recommendations`, :mod:`.targets` (where a tenant's PRs go), :mod:`.pull_requests`
(webhook and polling: a PR's fate back to its recommendation), :mod:`.dlq`; for the
workers, :mod:`.routing` (which tenant and source an object belongs to) and
:mod:`.admission` (may an event be ingested, with which object-store access);
:mod:`.tokens` and :mod:`.costs` (the API's).
"""

from cloudops.service.context import (
    Caller,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceError,
)

__all__ = ["Caller", "Conflict", "Forbidden", "InvalidInput", "NotFound", "ServiceError"]
