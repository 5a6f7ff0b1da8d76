"""The README is a user's guide: its settings table and commands must match the code."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cloudops.cli import app
from cloudops.settings import settings_table

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented_with_its_default() -> None:
    for var, default, _desc in settings_table():
        line = next((ln for ln in README.splitlines() if ln.startswith(f"| `{var}` |")), None)
        assert line is not None, f"{var} missing from the README settings table"
        if default:
            assert f"`{default}`" in line, f"{var}: README default differs from code ({default})"


def test_every_cli_command_in_the_readme_exists() -> None:
    runner = CliRunner()
    for cmd in (
        ["demo"],
        ["worker"],
        ["migrate"],
        ["ingest"],
        ["query", "cost"],
        ["topics", "schema"],
        ["topics", "list"],
        ["settings"],
    ):
        assert f"cloudops {' '.join(cmd)}" in README
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, result.output


def test_quick_start_is_two_make_targets() -> None:
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    assert "make demo" in README
    assert "make test" in README
    assert "\ndemo:" in makefile
    assert "\ntest:" in makefile
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert "make test" in ci
