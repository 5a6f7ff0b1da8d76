"""Routes of a repository and its git database: the repository, refs, commits, blobs, trees, contents."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.base import (
    ForgeBase,
    Route,
    _Answer,
    _ApiError,
    _Call,
    _child,
    _invalid,
    _not_found,
    _object,
    _Repo,
    _unprocessable,
)
from cloudops.embedded.forge.git import (
    BLOB_MODES,
    GitError,
    GitIdentity,
    TreeEdit,
)

__all__ = ["RepoRoutes"]


class RepoRoutes(ForgeBase):
    """Repository and git-database handlers."""

    def _repo_routes(self) -> list[Route]:
        """The repository and git-database routes."""
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r, self._get_repo),
            ("GET", r + "/git/ref/{ref:.+}", self._get_ref),
            ("POST", r + "/git/refs", self._create_ref),
            ("PATCH", r + "/git/refs/{ref:.+}", self._update_ref),
            ("DELETE", r + "/git/refs/{ref:.+}", self._delete_ref),
            ("GET", r + "/git/commits/{sha}", self._get_commit),
            ("POST", r + "/git/commits", self._create_commit),
            ("GET", r + "/git/blobs/{sha}", self._get_blob),
            ("POST", r + "/git/blobs", self._create_blob),
            ("GET", r + "/git/trees/{sha}", self._get_tree),
            ("POST", r + "/git/trees", self._create_tree),
            ("GET", r + "/contents", self._get_contents),
            ("GET", r + "/contents/{path:.*}", self._get_contents),
        ]

    def _get_repo(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._repo_payload(repo))

    def _get_ref(self, repo: _Repo, call: _Call) -> _Answer:
        ref = "refs/" + call.params["ref"].strip("/")
        sha = repo.git.read_ref(ref) if repo.git.valid_ref_name(ref) else None
        if sha is None:
            raise _not_found("https://docs.github.com/rest/git/refs#get-a-reference")
        return _Answer(200, p.git_ref(self.site, repo.full_name, ref, sha, repo.git.object_type(sha) or "commit"))

    def _create_ref(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise _invalid("Reference", "ref" if not isinstance(ref, str) else "sha", "missing_field")
        if not ref.startswith("refs/") or ref.count("/") < 2 or not repo.git.valid_ref_name(ref):
            raise _unprocessable("Reference name is not valid (must start with 'refs' and have at least two slashes)")
        target = repo.git.rev_parse(sha) if re.fullmatch(r"[0-9a-fA-F]{40}", sha) else None
        if target is None or repo.git.object_type(target) is None:
            raise _unprocessable("Object does not exist")
        if repo.git.read_ref(ref) is not None:
            raise _unprocessable("Reference already exists")
        repo.git.update_ref(ref, target, old=None)
        self._touch(repo)
        payload = p.git_ref(self.site, repo.full_name, ref, target, repo.git.object_type(target) or "commit")
        return _Answer(201, payload, {"Location": payload["url"]})

    def _update_ref(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        ref = "refs/" + call.params["ref"].strip("/")
        sha = body.get("sha")
        if not isinstance(sha, str):
            raise _invalid("Reference", "sha", "missing_field")
        current = repo.git.read_ref(ref) if repo.git.valid_ref_name(ref) else None
        if current is None:
            raise _unprocessable("Reference does not exist")
        target = repo.git.rev_parse(f"{sha}^{{commit}}") if re.fullmatch(r"[0-9a-fA-F]{40}", sha) else None
        if target is None:
            raise _unprocessable("Object does not exist")
        if not body.get("force", False) and not repo.git.is_ancestor(current, target):
            raise _unprocessable("Update is not a fast forward")
        if target != current:
            repo.git.update_ref(ref, target, old=current)
            self._touch(repo)
        return _Answer(200, p.git_ref(self.site, repo.full_name, ref, target, "commit"))

    def _delete_ref(self, repo: _Repo, call: _Call) -> _Answer:
        ref = "refs/" + call.params["ref"].strip("/")
        current = repo.git.read_ref(ref) if repo.git.valid_ref_name(ref) else None
        if current is None:
            raise _unprocessable("Reference does not exist")
        repo.git.delete_ref(ref, old=current)
        self._touch(repo)
        return _Answer(204, None)

    def _get_commit(self, repo: _Repo, call: _Call) -> _Answer:
        sha = call.params["sha"]
        full = repo.git.rev_parse(f"{sha}^{{commit}}") if re.fullmatch(r"[0-9a-fA-F]{4,40}", sha) else None
        if full is None:
            raise _not_found("https://docs.github.com/rest/git/commits#get-a-commit-object")
        return _Answer(200, p.git_commit(self.site, repo.full_name, repo.git.read_commit(full)))

    def _identity(self, value: Any, field_name: str, actor: str) -> GitIdentity:
        if value is None:
            return GitIdentity(actor, self._email(actor), datetime.now(UTC))
        if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value.get("email"):
            raise _invalid("Commit", field_name)
        date = datetime.now(UTC)
        if value.get("date"):
            try:
                date = datetime.fromisoformat(str(value["date"]).replace("Z", "+00:00"))
            except ValueError:
                raise _invalid("Commit", f"{field_name}.date") from None
        return GitIdentity(value["name"], str(value["email"]), date)

    def _create_commit(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        message, tree = body.get("message"), body.get("tree")
        if not isinstance(message, str):
            raise _invalid("Commit", "message", "missing_field")
        if not isinstance(tree, str):
            raise _invalid("Commit", "tree", "missing_field")
        parents = body.get("parents", [])
        if not isinstance(parents, list) or not all(isinstance(x, str) for x in parents):
            raise _invalid("Commit", "parents")
        tree_sha = self._commit_ish(repo, tree, kind="tree")
        parent_shas = [self._commit_ish(repo, x, kind="commit") for x in parents]
        author = self._identity(body.get("author"), "author", call.actor)
        committer = self._identity(body.get("committer"), "committer", call.actor) if body.get("committer") else author
        sha = repo.git.commit_tree(tree_sha, parent_shas, message, author=author, committer=committer)
        payload = p.git_commit(self.site, repo.full_name, repo.git.read_commit(sha))
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_blob(self, repo: _Repo, call: _Call) -> _Answer:
        sha = call.params["sha"]
        if not re.fullmatch(r"[0-9a-fA-F]{40}", sha) or repo.git.object_type(sha) != "blob":
            raise _not_found("https://docs.github.com/rest/git/blobs#get-a-blob")
        data = repo.git.read_blob(sha)
        body = p.short_blob(self.site, repo.full_name, sha)
        body.update(
            node_id=p.node_id("B", repo.full_name, sha),
            size=len(data),
            encoding="base64",
            content=base64.encodebytes(data).decode(),
        )
        return _Answer(200, body)

    def _create_blob(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise _invalid("Blob", "content", "missing_field")
        if encoding in ("utf-8", "utf8"):
            data = content.encode()
        elif encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except (binascii.Error, ValueError):
                raise _invalid("Blob", "content", message="content is not valid Base64") from None
        else:
            raise _invalid("Blob", "encoding", message=f"encoding {encoding!r} is not supported")
        sha = repo.git.hash_blob(data)
        payload = p.short_blob(self.site, repo.full_name, sha)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_tree(self, repo: _Repo, call: _Call) -> _Answer:
        sha = call.params["sha"]
        full = repo.git.rev_parse(f"{sha}^{{tree}}") if re.fullmatch(r"[0-9a-fA-F]{4,40}", sha) else None
        if full is None:
            full = repo.git.rev_parse(f"refs/heads/{sha}^{{tree}}")
        if full is None:
            raise _not_found("https://docs.github.com/rest/git/trees#get-a-tree")
        recursive = call.query.get("recursive", "") not in ("", "0", "false")
        entries = repo.git.ls_tree(full, sizes=True, recursive=recursive)
        return _Answer(200, p.git_tree(self.site, repo.full_name, full, entries))

    def _create_tree(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        items = body.get("tree")
        if not isinstance(items, list):
            raise _invalid("Tree", "tree", "missing_field")
        base = body.get("base_tree")
        base_sha = self._commit_ish(repo, base, kind="tree") if base else None
        edits: list[TreeEdit] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise _invalid("Tree", f"tree[{i}].path", "missing_field")
            mode, kind = str(item.get("mode", "")), str(item.get("type", ""))
            if mode not in BLOB_MODES | {"040000", "160000"} or kind not in ("blob", "tree", "commit"):
                raise _unprocessable(f"tree.mode/type invalid for {item['path']}: {mode} {kind}")
            if "content" in item and item["content"] is not None:
                if kind != "blob":
                    raise _unprocessable(f"tree.content requires type blob for {item['path']}")
                edits.append(TreeEdit(item["path"], mode, "blob", repo.git.hash_blob(str(item["content"]).encode())))
            elif item.get("sha") is None:
                edits.append(TreeEdit(item["path"], mode, kind, None))
            else:
                sha = str(item["sha"])
                if kind != "commit":
                    sha = self._commit_ish(repo, sha, kind=kind)
                edits.append(TreeEdit(item["path"], mode, kind, sha))
        try:
            sha = repo.git.write_tree(base_sha, edits)
        except GitError as exc:
            raise _unprocessable(f"GitRPC::BadObjectState: {exc}") from None
        entries = repo.git.ls_tree(sha, sizes=True)
        payload = p.git_tree(self.site, repo.full_name, sha, entries)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_contents(self, repo: _Repo, call: _Call) -> _Answer:
        path = call.params.get("path", "").strip("/")
        ref = call.query.get("ref") or repo.git.default_branch()
        commit = repo.git.resolve_commit(ref)
        doc = "https://docs.github.com/rest/repos/contents#get-repository-content"
        if commit is None:
            raise _ApiError(404, p.basic_error(f"No commit found for the ref {ref}", 404, doc))
        entry = repo.git.entry_at(commit, path)
        if entry is None:
            raise _not_found(doc)
        if entry.type == "tree":
            children = repo.git.ls_tree(f"{commit}:{path}" if path else entry.sha, sizes=True)
            listing = [p.content_entry(self.site, repo.full_name, ref, _child(c, path)) for c in children]
            return _Answer(200, listing)
        data = repo.git.read_blob(entry.sha) if entry.type == "blob" else None
        return _Answer(200, p.content_entry(self.site, repo.full_name, ref, entry, data))
