"""Savings found in the bill become Terraform pull requests, end to end, exactly once.

FOCUS rows with gp2 volumes, io1, m4/c4 instances and an RDS db.m4 in chdb; a billing-loaded
receipt on the broker; the recommend agent finds the savings and records them in the
tenant's lifecycle table; the propose agent maps each resource through the Terraform state
to its HCL block, patches it, checks it with Terraform, and opens a PR through githubkit
against the local forge (a GitHub-compatible API over a real bare git repository). The test
reads the real commits: only the intended lines changed and `terraform fmt -check` passes.
Delivering the receipt again opens no second PR and makes no new commit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.recommend_data import INSTANCE_M4, VOL_GP2, VOL_GP2_SMALL, recommend_batch

from cloudops.app import create_app
from cloudops.embedded import terraform_sample_repo, terraform_sample_state
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.forge import GitIdentity, LocalForge
from cloudops.embedded.forge.git import TreeEdit
from cloudops.schemas.events import BillingLoaded
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, insert_focus_batch, migrate
from cloudops.sinks.postgres import migrate as pg_migrate
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.terraform.check import fmt_check
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import encode_record

pytestmark = pytest.mark.integration
TOKEN = "forge-token"
FILE_ID = "recommend-fixture-2023-11"
# gp2 vol-...0001, io1 vol-...0002, m4 i-...0011, c4 i-...0012, module.db, log retention (inserted line).
EXPECTED_PRS = 6


@pytest.fixture
async def loop_setup(
    broker: EmbeddedBroker, chdb_dsn: str, postgres_db: str, tmp_path: Path, unique: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, LocalForge, Any]]:
    tenant = f"p{unique}"
    ch = connect(chdb_dsn)
    migrate(ch, tenant)
    await insert_focus_batch(ch, tenant, recommend_batch(file_id=FILE_ID), token="fixture")
    pg_migrate(postgres_db, tenant)
    forge = LocalForge(tmp_path / "forge", token=TOKEN).start()
    repo_dir, state_file = terraform_sample_repo(), terraform_sample_state()
    forge.create_repository("acme", "infra", seed_dir=repo_dir)
    settings = Settings(
        app={"id": f"propose-{unique}", "tenant": tenant, "work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": chdb_dsn},
        postgres={"dsn": postgres_db},
        github={
            "base_url": forge.base_url,
            "token": TOKEN,
            "repo": "acme/infra",
            "backoff_base_s": 0.05,
            "group_prs": getattr(request, "param", False),
        },
        terraform={"repo_dir": repo_dir, "state": str(state_file)},
    )
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings, ["recommend", "propose"])
    await app.start()
    try:
        yield settings, forge, rt
    finally:
        await app.stop()
        forge.stop()


def _receipt(tenant: str) -> BillingLoaded:
    return BillingLoaded(
        tenant=tenant,
        file_id=FILE_ID,
        file_url="s3://bills/cur/2023-11/compute.csv",
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


async def _wait_prs(forge: LocalForge, count: int, timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        numbers = forge.pull_numbers("acme", "infra")
        if len(numbers) >= count:
            return numbers
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{len(forge.pull_numbers('acme', 'infra'))} of {count} PRs opened")


def _teammate_retags(forge: LocalForge) -> None:
    """A teammate changes a tag of the gp2 volume on main; cloudops' local checkout does not have it."""
    git = forge.repository("acme", "infra")
    head = git.resolve_commit("main")
    assert head is not None
    entry = git.entry_at(head, "main.tf")
    assert entry is not None
    text = git.read_blob(entry.sha).decode()
    blob = git.hash_blob(text.replace('Team = "storage"', 'Team = "platform"', 1).encode())
    tree = git.write_tree(git.rev_parse(f"{head}^{{tree}}"), [TreeEdit("main.tf", "100644", "blob", blob)])
    commit = git.commit_tree(tree, [head], "Retag the data volume", author=GitIdentity("Dev", "dev@example.com"))
    git.update_ref("refs/heads/main", commit, old=head)


