"""Formatting shared by the CLI's tables: money, dates, users. Imports Rich lazily."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal


def money(amount: Decimal | float | None, currency: str = "USD") -> str:
    if amount is None:
        return "—"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency.upper())
    value = f"{Decimal(str(amount)):,.2f}".removesuffix(".00")
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def when(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()
