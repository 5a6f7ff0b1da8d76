"""Money as people read it: ``USD 855.79``, never ``0E-10``.

Amounts are exact ``Decimal`` values with up to 10 decimal places (the model's scale); text
keeps every significant decimal and at least two (``0`` -> ``0.00``, ``855.7900000000`` ->
``855.79``, ``1.6823086974`` unchanged), in plain notation. Pure; used wherever totals are
printed (``cloudops convert``, receipts, the demo, file and period listings).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

__all__ = ["decimal_text", "money_text", "totals_text"]

_CENTS = Decimal("0.01")


def decimal_text(amount: Decimal) -> str:
    """An exact decimal in plain notation, every digit kept: ``0E-10`` -> ``0.0000000000`` (for JSON records)."""
    return f"{amount:f}"


def money_text(amount: object) -> str:
    """One amount as plain decimal text with at least two decimals; other values via ``str``."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if not value.is_finite():
        return str(value)
    if value.is_zero():
        value = abs(value)
    value = value.normalize()
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(_CENTS)
    return f"{value:f}"


def totals_text(totals: Mapping[str, object]) -> str:
    """``EUR 4.56, USD 1.23`` (sorted by currency), ``-`` when empty."""
    return ", ".join(f"{k} {money_text(v)}" for k, v in sorted(totals.items())) or "-"
