"""Routes of pull requests: list, create, read, update (close, reopen, retarget), merge, request reviewers.

Opening, closing, reopening and merging a pull request queue a ``pull_request`` webhook event
(:mod:`.hooks`); a merge writes a real merge (or squash) commit onto the base branch.
"""

from __future__ import annotations

import math

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.base import (
    Json,
    Route,
    _Answer,
    _ApiError,
    _Call,
    _custom,
    _int,
    _invalid,
    _not_found,
    _now_iso,
    _object,
    _Repo,
    _unprocessable,
)
from cloudops.embedded.forge.git import GitIdentity
from cloudops.embedded.forge.hooks import HookRoutes

__all__ = ["PullRoutes"]

_MERGE_DOC = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"
_WEB_FLOW = GitIdentity("GitHub", "noreply@github.com")  # committer of the commits GitHub writes


class PullRoutes(HookRoutes):
    """Pull-request handlers."""

    def _pull_routes(self) -> list[Route]:
        """The pull-request routes."""
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r + "/pulls", self._list_pulls),
            ("POST", r + "/pulls", self._create_pull),
            ("GET", r + r"/pulls/{number:\d+}", self._get_pull),
            ("PATCH", r + r"/pulls/{number:\d+}", self._update_pull),
            ("GET", r + r"/pulls/{number:\d+}/merge", self._check_merged),
            ("PUT", r + r"/pulls/{number:\d+}/merge", self._merge_pull),
            ("POST", r + r"/pulls/{number:\d+}/requested_reviewers", self._request_reviewers),
        ]

    def _list_pulls(self, repo: _Repo, call: _Call) -> _Answer:
        q = call.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("PullRequest", "state")
        head = q.get("head")
        head_branch: str | None = None
        if head:
            owner, sep, branch = head.partition(":")
            if sep and owner != repo.owner:
                return _Answer(200, [])
            head_branch = branch if sep else head
        base = q.get("base")
        records = [
            r
            for r in repo.state["pulls"].values()
            if (state == "all" or r["state"] == state)
            and (head_branch is None or r["head"] == head_branch)
            and (base is None or r["base"] == base)
        ]
        key = "updated_at" if q.get("sort") == "updated" else "created_at"
        records.sort(key=lambda r: (r[key], r["number"]), reverse=q.get("direction", "desc") != "asc")
        per_page = min(max(_int(q.get("per_page"), 30), 1), 100)
        page = max(_int(q.get("page"), 1), 1)
        chunk = records[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page * per_page < len(records):
            last = math.ceil(len(records) / per_page)
            url = f"{self.base_url}/repos/{repo.full_name}/pulls?state={state}&per_page={per_page}"
            headers["Link"] = f'<{url}&page={page + 1}>; rel="next", <{url}&page={last}>; rel="last"'
        return _Answer(200, [self._pull_payload(repo, r, simple=True) for r in chunk], headers)

    def _create_pull(self, repo: _Repo, call: _Call) -> _Answer:
        doc = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
        body = _object(call.body)
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("PullRequest", "title", "missing_field")
        if not isinstance(head, str) or not head:
            raise _invalid("PullRequest", "head", "missing_field")
        if not isinstance(base, str) or not base:
            raise _invalid("PullRequest", "base", "missing_field")
        owner, sep, head_branch = head.partition(":")
        if not sep:
            owner, head_branch = repo.owner, head
        head_sha = repo.git.read_ref(f"refs/heads/{head_branch}") if owner == repo.owner else None
        if head_sha is None:
            raise _invalid("PullRequest", "head")
        base_sha = repo.git.read_ref(f"refs/heads/{base}")
        if base_sha is None:
            raise _invalid("PullRequest", "base")
        for other in repo.state["pulls"].values():
            if other["state"] == "open" and other["head"] == head_branch and other["base"] == base:
                raise _custom("PullRequest", f"A pull request already exists for {repo.owner}:{head_branch}.", doc)
        if repo.git.is_ancestor(head_sha, base_sha):
            raise _custom("PullRequest", f"No commits between {base} and {head_branch}", doc)
        pr_body = body.get("body")
        now = _now_iso()
        number = int(repo.state["next_number"])
        repo.state["next_number"] = number + 1
        record: Json = {
            "number": number,
            "id": repo.next_id(),
            "title": title,
            "body": pr_body if isinstance(pr_body, str) else None,
            "state": "open",
            "draft": bool(body.get("draft", False)),
            "head": head_branch,
            "base": base,
            "head_sha": head_sha,
            "base_sha": base_sha,
            "user": call.actor,
            "labels": [],
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        repo.state["pulls"][str(number)] = record
        repo.save()
        payload = self._pull_payload(repo, record)
        self._emit_pull_request(repo, call, "opened", record)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_pull(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._pull_payload(repo, repo.pull(call.params["number"])))

    def _update_pull(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.pull(call.params["number"])
        body = _object(call.body)
        changes: Json = {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _invalid("PullRequest", "title")
            changes["title"] = body["title"]
        if "body" in body:
            if body["body"] is not None and not isinstance(body["body"], str):
                raise _invalid("PullRequest", "body")
            changes["body"] = body["body"]
        if "base" in body:
            if not isinstance(body["base"], str) or repo.git.read_ref(f"refs/heads/{body['base']}") is None:
                raise _invalid("PullRequest", "base")
            changes["base"] = body["base"]
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                raise _invalid("PullRequest", "state")
            changes["state"] = body["state"]
        new_state = changes.get("state", record["state"])
        if new_state == "open" and record["state"] == "closed":
            if record.get("merged_at"):
                raise _custom("PullRequest", "state cannot be changed. The pull request has been merged.")
            if repo.git.read_ref(f"refs/heads/{record['head']}") is None:
                raise _custom("PullRequest", "state cannot be changed. The head branch was deleted.")
            base = changes.get("base", record["base"])
            for other in repo.state["pulls"].values():
                if (
                    other is not record
                    and other["state"] == "open"
                    and other["head"] == record["head"]
                    and other["base"] == base
                ):
                    raise _custom("PullRequest", f"A pull request already exists for {repo.owner}:{other['head']}.")
        changed = {k: v for k, v in changes.items() if record.get(k) != v}
        if changed:
            if changed.get("state") == "closed":
                self._stats(repo, record)  # remember the head and base it was closed at
                changed["closed_at"] = _now_iso()
            elif changed.get("state") == "open":
                changed["closed_at"] = None
            record.update(changed)
            record["updated_at"] = _now_iso()
            repo.save()
            if "state" in changed:
                self._emit_pull_request(repo, call, "closed" if changed["state"] == "closed" else "reopened", record)
        return _Answer(200, self._pull_payload(repo, record))

    def _check_merged(self, repo: _Repo, call: _Call) -> _Answer:
        """204 if the pull request was merged, 404 if not (GitHub's "check if a pull request has been merged")."""
        if not repo.pull(call.params["number"]).get("merged_at"):
            raise _not_found("https://docs.github.com/rest/pulls/pulls#check-if-a-pull-request-has-been-merged")
        return _Answer(204, None)

    def _merge_pull(self, repo: _Repo, call: _Call) -> _Answer:
        """Merge the head into the base branch: a merge commit (``merge``) or one commit (``squash``).

        405 "Pull Request is not mergeable" when it is closed or conflicts, 409 when ``sha`` is not
        the head; ``rebase`` is refused (422): the forge writes no rebased commits."""
        record = repo.pull(call.params["number"])
        body = _object(call.body)
        method = body.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            raise _invalid("PullRequest", "merge_method")
        if method == "rebase":
            raise _unprocessable("Merge method rebase is not supported by the local forge", _MERGE_DOC)
        for key in ("commit_title", "commit_message", "sha"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise _invalid("PullRequest", key)
        not_mergeable = _ApiError(405, p.basic_error("Pull Request is not mergeable", 405, _MERGE_DOC))
        if record["state"] != "open":
            raise not_mergeable
        stats = self._stats(repo, record)  # records the head and base it is merged at
        if body.get("sha") and body["sha"] != stats.head_sha:
            raise _ApiError(
                409, p.basic_error("Head branch was modified. Review and try the merge again.", 409, _MERGE_DOC)
            )
        tree = repo.git.merge_tree(stats.base_sha, stats.head_sha)
        if tree is None:
            raise not_mergeable
        number = int(record["number"])
        if method == "squash":
            title = body.get("commit_title") or f"{record['title']} (#{number})"
            parents = [stats.base_sha]
        else:
            title = body.get("commit_title") or f"Merge pull request #{number} from {repo.owner}/{record['head']}"
            parents = [stats.base_sha, stats.head_sha]
        detail = body.get("commit_message") if body.get("commit_message") is not None else record["title"]
        message = f"{title}\n\n{detail}\n" if detail else f"{title}\n"
        author = GitIdentity(call.actor, self._email(call.actor))
        sha = repo.git.commit_tree(tree, parents, message, author=author, committer=_WEB_FLOW)
        repo.git.update_ref(f"refs/heads/{record['base']}", sha, old=stats.base_sha)
        now = _now_iso()
        record.update(
            state="closed", closed_at=now, updated_at=now, merged_at=now, merge_commit_sha=sha, merged_by=call.actor
        )
        self._touch(repo)
        self._emit_pull_request(repo, call, "closed", record)
        return _Answer(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    def _request_reviewers(self, repo: _Repo, call: _Call) -> _Answer:
        """Any well-formed login is a collaborator here, except the pull request's author (422, as on GitHub)."""
        record = repo.pull(call.params["number"])
        body = _object(call.body)
        users = self._logins(body.get("reviewers"), "PullRequest", "reviewers")
        teams = self._logins(body.get("team_reviewers"), "PullRequest", "team_reviewers")
        if not users and not teams:
            raise _unprocessable(
                "Reviews may only be requested from collaborators. One or more of the users "
                "or teams you specified is not a collaborator of the repository."
            )
        if record["user"] in users:
            raise _unprocessable("Review cannot be requested from pull request author.")
        for key, names in (("requested_reviewers", users), ("requested_teams", teams)):
            current = record.setdefault(key, [])
            current.extend(n for n in names if n not in current)
        record["updated_at"] = _now_iso()
        repo.save()
        return _Answer(201, self._pull_payload(repo, record, simple=True))
