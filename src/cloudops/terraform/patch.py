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

A trailing comment on the edited line describes the old value (``type = "gp2" #
previous-generation general purpose``): it is removed with the old value, and the PR text
says so (:attr:`Patch.removed_comment`). A trailing comment that pins the line ("do not
change", "keep", "pinned", "must be") is a human's decision: the edit is refused
(``unsupported``), naming the line.

Contract: pure functions over strings; raise
:class:`~cloudops.terraform.outcome.NotAddressableError` (``drifted``,
``already_applied``, ``unsupported``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cloudops.schemas.recommendations import AttributeChange
from cloudops.terraform._syntax import (
    Attribute,
    Block,
    Token,
    line_of,
    realign,
    render_literal,
    tokenize,
    values_equal,
)
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
    removed_comment: str | None = None
    """The trailing comment removed from the edited line (it described the old value), if any."""


_PINNED = re.compile(r"\b(do not|don't|never)\s+(change|touch|edit|modify)\b|\bkeep\b|\bpinned?\b|\bmust be\b", re.I)


def _trailing_comment(text: str, attr: Attribute) -> Token | None:
    """The ``#``/``//`` comment that ends the line of ``attr``'s value, if any."""
    for tok in tokenize(text):
        if tok.start < attr.value_end:
            continue
        if tok.kind == "newline":
            return None
        if tok.is_line_comment:
            return tok
        if tok.kind != "comment":
            return None
    return None


def _drop_comment(text: str, comment: Token) -> str:
    """``text`` without ``comment`` and the blanks before it (its newline kept); neighbours re-aligned."""
    start = comment.start
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    newline = "\r\n" if comment.text.endswith("\r\n") else "\n"
    new = text[:start] + newline + text[comment.end :]
    line_start = text.rfind("\n", 0, start) + 1
    prev_start = text.rfind("\n", 0, max(0, line_start - 1)) + 1
    next_end = new.find("\n", start + len(newline))
    return realign(new, prev_start, len(new) if next_end < 0 else next_end)


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
        comment = _trailing_comment(text, existing)
        if comment is not None and _PINNED.search(comment.text):
            line = existing.line
            raise NotAddressableError(
                "unsupported",
                f"{target.block.file}:{line} carries the comment {comment.text.strip()!r} on the line to change: "
                "a human pinned this value, so cloudops leaves it alone",
                location=f"{target.block.file}:{line}",
            )
        after = replace_value(text, existing, literal)
        removed = None
        if comment is not None:
            # realign() only changes blanks inside lines: find the comment again by its line.
            line = line_of(text, comment.start)
            again = next(t for t in tokenize(after) if t.is_line_comment and line_of(after, t.start) == line)
            after = _drop_comment(after, again)
            removed = comment.text.strip()
        return Patch(target.block.file, text, after, f"{label} {shown} -> {literal}", removed)

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
