"""Retry decisions and error translation of the GitHub sink (githubkit exceptions built offline)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from githubkit import Response
from githubkit.exception import (
    PrimaryRateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
    SecondaryRateLimitExceeded,
)

from cloudops.errors import ConfigError, TransientError, classify
from cloudops.sinks.github import (
    GitHubAuthError,
    GitHubError,
    GitHubRateLimitError,
    GitHubUnavailableError,
    RetryPolicy,
)
from cloudops.sinks.github.retry import translate

URL = "https://ghe.example.com/api/v3/repos/acme/infra/pulls"


def _response(status: int, body: Any = None, method: str = "POST") -> Response[Any]:
    request = httpx.Request(method, URL)
    raw = (
        httpx.Response(status, json=body, request=request)
        if body is not None
        else httpx.Response(status, request=request)
    )
    return Response(raw, Any)


def _policy(**kw: Any) -> RetryPolicy:
    return RetryPolicy(**{"max_attempts": 5, "backoff_base": 0.5, "backoff_max": 4.0, "jitter": False, **kw})


def test_backoff_doubles_and_is_capped() -> None:
    policy = _policy()
    assert [policy.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_jitter_keeps_the_delay_between_half_and_full() -> None:
    low = RetryPolicy(backoff_base=1.0, backoff_max=8.0, rng=lambda: 0.0)
    high = RetryPolicy(backoff_base=1.0, backoff_max=8.0, rng=lambda: 0.999999)
    assert low.backoff(2) == 2.0
    assert high.backoff(2) == pytest.approx(4.0, rel=1e-5)


def test_server_errors_and_429_are_retried_until_attempts_run_out() -> None:
    policy = _policy(max_attempts=3)
    exc = RequestFailed(_response(502, {"message": "Server Error"}))
    assert policy(exc, 0).do_retry
    assert policy(exc, 0).retry_after == timedelta(seconds=0.5)
    assert policy(exc, 1).retry_after == timedelta(seconds=1.0)
    assert not policy(exc, 2).do_retry  # third attempt failed: stop
    assert policy(RequestFailed(_response(429, {"message": "slow down"})), 0).do_retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_never_retried(status: int) -> None:
    assert not _policy()(RequestFailed(_response(status, {"message": "no"})), 0).do_retry


def test_network_errors_and_timeouts_are_retried() -> None:
    request = httpx.Request("GET", URL)
    assert _policy()(RequestError(httpx.ConnectError("refused", request=request)), 0).do_retry
    assert _policy()(RequestTimeout(httpx.ReadTimeout("slow", request=request)), 1).retry_after == timedelta(seconds=1)


def test_rate_limits_wait_as_told_within_the_cap_and_give_up_beyond_it() -> None:
    policy = _policy(rate_limit_max_wait=60)
    soon = PrimaryRateLimitExceeded(_response(403, {"message": "API rate limit exceeded"}), timedelta(seconds=42))
    later = SecondaryRateLimitExceeded(_response(429, {"message": "secondary"}), timedelta(seconds=61))
    assert policy(soon, 0).retry_after == timedelta(seconds=42)
    assert not policy(later, 0).do_retry
    # A reset already in the past retries almost at once (never githubkit's 60 s default for 0).
    now = PrimaryRateLimitExceeded(_response(403, {"message": "x"}), timedelta(0))
    option = policy(now, 0)
    assert option.do_retry
    assert option.retry_after is not None
    assert timedelta(0) < option.retry_after < timedelta(seconds=1)


def test_translate_validation_failed_keeps_githubs_message_and_errors() -> None:
    body = {
        "message": "Validation Failed",
        "errors": [
            {"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for acme:x."}
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "422",
    }
    err = translate(RequestFailed(_response(422, body)))
    assert type(err) is GitHubError
    assert (err.status, err.method, err.url, err.message) == (422, "POST", URL, "Validation Failed")
    assert err.errors[0]["message"] == "A pull request already exists for acme:x."
    assert str(err) == (f"GitHub 422 on POST {URL}: Validation Failed (A pull request already exists for acme:x.)")
    assert classify(err) == "bug"


def test_translate_bad_credentials_is_a_config_error() -> None:
    err = translate(RequestFailed(_response(401, {"message": "Bad credentials", "status": "401"}, method="GET")))
    assert isinstance(err, GitHubAuthError)
    assert isinstance(err, ConfigError)
    assert "Bad credentials" in str(err)


def test_translate_server_error_and_rate_limit_are_transient() -> None:
    unavailable = translate(RequestFailed(_response(502, {"message": "Server Error"})))
    assert isinstance(unavailable, GitHubUnavailableError)
    assert unavailable.status == 502
    assert classify(unavailable) == "transient"
    limited = translate(
        PrimaryRateLimitExceeded(
            _response(403, {"message": "API rate limit exceeded for user ID 1."}), timedelta(seconds=90)
        )
    )
    assert isinstance(limited, GitHubRateLimitError)
    assert isinstance(limited, TransientError)
    assert limited.retry_after == 90
    assert "primary rate limit" in str(limited)
    assert "API rate limit exceeded for user ID 1." in str(limited)


def test_translate_non_json_error_body_uses_the_reason_phrase() -> None:
    request = httpx.Request("GET", URL)
    raw = httpx.Response(404, text="<html>nope</html>", request=request)
    err = translate(RequestFailed(Response(raw, Any)))
    assert isinstance(err, GitHubError)
    assert err.message == "Not Found"


def test_translate_network_error_names_the_request() -> None:
    request = httpx.Request("GET", URL)
    err = translate(RequestError(httpx.ConnectError("connection refused", request=request)))
    assert isinstance(err, GitHubUnavailableError)
    assert err.status is None
    assert URL in str(err)
    assert "connection refused" in str(err)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff_base=0)


def test_a_failed_app_installation_token_request_is_judged_by_its_answer() -> None:
    """githubkit reports a failed token request of a GitHub App (inside its auth flow) as a
    RequestError around the RequestFailed: a 401 there is bad credentials, never retried; a 502 is."""
    bad_key = RequestError(RequestFailed(_response(401, {"message": "A JSON web token could not be decoded"})))
    assert _policy().delay(bad_key, 0) is None
    err = translate(bad_key)
    assert isinstance(err, GitHubAuthError)
    assert err.status == 401
    assert "JSON web token" in str(err)
    down = RequestError(RequestFailed(_response(502, {"message": "Server Error"})))
    assert _policy().delay(down, 0) == 0.5
    assert isinstance(translate(down), GitHubUnavailableError)
