"""Routes of issues and what issues and pull requests share: labels, comments, assignees."""

from __future__ import annotations

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.base import (
    ForgeBase,
    Json,
    Route,
    _Answer,
    _Call,
    _int,
    _invalid,
    _now_iso,
    _object,
    _Repo,
)

__all__ = ["IssueRoutes"]


class IssueRoutes(ForgeBase):
    """Issue, label, comment and assignee handlers."""

    def _issue_routes(self) -> list[Route]:
        """The issue, label, comment and assignee routes."""
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r + "/issues", self._list_issues),
            ("POST", r + "/issues", self._create_issue),
            ("GET", r + r"/issues/{number:\d+}", self._get_issue),
            ("PATCH", r + r"/issues/{number:\d+}", self._update_issue),
            ("POST", r + r"/issues/{number:\d+}/assignees", self._add_assignees),
            ("GET", r + r"/issues/{number:\d+}/labels", self._list_labels),
            ("POST", r + r"/issues/{number:\d+}/labels", self._add_labels),
            ("GET", r + r"/issues/{number:\d+}/comments", self._list_comments),
            ("POST", r + r"/issues/{number:\d+}/comments", self._add_comment),
        ]

    def _list_labels(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.issue_or_pull(call.params["number"])
        return _Answer(200, self._label_payloads(repo, record))

    def _add_labels(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.issue_or_pull(call.params["number"])
        body = call.body
        raw = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(raw, list) or not raw:
            raise _invalid("Label", "labels", "missing_field")
        names: list[str] = []
        for item in raw:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name.strip() or len(name) > 50:
                raise _invalid("Label", "name")
            names.append(name)
        known = repo.state["labels"]
        for name in names:
            if name not in known:
                known[name] = {"id": repo.next_id(), "name": name, "color": "ededed", "description": None}
            if name not in record["labels"]:
                record["labels"].append(name)
                record["updated_at"] = _now_iso()
        repo.save()
        return _Answer(200, self._label_payloads(repo, record))

    def _list_comments(self, repo: _Repo, call: _Call) -> _Answer:
        number = int(call.params["number"])
        repo.issue_or_pull(number)
        comments = repo.state["comments"].get(str(number), [])
        listing = [p.issue_comment(self.site, repo.full_name, number, c, self._user(c["user"])) for c in comments]
        return _Answer(200, listing)

    def _add_comment(self, repo: _Repo, call: _Call) -> _Answer:
        number = int(call.params["number"])
        record = repo.issue_or_pull(number)
        body = _object(call.body)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise _invalid("IssueComment", "body", "missing_field")
        comment = {"id": repo.next_id(), "body": text, "user": call.actor, "created_at": _now_iso()}
        repo.state["comments"].setdefault(str(number), []).append(comment)
        record["comments"] = int(record.get("comments", 0)) + 1
        record["updated_at"] = comment["created_at"]
        repo.save()
        payload = p.issue_comment(self.site, repo.full_name, number, comment, self._user(call.actor))
        return _Answer(201, payload, {"Location": payload["url"]})

    def _add_assignees(self, repo: _Repo, call: _Call) -> _Answer:
        number = call.params["number"]
        record = repo.issue_or_pull(number)
        names = self._logins(_object(call.body).get("assignees"), "Issue", "assignees")
        current = record.setdefault("assignees", [])
        current.extend(n for n in names if n not in current)
        record["updated_at"] = _now_iso()
        repo.save()
        return _Answer(201, self._issue_payload(repo, record))

    def _list_issues(self, repo: _Repo, call: _Call) -> _Answer:
        """Issues only (GitHub lists pull requests here too; the forge keeps them apart)."""
        q = call.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("Issue", "state")
        wanted = {name for name in q.get("labels", "").split(",") if name}
        records = [
            r
            for r in repo.state.setdefault("issues", {}).values()
            if (state == "all" or r["state"] == state) and wanted <= set(r.get("labels", []))
        ]
        records.sort(key=lambda r: (r["created_at"], r["number"]), reverse=q.get("direction", "desc") != "asc")
        per_page = min(max(_int(q.get("per_page"), 30), 1), 100)
        page = max(_int(q.get("page"), 1), 1)
        chunk = records[(page - 1) * per_page : page * per_page]
        return _Answer(200, [self._issue_payload(repo, r) for r in chunk])

    def _create_issue(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        title, text = body.get("title"), body.get("body")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Issue", "title", "missing_field")
        if text is not None and not isinstance(text, str):
            raise _invalid("Issue", "body")
        names = [n if isinstance(n, str) else None for n in body.get("labels") or []]
        if any(n is None or not n.strip() or len(n) > 50 for n in names):
            raise _invalid("Label", "name")
        now = _now_iso()
        number = int(repo.state["next_number"])
        repo.state["next_number"] = number + 1
        known = repo.state["labels"]
        for name in names:
            assert name is not None
            if name not in known:
                known[name] = {"id": repo.next_id(), "name": name, "color": "ededed", "description": None}
        record: Json = {
            "number": number,
            "id": repo.next_id(),
            "title": title,
            "body": text,
            "state": "open",
            "user": call.actor,
            "labels": list(dict.fromkeys(n for n in names if n)),
            "assignees": self._logins(body.get("assignees"), "Issue", "assignees"),
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        repo.state.setdefault("issues", {})[str(number)] = record
        repo.save()
        payload = self._issue_payload(repo, record)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_issue(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._issue_payload(repo, repo.issue(call.params["number"])))

    def _update_issue(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.issue(call.params["number"])
        body = _object(call.body)
        changes: Json = {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _invalid("Issue", "title")
            changes["title"] = body["title"]
        if "body" in body:
            if body["body"] is not None and not isinstance(body["body"], str):
                raise _invalid("Issue", "body")
            changes["body"] = body["body"]
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                raise _invalid("Issue", "state")
            changes["state"] = body["state"]
            changes["closed_at"] = _now_iso() if body["state"] == "closed" else None
        changed = {k: v for k, v in changes.items() if record.get(k) != v}
        if changed:
            record.update(changed)
            record["updated_at"] = _now_iso()
            repo.save()
        return _Answer(200, self._issue_payload(repo, record))
