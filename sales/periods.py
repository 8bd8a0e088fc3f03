"""Reporting periods: weeks, months, quarters and years, absolute ("2026-Q3", "2026-W49") or relative ("last
quarter", "this week"). Weeks are ISO weeks, Monday to Sunday.

Quarters follow a fiscal year that starts in ``fiscal_year_start_month`` (1 = calendar quarters). A fiscal year
is named after the calendar year in which it ends, the common convention (FY2027 starting Feb 2026 ends Jan 2027).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Granularity = Literal["day", "week", "month", "quarter", "year"]

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}


@dataclass(frozen=True)
class Period:
    """A half-open date range [start, end) with a label people recognise."""

    start: date
    end: date
    label: str
    granularity: Granularity

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    return Period(start, _add_months(start, 1), start.strftime("%B %Y"), "month")


def quarter_of(day: date, fiscal_year_start_month: int = 1) -> tuple[int, int]:
    """(fiscal year, quarter 1-4) containing ``day``."""
    offset = (day.month - fiscal_year_start_month) % 12
    quarter = offset // 3 + 1
    fy_start = _add_months(date(day.year, day.month, 1), -offset)
    fiscal_year = fy_start.year if fiscal_year_start_month == 1 else fy_start.year + 1
    return fiscal_year, quarter


def quarter_period(fiscal_year: int, quarter: int, fiscal_year_start_month: int = 1) -> Period:
    if not 1 <= quarter <= 4:
        raise ValueError(f"quarter must be 1-4, not {quarter}")
    first_year = fiscal_year if fiscal_year_start_month == 1 else fiscal_year - 1
    start = _add_months(date(first_year, fiscal_year_start_month, 1), 3 * (quarter - 1))
    prefix = "" if fiscal_year_start_month == 1 else "FY"
    return Period(start, _add_months(start, 3), f"Q{quarter} {prefix}{fiscal_year}", "quarter")


def year_period(fiscal_year: int, fiscal_year_start_month: int = 1) -> Period:
    first_year = fiscal_year if fiscal_year_start_month == 1 else fiscal_year - 1
    start = date(first_year, fiscal_year_start_month, 1)
    prefix = "" if fiscal_year_start_month == 1 else "FY"
    return Period(start, _add_months(start, 12), f"{prefix}{fiscal_year}", "year")


def week_period(day: date) -> Period:
    """The ISO week (Monday to Sunday) containing ``day``."""
    start = day - timedelta(days=day.weekday())
    return Period(start, start + timedelta(days=7), f"the week of {start.isoformat()}", "week")


def day_range(start: date, days: int) -> Period:
    """``days`` days from ``start``: "the next 30 days" from tomorrow, "the last 30 days" up to today."""
    last = start + timedelta(days=days - 1)
    return Period(start, last + timedelta(days=1), f"{start.isoformat()} to {last.isoformat()}", "day")


def period_containing(day: date, granularity: Granularity, fiscal_year_start_month: int = 1) -> Period:
    if granularity == "day":
        return day_range(day, 1)
    if granularity == "week":
        return week_period(day)
    if granularity == "month":
        return month_period(day.year, day.month)
    if granularity == "quarter":
        return quarter_period(*quarter_of(day, fiscal_year_start_month), fiscal_year_start_month)
    fiscal_year, _ = quarter_of(day, fiscal_year_start_month)
    return year_period(fiscal_year, fiscal_year_start_month)


def shift(period: Period, steps: int, fiscal_year_start_month: int = 1) -> Period:
    """The period ``steps`` periods after (negative: before) ``period``, same granularity."""
    if period.granularity == "day":
        length = (period.end - period.start).days
        return day_range(period.start + timedelta(days=length * steps), length)
    if period.granularity == "week":
        return week_period(period.start + timedelta(days=7 * steps))
    months = {"month": 1, "quarter": 3, "year": 12}[period.granularity] * steps
    return period_containing(_add_months(period.start, months), period.granularity, fiscal_year_start_month)


_RELATIVE = re.compile(r"^(this|current|last|previous|prior|next|coming)\s+(week|month|quarter|year|fiscal year|fy)$")
_ISO_WEEK = re.compile(r"^(\d{4})-?w(\d{1,2})$")
_DAYS = re.compile(r"^(?:the\s+)?(next|coming|last|past|previous)\s+(\d{1,3})\s+days$")
_QUARTER = re.compile(r"^(?:fy\s*)?(\d{4})\s*[-/ ]?\s*q([1-4])$|^q([1-4])\s*[-/ ]?\s*(?:fy\s*)?(\d{4})$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_MONTH_NAME = re.compile(r"^([a-z]+)\.?\s*(\d{4})?$")
_YEAR = re.compile(r"^(?:fy\s*)?(\d{4})$")


def parse_period(text: str, today: date, fiscal_year_start_month: int = 1) -> Period:
    """Parse "2026-Q3", "Q3 2026", "2026-11", "November 2026", "nov", "2026", "this quarter", "last month"...

    Raises ``ValueError`` naming the accepted forms when ``text`` is none of them.
    """
    cleaned = " ".join(text.strip().lower().replace("’", "'").split())
    fy = fiscal_year_start_month
    if cleaned in ("ytd", "year to date", "this year so far"):
        return period_containing(today, "year", fy)
    match = _RELATIVE.match(cleaned)
    if match:
        which, unit = match.groups()
        granularity: Granularity = "year" if unit in ("year", "fiscal year", "fy") else unit  # type: ignore[assignment]
        current = period_containing(today, granularity, fy)
        step = {"this": 0, "current": 0, "last": -1, "previous": -1, "prior": -1, "next": 1, "coming": 1}[which]
        return shift(current, step, fy)
    match = _DAYS.match(cleaned)
    if match and 0 < int(match.group(2)) <= 366:
        days = int(match.group(2))
        if match.group(1) in ("next", "coming"):  # from tomorrow
            return day_range(today + timedelta(days=1), days)
        return day_range(today - timedelta(days=days - 1), days)  # up to and including today
    match = _ISO_WEEK.match(cleaned)
    if match:
        try:
            return week_period(date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1))
        except ValueError:
            raise ValueError(f"{text!r} is not a week: {match.group(1)} has no week {match.group(2)}") from None
    match = _QUARTER.match(cleaned)
    if match:
        year = int(match.group(1) or match.group(4))
        quarter = int(match.group(2) or match.group(3))
        return quarter_period(year, quarter, fy)
    match = re.match(r"^q([1-4])$", cleaned)
    if match:  # a bare quarter means the latest one that has started
        quarter = int(match.group(1))
        fiscal_year, current_q = quarter_of(today, fy)
        return quarter_period(fiscal_year if quarter <= current_q else fiscal_year - 1, quarter, fy)
    match = _YEAR_MONTH.match(cleaned)
    if match and 1 <= int(match.group(2)) <= 12:
        return month_period(int(match.group(1)), int(match.group(2)))
    match = _MONTH_NAME.match(cleaned)
    if match and match.group(1) in _MONTHS:
        month = _MONTHS[match.group(1)]
        if match.group(2):
            return month_period(int(match.group(2)), month)
        year = today.year if month <= today.month else today.year - 1  # the latest such month
        return month_period(year, month)
    match = _YEAR.match(cleaned)
    if match:
        return year_period(int(match.group(1)), fy)
    raise ValueError(
        f"{text!r} is not a period I know; use e.g. 2026-Q3, Q3 2026, 2026-11, November 2026, 2026, 2026-W49, "
        "this/last/next week, month, quarter or year, the next/last 30 days"
    )
