"""Locating the block and argument to edit: root resources, module inputs, what is not addressable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudops.terraform.locate import Repository, locate_attribute, locate_resource
from cloudops.terraform.outcome import NotAddressableError
from cloudops.terraform.state import StateMatch, find_in_state


def _match(state: dict[str, Any], resource_id: str) -> StateMatch:
    match = find_in_state(state, resource_id)
    assert match is not None
    return match


def _line_no(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _module_state(module: str, type_: str, name: str, resource_id: str) -> dict[str, Any]:
    resource = {"module": module, "mode": "managed", "type": type_, "name": name}
    return {"version": 4, "resources": [{**resource, "instances": [{"attributes": {"id": resource_id}}]}]}


def test_root_literal_in_place(sample_repo: Path, state: dict[str, Any]) -> None:
    repo = Repository(sample_repo)
    target = locate_attribute(repo, _match(state, "vol-0a1b2c3d4e5f60001"), "type")
    text = (sample_repo / "main.tf").read_text()
    assert target.kind == "replace"
    assert not target.via_module_input
    assert (target.block.file, target.attribute) == ("main.tf", "type")
    assert target.existing is not None
    assert (target.existing.kind, target.existing.value, target.existing.value_text) == ("string", "gp2", '"gp2"')
    assert target.existing.line == _line_no(text, '  type              = "gp2" # previous-generation general purpose')
    assert text[target.existing.value_start : target.existing.value_end] == '"gp2"'


def test_resource_block_span_is_exact(sample_repo: Path, state: dict[str, Any]) -> None:
    block = locate_resource(Repository(sample_repo), _match(state, "i-0a1b2c3d4e5f60011"))
    text = (sample_repo / "main.tf").read_text()
    start = text.index('resource "aws_instance" "web" {')
    end = text.index("\n}\n", start) + 2
    assert (block.file, block.start, block.end) == ("main.tf", start, end)
    assert (block.start_line, block.end_line) == (text.count("\n", 0, start) + 1, text.count("\n", 0, end - 1) + 1)


def test_absent_argument_means_insert(sample_repo: Path, state: dict[str, Any]) -> None:
    target = locate_attribute(Repository(sample_repo), _match(state, "/app/web"), "retention_in_days")
    assert (target.kind, target.existing, target.block.address) == ("insert", None, "aws_cloudwatch_log_group.app")


def test_module_resource_edits_the_module_call_input(sample_repo: Path, state: dict[str, Any]) -> None:
    match = _match(state, "arn:aws:rds:us-east-1:123456789012:db:orders-db")
    target = locate_attribute(Repository(sample_repo), match, "instance_class")
    assert target.via_module_input
    assert target.kind == "replace"
    assert target.resource.file == "modules/rds/main.tf"
    assert (target.block.address, target.block.file, target.attribute) == ("module.db", "main.tf", "instance_class")
    assert target.existing is not None
    assert target.existing.value == "db.m4.large"
    assert "var.instance_class" in target.explanation
    assert "modules/rds/main.tf" in target.explanation


def test_literal_inside_a_module_is_not_addressable(sample_repo: Path, state: dict[str, Any]) -> None:
    match = _match(state, "orders-db")
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(sample_repo), match, "engine")
    assert err.value.outcome.code == "in_module_not_addressable"
    assert "modules/rds" in err.value.outcome.reason
    assert '"postgres"' in err.value.outcome.reason


def test_root_variable_is_not_addressable_and_named(sample_repo: Path, state: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(sample_repo), _match(state, "vol-0a1b2c3d4e5f60003"), "type")
    outcome = err.value.outcome
    assert outcome.code == "set_from_variable"
    assert "var.scratch_type" in outcome.reason
    assert 'variable "scratch_type" (variables.tf:7, default "gp2")' in outcome.reason


def test_local_and_expression_are_not_addressable(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "main.tf": 'locals {\n  size = 10\n}\n\nresource "aws_ebs_volume" "a" {\n  size = local.size\n'
            '  type = lower("GP2")\n}\n'
        },
    )
    state = {
        "version": 4,
        "resources": [
            {"mode": "managed", "type": "aws_ebs_volume", "name": "a", "instances": [{"attributes": {"id": "vol-a"}}]}
        ],
    }
    match = _match(state, "vol-a")
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(root), match, "size")
    assert err.value.outcome.code == "set_from_expression"
    assert "local.size (main.tf:2: 10)" in err.value.outcome.reason
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(root), match, "type")
    assert err.value.outcome.code == "set_from_expression"
    assert 'lower("GP2")' in err.value.outcome.reason


def test_registry_module_is_not_addressable(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "main.tf": 'module "db" {\n  source  = "terraform-aws-modules/rds/aws"\n  version = "6.1.0"\n\n'
            '  instance_class = "db.m4.large"\n}\n'
        },
    )
    match = _match(_module_state("module.db", "aws_db_instance", "this", "db-1"), "db-1")
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(root), match, "instance_class")
    assert err.value.outcome.code == "in_module_not_addressable"
    assert '"terraform-aws-modules/rds/aws"' in err.value.outcome.reason


def test_nested_module_pass_through_reaches_the_root_literal(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "main.tf": 'module "app" {\n  source = "./modules/app"\n  disk   = "gp2"\n}\n',
            "modules/app/main.tf": 'module "disk" {\n  source = "../disk"\n  type   = var.disk\n}\n\n'
            'variable "disk" {\n  type = string\n}\n',
            "modules/disk/main.tf": 'variable "type" {\n  type = string\n}\n\n'
            'resource "aws_ebs_volume" "this" {\n  size = 10\n  type = var.type\n}\n',
        },
    )
    match = _match(_module_state("module.app.module.disk", "aws_ebs_volume", "this", "vol-n"), "vol-n")
    target = locate_attribute(Repository(root), match, "type")
    assert (target.block.address, target.block.file, target.attribute) == ("module.app", "main.tf", "disk")
    assert target.existing is not None
    assert target.existing.value == "gp2"
    assert target.resource.file == "modules/disk/main.tf"


def test_module_input_not_set_is_not_addressable(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "main.tf": 'module "db" {\n  source = "./db"\n}\n',
            "db/main.tf": 'variable "cls" {\n  default = "db.t3.small"\n}\n\n'
            'resource "aws_db_instance" "this" {\n  instance_class = var.cls\n}\n',
        },
    )
    match = _match(_module_state("module.db", "aws_db_instance", "this", "db-2"), "db-2")
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(root), match, "instance_class")
    assert err.value.outcome.code == "in_module_not_addressable"
    assert "does not set input cls" in err.value.outcome.reason


def test_module_source_escaping_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    root = _write(tmp_path / "repo", {"main.tf": 'module "x" {\n  source = "../outside"\n}\n'})
    match = _match(_module_state("module.x", "aws_s3_bucket", "b", "bucket-1"), "bucket-1")
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(root), match, "bucket")
    assert err.value.outcome.code == "in_module_not_addressable"


def test_syntax_error_names_the_file(repo_copy: Path, state: dict[str, Any]) -> None:
    (repo_copy / "variables.tf").write_text('variable "region" {\n  default = "us-east-1"\n')
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(repo_copy), _match(state, "vol-0a1b2c3d4e5f60001"), "type")
    assert err.value.outcome.code == "syntax_error"
    assert "variables.tf" in err.value.outcome.reason


def test_block_missing_from_configuration(repo_copy: Path, state: dict[str, Any]) -> None:
    text = (repo_copy / "main.tf").read_text()
    (repo_copy / "main.tf").write_text(text.replace('resource "aws_eip" "legacy"', 'resource "aws_eip" "other"'))
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(repo_copy), _match(state, "203.0.113.10"), "domain")
    assert err.value.outcome.code == "not_in_config"
    assert "aws_eip.legacy" in err.value.outcome.reason


def test_override_file_is_unsupported(repo_copy: Path, state: dict[str, Any]) -> None:
    (repo_copy / "override.tf").write_text('resource "aws_instance" "web" {\n  instance_type = "t3.large"\n}\n')
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(repo_copy), _match(state, "i-0a1b2c3d4e5f60011"), "instance_type")
    assert err.value.outcome.code == "unsupported"
    assert "override" in err.value.outcome.reason


def test_nested_argument_names_are_unsupported(sample_repo: Path, state: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        locate_attribute(Repository(sample_repo), _match(state, "i-0a1b2c3d4e5f60011"), "root_block_device.volume_type")
    assert err.value.outcome.code == "unsupported"
