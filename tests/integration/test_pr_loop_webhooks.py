"""The PR loop closes through the forge's webhooks: two tenants, two repositories, one App installation
each, the agents running on a real broker.

Each tenant's bill (the recommender fixture) is in its own ClickHouse tables; a billing-loaded
receipt per tenant makes the recommend agent find the savings and the propose agent open the PRs,
each tenant's in its own repository as its own App installation. Each repository gets a webhook
pointing at the API's ``POST /v1/webhooks/github`` (``cloudops api`` on uvicorn, 127.0.0.1, signed
with ``github.webhook_secret``); acme's gp2 PR is merged (a real merge commit on ``main``) and
beta's closed through the forge's REST API, and the deliveries move the recommendations to
``merged`` and ``dismissed``. A redelivery of the same delivery changes nothing; the next load of
the same data (a new receipt) finds the same fingerprints and opens no PR for either.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.support.app_tenants import AppTenants, make_app_tenants, seeded_forge
from tests.support.recommend_data import VOL_GP2, recommend_batch

from cloudops.api.app import create_api
from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.forge import GitIdentity, LocalForge
from cloudops.embedded.forge.git import TreeEdit
from cloudops.embedded.net import free_port
from cloudops.schemas.events import BillingLoaded
from cloudops.sinks.clickhouse import connect, insert_focus_batch
from cloudops.sinks.clickhouse import migrate as ch_migrate
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Runtime

pytestmark = pytest.mark.integration
TOKEN = "forge-token-webhooks"
SECRET = "webhook-secret-for-tests"
FILE_ID = "recommend-fixture-2023-11"
PRS_PER_TENANT = 6  # gp2 vol-...0001, io1 vol-...0002, m4 i-...0011, c4 i-...0012, module.db, log retention


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[LocalForge]:
    f = seeded_forge(tmp_path / "forge", TOKEN)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
async def tenants(
    forge: LocalForge,
    broker: EmbeddedBroker,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    tenant_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AppTenants:
    """Two App tenants, each with the recommender fixture bill in ClickHouse, and the broker's topics."""
    world = make_app_tenants(
        forge,
        postgres_db,
        tmp_path,
        tenant_id,
        monkeypatch,
        github={"webhook_secret": SECRET},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": chdb_dsn},
    )
    ch = connect(chdb_dsn)
    for t in (world.a, world.b):
        ch_migrate(ch, t)
        await insert_focus_batch(ch, t, recommend_batch(file_id=FILE_ID), token=f"fixture-{t}")
    await ensure_topics(world.settings.kafka)
    return world


@pytest.fixture
async def agents(tenants: AppTenants) -> AsyncIterator[Runtime]:
    """The recommend and propose agents, running."""
    app, rt = create_app(tenants.settings, ["recommend", "propose"])
    await app.start()
    try:
        yield rt
    finally:
        await app.stop()


