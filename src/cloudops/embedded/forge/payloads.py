"""JSON bodies shaped like GitHub REST API v3 responses (pure functions, no I/O).

Field sets follow GitHub's OpenAPI description as captured by githubkit's response models
(``githubkit_schemas.latest.models``: ``FullRepository``, ``GitRef``, ``GitCommit``,
``ShortBlob``, ``GitTree``, ``PullRequest``, ``PullRequestSimple``, ``Label``,
``IssueComment``, ``ContentFile``, ``BasicError``, ``ValidationError``): every required
field is present with a realistic value, plus the common optional ones. URLs point at
the forge itself (``api`` for API links, ``web`` for html links).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudops.embedded.forge.git import CommitInfo, GitIdentity, TreeEntry

__all__ = [
    "DOCS",
    "Site",
    "basic_error",
    "content_entry",
    "git_commit",
    "git_ref",
    "git_tree",
    "iso",
    "issue_comment",
    "label",
    "node_id",
    "pull_request",
    "repository",
    "short_blob",
    "user",
    "validation_error",
]

Json = dict[str, Any]

DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Site:
    """Where the forge answers: ``api`` (e.g. ``http://127.0.0.1:8123``) and ``web`` (html links)."""

    api: str
    web: str


def iso(moment: datetime) -> str:
    """GitHub's timestamp format: ``2024-01-31T12:00:00Z`` (UTC, seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, *parts: object) -> str:
    """A stable GraphQL-style global id, e.g. ``PR_kwDO...``."""
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode()).digest()[:12]
    return f"{kind}_kwDO{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def user(site: Site, login: str, uid: int, *, kind: str = "User") -> Json:
    """A ``simple-user``."""
    api = f"{site.api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": node_id("U", login),
        "avatar_url": f"{site.web}/avatars/u/{uid}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{site.web}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def repository(
    site: Site,
    *,
    owner: Json,
    name: str,
    repo_id: int,
    default_branch: str,
    private: bool,
    description: str | None,
    created_at: datetime,
    pushed_at: datetime,
    open_issues: int,
    full: bool = True,
) -> Json:
    """A ``full-repository`` (``full=True``) or the ``repository`` embedded in pull requests."""
    full_name = f"{owner['login']}/{name}"
    api = f"{site.api}/repos/{full_name}"
    html = f"{site.web}/{full_name}"
    body: Json = {
        "id": repo_id,
        "node_id": node_id("R", full_name),
        "name": name,
        "full_name": full_name,
        "owner": owner,
        "private": private,
        "html_url": html,
        "description": description,
        "fork": False,
        "url": api,
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "assignees_url": f"{api}/assignees{{/user}}",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "comments_url": f"{api}/comments{{/number}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "contributors_url": f"{api}/contributors",
        "deployments_url": f"{api}/deployments",
        "downloads_url": f"{api}/downloads",
        "events_url": f"{api}/events",
        "forks_url": f"{api}/forks",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_url": f"{site.web.replace('http', 'git', 1)}/{full_name}.git",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "issues_url": f"{api}/issues{{/number}}",
        "keys_url": f"{api}/keys{{/key_id}}",
        "labels_url": f"{api}/labels{{/name}}",
        "languages_url": f"{api}/languages",
        "merges_url": f"{api}/merges",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "releases_url": f"{api}/releases{{/id}}",
        "ssh_url": f"git@{site.web.split('://', 1)[-1].split(':', 1)[0]}:{full_name}.git",
        "stargazers_url": f"{api}/stargazers",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "tags_url": f"{api}/tags",
        "teams_url": f"{api}/teams",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "clone_url": f"{html}.git",
        "mirror_url": None,
        "hooks_url": f"{api}/hooks",
        "svn_url": html,
        "homepage": None,
        "language": "HCL",
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 0,
        "default_branch": default_branch,
        "open_issues_count": open_issues,
        "open_issues": open_issues,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": False,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if private else "public",
        "pushed_at": iso(pushed_at),
        "created_at": iso(created_at),
        "updated_at": iso(pushed_at),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        "allow_rebase_merge": True,
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_auto_merge": False,
        "delete_branch_on_merge": False,
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "license": None,
    }
    if full:
        body["subscribers_count"] = 1
        body["network_count"] = 0
        body["temp_clone_token"] = ""
    return body


def git_ref(site: Site, full_name: str, ref: str, sha: str, obj_type: str) -> Json:
    """A ``git-ref`` (``ref`` is the full name, ``refs/heads/x``)."""
    api = f"{site.api}/repos/{full_name}"
    return {
        "ref": ref,
        "node_id": node_id("REF", full_name, ref),
        "url": f"{api}/git/{ref}",
        "object": {"type": obj_type, "sha": sha, "url": f"{api}/git/{obj_type}s/{sha}"},
    }


def _identity(who: GitIdentity) -> Json:
    return {"name": who.name, "email": who.email, "date": iso(who.date or datetime.now(UTC))}


def git_commit(site: Site, full_name: str, commit: CommitInfo) -> Json:
    """A ``git-commit`` (unsigned: ``verification.verified`` is false)."""
    api = f"{site.api}/repos/{full_name}"
    return {
        "sha": commit.sha,
        "node_id": node_id("C", full_name, commit.sha),
        "url": f"{api}/git/commits/{commit.sha}",
        "html_url": f"{site.web}/{full_name}/commit/{commit.sha}",
        "author": _identity(commit.author),
        "committer": _identity(commit.committer),
        "message": commit.message,
        "tree": {"sha": commit.tree, "url": f"{api}/git/trees/{commit.tree}"},
        "parents": [
            {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": f"{site.web}/{full_name}/commit/{p}"}
            for p in commit.parents
        ],
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


def short_blob(site: Site, full_name: str, sha: str) -> Json:
    """A ``short-blob`` (the answer to create-blob)."""
    return {"sha": sha, "url": f"{site.api}/repos/{full_name}/git/blobs/{sha}"}


def git_tree(site: Site, full_name: str, sha: str, entries: Sequence[TreeEntry]) -> Json:
    """A ``git-tree`` listing ``entries`` (never truncated)."""
    api = f"{site.api}/repos/{full_name}"
    items: list[Json] = []
    for e in entries:
        item: Json = {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha}
        if e.type == "blob":
            item["size"] = e.size or 0
            item["url"] = f"{api}/git/blobs/{e.sha}"
        elif e.type == "tree":
            item["url"] = f"{api}/git/trees/{e.sha}"
        items.append(item)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": items, "truncated": False}


def label(site: Site, full_name: str, record: Mapping[str, Any]) -> Json:
    """A ``label`` from the forge's stored label record (id, name, color, description)."""
    name = str(record["name"])
    return {
        "id": record["id"],
        "node_id": node_id("LA", full_name, name),
        "url": f"{site.api}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": record.get("description"),
        "color": record.get("color", "ededed"),
        "default": False,
        "archived_at": None,
        "archived_by": None,
    }


@dataclass(frozen=True)
class PullStats:
    """What GitHub computes for a pull request from its commits."""

    head_sha: str
    base_sha: str
    commits: int
    additions: int
    deletions: int
    changed_files: int
    mergeable: bool


def pull_request(
    site: Site,
    *,
    record: Mapping[str, Any],
    repo: Json,
    author: Json,
    labels: Sequence[Json],
    stats: PullStats,
    simple: bool = False,
    reviewers: Sequence[Json] = (),
    assignees: Sequence[Json] = (),
    merged_by: Json | None = None,
) -> Json:
    """A ``pull-request`` (or ``pull-request-simple`` for list answers) from a stored PR record."""
    full_name = repo["full_name"]
    owner_login = repo["owner"]["login"]
    number = int(record["number"])
    api = f"{site.api}/repos/{full_name}"
    html = f"{site.web}/{full_name}/pull/{number}"
    issue = f"{api}/issues/{number}"
    state = record["state"]
    body: Json = {
        "url": f"{api}/pulls/{number}",
        "id": record["id"],
        "node_id": node_id("PR", full_name, number),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{issue}/comments",
        "statuses_url": f"{api}/statuses/{stats.head_sha}",
        "number": number,
        "state": state,
        "locked": False,
        "title": record["title"],
        "user": author,
        "body": record.get("body"),
        "labels": list(labels),
        "milestone": None,
        "active_lock_reason": None,
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "closed_at": record.get("closed_at"),
        "merged_at": record.get("merged_at"),
        "merge_commit_sha": record.get("merge_commit_sha"),
        "assignee": assignees[0] if assignees else None,
        "assignees": list(assignees),
        "requested_reviewers": list(reviewers),
        "requested_teams": [team(site, full_name, t) for t in record.get("requested_teams", [])],
        "head": {
            "label": f"{owner_login}:{record['head']}",
            "ref": record["head"],
            "sha": stats.head_sha,
            "user": repo["owner"],
            "repo": repo,
        },
        "base": {
            "label": f"{owner_login}:{record['base']}",
            "ref": record["base"],
            "sha": stats.base_sha,
            "user": repo["owner"],
            "repo": repo,
        },
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": html},
            "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{stats.head_sha}"},
        },
        "author_association": "OWNER" if author["login"] == owner_login else "COLLABORATOR",
        "auto_merge": None,
        "draft": bool(record.get("draft", False)),
    }
    if not simple:
        body.update(
            merged=bool(record.get("merged_at")),
            mergeable=stats.mergeable if state == "open" else None,
            rebaseable=stats.mergeable if state == "open" else None,
            mergeable_state="clean" if stats.mergeable else "dirty",
            merged_by=merged_by,
            comments=int(record.get("comments", 0)),
            review_comments=0,
            maintainer_can_modify=False,
            commits=stats.commits,
            additions=stats.additions,
            deletions=stats.deletions,
            changed_files=stats.changed_files,
        )
    return body


