"""Number formatting for the offline model's answers; the eval suite formats store-derived numbers the same way.

Keep these stable: money is rounded half-up to whole units with thousands separators ("$1,234,567"),
percentages take a ratio (0.425) and show one decimal place ("42.5%"), day counts show one decimal place.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def _round(value: object, places: int) -> Decimal:
    quantum = Decimal(1).scaleb(-places)
    return _decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)


def number(value: object, decimals: int = 0) -> str:
    """1234567 → "1,234,567"; with decimals=1, 1234.56 → "1,234.6"."""
    rounded = _round(value, decimals)
    if rounded == 0:
        rounded = abs(rounded)  # never show "-0"
    return f"{rounded:,.{decimals}f}"


def money(value: object, currency: str = "USD") -> str:
    """Whole currency units: 1234567.5 → "$1,234,568"; other currencies without a symbol: "1,234 CHF"."""
    rounded = _round(value, 0)
    sign = "-" if rounded < 0 else ""
    digits = f"{abs(rounded):,.0f}"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    if symbol is None:
        return f"{sign}{digits} {currency.upper()}"
    return f"{sign}{symbol}{digits}"


def percent(ratio: object) -> str:
    """A ratio as a percentage with one decimal place: 0.4251 → "42.5%"."""
    return f"{number(_decimal(ratio) * 100, 1)}%"


def days(value: object) -> str:
    """A duration in days with one decimal place: 41.25 → "41.3 days"."""
    text = number(value, 1)
    return f"{text} day" if text == "1.0" else f"{text} days"
