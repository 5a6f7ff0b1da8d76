"""Detect a billing format (and its FOCUS dataset) from a file's own header (never from its name).

FOCUS files are told apart by version from the columns each version added (the generic
``focus-1.0`` .. ``focus-1.3`` rules), and supporting datasets (FOCUS 1.3 Contract Commitment,
1.4 Billing Period and Invoice Detail) by their own identifying columns; the detected rules'
``dataset`` says which table the rows go to. :func:`unmapped_columns` names the source
columns no rule reads: the converter keeps them in ``x_Extensions`` so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudops.errors import BadDataError
from cloudops.focus.rules import FormatRules, load_all_rules

__all__ = ["canonical_header", "detect_format"]


def canonical_header(header: Sequence[str], rules: FormatRules) -> list[str]:
    """The header with the rules' aliases replaced by canonical names (BOM and spaces stripped)."""
    names = rules.canonical_names(list(header))
    return [names.get(h, h.strip().lstrip("\ufeff")) for h in header]


def detect_format(
    header: Sequence[str], *, source: str | None = None, rules: Sequence[FormatRules] | None = None
) -> FormatRules:
    """Return the highest-priority rules whose ``detect`` block matches ``header``.

    Header names are compared after each candidate's aliases are applied, so localised
    or differently cased exports match. Raises BadDataError (naming ``source``) when no
    known format matches. Pure: no I/O beyond the packaged rules loaded once.
    """
    for candidate in rules if rules is not None else load_all_rules():
        cols = set(canonical_header(header, candidate))
        any_of = set(candidate.detect.any_of)
        if (
            set(candidate.detect.all_of) <= cols
            and not cols & set(candidate.detect.none_of)
            and (not any_of or cols & any_of)
        ):
            return candidate
    shown = ", ".join(list(header)[:8]) + (", ..." if len(header) > 8 else "")
    raise BadDataError(f"unknown billing format: header [{shown}] matches no rules", source=source)
