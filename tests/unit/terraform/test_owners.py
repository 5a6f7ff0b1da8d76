"""CODEOWNERS: the last matching rule wins; users and teams become reviewers, e-mails are left out."""

from __future__ import annotations

from pathlib import Path

from cloudops.terraform.owners import owners_for

RULES = """\
# default owners
*                   @acme/platform
*.tf                @alice
/modules/           @acme/dba   # directory rule, anchored
docs/**             ops@example.com
modules/rds/*.tf    @bob @acme/dba
/main.tf
"""


def test_last_matching_rule_wins(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text(RULES)
    assert owners_for(tmp_path, ["variables.tf"]).reviewers == ("alice",)
    assert owners_for(tmp_path, ["modules/rds/main.tf"]).reviewers == ("bob", "acme/dba")
    assert owners_for(tmp_path, ["modules/rds/README.md"]).reviewers == ("acme/dba",)
    assert owners_for(tmp_path, ["README.md"]).reviewers == ("acme/platform",)
    assert owners_for(tmp_path, ["main.tf"]).reviewers == ()  # a rule without owners
    assert owners_for(tmp_path, ["docs/x.md"]).reviewers == ()  # e-mail owners have no login
    both = owners_for(tmp_path, ["variables.tf", "modules/rds/main.tf"])
    assert (both.users, both.teams, both.source) == (("alice", "bob"), ("acme/dba",), ".github/CODEOWNERS")


def test_no_codeowners(tmp_path: Path) -> None:
    assert owners_for(tmp_path, ["main.tf"]).source is None
    assert owners_for(tmp_path, ["main.tf"]).reviewers == ()
