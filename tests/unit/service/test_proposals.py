"""ProposalRouter without a control plane: the deployment's settings are every tenant's route;
ProposalSink.covers filters by the target's path; load_state merges several state files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudops.errors import ConfigError
from cloudops.service.proposals import ProposalRouter, ProposalSink, load_state
from cloudops.settings import Settings
from cloudops.sinks.github import GitHubTarget, PullRequestSink, RepoRef


def test_no_control_plane_falls_back_to_global_settings(tmp_path: Path) -> None:
    settings = Settings(
        app={"work_dir": tmp_path},
        github={"base_url": "http://127.0.0.1:9", "token": "t0k", "repo": "acme/infra"},
        terraform={"state": str(tmp_path / "s.tfstate"), "repo_dir": tmp_path},
    )
    router = ProposalRouter(settings)
    (route,) = router.sinks("acme")
    assert route.target_id is None
    assert route.repo == RepoRef("acme", "infra")
    assert route.state_refs == (str(tmp_path / "s.tfstate"),)
    assert route.repo_dir == tmp_path
    assert route.base_branch is None
    assert router.resolutions == 0
    assert router.sinks("other")[0].tenant == "other"


def test_unconfigured_deployment_has_no_route(tmp_path: Path) -> None:
    assert ProposalRouter(Settings(app={"work_dir": tmp_path})).sinks("acme") == []


def test_covers_filters_by_path() -> None:
    sink = PullRequestSink(GitHubTarget("http://127.0.0.1:9", "t", "acme", "infra"))
    route = ProposalSink("acme", "prod", sink, RepoRef("acme", "infra"), "main", "envs/prod", ("s",))
    assert route.covers(["envs/prod/main.tf", "envs/prod/modules/x.tf"])
    assert not route.covers(["envs/prod/main.tf", "main.tf"])
    assert not route.covers(["envs/production/main.tf"])
    whole = ProposalSink("acme", "all", sink, RepoRef("acme", "infra"), None, "", ("s",))
    assert whole.covers(["main.tf"])


async def test_load_state_merges_resources(tmp_path: Path) -> None:
    one, two = tmp_path / "one.tfstate", tmp_path / "two.tfstate"
    one.write_text(json.dumps({"version": 4, "resources": [{"type": "a", "name": "x"}]}))
    two.write_text(json.dumps({"version": 4, "resources": [{"type": "b", "name": "y"}]}))
    settings = Settings(app={"work_dir": tmp_path})
    state = await load_state(settings, [str(one), str(two)])
    assert [r["type"] for r in state["resources"]] == ["a", "b"]
    (tmp_path / "bad.tfstate").write_text("[1]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        await load_state(settings, [str(tmp_path / "bad.tfstate")])
    with pytest.raises(ConfigError, match="no Terraform state"):
        await load_state(settings, [])