async def test_receipt_to_pull_requests_exactly_once(loop_setup: tuple[Settings, LocalForge, Any]) -> None:
    settings, forge, rt = loop_setup
    tenant = settings.app.tenant
    _teammate_retags(forge)  # main is now ahead of the local checkout (settings.terraform.repo_dir)
    await rt.publish("billing-loaded", key=FILE_ID, value=encode_record(_receipt(tenant)))
    numbers = await _wait_prs(forge, EXPECTED_PRS)
    await asyncio.sleep(2)  # nothing more is coming
    assert len(forge.pull_numbers("acme", "infra")) == EXPECTED_PRS

    records = {n: forge.pull_record("acme", "infra", n) for n in numbers}
    by_title = {r["title"]: n for n, r in records.items()}
    gp2 = next(n for t, n in by_title.items() if VOL_GP2 in t)
    diff = forge.pull_diff("acme", "infra", gp2)
    assert list(diff.changed_paths) == ["main.tf"]
    removed = [ln for ln in diff.patch.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln for ln in diff.patch.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    # The type line (its comment described gp2 and goes with it), the next line's comment column
    # (terraform fmt alignment, blanks only) and the provisioned throughput that keeps 250 MiB/s.
    assert removed == [
        '-  type              = "gp2" # previous-generation general purpose',
        "-  encrypted         = true  # do not change",
    ], diff.patch
    assert added == [
        '+  type              = "gp3"',
        "+  encrypted         = true # do not change",
        "+  throughput = 250",
    ], diff.patch
    # The branch's file is Terraform-fmt clean, and its commit's parent is main.
    commit = forge.branch_commit("acme", "infra", records[gp2]["head"])
    bare = forge.repository("acme", "infra")
    assert commit.parents == (bare.resolve_commit("main"),)
    entry = bare.entry_at(commit.sha, "main.tf")
    assert entry is not None
    text = bare.read_blob(entry.sha).decode()
    assert fmt_check({"main.tf": text}) == {"main.tf": None}
    assert 'Team = "platform"' in text  # the teammate's change is kept, not reverted by a stale checkout
    # ... because the change was planned on main as the forge's API serves it, fetched once per commit.
    trees = list((Path(settings.app.work_dir) / "base-trees" / "acme+infra").iterdir())
    assert [t.name for t in trees if not t.name.startswith(".")] == [commit.parents[0]]
    m4 = next(n for t, n in by_title.items() if INSTANCE_M4 in t)
    assert '"m5.large"' in forge.pull_diff("acme", "infra", m4).patch
    assert not any(VOL_GP2_SMALL in t for t in by_title)  # set from a variable: reported, no PR
    body = records[gp2]["body"]
    assert "**5.00 USD per month** (60.00 USD per year)" in body  # from the tenant's own costs
    assert "| proposed | gp3 throughput above 125 MiB/s | 0.04 USD/MiBps-Mo | 125 MiBps-Mo | 5.00 USD |" in body
    assert f"cloudops query cost --tenant {tenant} " in body
    assert f"ResourceId={VOL_GP2}" in body
    assert set(records[gp2]["labels"]) >= {"cloudops", "aws-ebs-gp2-to-gp3", "risk:none", "confidence:high"}
    # What cannot become a PR is in the tenant's digest issue, with the line a human would change.
    state = json.loads((forge.root / "acme" / "infra.forge.json").read_text())
    (digest,) = state["issues"].values()
    assert f"cloudops:digest={tenant}" in digest["body"]
    assert VOL_GP2_SMALL in digest["body"]
    assert "`variables.tf:7`" in digest["body"]
    assert "set from a variable" in digest["body"]

    store = RecommendationStore(settings.postgres.dsn or "", tenant)
    opened = store.list("pr_open")
    assert sorted(r.pr_number for r in opened) == sorted(numbers)
    heads = {n: forge.branch_commit("acme", "infra", records[n]["head"]).sha for n in numbers}

    # The same receipt again (at-least-once delivery): same PRs, no new commits, no duplicates.
    await rt.publish("billing-loaded", key=FILE_ID, value=encode_record(_receipt(tenant)))
    for _ in range(300):
        if rt.counters.get("propose.unchanged", 0) >= EXPECTED_PRS:
            break
        await asyncio.sleep(0.1)
    assert rt.counters.get("propose.unchanged", 0) >= EXPECTED_PRS
    assert forge.pull_numbers("acme", "infra") == numbers
    assert {n: forge.branch_commit("acme", "infra", records[n]["head"]).sha for n in numbers} == heads
    assert len(store.list()) == len({r.fingerprint for r in store.list()})


async def test_superseded_recommendation_closes_its_pull_request(
    loop_setup: tuple[Settings, LocalForge, Any],
) -> None:
    from cloudops.ingest.recommend import Recommender
    from cloudops.sinks.analytics import Analytics

    settings, forge, rt = loop_setup
    tenant = settings.app.tenant
    await rt.publish("billing-loaded", key=FILE_ID, value=encode_record(_receipt(tenant)))
    numbers = await _wait_prs(forge, EXPECTED_PRS)
    store = RecommendationStore(settings.postgres.dsn or "", tenant)
    for _ in range(100):  # the PR number is recorded just after the PR is opened
        [old] = [r for r in store.list() if r.resource_id == VOL_GP2]
        if old.pr_number is not None:
            break
        await asyncio.sleep(0.1)
    assert old.pr_number in numbers
    # The same volume now gets a different target: the old recommendation is superseded ...
    newer = old.recommendation.model_copy(update={"proposed": {"type": "gp3", "throughput": "300"}})
    result = store.upsert([newer])
    assert [s.fingerprint for s in result.superseded] == [old.fingerprint]
    # ... and the recommend agent closes its pull request, with a comment saying why.
    recommender = Recommender(rt, Analytics(connect(settings.clickhouse_dsn)))
    await recommender.close_superseded(result.superseded)
    record = forge.pull_record("acme", "infra", old.pr_number)
    assert record["state"] == "closed"
    await recommender.close_superseded(result.superseded)  # idempotent
    assert forge.pull_record("acme", "infra", old.pr_number)["state"] == "closed"


@pytest.mark.parametrize("loop_setup", [True], indirect=True)
async def test_grouped_pull_request(loop_setup: tuple[Settings, LocalForge, Any]) -> None:
    """github.group_prs: the m4 and c4 instances (same kind, same file) end up in one PR; the single one is closed."""
    settings, forge, rt = loop_setup
    tenant = settings.app.tenant
    await rt.publish("billing-loaded", key=FILE_ID, value=encode_record(_receipt(tenant)))
    await _wait_prs(forge, EXPECTED_PRS)  # 5 open + the single PR of the instance that came first
    for _ in range(300):
        records = [forge.pull_record("acme", "infra", n) for n in forge.pull_numbers("acme", "infra")]
        if sum(r["state"] == "closed" for r in records) == 1:
            break
        await asyncio.sleep(0.2)
    open_prs = [r for r in records if r["state"] == "open"]
    closed = [r for r in records if r["state"] == "closed"]
    assert len(open_prs) == EXPECTED_PRS - 1
    (group,) = [r for r in open_prs if "grouped" in r["labels"]]
    assert group["title"].startswith("2 aws-ec2-previous-generation changes in main.tf")
    assert INSTANCE_M4 in group["body"]
    assert "i-0a1b2c3d4e5f60012" in group["body"]
    patch = forge.pull_diff("acme", "infra", group["number"]).patch
    assert '+  instance_type = "m5.large"' in patch
    assert '+  instance_type = "c5.xlarge"' in patch
    (single,) = closed  # the first of the two to arrive (partitions decide which)
    assert INSTANCE_M4 in single["title"] or "i-0a1b2c3d4e5f60012" in single["title"]
    comments = json.loads((forge.root / "acme" / "infra.forge.json").read_text())["comments"]
    assert f"into #{group['number']}" in comments[str(single["number"])][0]["body"]
    store = RecommendationStore(settings.postgres.dsn or "", tenant)
    members = [r for r in store.list("pr_open") if r.kind == "aws-ec2-previous-generation"]
    assert {r.pr_number for r in members} == {group["number"]}
    assert len(members) == 2
