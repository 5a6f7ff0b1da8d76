"""A bare git repository driven through the real ``git`` CLI (plumbing commands only).

Every method runs ``git`` synchronously (it blocks the calling thread for the duration of
one or a few short subprocesses) and raises :class:`GitError` with git's stderr when a
command fails. Objects are content-addressed, so writing the same blob, tree or commit
(same author, committer and dates) twice returns the same id and changes nothing:
:meth:`BareRepository.hash_blob` and :meth:`BareRepository.write_tree` are idempotent.
Refs change only through :meth:`update_ref` / :meth:`delete_ref`, which take the expected
old value so concurrent writers cannot lose updates silently.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "BLOB_MODES",
    "EMPTY_TREE",
    "BareRepository",
    "CommitInfo",
    "GitError",
    "GitIdentity",
    "TreeEdit",
    "TreeEntry",
]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
"""Id of the empty tree (SHA-1 object format)."""

BLOB_MODES = frozenset({"100644", "100755", "120000"})
"""Tree entry modes that name a blob (file, executable, symlink)."""

_TREE_MODE = "040000"
_SUBMODULE_MODE = "160000"


class GitError(Exception):
    """A git command failed, or a requested object or path does not exist / does not fit."""


@dataclass(frozen=True)
class GitIdentity:
    """Author or committer of a commit; ``date`` defaults to now (UTC)."""

    name: str
    email: str
    date: datetime | None = None


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a tree object as ``git ls-tree`` shows it (``size`` for blobs only)."""

    mode: str
    type: str
    sha: str
    path: str
    size: int | None = None


@dataclass(frozen=True)
class TreeEdit:
    """One change for :meth:`BareRepository.write_tree`: set ``path`` to an object, or delete it (``sha=None``)."""

    path: str
    mode: str
    type: str
    sha: str | None