def team(site: Site, full_name: str, slug: str) -> Json:
    """A ``team`` (requested team reviewer) of the repository owner's organisation."""
    org = full_name.split("/")[0]
    tid = int.from_bytes(hashlib.sha1(f"{org}/{slug}".encode()).digest()[:4], "big")
    api = f"{site.api}/orgs/{org}/teams/{slug}"
    return {
        "id": tid,
        "node_id": node_id("T", org, slug),
        "url": api,
        "html_url": f"{site.web}/orgs/{org}/teams/{slug}",
        "name": slug,
        "slug": slug,
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{api}/members{{/member}}",
        "repositories_url": f"{api}/repos",
        "parent": None,
    }


def issue(
    site: Site,
    full_name: str,
    record: Mapping[str, Any],
    *,
    author: Json,
    labels: Sequence[Json],
    assignees: Sequence[Json] = (),
) -> Json:
    """An ``issue`` from a stored issue record (number, id, title, body, state, labels, dates)."""
    api = f"{site.api}/repos/{full_name}"
    number = int(record["number"])
    url = f"{api}/issues/{number}"
    return {
        "id": record["id"],
        "node_id": node_id("I", full_name, number),
        "url": url,
        "repository_url": api,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{site.web}/{full_name}/issues/{number}",
        "number": number,
        "state": record["state"],
        "state_reason": None,
        "title": record["title"],
        "body": record.get("body"),
        "user": author,
        "labels": list(labels),
        "assignee": assignees[0] if assignees else None,
        "assignees": list(assignees),
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": int(record.get("comments", 0)),
        "closed_at": record.get("closed_at"),
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "author_association": "OWNER" if author["login"] == full_name.split("/")[0] else "COLLABORATOR",
    }