@pytest.fixture
def api_url(tenants: AppTenants) -> Iterator[str]:
    """``cloudops api`` (the FastAPI app on uvicorn) on a free 127.0.0.1 port."""
    port = free_port("127.0.0.1")
    config = uvicorn.Config(create_api(tenants.settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the API exited while starting"
        assert time.monotonic() < deadline, "the API did not start within 20 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


async def _load(rt: Runtime, tenant: str) -> None:
    """A reconciled billing-loaded receipt of the fixture file for ``tenant`` (what the loader publishes)."""
    receipt = BillingLoaded(
        tenant=tenant,
        file_id=FILE_ID,
        file_url=f"s3://bills-{tenant}/cur/2023-11/compute.csv",
        format="aws-cur",
        rows_in=1,
        rows_rejected=0,
        rows_landed=1,
        batches=1,
        source_totals={},
        rejected_totals={},
        landed_totals={},
        reconciled=True,
    )
    await rt.publish("billing-loaded", key=f"{tenant}:{FILE_ID}", value=encode_record(receipt))


async def _until(what: str, done: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def _closed_delivery(forge: LocalForge, repository: str) -> dict[str, Any]:
    owner, name = repository.split("/")
    (delivery,) = [d for d in forge.hook_deliveries(owner, name) if d["event"] == "pull_request"]
    return delivery


async def test_merged_and_closed_prs_come_back_through_webhooks(
    forge: LocalForge, tenants: AppTenants, agents: Runtime, api_url: str, postgres_db: str
) -> None:
    a, b = tenants.a, tenants.b
    repos = tenants.repositories
    split = {t: (r.split("/")[0], r.split("/")[1]) for t, r in repos.items()}
    for t in (a, b):
        await _load(agents, t)

    def all_open() -> bool:
        for t in (a, b):
            opened = RecommendationStore(postgres_db, t).list("pr_open")
            if len(opened) < PRS_PER_TENANT or any(r.pr_number is None for r in opened):
                return False
        return True

    await _until("both tenants' pull requests", all_open)
    numbers = {t: forge.pull_numbers(*split[t]) for t in (a, b)}
    assert {t: len(n) for t, n in numbers.items()} == {a: PRS_PER_TENANT, b: PRS_PER_TENANT}
    gp2 = {
        t: next(r for r in RecommendationStore(postgres_db, t).list("pr_open") if r.resource_id == VOL_GP2)
        for t in (a, b)
    }
    for t, bot in ((a, "acme-finops[bot]"), (b, "cloudops[bot]")):
        record = forge.pull_record(*split[t], gp2[t].pr_number or 0)
        assert record["user"] == bot  # opened as the tenant's App installation
        assert f"cloudops:fingerprint={gp2[t].fingerprint}" in record["body"]
        assert gp2[t].pr_url is not None
        assert gp2[t].pr_url.endswith(f"/{repos[t]}/pull/{record['number']}")

    forge_api = httpx.Client(base_url=forge.base_url, headers={"Authorization": f"token {TOKEN}"}, timeout=60)
    hook_url = f"{api_url}/v1/webhooks/github"
    hooks: dict[str, int] = {}
    for t, repository in repos.items():
        created = forge_api.post(
            f"/repos/{repository}/hooks",
            json={
                "name": "web",
                "config": {"url": hook_url, "content_type": "json", "secret": SECRET},
                "events": ["pull_request"],
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["config"]["secret"] == "********"
        hooks[t] = created.json()["id"]
        (ping,) = forge.hook_deliveries(*split[t])  # GitHub pings a new hook; the API answers pong
        assert (ping["event"], ping["status_code"]) == ("ping", 200), ping

    # acme merges its gp2 PR: a merge commit on main, and the delivery moves the recommendation to merged.
    a_number = gp2[a].pr_number
    head = forge.pull_record("acme", "infra", a_number or 0)["head"]
    branch_tip = forge.branch_commit("acme", "infra", head).sha
    main_before = forge.branch_commit("acme", "infra", "main").sha
    merged = forge_api.put(f"/repos/acme/infra/pulls/{a_number}/merge", json={"merge_method": "merge"})
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged"] is True
    merge_commit = forge.branch_commit("acme", "infra", "main")
    assert merge_commit.sha == merged.json()["sha"]
    assert merge_commit.parents == (main_before, branch_tip)
    bare = forge.repository("acme", "infra")
    entry = bare.entry_at(merge_commit.sha, "main.tf")
    assert entry is not None
    assert bare.entry_at(main_before, "main.tf") != entry  # the proposed change is on main now
    assert forge_api.put(f"/repos/acme/infra/pulls/{a_number}/merge").status_code == 405  # merged already
    pr = forge_api.get(f"/repos/acme/infra/pulls/{a_number}").json()
    assert (pr["state"], pr["merged"], pr["merge_commit_sha"]) == ("closed", True, merge_commit.sha)

    # beta closes its gp2 PR without merging.
    closed = forge_api.patch(f"/repos/beta/terraform/pulls/{gp2[b].pr_number}", json={"state": "closed"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["merged"] is False

    for t, installation, was_merged in ((a, tenants.a_installation, True), (b, tenants.b_installation, False)):
        delivery = _closed_delivery(forge, repos[t])
        assert delivery["status_code"] == 200, delivery["response"]
        assert delivery["action"] == "closed"
        payload = delivery["request"]["payload"]
        assert payload["pull_request"]["merged"] is was_merged
        assert payload["number"] == gp2[t].pr_number
        assert payload["repository"]["full_name"] == repos[t]
        assert payload["installation"]["id"] == installation
        assert delivery["request"]["headers"]["X-Hub-Signature-256"].startswith("sha256=")
        assert delivery["request"]["headers"]["User-Agent"].startswith("GitHub-Hookshot/")
    states = {t: RecommendationStore(postgres_db, t).get(gp2[t].fingerprint) for t in (a, b)}
    assert {t: s.state if s else None for t, s in states.items()} == {a: "merged", b: "dismissed"}
    (dismissal,) = read_trail(postgres_db, b, action="recommendation.dismissed")
    assert (dismissal.actor, dismissal.request_id) == ("github:webhook", _closed_delivery(forge, repos[b])["guid"])

    # A redelivery of acme's delivery (same X-GitHub-Delivery) is acknowledged and changes nothing.
    original = _closed_delivery(forge, repos[a])
    attempt = forge_api.post(f"/repos/acme/infra/hooks/{hooks[a]}/deliveries/{original['id']}/attempts")
    assert attempt.status_code == 202, attempt.text
    listed = forge_api.get(f"/repos/acme/infra/hooks/{hooks[a]}/deliveries").json()
    redelivered = listed[0]  # newest first
    assert (redelivered["guid"], redelivered["redelivery"], redelivered["status_code"]) == (original["guid"], True, 202)
    detail = forge_api.get(f"/repos/acme/infra/hooks/{hooks[a]}/deliveries/{redelivered['id']}").json()
    assert "handled before" in detail["response"]["payload"]
    assert len(read_trail(postgres_db, a, action="recommendation.merged")) == 1
    forge_api.close()

    # The next load of the same data: the recommend agent finds the same fingerprints again, the
    # propose agent skips the merged and the dismissed one (and leaves the open PRs as they are).
    before = dict(agents.counters)
    for t in (a, b):
        await _load(agents, t)

    def handled() -> bool:
        closed_now = agents.counters.get("propose.closed", 0) - before.get("propose.closed", 0)
        unchanged = agents.counters.get("propose.unchanged", 0) - before.get("propose.unchanged", 0)
        return closed_now >= 2 and unchanged >= 2 * (PRS_PER_TENANT - 1)

    await _until("the second load's recommendations", handled)
    await asyncio.sleep(2)  # nothing more is coming
    assert agents.counters.get("propose.closed", 0) - before.get("propose.closed", 0) == 2
    assert {t: forge.pull_numbers(*split[t]) for t in (a, b)} == numbers
    states = {t: RecommendationStore(postgres_db, t).get(gp2[t].fingerprint) for t in (a, b)}
    assert {t: s.state if s else None for t, s in states.items()} == {a: "merged", b: "dismissed"}
    assert {t: s.times_seen if s else None for t, s in states.items()} == {a: 2, b: 2}  # found again


def _branch(forge: LocalForge, name: str, path: str, edit: Any) -> str:
    """A commit on ``main`` whose ``path`` is ``edit(old text)``, as branch ``name``; its id."""
    git = forge.repository("acme", "infra")
    main = git.resolve_commit("main")
    assert main is not None
    entry = git.entry_at(main, path)
    text = git.read_blob(entry.sha).decode() if entry is not None else ""
    blob = git.hash_blob(edit(text).encode())
    tree = git.write_tree(git.rev_parse(f"{main}^{{tree}}"), [TreeEdit(path, "100644", "blob", blob)])
    commit = git.commit_tree(tree, [main], f"Change {path}", author=GitIdentity("Dev", "dev@example.com"))
    git.update_ref(f"refs/heads/{name}", commit, old=None)
    return commit


def test_merge_rules_and_an_unreachable_hook(forge: LocalForge) -> None:
    """Merges as GitHub answers them (409 stale head, 405 conflict or closed, squash, no reopening a
    merged PR); a hook that cannot be reached is recorded as failed and the API call still succeeds."""
    _branch(forge, "one", "main.tf", lambda t: t.replace('Team = "storage"', 'Team = "one"', 1))
    _branch(forge, "two", "main.tf", lambda t: t.replace('Team = "storage"', 'Team = "two"', 1))
    _branch(forge, "three", "NOTES.md", lambda t: "notes\n")
    api = httpx.Client(base_url=forge.base_url, headers={"Authorization": f"token {TOKEN}"}, timeout=60)
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}/hook"  # nothing listens there
    hook = api.post("/repos/acme/infra/hooks", json={"config": {"url": dead}, "events": ["*"]})
    assert hook.status_code == 201, hook.text
    assert hook.json()["config"]["content_type"] == "form"
    for branch in ("one", "two", "three"):
        opened = api.post("/repos/acme/infra/pulls", json={"title": f"PR {branch}", "head": branch, "base": "main"})
        assert opened.status_code == 201, opened.text

    assert api.put("/repos/acme/infra/pulls/1/merge", json={"sha": "0" * 40}).status_code == 409
    assert api.get("/repos/acme/infra/pulls/1/merge").status_code == 404  # not merged (yet)
    assert api.put("/repos/acme/infra/pulls/1/merge").json()["merged"] is True
    assert api.get("/repos/acme/infra/pulls/1/merge").status_code == 204
    conflict = api.put("/repos/acme/infra/pulls/2/merge")
    assert (conflict.status_code, conflict.json()["message"]) == (405, "Pull Request is not mergeable")
    main_before = forge.branch_commit("acme", "infra", "main").sha
    squashed = api.put("/repos/acme/infra/pulls/3/merge", json={"merge_method": "squash"})
    assert squashed.status_code == 200, squashed.text
    commit = forge.branch_commit("acme", "infra", "main")
    assert commit.parents == (main_before,)
    assert commit.message.startswith("PR three (#3)")
    reopen = api.patch("/repos/acme/infra/pulls/1", json={"state": "open"})
    assert reopen.status_code == 422, reopen.text
    assert api.put("/repos/acme/infra/pulls/2/merge", json={"merge_method": "fast"}).status_code == 422

    deliveries = forge.hook_deliveries("acme", "infra")
    assert [(d["event"], d["action"]) for d in deliveries] == [
        ("ping", None),
        ("pull_request", "opened"),
        ("pull_request", "opened"),
        ("pull_request", "opened"),
        ("pull_request", "closed"),
        ("pull_request", "closed"),
    ]
    assert {d["status_code"] for d in deliveries} == {0}
    assert deliveries[-1]["request"]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "X-Hub-Signature-256" not in deliveries[-1]["request"]["headers"]  # the hook has no secret
    assert api.get(f"/repos/acme/infra/hooks/{hook.json()['id']}").json()["last_response"]["status"] == "failed"
    api.close()
