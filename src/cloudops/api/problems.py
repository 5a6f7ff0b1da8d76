"""RFC 9457 problem details (``application/problem+json``) for every error the API returns.

One function maps an exception to a problem: service errors carry their own status
(:class:`~cloudops.service.context.ServiceError`), a refused token is 401 with
``WWW-Authenticate: Bearer``, a rate limit 429 with ``Retry-After``, an unavailable
dependency 503 with ``Retry-After``, a request that does not validate 422 with the field
errors; anything else is a bug: 500, logged with its traceback, and no detail leaks out.
Every problem carries the request id (``request_id``), as does the ``X-Request-Id`` header.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloudops.errors import ConfigError, TransientError
from cloudops.service.context import ServiceError
from cloudops.service.tokens import Unauthenticated

__all__ = ["PROBLEM_JSON", "Problem", "RateLimited", "install_problem_handlers", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://cloudops.dev/problems/"


class Problem(BaseModel):
    """An RFC 9457 problem details object (plus the request id and, for 422, the field errors)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field("about:blank", description="URI reference naming the problem type.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong with this request.")
    instance: str | None = Field(None, description="The request path.")
    request_id: str | None = Field(None, description="The request id (also in the X-Request-Id header).")
    errors: list[dict[str, Any]] | None = Field(None, description="Field errors of a request that does not validate.")


class RateLimited(Exception):
    """The token used up its requests for this window: 429, retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(f"rate limit of {limit} requests per minute reached: retry in {retry_after} s")
        self.retry_after = retry_after


def _slug(exc: BaseException) -> str:
    name = type(exc).__name__
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    type_slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response for ``request`` (status, detail, request id)."""
    body = Problem(
        type=f"{_TYPE_BASE}{type_slug}" if type_slug else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        **extra,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def _for(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, Unauthenticated):
        return problem_response(
            request, 401, str(exc), type_slug="unauthenticated", headers={"WWW-Authenticate": "Bearer"}
        )
    if isinstance(exc, ServiceError):
        return problem_response(request, exc.status, str(exc), type_slug=_slug(exc))
    if isinstance(exc, RateLimited):
        return problem_response(
            request, 429, str(exc), type_slug="rate-limited", headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, TransientError):
        return problem_response(request, 503, str(exc), type_slug="unavailable", headers={"Retry-After": "5"})
    if isinstance(exc, ConfigError):
        # A deployment without the store this needs (no control plane, tables not migrated).
        return problem_response(request, 503, str(exc), type_slug="not-configured")
    if isinstance(exc, ValidationError):
        return problem_response(
            request,
            422,
            "the request does not validate",
            type_slug="invalid-input",
            errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()],
        )
    if isinstance(exc, psycopg.errors.DataError):
        # SQLSTATE class 22: a value PostgreSQL cannot take (a NUL byte in text, a number out of range).
        return problem_response(request, 422, f"invalid value: {exc.diag.message_primary}", type_slug="invalid-input")
    if isinstance(exc, ValueError):
        return problem_response(request, 422, str(exc), type_slug="invalid-input")
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "internal error (see the server log with the request id)")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json."""

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        return _for(request, exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(request, exc.status_code, str(exc.detail), headers=headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return problem_response(request, 422, "the request does not validate", type_slug="invalid-input", errors=errors)

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    for kind in (
        ServiceError,
        RateLimited,
        TransientError,
        ConfigError,
        ValidationError,
        psycopg.errors.DataError,
        ValueError,
        Exception,
    ):
        app.add_exception_handler(kind, on_error)