def issue_comment(site: Site, full_name: str, number: int, record: Mapping[str, Any], author: Json) -> Json:
    """An ``issue-comment`` from a stored comment record (id, body, created_at)."""
    api = f"{site.api}/repos/{full_name}"
    cid = record["id"]
    return {
        "id": cid,
        "node_id": node_id("IC", full_name, cid),
        "url": f"{api}/issues/comments/{cid}",
        "html_url": f"{site.web}/{full_name}/pull/{number}#issuecomment-{cid}",
        "body": record["body"],
        "user": author,
        "created_at": record["created_at"],
        "updated_at": record["created_at"],
        "issue_url": f"{api}/issues/{number}",
        "author_association": "OWNER" if author["login"] == full_name.split("/")[0] else "COLLABORATOR",
        "performed_via_github_app": None,
        "reactions": {
            "url": f"{api}/issues/comments/{cid}/reactions",
            "total_count": 0,
            "+1": 0,
            "-1": 0,
            "laugh": 0,
            "confused": 0,
            "heart": 0,
            "hooray": 0,
            "eyes": 0,
            "rocket": 0,
        },
    }


def content_entry(site: Site, full_name: str, ref: str, entry: TreeEntry, data: bytes | None = None) -> Json:
    """A ``content-file`` (``data`` given: base64 content as GitHub wraps it) or a directory listing item."""
    api = f"{site.api}/repos/{full_name}"
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[entry.type]
    if entry.mode == "120000":
        kind = "symlink"
    self_url = f"{api}/contents/{entry.path}?ref={ref}"
    git_url = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
    html_url = f"{site.web}/{full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{entry.path}"
    body: Json = {
        "type": kind,
        "size": entry.size or 0,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"{site.web}/{full_name}/raw/{ref}/{entry.path}" if kind == "file" else None,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }
    if data is not None:
        encoded = base64.b64encode(data).decode()
        body["encoding"] = "base64"
        body["content"] = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
    return body


def basic_error(message: str, status: int, documentation_url: str = DOCS) -> Json:
    """GitHub's error body: ``{"message", "documentation_url", "status"}``."""
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def validation_error(errors: Sequence[Mapping[str, Any]], documentation_url: str = DOCS) -> Json:
    """GitHub's 422 body: ``{"message": "Validation Failed", "errors": [...]}``."""
    body = basic_error("Validation Failed", 422, documentation_url)
    body["errors"] = [dict(e) for e in errors]
    return body
