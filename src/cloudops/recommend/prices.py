"""The price tables the recommenders use as data: ``recommend/data/*.csv`` (see its README).

Loaded once per process (:func:`load_price_book` is cached) and validated on load: a bad
row raises ValueError naming the file and line. Pure: reads packaged files only.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources

__all__ = ["PriceBook", "PriceTier", "Replacement", "load_price_book"]

_AS_OF = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


@dataclass(frozen=True, slots=True)
class Replacement:
    """A like-for-like swap and the two public prices behind its ratio."""

    kind: str
    current: str
    proposed: str
    current_price: Decimal
    proposed_price: Decimal
    unit: str
    region: str
    source: str
    as_of: str
    note: str

    @property
    def ratio(self) -> Decimal:
        """proposed / current price (1 = price-neutral, below 1 = cheaper)."""
        return self.proposed_price / self.current_price


@dataclass(frozen=True, slots=True)
class PriceTier:
    price: Decimal
    upto: Decimal | None  # inclusive upper bound of the tier; None for the last one
    unit: str
    source: str
    as_of: str
    region: str = ""


@dataclass(frozen=True, slots=True)
class PriceBook:
    replacements: dict[tuple[str, str], Replacement]
    prices: dict[str, tuple[PriceTier, ...]]

    def replacement(self, kind: str, current: str) -> Replacement | None:
        return self.replacements.get((kind, current))

    def price(self, key: str) -> Decimal:
        """The single (flat) price of ``key``; KeyError if unknown, ValueError if tiered."""
        tiers = self.prices[key]
        if len(tiers) != 1:
            raise ValueError(f"price {key!r} is tiered: use tiered_cost()")
        return tiers[0].price

    def tier(self, key: str) -> PriceTier:
        """The single (flat) price row of ``key`` with its unit, source, date and region; KeyError if unknown."""
        tiers = self.prices[key]
        if len(tiers) != 1:
            raise ValueError(f"price {key!r} is tiered: use tiered_parts()")
        return tiers[0]

    def tiered_parts(self, key: str, quantity: Decimal) -> list[tuple[PriceTier, Decimal]]:
        """``quantity`` split over the tiers of ``key``: [(tier, units in it)], empty tiers left out."""
        parts: list[tuple[PriceTier, Decimal]] = []
        floor = Decimal(0)
        for tier in self.prices[key]:
            top = quantity if tier.upto is None else min(quantity, tier.upto)
            if top > floor:
                parts.append((tier, top - floor))
            if tier.upto is None or quantity <= tier.upto:
                break
            floor = tier.upto
        return parts

    def tiered_cost(self, key: str, quantity: Decimal) -> Decimal:
        """Cost of ``quantity`` units at the (possibly tiered) price ``key``."""
        cost = Decimal(0)
        floor = Decimal(0)
        for tier in self.prices[key]:
            top = quantity if tier.upto is None else min(quantity, tier.upto)
            if top > floor:
                cost += (top - floor) * tier.price
            if tier.upto is None or quantity <= tier.upto:
                break
            floor = tier.upto
        return cost


def _decimal(text: str, where: str, column: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{where}: {column} {text!r} is not a decimal") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{where}: {column} {text!r} must be a finite, non-negative decimal")
    return value


def _check_common(row: dict[str, str], where: str) -> None:
    if not row.get("source", "").startswith("https://"):
        raise ValueError(f"{where}: source must be an https:// page, got {row.get('source')!r}")
    if not _AS_OF.fullmatch(row.get("as_of", "")):
        raise ValueError(f"{where}: as_of must be YYYY-MM or YYYY-MM-DD, got {row.get('as_of')!r}")
    if not row.get("region"):
        raise ValueError(f"{where}: region is empty")


def _rows(name: str) -> list[tuple[str, dict[str, str]]]:
    text = (resources.files("cloudops.recommend") / "data" / name).read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    return [(f"{name}:{i}", {k: (v or "").strip() for k, v in row.items()}) for i, row in enumerate(reader, start=2)]


def _parse_replacements() -> dict[tuple[str, str], Replacement]:
    out: dict[tuple[str, str], Replacement] = {}
    for where, row in _rows("replacements.csv"):
        _check_common(row, where)
        key = (row["kind"], row["current"])
        if not all(key) or not row["proposed"]:
            raise ValueError(f"{where}: kind, current and proposed are required")
        if key in out:
            raise ValueError(f"{where}: duplicate replacement {key}")
        current = _decimal(row["current_price"], where, "current_price")
        if current == 0:
            raise ValueError(f"{where}: current_price must be positive")
        out[key] = Replacement(
            kind=row["kind"],
            current=row["current"],
            proposed=row["proposed"],
            current_price=current,
            proposed_price=_decimal(row["proposed_price"], where, "proposed_price"),
            unit=row["unit"],
            region=row["region"],
            source=row["source"],
            as_of=row["as_of"],
            note=row.get("note", ""),
        )
    return out


def _parse_prices() -> dict[str, tuple[PriceTier, ...]]:
    tiers: dict[str, list[PriceTier]] = {}
    for where, row in _rows("prices.csv"):
        _check_common(row, where)
        if not row["key"]:
            raise ValueError(f"{where}: key is required")
        upto = _decimal(row["upto"], where, "upto") if row["upto"] else None
        existing = tiers.setdefault(row["key"], [])
        if existing and (existing[-1].upto is None or (upto is not None and upto <= existing[-1].upto)):
            raise ValueError(f"{where}: tiers of {row['key']!r} must have increasing upto, the last one empty")
        existing.append(
            PriceTier(
                _decimal(row["price"], where, "price"), upto, row["unit"], row["source"], row["as_of"], row["region"]
            )
        )
    for key, ts in tiers.items():
        if ts[-1].upto is not None:
            raise ValueError(f"prices.csv: the last tier of {key!r} must have an empty upto")
    return {k: tuple(v) for k, v in tiers.items()}


@functools.cache
def load_price_book() -> PriceBook:
    """The packaged price tables, validated (ValueError on a bad row). Cached."""
    return PriceBook(_parse_replacements(), _parse_prices())
