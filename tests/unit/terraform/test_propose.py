"""plan_change end to end over the shared fixture repository and state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudops.terraform.outcome import NotAddressable
from cloudops.terraform.propose import ProposedChange, plan_change

from .conftest import RecFactory, snapshot


def _diff_lines(change: ProposedChange) -> list[str]:
    return [ln for ln in change.diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def _proposed(result: ProposedChange | NotAddressable) -> ProposedChange:
    assert isinstance(result, ProposedChange), result
    return result


@pytest.mark.parametrize(
    ("resource_id", "resource_type", "change", "address", "old_line", "new_line"),
    [
        (
            "vol-0a1b2c3d4e5f60001",
            "aws_ebs_volume",
            ("type", "gp2", "gp3", "string"),
            "aws_ebs_volume.data",
            '  type              = "gp2" # previous-generation general purpose\n'
            "  encrypted         = true  # do not change",
            '  type              = "gp3"\n  encrypted         = true # do not change',
        ),
        (
            "arn:aws:ec2:us-east-1:123456789012:volume/vol-0a1b2c3d4e5f60002",
            "aws_ebs_volume",
            ("type", "io1", "io2", "string"),
            "aws_ebs_volume.fast",
            '  type              = "io1"',
            '  type              = "io2"',
        ),
        (
            "i-0a1b2c3d4e5f60011",
            "aws_instance",
            ("instance_type", "m4.large", "m5.large", "string"),
            "aws_instance.web",
            '  instance_type = "m4.large"',
            '  instance_type = "m5.large"',
        ),
        (
            "arn:aws:rds:us-east-1:123456789012:db:orders-db",
            "aws_db_instance",
            ("instance_class", "db.m4.large", "db.m5.large", "string"),
            "module.db.aws_db_instance.this",
            '  instance_class = "db.m4.large"',
            '  instance_class = "db.m5.large"',
        ),
    ],
)
def test_in_place_changes(
    sample_repo: Path,
    state: dict[str, Any],
    make_rec: RecFactory,
    resource_id: str,
    resource_type: str,
    change: tuple[str, str, str, str],
    address: str,
    old_line: str,
    new_line: str,
) -> None:
    before = snapshot(sample_repo)
    result = _proposed(plan_change(sample_repo, state, make_rec(resource_id, resource_type, [change])))
    original = (sample_repo / "main.tf").read_text()
    assert result.address == address
    assert result.originals == {"main.tf": original}
    assert result.files == {"main.tf": original.replace(old_line + "\n", new_line + "\n", 1)}
    assert _diff_lines(result) == [
        *(f"-{ln}" for ln in old_line.split("\n")),
        *(f"+{ln}" for ln in new_line.split("\n")),
    ]
    assert result.diff.startswith("--- a/main.tf\n+++ b/main.tf\n@@ ")
    assert result.check.ok
    assert result.check.fmt_clean
    assert result.check.validation == "without_providers"
    assert "```diff\n" + result.diff in result.body
    assert result.branch == f"cloudops/aws-test-rightsizing/{result.fingerprint}"
    assert result.labels == ("cloudops", "finops", "aws-test-rightsizing", "risk:none", "confidence:high")
    assert f"<!-- cloudops:fingerprint={result.fingerprint} -->" in result.body
    assert snapshot(sample_repo) == before  # nothing written


def test_module_change_goes_to_the_call_not_the_module(
    sample_repo: Path, state: dict[str, Any], make_rec: RecFactory
) -> None:
    rec = make_rec("orders-db", "aws_db_instance", [("instance_class", "db.m4.large", "db.m5.large", "string")])
    result = _proposed(plan_change(sample_repo, state, rec))
    assert set(result.files) == {"main.tf"}  # modules/rds/main.tf is shared by callers: untouched
    (edit,) = result.edits
    assert edit.description == 'module.db: instance_class "db.m4.large" -> "db.m5.large"'
    assert "var.instance_class" in edit.explanation
    assert "modules/rds/main.tf" in edit.explanation


def test_retention_is_inserted(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    rec = make_rec(
        "arn:aws:logs:us-east-1:123456789012:log-group:/app/web:*",
        "aws_cloudwatch_log_group",
        [("retention_in_days", None, "30", "number")],
    )
    result = _proposed(plan_change(sample_repo, state, rec))
    assert result.address == "aws_cloudwatch_log_group.app"
    assert _diff_lines(result) == [
        '-  name = "/app/web"',
        '+  name              = "/app/web"',
        "+  retention_in_days = 30",
    ]
    assert result.check.ok
    assert result.check.fmt_clean
    assert "| `retention_in_days` | unset | `30` |" in result.body


def test_not_in_state(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    result = plan_change(
        sample_repo, state, make_rec("vol-0a1b2c3d4e5f69999", "aws_ebs_volume", [("type", "gp2", "gp3", "string")])
    )
    assert isinstance(result, NotAddressable)
    assert result.code == "not_in_state"
    assert "vol-0a1b2c3d4e5f69999" in result.reason
    assert result.address is None


def test_set_from_variable(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    result = plan_change(
        sample_repo, state, make_rec("vol-0a1b2c3d4e5f60003", "aws_ebs_volume", [("type", "gp2", "gp3", "string")])
    )
    assert isinstance(result, NotAddressable)
    assert result.code == "set_from_variable"
    assert "var.scratch_type" in result.reason
    assert result.address == "aws_ebs_volume.scratch"


def test_syntax_error_is_an_outcome(repo_copy: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    main = repo_copy / "main.tf"
    main.write_text(main.read_text().replace("  size              = 200\n", "  size              = \n"))
    result = plan_change(
        repo_copy,
        state,
        make_rec("i-0a1b2c3d4e5f60011", "aws_instance", [("instance_type", "m4.large", "m5.large", "string")]),
    )
    assert isinstance(result, NotAddressable)
    assert result.code == "syntax_error"
    assert "main.tf line" in result.reason


def test_drifted(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    rec = make_rec("i-0a1b2c3d4e5f60012", "aws_instance", [("instance_type", "c4.2xlarge", "c5.2xlarge", "string")])
    result = plan_change(sample_repo, state, rec)
    assert isinstance(result, NotAddressable)
    assert result.code == "drifted"
    assert '"c4.xlarge"' in result.reason
    assert result.address == "aws_instance.batch"


def test_report_only(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    rec = make_rec("arn:aws:ec2:us-east-1:123456789012:reserved-instances/abc", None, [], kind="aws-unused-ri")
    result = plan_change(sample_repo, state, rec)
    assert isinstance(result, NotAddressable)
    assert result.code == "report_only"
    assert "aws-unused-ri" in result.reason


def test_ambiguous(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    twin = {
        "module": "module.copy",
        "mode": "managed",
        "type": "aws_ebs_volume",
        "name": "data",
        "instances": [{"attributes": {"id": "vol-0a1b2c3d4e5f60001"}}],
    }
    state["resources"].append(twin)
    result = plan_change(
        sample_repo, state, make_rec("vol-0a1b2c3d4e5f60001", "aws_ebs_volume", [("type", "gp2", "gp3", "string")])
    )
    assert isinstance(result, NotAddressable)
    assert result.code == "ambiguous"
    assert "module.copy.aws_ebs_volume.data" in result.reason


def test_counted_block_is_shared(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    (web,) = [r for r in state["resources"] if r["type"] == "aws_instance" and r["name"] == "web"]
    first = web["instances"][0]
    web["instances"] = [{**first, "index_key": 0}, {**first, "index_key": 1, "attributes": {"id": "i-other"}}]
    rec = make_rec("i-0a1b2c3d4e5f60011", "aws_instance", [("instance_type", "m4.large", "m5.large", "string")])
    result = plan_change(sample_repo, state, rec)
    assert isinstance(result, NotAddressable)
    assert (result.code, result.address) == ("shared_block", "aws_instance.web[0]")


def test_already_applied(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    rec = make_rec("i-0a1b2c3d4e5f60011", "aws_instance", [("instance_type", "m3.large", "m4.large", "string")])
    result = plan_change(sample_repo, state, rec)
    assert isinstance(result, NotAddressable)
    assert result.code == "already_applied"


def test_check_failure_is_an_outcome(repo_copy: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    main = repo_copy / "main.tf"
    main.write_text(
        main.read_text().replace(
            '  identifier     = "orders-db"\n', '  identifier     = "orders-db"\n  storage_gb     = 100\n'
        )
    )
    rec = make_rec("i-0a1b2c3d4e5f60011", "aws_instance", [("instance_type", "m4.large", "m5.large", "string")])
    result = plan_change(repo_copy, state, rec)
    assert isinstance(result, NotAddressable)
    assert result.code == "check_failed"
    assert "Unsupported argument" in result.reason


def test_bad_state(sample_repo: Path, make_rec: RecFactory) -> None:
    rec = make_rec("i-0a1b2c3d4e5f60011", "aws_instance", [("instance_type", "m4.large", "m5.large", "string")])
    result = plan_change(sample_repo, {"version": 3, "modules": []}, rec)
    assert isinstance(result, NotAddressable)
    assert result.code == "bad_state"


def test_two_changes_on_one_resource(sample_repo: Path, state: dict[str, Any], make_rec: RecFactory) -> None:
    rec = make_rec(
        "vol-0a1b2c3d4e5f60002",
        "aws_ebs_volume",
        [("type", "io1", "gp3", "string"), ("iops", "40000", "16000", "number")],
    )
    result = _proposed(plan_change(sample_repo, state, rec))
    assert _diff_lines(result) == [
        '-  type              = "io1"',
        "-  iops              = 40000",
        '+  type              = "gp3"',
        "+  iops              = 16000",
    ]
    assert len(result.edits) == 2