@dataclass(frozen=True)
class CommitInfo:
    """A parsed commit object."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: GitIdentity
    committer: GitIdentity
    message: str


@dataclass
class _Dir:
    """A tree being edited: entries are loaded from ``sha`` on first use; edited subtrees are ``_Dir``s."""

    sha: str | None
    entries: dict[str, TreeEntry | _Dir] | None = None
    dirty: bool = False


class BareRepository:
    """A bare repository at ``path`` (``git init --bare`` by :meth:`init`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- running git ---------------------------------------------------------------------------

    def _env(self, author: GitIdentity | None = None, committer: GitIdentity | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        for prefix, who in (("AUTHOR", author), ("COMMITTER", committer)):
            if who is not None:
                env[f"GIT_{prefix}_NAME"] = who.name
                env[f"GIT_{prefix}_EMAIL"] = who.email
                env[f"GIT_{prefix}_DATE"] = _git_date(who.date or datetime.now(UTC))
        return env

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        """Run ``git --git-dir=<path> args...``; return stdout. GitError on a non-zero exit when ``check``."""
        proc = subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            input=stdin,
            capture_output=True,
            env=dict(env) if env is not None else self._env(),
            check=False,
        )
        if check and proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            raise GitError(f"git {args[0]}: {msg}")
        return proc.stdout

    # -- repository ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def init(
        self,
        *,
        default_branch: str = "main",
        seed_dir: Path | None = None,
        files: Mapping[str, bytes] | None = None,
        message: str = "Initial commit",
        author: GitIdentity | None = None,
    ) -> str | None:
        """``git init --bare``; with ``seed_dir`` and/or ``files``, one initial commit on ``default_branch``.

        Returns the initial commit id (None when nothing was seeded). Files under ``seed_dir``
        keep their executable bit; ``.git`` directories are skipped. Raises GitError if the
        repository already exists.
        """
        if self.exists():
            raise GitError(f"repository already exists: {self.path}")
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(self.path)],
            capture_output=True,
            env=self._env(),
            check=True,
        )
        edits: list[TreeEdit] = []
        if seed_dir is not None:
            for file in sorted(seed_dir.rglob("*")):
                rel = file.relative_to(seed_dir)
                if ".git" in rel.parts or not file.is_file():
                    continue
                mode = "100755" if os.access(file, os.X_OK) else "100644"
                edits.append(TreeEdit(rel.as_posix(), mode, "blob", self.hash_blob(file.read_bytes())))
        for path, data in (files or {}).items():
            edits.append(TreeEdit(path, "100644", "blob", self.hash_blob(data)))
        if not edits:
            return None
        tree = self.write_tree(None, edits)
        who = author or GitIdentity("cloudops forge", "forge@cloudops.invalid")
        sha = self.commit_tree(tree, [], message if message.endswith("\n") else message + "\n", author=who)
        self.update_ref(f"refs/heads/{default_branch}", sha, old=None)
        return sha

    def default_branch(self) -> str:
        """The branch HEAD points at."""
        ref = self.git("symbolic-ref", "HEAD").decode().strip()
        return ref.removeprefix("refs/heads/")

    # -- objects ----------------------------------------------------------------------------------

    def hash_blob(self, data: bytes) -> str:
        """Store ``data`` as a blob (``hash-object -w``); its id. Idempotent."""
        return self.git("hash-object", "-w", "-t", "blob", "--stdin", stdin=data).decode().strip()

    def object_type(self, sha: str) -> str | None:
        """``blob``, ``tree``, ``commit`` or ``tag``; None if no such object."""
        out = self.git("cat-file", "-t", sha, check=False).decode().strip()
        return out or None

    def read_blob(self, sha: str) -> bytes:
        return self.git("cat-file", "blob", sha)

    def ls_tree(self, tree: str, *, sizes: bool = False, recursive: bool = False) -> list[TreeEntry]:
        """Entries of ``tree`` (a tree id or ``<commit>:<dir>``); recursive lists blobs with full paths."""
        args = ["ls-tree", "-z", "--full-tree"]
        if sizes:
            args.append("-l")
        if recursive:
            args.append("-r")
        out = self.git(*args, tree)
        entries: list[TreeEntry] = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            parts = meta.decode().split()
            size = int(parts[3]) if sizes and len(parts) > 3 and parts[3] != "-" else None
            entries.append(TreeEntry(parts[0], parts[1], parts[2], name.decode(), size))
        return entries

    def entry_at(self, commit: str, path: str) -> TreeEntry | None:
        """The tree entry at ``path`` in ``commit`` (``""`` = the root tree); None if absent."""
        path = path.strip("/")
        if not path:
            tree = self.read_commit(commit).tree
            return TreeEntry(_TREE_MODE, "tree", tree, "")
        out = self.git("ls-tree", "-z", "-l", "--full-tree", commit, "--", path)
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            if name.decode() != path:
                continue
            parts = meta.decode().split()
            size = int(parts[3]) if len(parts) > 3 and parts[3] != "-" else None
            return TreeEntry(parts[0], parts[1], parts[2], path, size)
        return None

    def write_tree(self, base_tree: str | None, edits: Iterable[TreeEdit]) -> str:
        """Write the tree ``base_tree`` with ``edits`` applied (nested paths create/replace subtrees).

        Like GitHub's create-tree: a ``sha=None`` edit deletes the path (GitError if absent),
        directories left empty disappear, unchanged subtrees keep their ids. Idempotent.
        """
        root = _Dir(base_tree)
        for edit in edits:
            self._apply(root, edit)
        return self._write(root)

    def _load(self, node: _Dir) -> dict[str, TreeEntry | _Dir]:
        if node.entries is None:
            node.entries = {e.path: e for e in self.ls_tree(node.sha)} if node.sha else {}
        return node.entries

    def _apply(self, root: _Dir, edit: TreeEdit) -> None:
        parts = [p for p in edit.path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise GitError(f"invalid tree path {edit.path!r}")
        node = root
        for i, part in enumerate(parts[:-1]):
            entries = self._load(node)
            child = entries.get(part)
            if isinstance(child, TreeEntry):
                if child.type != "tree":
                    raise GitError(f"{'/'.join(parts[: i + 1])} is a file, not a directory")
                child = _Dir(child.sha)
            elif child is None:
                if edit.sha is None:
                    raise GitError(f"cannot delete {edit.path}: no such path")
                child = _Dir(None)
            entries[part] = child
            node.dirty = True
            node = child
        entries = self._load(node)
        node.dirty = True
        name = parts[-1]
        if edit.sha is None:
            if name not in entries:
                raise GitError(f"cannot delete {edit.path}: no such path")
            del entries[name]
            return
        if edit.type == "tree" or edit.mode == _TREE_MODE:
            entries[name] = TreeEntry(_TREE_MODE, "tree", edit.sha, name)
        elif edit.type == "commit" or edit.mode == _SUBMODULE_MODE:
            entries[name] = TreeEntry(_SUBMODULE_MODE, "commit", edit.sha, name)
        else:
            entries[name] = TreeEntry(edit.mode, "blob", edit.sha, name)

    def _write(self, node: _Dir) -> str:
        if not node.dirty:
            return node.sha or EMPTY_TREE
        lines: list[bytes] = []
        for name, entry in sorted(self._load(node).items()):
            if isinstance(entry, _Dir):
                sha = self._write(entry)
                if sha == EMPTY_TREE:
                    continue  # git (and GitHub) keep no empty directories
                entry = TreeEntry(_TREE_MODE, "tree", sha, name)
            lines.append(f"{entry.mode} {entry.type} {entry.sha}\t{name}".encode() + b"\0")
        return self.git("mktree", "-z", stdin=b"".join(lines)).decode().strip()

    def commit_tree(
        self,
        tree: str,
        parents: Iterable[str],
        message: str,
        *,
        author: GitIdentity,
        committer: GitIdentity | None = None,
    ) -> str:
        """Write a commit object (``commit-tree``); its id. Same inputs and dates -> same id."""
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = self._env(author, committer or author)
        return self.git(*args, stdin=message.encode(), env=env).decode().strip()

    def read_commit(self, sha: str) -> CommitInfo:
        """Parse the commit ``sha`` (any commit-ish); GitError if it is not a commit."""
        full = self.rev_parse(f"{sha}^{{commit}}")
        if full is None:
            raise GitError(f"no such commit: {sha}")
        raw = self.git("cat-file", "commit", full).decode(errors="replace")
        header, _, message = raw.partition("\n\n")
        tree = ""
        parents: list[str] = []
        people: dict[str, GitIdentity] = {}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key in ("author", "committer"):
                people[key] = _parse_identity(value)
        return CommitInfo(full, tree, tuple(parents), people["author"], people["committer"], message)

    # -- refs ---------------------------------------------------------------------------------------

    def rev_parse(self, rev: str) -> str | None:
        """The object id ``rev`` names, or None (``rev-parse --verify --quiet``)."""
        out = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False).decode().strip()
        return out or None

    def resolve_commit(self, ref: str) -> str | None:
        """A branch name, tag, full ref or (abbreviated) commit id -> commit id; None if unknown."""
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            sha = self.rev_parse(f"{candidate}^{{commit}}")
            if sha:
                return sha
        return None

    def read_ref(self, ref: str) -> str | None:
        """The id a full ref (``refs/heads/x``) points at; None if there is no such ref."""
        out = self.git("show-ref", "--verify", "--hash", ref, check=False).decode().strip()
        return out or None

    def list_refs(self, prefix: str = "refs/") -> dict[str, str]:
        """Every ref under ``prefix`` -> the id it points at."""
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix).decode()
        refs: dict[str, str] = {}
        for line in out.splitlines():
            name, _, sha = line.partition(" ")
            refs[name] = sha
        return refs

    def valid_ref_name(self, ref: str) -> bool:
        """True if ``ref`` is a well-formed full ref name (``git check-ref-format``)."""
        return self.succeeds("check-ref-format", ref)

    def update_ref(self, ref: str, sha: str, *, old: str | None) -> None:
        """Point ``ref`` at ``sha`` if it currently points at ``old`` (None = must not exist)."""
        self.git("update-ref", "-m", "forge", ref, sha, old or "0" * 40)

    def delete_ref(self, ref: str, *, old: str) -> None:
        self.git("update-ref", "-d", ref, old)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True if ``ancestor`` is reachable from ``descendant`` (or the same commit)."""
        return self.succeeds("merge-base", "--is-ancestor", ancestor, descendant)

    def succeeds(self, *args: str) -> bool:
        """Run ``git args...``; True on exit status 0 (for predicate commands)."""
        proc = subprocess.run(["git", f"--git-dir={self.path}", *args], capture_output=True, env=self._env())
        return proc.returncode == 0

    def count_commits(self, base: str, head: str) -> int:
        """Commits reachable from ``head`` but not from ``base`` (``rev-list --count base..head``)."""
        return int(self.git("rev-list", "--count", f"{base}..{head}").decode().strip() or 0)

    def merges_cleanly(self, base: str, head: str) -> bool:
        """True if ``head`` merges into ``base`` without conflicts (``merge-tree --write-tree``)."""
        return self.succeeds("merge-tree", "--write-tree", base, head)

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of ``head`` merged into ``base`` (``merge-tree --write-tree``); None on a conflict."""
        proc = subprocess.run(
            ["git", f"--git-dir={self.path}", "merge-tree", "--write-tree", "--no-messages", base, head],
            capture_output=True,
            env=self._env(),
        )
        if proc.returncode == 1:  # conflicts (the tree written holds conflict markers)
            return None
        if proc.returncode != 0:
            raise GitError(f"git merge-tree: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode().splitlines()[0].strip()

    def merge_base(self, a: str, b: str) -> str | None:
        out = self.git("merge-base", a, b, check=False).decode().strip()
        return out or None

    # -- diffs ---------------------------------------------------------------------------------------

    def diff(self, base: str, head: str) -> str:
        """Unified patch from ``base`` to ``head`` (commits or trees)."""
        return self.git("diff", "--no-color", "--no-ext-diff", "--full-index", base, head, "--").decode(
            errors="replace"
        )

    def numstat(self, base: str, head: str) -> list[tuple[int, int, str]]:
        """(added lines, deleted lines, path) per changed file; binary files count 0/0."""
        out = self.git("diff", "--numstat", "-z", "--no-renames", base, head, "--").decode(errors="replace")
        stats: list[tuple[int, int, str]] = []
        for record in out.split("\0"):
            if not record:
                continue
            added, deleted, path = record.split("\t", 2)
            stats.append((int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0, path))
        return stats


def _git_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{int(moment.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _parse_identity(value: str) -> GitIdentity:
    """``Name <email> 1700000000 +0100`` -> GitIdentity with an aware datetime."""
    name, _, rest = value.partition(" <")
    email, _, stamp = rest.partition("> ")
    seconds, _, tz = stamp.partition(" ")
    sign = -1 if tz.startswith("-") else 1
    tz = tz.lstrip("+-") or "0000"
    offset = timedelta(hours=int(tz[:2]), minutes=int(tz[2:4])) * sign
    date = datetime.fromtimestamp(int(seconds), timezone(offset))
    return GitIdentity(name, email, date)
