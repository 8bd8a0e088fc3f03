"""One reader of days for the chat and the CLI (``sales.dates``), relative to a pinned today."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from sales.dates import parse_day, resolve_day

TODAY = date(2026, 11, 18)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31", date(2026, 12, 31)),
        ("2026-1-5", date(2026, 1, 5)),
        ("today", TODAY),
        ("tomorrow", date(2026, 11, 19)),
        ("Tomorrow", date(2026, 11, 19)),
        ("next friday", date(2026, 11, 20)),
        ("friday", date(2026, 11, 20)),
        ("wednesday", date(2026, 11, 25)),  # the coming one, never today
        ("in 2 weeks", date(2026, 12, 2)),
        ("in three days", date(2026, 11, 21)),
        ("end of month", date(2026, 11, 30)),
        ("end of quarter", date(2026, 12, 31)),
        ("next week", date(2026, 11, 23)),
        ("3 days ago", date(2026, 11, 15)),
        ("Dec 3", date(2026, 12, 3)),
        ("last quarter", date(2026, 7, 1)),
        ("2026-Q3", date(2026, 7, 1)),
        ("Q3 2026", date(2026, 7, 1)),
        ("next month", date(2026, 12, 1)),
    ],
)
def test_parse_day(text: str, expected: date) -> None:
    assert parse_day(text, TODAY) == expected


def test_past_preference_and_period_ends() -> None:
    assert parse_day("friday", TODAY, prefer="past") == date(2026, 11, 13)
    assert parse_day("March 3", TODAY, prefer="past") == date(2026, 3, 3)
    assert parse_day("March 3", TODAY) == date(2027, 3, 3)
    assert parse_day("last quarter", TODAY, period_end=True) == date(2026, 9, 30)
    assert parse_day("2026-Q4", TODAY, period_end=True) == date(2026, 12, 31)


@pytest.mark.parametrize("text", ["someday", "", "2026-13-01", "2026-02-30", "blah blah"])
def test_unreadable_dates_name_what_was_given(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text) if text else "cannot read"):
        parse_day(text, TODAY)


def test_slashed_dates_are_read_only_when_the_order_is_certain() -> None:
    assert parse_day("23/11/2026", TODAY) == date(2026, 11, 23)
    assert parse_day("11/23/2026", TODAY) == date(2026, 11, 23)
    assert parse_day("5/5/2026", TODAY) == date(2026, 5, 5)
    with pytest.raises(ValueError, match=r"'03/11/2026' is ambiguous.*2026-11-03 or 2026-03-11"):
        parse_day("03/11/2026", TODAY)


def test_a_day_inside_a_named_period() -> None:
    assert parse_day("end of next month", TODAY) == date(2026, 12, 31)  # not the first of next month
    assert parse_day("end of January", TODAY) == date(2027, 1, 31)  # January 2026 is over: the coming one
    assert parse_day("the end of January 2026", TODAY) == date(2026, 1, 31)
    assert parse_day("start of Q2", TODAY) == date(2027, 4, 1)
    assert parse_day("mid-March", TODAY) == date(2027, 3, 16)
    assert parse_day("end of the year", TODAY) == date(2026, 12, 31)


def test_the_chat_reads_days_with_the_same_function() -> None:
    from agent.offline import slots

    assert slots.resolve_day is resolve_day
    assert slots.find_day("remind me next friday", TODAY).day == parse_day("next friday", TODAY)  # type: ignore[union-attr]


def test_fixed_phrases_do_not_load_dateparser() -> None:
    code = (
        "import sys; from datetime import date; from sales.dates import parse_day; "
        "parse_day('tomorrow', date(2026, 11, 18)); parse_day('last quarter', date(2026, 11, 18)); "
        "print('dateparser' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_money_in_whole_units() -> None:
    from bots.render import in_whole_units, money, whole_units

    assert money(2365831.4, "USD", whole=True) == "$2,365,831"
    assert money(Decimal("1234.50"), "EUR", whole=True) == "€1,235"
    assert money(1000.5, "CHF", whole=True) == "1,001 CHF"
    assert money(1234.5, "USD") == "$1,234.50"  # record amounts keep their cents
    assert whole_units(0.4) == 0 and whole_units(None) is None
    assert in_whole_units({"total": {"expected": 10.6, "open_deals": 3, "key": "x"}}) == {
        "total": {"expected": 11, "open_deals": 3, "key": "x"}
    }
