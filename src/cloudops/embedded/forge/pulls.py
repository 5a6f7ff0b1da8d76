"""Routes of pull requests: list, create, read, update (close, reopen, retarget), request reviewers."""

from __future__ import annotations

import math

from cloudops.embedded.forge.base import (
    ForgeBase,
    Json,
    Route,
    _Answer,
    _Call,
    _custom,
    _int,
    _invalid,
    _now_iso,
    _object,
    _Repo,
    _unprocessable,
)

__all__ = ["PullRoutes"]


class PullRoutes(ForgeBase):
    """Pull-request handlers."""

    def _pull_routes(self) -> list[Route]:
        """The pull-request routes."""
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r + "/pulls", self._list_pulls),
            ("POST", r + "/pulls", self._create_pull),
            ("GET", r + r"/pulls/{number:\d+}", self._get_pull),
            ("PATCH", r + r"/pulls/{number:\d+}", self._update_pull),
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
        return _Answer(200, self._pull_payload(repo, record))

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
