"""Property-based fuzzing of the REST API from its own OpenAPI document (schemathesis, bounded).

Every operation gets up to ``MAX_EXAMPLES`` generated requests (valid and invalid) with a real
token of tenant A against the real app on uvicorn (PostgreSQL, Redis, chdb): no response may be
a 5xx, and every documented response must match its schema. Dead letters are left out (they read
a broker, covered by test_api_isolation.py). The cases are the same every run; set
``CLOUDOPS_TEST_FUZZ_EXAMPLES=N`` to explore N fresh random cases per operation instead (this found
the NUL-byte and year-83 bugs that test_api_rest.py now pins).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests.support.api import World, make_world
from tests.support.services import temporary_database

from cloudops.api.app import create_api
from cloudops.api.export import openapi_document
from cloudops.embedded.net import free_port
from cloudops.service.tokens import SCOPES, create_token
from cloudops.sinks.clickhouse.client import close_all

pytestmark = pytest.mark.integration

MAX_EXAMPLES = int(os.environ.get("CLOUDOPS_TEST_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str, redis_url: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, headers): the API on uvicorn over a two-tenant world, and a generous token of A."""
    tmp = tmp_path_factory.mktemp("fuzz")
    close_all()
    with temporary_database(postgres_dsn) as dsn:
        world: World = asyncio.run(make_world(tmp, f"chdb://{tmp / 'chdb'}", dsn, redis_url, "fuzz" + tmp.name[-6:]))
        world.settings = world.settings.with_overrides(github={"webhook_secret": "fuzz"}, api={"auth_cache_s": 5.0})
        token = create_token(
            dsn,
            tenant=world.a,
            scopes=[s for s in SCOPES if s != "tenants:admin"],
            name="fuzz",
            expires_at=None,
            actor="test",
            rate_limit_per_min=1_000_000,
        ).secret
        app = create_api(world.settings, graphql=False)
        port = free_port("127.0.0.1")
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        finally:
            server.should_exit = True
            thread.join(20)
            close_all()


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path_regex="^/v1/dead-letters")
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()


# One test per operation; hypothesis drives the cases (schemathesis's own pytest plugin does not run
# on pytest 9 yet, so the strategies are used directly).
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{o.method.upper()} {o.path}" for o in OPERATIONS])
def test_no_5xx_and_responses_match_the_schema(operation: Any, fuzz_target: tuple[str, dict[str, str]]) -> None:
    base_url, headers = fuzz_target

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("CLOUDOPS_TEST_FUZZ_EXAMPLES"),  # CI: the same cases every run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=base_url, headers=headers, checks=[not_a_server_error, response_schema_conformance], timeout=30
        )

    run()


def test_fuzzed_world_is_still_whole(fuzz_target: tuple[str, dict[str, str]]) -> None:
    base_url, headers = fuzz_target
    assert httpx.get(f"{base_url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{base_url}/v1/tenant", headers=headers, timeout=10).status_code == 200
