"""Minimal textual edits of HCL: replace one literal, or insert one argument line.

A file is never re-serialised. :func:`replace_value` swaps the characters of one
literal; :func:`insert_attribute` adds ``<indent>name = value`` as a new line just
before the block's closing brace, indented one level (two spaces) deeper than the
brace. Afterwards only the ``terraform fmt`` alignment group(s) the edit touches are
re-aligned (the ``=`` column of consecutive single-line arguments and the column of
their trailing comments), so a file that passed ``terraform fmt -check`` still does.
Comments, blank lines and every unrelated line stay byte-identical; CRLF files keep
CRLF.

:func:`apply_change` first compares the configuration with the bill:

* the argument is a literal: it must equal ``AttributeChange.current``, else
  ``drifted`` (or ``already_applied`` when it already equals ``proposed``);
* the argument is absent: fine when ``current`` is None (the bill says "unset"); when
  ``current`` is given, the state's value of the argument (the provider's default or
  computed value) must equal it, else ``drifted``.

Contract: pure functions over strings; raise
:class:`~cloudops.terraform.outcome.NotAddressableError` (``drifted``,
``already_applied``, ``unsupported``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudops.schemas.recommendations import AttributeChange
from cloudops.terraform._syntax import Attribute, Block, realign, render_literal, values_equal
from cloudops.terraform.locate import EditTarget
from cloudops.terraform.outcome import NotAddressableError

__all__ = ["Patch", "apply_change", "insert_attribute", "replace_value"]


@dataclass(frozen=True, slots=True)
class Patch:
    """One argument edit applied to one file's text."""

    file: str
    before: str
    after: str
    description: str
    """E.g. ``aws_ebs_volume.data: type "gp2" -> "gp3"``."""


def replace_value(text: str, attr: Attribute, literal: str) -> str:
    """Replace the value of ``attr`` (found in ``text``) with the HCL ``literal``; re-align its fmt groups."""
    new = text[: attr.value_start] + literal + text[attr.value_end :]
    return realign(new, attr.value_start, attr.value_start + len(literal))


def insert_attribute(text: str, block: Block, name: str, literal: str) -> str:
    """Insert ``name = literal`` as the last line of ``block``'s body; re-align its fmt group.

    Raises NotAddressableError(``unsupported``) for a single-line block (its closing
    brace shares a line with other tokens).
    """
    line_start = text.rfind("\n", 0, block.close_brace) + 1
    brace_indent = text[line_start : block.close_brace]
    if brace_indent.strip():
        raise NotAddressableError("unsupported", "the block is written on one line; cloudops does not split it")
    newline = "\r\n" if text[max(0, line_start - 2) : line_start] == "\r\n" else "\n"
    new_line = f"{brace_indent}  {name} = {literal}{newline}"
    new = text[:line_start] + new_line + text[line_start:]
    return realign(new, line_start, line_start + len(new_line) - len(newline))


def _state_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def apply_change(text: str, target: EditTarget, change: AttributeChange, *, state_value: Any = None) -> Patch:
    """Apply one AttributeChange at ``target`` in ``text`` (the current text of ``target.block.file``).

    ``state_value`` is the state's value of the argument, consulted only when the
    argument is absent from the configuration.
    """
    try:
        literal = render_literal(change.proposed, change.value_kind)
    except ValueError as exc:
        raise NotAddressableError("unsupported", f"proposed value for {change.attribute}: {exc}") from exc
    label = f"{target.block.address}: {target.attribute}"
    existing = target.existing
    if existing is not None:
        assert existing.value is not None
        shown = existing.value_text
        if values_equal(existing.value, existing.kind, change.proposed):
            raise NotAddressableError(
                "already_applied", f"{label} is already {shown} ({target.explanation}); the change may await `apply`"
            )
        if change.current is None:
            raise NotAddressableError(
                "drifted", f"{label} is {shown} in the configuration but the bill shows it unset ({target.explanation})"
            )
        if not values_equal(existing.value, existing.kind, change.current):
            raise NotAddressableError(
                "drifted",
                f"{label} is {shown} in the configuration but the bill shows {change.current!r} "
                f"({target.explanation}); the configuration and the bill disagree",
            )
        after = replace_value(text, existing, literal)
        return Patch(target.block.file, text, after, f"{label} {shown} -> {literal}")

    if change.current is not None:
        observed = _state_text(state_value)
        kind = change.value_kind
        if observed is None or not values_equal(observed.lower() if kind == "bool" else observed, kind, change.current):
            raise NotAddressableError(
                "drifted",
                f"{label} is not set in {target.block.file} and the state has {observed!r}, "
                f"but the bill shows {change.current!r}",
            )
    after = insert_attribute(text, target.block.block, target.attribute, literal)
    return Patch(target.block.file, text, after, f"{label} (unset) -> {literal}")
