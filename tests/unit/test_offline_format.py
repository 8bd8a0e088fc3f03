"""The number formats answers use; the eval suite formats store values with the same functions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.offline.format import days, money, number, percent


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234567, "$1,234,567"), (1234567.5, "$1,234,568"), (0, "$0"), (999.49, "$999"), (-1500, "-$1,500"),
     (Decimal("40000.00"), "$40,000"), ("2500.5", "$2,501")],
)  # fmt: skip
def test_money_is_whole_units_with_separators(value: object, expected: str) -> None:
    assert money(value) == expected


def test_money_in_other_currencies() -> None:
    assert money(1234, "EUR") == "€1,234"
    assert money(1234, "chf") == "1,234 CHF"


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(0.4251, "42.5%"), (1, "100.0%"), (0, "0.0%"), (0.00125, "0.1%"), (Decimal("0.3333"), "33.3%")],
)
def test_percent_takes_a_ratio_and_shows_one_decimal(ratio: object, expected: str) -> None:
    assert percent(ratio) == expected


def test_days_and_numbers() -> None:
    assert days(41.25) == "41.3 days"
    assert days(1) == "1.0 day"
    assert number(1234567) == "1,234,567"
    assert number(1234.56, 1) == "1,234.6"
    assert number(-0.4) == "0"


def test_non_numbers_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not a number"):
        money("forty")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_money_round_trips_to_the_half_up_rounded_value(value: Decimal) -> None:
    text = money(value)
    parsed = Decimal(text.replace("$", "").replace(",", ""))
    expected = value.quantize(Decimal(1), rounding="ROUND_HALF_UP")
    assert parsed == expected
