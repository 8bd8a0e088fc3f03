from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sales.periods import parse_period, period_containing, quarter_of, shift

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("Q3 2026", date(2026, 7, 1), date(2026, 10, 1)),
        ("q1-2027", date(2027, 1, 1), date(2027, 4, 1)),
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
        ("November 2025", date(2025, 11, 1), date(2025, 12, 1)),
        ("dec", date(2025, 12, 1), date(2026, 1, 1)),
        ("nov", date(2026, 11, 1), date(2026, 12, 1)),
        ("2025", date(2025, 1, 1), date(2026, 1, 1)),
        ("this quarter", date(2026, 10, 1), date(2027, 1, 1)),
        ("last quarter", date(2026, 7, 1), date(2026, 10, 1)),
        ("next quarter", date(2027, 1, 1), date(2027, 4, 1)),
        ("last month", date(2026, 10, 1), date(2026, 11, 1)),
        ("Previous  Year", date(2025, 1, 1), date(2026, 1, 1)),
        ("Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("Q1", date(2026, 1, 1), date(2026, 4, 1)),
    ],
)
def test_parse_period_calendar(text: str, start: date, end: date) -> None:
    period = parse_period(text, TODAY)
    assert (period.start, period.end) == (start, end)


def test_last_quarter_crosses_the_year_boundary() -> None:
    period = parse_period("last quarter", date(2027, 2, 10))
    assert (period.start, period.end, period.label) == (date(2026, 10, 1), date(2027, 1, 1), "Q4 2026")


def test_fiscal_year_starting_in_february() -> None:
    # FY2027 runs Feb 2026 - Jan 2027; 23 Nov 2026 is in its Q4 (Nov-Jan).
    assert quarter_of(TODAY, fiscal_year_start_month=2) == (2027, 4)
    period = parse_period("this quarter", TODAY, fiscal_year_start_month=2)
    assert (period.start, period.end, period.label) == (date(2026, 11, 1), date(2027, 2, 1), "Q4 FY2027")


def test_unknown_period_names_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="2026-Q3"):
        parse_period("the good old days", TODAY)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)), st.integers(1, 12))
def test_quarters_tile_the_calendar(day: date, fy_start: int) -> None:
    quarter = period_containing(day, "quarter", fy_start)
    assert quarter.contains(day)
    following = shift(quarter, 1, fy_start)
    assert following.start == quarter.end
    assert shift(following, -1, fy_start) == quarter


def test_weeks_are_iso_weeks_monday_to_sunday() -> None:
    from sales.periods import parse_period, shift

    today = date(2026, 12, 9)  # a Wednesday
    this = parse_period("this week", today)
    assert (this.start, this.end, this.granularity) == (date(2026, 12, 7), date(2026, 12, 14), "week")
    assert parse_period("last week", today).start == date(2026, 11, 30)
    assert parse_period("2026-W49", today) == parse_period("last week", today)
    assert shift(this, -52, 1).start == date(2025, 12, 8)
    with pytest.raises(ValueError, match="has no week 54"):
        parse_period("2026-W54", today)


def test_runs_of_days_start_tomorrow_or_end_today() -> None:
    from sales.periods import parse_period

    today = date(2026, 12, 7)
    ahead = parse_period("the next 30 days", today)
    assert (ahead.start, ahead.end, ahead.granularity) == (date(2026, 12, 8), date(2027, 1, 7), "day")
    behind = parse_period("last 7 days", today)
    assert (behind.start, behind.end) == (date(2026, 12, 1), date(2026, 12, 8))
