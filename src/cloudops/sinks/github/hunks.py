"""Carry an edit made on one version of a file over to another version: only the edited hunks move.

A change is planned on the text of a file as cloudops read it (``original``: a local
checkout, possibly older than the base branch) and gives a ``new`` text. The pull request
must be built on the base branch's *current* text (``base``), read through the API at
the base commit, so that nothing a teammate changed since is reverted. :func:`rebase_edit`
finds each changed region of ``original -> new`` (with up to ``context`` unchanged lines
around it, like a unified diff hunk) in ``base`` and replaces exactly those lines; every
other line of ``base`` is kept byte for byte.

A hunk is placed where its lines with the widest context (3, then 2, then 1 unchanged
lines around them) occur exactly once in ``base`` after the previous hunk, as ``patch``
does with fuzz. When even one line of context around the edited lines does not place it
uniquely, someone changed the lines the edit touches (or the lines next to them): that is
a conflict and nothing is applied (:class:`HunkConflict`). A hunk whose *new* lines (with
full context) already occur there is already applied and is skipped.

Contract: pure; line endings are kept as they are in each text.
"""

from __future__ import annotations

import difflib

__all__ = ["HunkConflict", "rebase_edit"]


class HunkConflict(Exception):
    """The base text changed where the edit applies; ``reason`` names the line of ``original``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _find(haystack: list[str], needle: list[str], start: int) -> list[int]:
    if not needle:
        return [start]
    n = len(needle)
    return [i for i in range(start, len(haystack) - n + 1) if haystack[i : i + n] == needle]


def rebase_edit(original: str, new: str, base: str, *, path: str = "", context: int = 3) -> str:
    """``base`` with the hunks of ``original -> new`` applied; raises HunkConflict.

    ``base == original`` returns ``new`` unchanged.
    """
    if base == original:
        return new
    old_lines = original.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    out = base.splitlines(keepends=True)
    cursor = 0
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        placed = False
        for c in range(context, 0, -1):  # widest context first; narrower only while it stays unique
            lo, hi = max(0, i1 - c), min(len(old_lines), i2 + c)
            before = old_lines[lo:hi]
            after = old_lines[lo:i1] + new_lines[j1:j2] + old_lines[i2:hi]
            hits = _find(out, before, cursor)
            if len(hits) == 1:
                at = hits[0]
                out[at : at + len(before)] = after
                cursor = at + len(after)
                placed = True
                break
            done = _find(out, after, cursor)
            if not hits and len(done) == 1 and c == context:
                cursor = done[0] + len(after)  # this hunk is on the base already
                placed = True
                break
        if not placed:
            where = f"lines {i1 + 1}-{i2}" if i2 > i1 + 1 else f"line {i1 + 1}"
            raise HunkConflict(path, f"the edited {where} (or the line next to it) changed on the base branch")
    return "".join(out)
