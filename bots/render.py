"""Formatting shared by the CLI's output: money, dates, tables that survive a pipe, and JSON. Imports Rich lazily."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def money(amount: Decimal | float | None, currency: str = "USD", *, whole: bool = False) -> str:
    """Like "$42,000", "€1,234.50" or "1,000 CHF"; ``whole`` rounds to whole units (forecasts: cents are noise)."""
    if amount is None:
        return "—"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency.upper())
    number = Decimal(str(amount))
    if whole:
        value = f"{number.quantize(Decimal(1), rounding=ROUND_HALF_UP):,.0f}"
    else:
        value = f"{number:,.2f}".removesuffix(".00")
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def whole_units(amount: Decimal | float | None) -> int | None:
    """An amount rounded to whole currency units, for JSON (forecasts)."""
    if amount is None:
        return None
    return int(Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def when(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


FORECAST_AMOUNTS = frozenset(
    {"expected", "p10", "p90", "won_to_date", "pipeline_expected", "new_business_expected", "commit", "best_case"}
    | {"stage_weighted", "actual"}
)
"""The money fields of forecasts and backtests: shown and written in whole currency units (cents are noise)."""


def in_whole_units(value: Any, keys: frozenset[str] = FORECAST_AMOUNTS) -> Any:
    """``value`` as JSON values (see ``jsonable``) with the amounts under ``keys``, at any depth, rounded to whole
    currency units."""

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: whole_units(v) if k in keys and v is not None else walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(jsonable(value))


def print_table(table: Table, out: Console | None = None, *, keep_title: bool = False) -> None:
    """A Rich table on a terminal; piped or redirected, one tab-separated line per row under a header line, with
    full values (nothing wrapped or cut, no markup), so `grep` and `cut -f` work on it. The title is dropped then,
    unless ``keep_title`` (it says what the numbers are, e.g. the forecast's period): a line of its own first."""
    from rich.text import Text

    from bots.common import console

    out = out or console()
    if out.is_terminal:
        out.print(table)
        return

    def plain(cell: object) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return " ".join(text.split())  # a newline or tab inside a cell would break the row

    columns = table.columns
    lines = [plain(table.title)] if keep_title and table.title else []
    lines.append("\t".join(plain(c.header) for c in columns))
    lines += ["\t".join(plain(cell) for cell in row) for row in zip(*(c.cells for c in columns), strict=True)]
    out.file.write("\n".join(lines) + "\n")
    out.file.flush()


def jsonable(value: Any) -> Any:
    """Plain JSON values: ISO dates, numbers as numbers (Decimal too), enums by value, models and dataclasses as
    objects with every field (None stays null, so the keys are the same on every row)."""
    import dataclasses
    import math
    from enum import Enum

    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN is not JSON
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if hasattr(value, "model_dump"):  # pydantic and SQLModel models
        return jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def emit_json(data: Any) -> None:
    """The one way a command prints JSON (``--json``): to stdout only, indented, UTF-8, nothing else around it."""
    import json
    import sys

    sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
