"""Why a recommendation cannot become a Terraform change: a reason code and a sentence.

Every step of the Terraform domain (state matching, locating, patching, checking)
signals "not addressable" by raising :class:`NotAddressableError`; ``plan_change``
turns it into a :class:`NotAddressable` value. Nothing here does I/O.

Reason codes (stable; the PR bot and the lifecycle store key on them):

``report_only``               the recommendation has no argument edits (or no resource type)
``bad_state``                 the Terraform state is not a version 4 JSON state
``not_in_state``              no managed resource in the state has the billed resource id
``ambiguous``                 two or more managed resource instances match the id
``not_in_config``             the state's resource (or its module call) has no block in the ``.tf`` files
``shared_block``              the block manages several instances (count/for_each); editing it changes them all
``in_module_not_addressable`` the resource is inside a module whose source or arguments we cannot edit safely
``set_from_variable``         the argument comes from a root variable (default or tfvars), which we never edit
``set_from_expression``       the argument is a local, a function call or another expression
``wider_effect``              the edit would change more than the named resource (a module input that feeds other
                              resources or modules, a value other expressions read)
``ignored_by_lifecycle``      the resource's ``lifecycle { ignore_changes }`` lists the argument (or ``all``): the edit
                              would change nothing
``multi_state``               the configuration serves several states (workspaces, ``terraform.workspace``,
                              per-environment var files): one literal is shared by all of them
``unsupported``               an input the patcher does not handle (JSON syntax, override files, nested arguments...)
``syntax_error``              a ``.tf`` file that must be read does not parse
``drifted``                   the configuration does not say what the bill says (``AttributeChange.current``)
``already_applied``           the configuration already has the proposed value
``check_failed``              the patched files fail the python-hcl2 re-parse, ``terraform fmt`` or validation
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cloudops.errors import CloudopsError

__all__ = ["NotAddressable", "NotAddressableError", "ReasonCode"]

ReasonCode = Literal[
    "report_only",
    "bad_state",
    "not_in_state",
    "ambiguous",
    "not_in_config",
    "shared_block",
    "in_module_not_addressable",
    "set_from_variable",
    "set_from_expression",
    "wider_effect",
    "ignored_by_lifecycle",
    "multi_state",
    "unsupported",
    "syntax_error",
    "drifted",
    "already_applied",
    "check_failed",
]


@dataclass(frozen=True, slots=True)
class NotAddressable:
    """The outcome "no pull request for this recommendation", with the reason."""

    code: ReasonCode
    reason: str
    """One or two sentences for a human, naming the file, line, variable or module involved."""
    address: str | None = None
    """Terraform address of the resource when it was found in the state."""
    location: str | None = None
    """``file:line`` a human would change instead (the variable, module input or lifecycle rule), when known."""


class NotAddressableError(CloudopsError):
    """Raised inside the Terraform domain; carries the :class:`NotAddressable` outcome."""

    def __init__(
        self, code: ReasonCode, reason: str, address: str | None = None, *, location: str | None = None
    ) -> None:
        self.outcome = NotAddressable(code, reason, address, location)
        super().__init__(f"{code}: {reason}")
