"""Detect a billing format from a file's own header (never from its name)."""

from __future__ import annotations

from collections.abc import Sequence

from cloudops.errors import BadDataError
from cloudops.focus.rules import FormatRules, load_all_rules

__all__ = ["detect_format"]


def detect_format(
    header: Sequence[str], *, source: str | None = None, rules: Sequence[FormatRules] | None = None
) -> FormatRules:
    """Return the rules whose ``detect`` block matches ``header``.

    Raises BadDataError (naming ``source``) when no known format matches.
    Pure: no I/O beyond the packaged rules loaded once.
    """
    cols = set(header)
    for candidate in rules if rules is not None else load_all_rules():
        if set(candidate.detect.all_of) <= cols and not cols & set(candidate.detect.none_of):
            return candidate
    shown = ", ".join(list(header)[:8]) + (", ..." if len(header) > 8 else "")
    raise BadDataError(f"unknown billing format: header [{shown}] matches no rules", source=source)
