"""Git plumbing of the forge on a throwaway bare repository (the git CLI, no network)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cloudops.embedded.forge.git import EMPTY_TREE, BareRepository, GitError, GitIdentity, TreeEdit

WHO = GitIdentity("Dev", "dev@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> BareRepository:
    seed = tmp_path / "seed"
    (seed / "modules" / "net").mkdir(parents=True)
    (seed / "main.tf").write_text("a = 1\n")
    (seed / "modules" / "net" / "vpc.tf").write_text("vpc = true\n")
    (seed / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(seed / "run.sh", 0o755)
    (seed / ".git").mkdir()
    (seed / ".git" / "HEAD").write_text("ignored\n")
    r = BareRepository(tmp_path / "acme" / "infra.git")
    r.init(seed_dir=seed)
    return r


def _ls(repo: BareRepository, rev: str) -> dict[str, tuple[str, str]]:
    out = subprocess.run(
        ["git", f"--git-dir={repo.path}", "ls-tree", "-r", rev], capture_output=True, text=True, check=True
    ).stdout
    files = {}
    for line in out.splitlines():
        meta, path = line.split("\t")
        mode, _, sha = meta.split()
        files[path] = (mode, sha)
    return files


def test_seed_commit(repo: BareRepository) -> None:
    assert repo.default_branch() == "main"
    head = repo.read_ref("refs/heads/main")
    assert head is not None
    commit = repo.read_commit(head)
    assert commit.parents == ()
    assert commit.message == "Initial commit\n"
    files = _ls(repo, head)
    assert sorted(files) == ["main.tf", "modules/net/vpc.tf", "run.sh"]  # .git skipped
    assert files["run.sh"][0] == "100755"
    assert repo.read_blob(files["modules/net/vpc.tf"][1]) == b"vpc = true\n"


def test_write_tree_nested_edits_keep_untouched_subtrees(repo: BareRepository) -> None:
    base = repo.read_commit("main").tree
    blob = repo.hash_blob(b"subnet = 2\n")
    tree = repo.write_tree(base, [TreeEdit("modules/net/subnet.tf", "100644", "blob", blob)])
    files = _ls(repo, tree)
    assert sorted(files) == ["main.tf", "modules/net/subnet.tf", "modules/net/vpc.tf", "run.sh"]
    assert files["modules/net/subnet.tf"] == ("100644", blob)
    # Same edits again: the same tree id (content-addressed, idempotent).
    assert repo.write_tree(base, [TreeEdit("modules/net/subnet.tf", "100644", "blob", blob)]) == tree
    # A new directory deep down, and a replacement of an existing file.
    other = repo.hash_blob(b"a = 2\n")
    tree2 = repo.write_tree(
        base, [TreeEdit("main.tf", "100644", "blob", other), TreeEdit("envs/prod/x.tf", "100644", "blob", blob)]
    )
    files2 = _ls(repo, tree2)
    assert files2["main.tf"] == ("100644", other)
    assert files2["envs/prod/x.tf"] == ("100644", blob)
    assert files2["modules/net/vpc.tf"] == _ls(repo, base)["modules/net/vpc.tf"]


def test_write_tree_deletes_and_drops_empty_directories(repo: BareRepository) -> None:
    base = repo.read_commit("main").tree
    tree = repo.write_tree(base, [TreeEdit("modules/net/vpc.tf", "100644", "blob", None)])
    assert sorted(_ls(repo, tree)) == ["main.tf", "run.sh"]
    assert [e.path for e in repo.ls_tree(tree)] == ["main.tf", "run.sh"]  # no empty `modules`
    with pytest.raises(GitError, match="no such path"):
        repo.write_tree(base, [TreeEdit("nope.tf", "100644", "blob", None)])
    with pytest.raises(GitError, match="is a file"):
        repo.write_tree(base, [TreeEdit("main.tf/x", "100644", "blob", repo.hash_blob(b""))])
    with pytest.raises(GitError, match="invalid tree path"):
        repo.write_tree(base, [TreeEdit("../x", "100644", "blob", repo.hash_blob(b""))])
    assert repo.write_tree(None, []) == EMPTY_TREE


def test_commits_refs_and_diffs(repo: BareRepository) -> None:
    main = repo.read_ref("refs/heads/main")
    assert main is not None
    base = repo.read_commit(main)
    tree = repo.write_tree(base.tree, [TreeEdit("main.tf", "100644", "blob", repo.hash_blob(b"a = 2\n"))])
    sha = repo.commit_tree(tree, [main], "Change a\n", author=WHO)
    repo.update_ref("refs/heads/feature", sha, old=None)
    with pytest.raises(GitError):
        repo.update_ref("refs/heads/feature", main, old=main)  # stale expected value
    assert repo.read_commit("feature").parents == (main,)
    assert repo.read_commit(sha).author.name == "Dev"
    assert repo.is_ancestor(main, sha)
    assert not repo.is_ancestor(sha, main)
    assert repo.count_commits(main, sha) == 1
    assert repo.numstat(main, sha) == [(1, 1, "main.tf")]
    assert "-a = 1\n+a = 2\n" in repo.diff(main, sha)
    assert repo.merges_cleanly(main, sha)
    assert repo.resolve_commit("feature") == sha
    assert repo.resolve_commit(sha[:10]) == sha
    assert repo.resolve_commit("nope") is None
    entry = repo.entry_at(sha, "modules/net")
    assert entry is not None
    assert entry.type == "tree"
    assert repo.entry_at(sha, "missing.tf") is None
    repo.delete_ref("refs/heads/feature", old=sha)
    assert repo.read_ref("refs/heads/feature") is None
    assert repo.valid_ref_name("refs/heads/a/b")
    assert not repo.valid_ref_name("refs/heads/a..b")
