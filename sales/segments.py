"""Segment definitions shared by analytics and reports: deal size bands and rep tenure bands.

Declared once here so that scoring, forecasting and process mining segment deals the same way.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

# Upper bounds (exclusive) in the deal's currency; anything at or above the last bound is enterprise.
SIZE_BANDS: tuple[tuple[str, Decimal | None], ...] = (
    ("small", Decimal("10000")),
    ("mid-market", Decimal("50000")),
    ("enterprise", None),
)

# Tenure in whole months at the reference date.
TENURE_BANDS: tuple[tuple[str, int | None], ...] = (
    ("new (<6 months)", 6),
    ("ramped (6-24 months)", 24),
    ("veteran (24+ months)", None),
)


def deal_size_band(amount: Decimal | float | None) -> str:
    if amount is None:
        return "unknown"
    value = Decimal(str(amount))
    for name, upper in SIZE_BANDS:
        if upper is None or value < upper:
            return name
    raise AssertionError("unreachable: the last size band is open-ended")


def tenure_months(started_at: date | None, on: date) -> int | None:
    if started_at is None:
        return None
    months = (on.year - started_at.year) * 12 + (on.month - started_at.month)
    if on.day < started_at.day:
        months -= 1
    return max(months, 0)


def tenure_band(started_at: date | None, on: date) -> str:
    months = tenure_months(started_at, on)
    if months is None:
        return "unknown"
    for name, upper in TENURE_BANDS:
        if upper is None or months < upper:
            return name
    raise AssertionError("unreachable: the last tenure band is open-ended")
