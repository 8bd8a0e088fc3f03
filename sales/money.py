"""Money in several currencies: amounts are added only within one currency, never across; there are no rates.

A deal's ``currency`` is an ISO-4217-style code (three letters, stored upper-case). Anything that totals or
averages amounts groups by currency first; a result in one currency looks as it always did, a result in several
carries one figure per currency, in code order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sales.errors import InvalidInput

DEFAULT_CURRENCY = "USD"
_CODE = re.compile(r"[A-Za-z]{3}")


def normalize_currency(value: str | None) -> str:
    """``" eur"`` → ``"EUR"``; raises ``ValueError`` naming the problem unless it is three letters A-Z."""
    if value is None:
        raise ValueError("is empty; give a three-letter currency code (ISO 4217) such as USD or EUR")
    code = value.strip()
    # checked before upper-casing: "ßa".upper() is "SSA"
    if not _CODE.fullmatch(code):
        raise ValueError(f"{value!r} is not a three-letter currency code (ISO 4217) such as USD or EUR")
    return code.upper()


def currency_code(value: str | None, field: str = "currency") -> str:
    """``normalize_currency`` for user input: a bad code raises ``InvalidInput`` on ``field``."""
    try:
        return normalize_currency(value)
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from None


def require_single_currency(currencies: Iterable[str], what: str, how_to_narrow: str) -> str | None:
    """The one currency of ``what``, or ``InvalidInput`` naming the currencies when there are several.

    For figures that cannot be given per currency (one error measure over a history, say).
    """
    distinct = sorted(set(currencies))
    if len(distinct) > 1:
        raise InvalidInput(
            {
                "currency": f"{what} would add amounts in {', '.join(distinct)}, and there are no exchange rates; "
                f"{how_to_narrow}"
            }
        )
    return distinct[0] if distinct else None


__all__ = [
    "DEFAULT_CURRENCY",
    "currency_code",
    "normalize_currency",
    "require_single_currency",
]
