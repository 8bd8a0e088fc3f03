"""Calendar days as people type them: "tomorrow", "next Friday", "in two weeks", "last quarter", 2026-12-31.

One reader for every front door: the offline chat model finds days in a message with ``resolve_day``, the CLI
reads its date options with ``parse_day`` (which also takes ISO dates and periods). dateparser is slow to import,
so it is loaded only when none of the fixed phrases match.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from sales.periods import parse_period

Prefer = Literal["future", "past"]

EXAMPLES = "2026-12-31, today, tomorrow, 'next friday', 'in 2 weeks', '3 days ago', 'end of month', 'last quarter'"

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_SHORT_DAYS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6}
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
NUMBER_WORDS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12}
"""Counts written as words ("in two weeks"); the chat's span readers share it."""
_ISO_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def local_today() -> date:
    """Today where the person typing is: what "tomorrow" on a command line is relative to."""
    return date.today()


_PART_OF = re.compile(r"(?:the )?(?P<part>end|start|beginning|middle|mid)(?:(?: of)? |-)(?:the )?(?P<period>[\w -]+?)")
"""'end of next month', 'start of Q2', 'the end of January', 'mid-March': a day inside a period."""


def _part_of_period(part: str, said: str, today: date, prefer: Prefer) -> date | None:
    """The first, middle or last day of the period ``said`` names; a bare month or quarter ("January", "Q1") that
    is already over is next year's when the future is preferred (a close date "end of January" in December)."""
    import calendar

    said = f"this {said}" if said in ("month", "quarter", "year", "week") else said
    try:
        period = parse_period(said, today)
    except ValueError:
        return None
    start, last = period.start, period.last_day
    bare = not re.search(r"\d{4}|\b(this|next|last|previous|current)\b", said)
    if bare and prefer == "future" and last < today:
        start = start.replace(year=start.year + 1)
        last_day = calendar.monthrange(last.year + 1, last.month)[1]
        last = date(last.year + 1, last.month, last_day)
    if part == "end":
        return last
    if part in ("start", "beginning"):
        return start
    return start + (last - start) // 2


def resolve_day(phrase: str, today: date, *, prefer: Prefer = "future") -> date | None:
    """The day a phrase names relative to ``today`` ("friday", "end of month", "in 3 weeks", "Dec 3"), or None.

    A bare weekday is the coming one (``prefer="future"``, as in "remind me on Friday") or the latest past one
    (``prefer="past"``, as in "since Friday"); other ambiguous dates lean the same way.
    """
    text = " ".join(phrase.lower().split())
    text = re.sub(r"^(?:(?:on|by|before|until|for|due)\s+)+", "", text)
    # "Friday", "this Friday" and "next Friday" all mean the coming Friday, as dateparser reads them
    match = re.fullmatch(r"(?:this |coming |next )?(\w+)", text)
    if match and (match.group(1) in _WEEKDAYS or match.group(1) in _SHORT_DAYS):
        name = match.group(1)
        target = _WEEKDAYS.index(name) if name in _WEEKDAYS else _SHORT_DAYS[name]
        if prefer == "past":
            return today - timedelta(days=(today.weekday() - target) % 7 or 7)
        return today + timedelta(days=(target - today.weekday()) % 7 or 7)
    if text in ("end of day", "end of the day", "today", "tonight", "this morning", "this afternoon"):
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if text == "day after tomorrow":
        return today + timedelta(days=2)
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text in ("end of week", "end of the week", "end of this week"):
        return today + timedelta(days=(4 - today.weekday()) % 7)
    if text in ("end of month", "end of the month"):
        return parse_period("this month", today).last_day
    if text in ("end of quarter", "end of the quarter"):
        return parse_period("this quarter", today).last_day
    part = _PART_OF.fullmatch(text)
    if part:
        inside = _part_of_period(part.group("part"), part.group("period"), today, prefer)
        if inside is not None:
            return inside
    if text == "next week":
        return today + timedelta(days=7 - today.weekday())
    if text == "next month":
        return parse_period("next month", today).start
    match = re.fullmatch(r"the (\d{1,2})(?:st|nd|rd|th)", text)
    if match:
        wanted = int(match.group(1))
        year, month = today.year, today.month
        for _ in range(2):
            try:
                candidate = date(year, month, wanted)
            except ValueError:
                candidate = None
            if candidate and candidate >= today:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None
    match = re.fullmatch(r"in (a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+) (day|week|month)s?", text)
    if match:
        count = int(match.group(1)) if match.group(1).isdigit() else NUMBER_WORDS[match.group(1)]
        if match.group(2) == "month":
            month_index = today.month - 1 + count
            year, month = today.year + month_index // 12, month_index % 12 + 1
            for day in (today.day, 30, 29, 28):
                try:
                    return date(year, month, day)
                except ValueError:
                    continue
        return today + timedelta(days=count * (7 if match.group(2) == "week" else 1))
    return _dateparser_day(text, today, prefer)


def _dateparser_day(text: str, today: date, prefer: Prefer) -> date | None:
    from datetime import datetime

    import dateparser

    settings = {
        "RELATIVE_BASE": datetime(today.year, today.month, today.day),
        "PREFER_DATES_FROM": prefer,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    parsed = dateparser.parse(text, languages=["en"], settings=settings)
    return parsed.date() if parsed else None


_NUMERIC_DAY = re.compile(r"^(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<y>\d{4})$")
"""3/11/2026 or 03.11.2026: read only when one part is over 12, so the order cannot be mistaken."""


def parse_day(text: str, today: date, *, prefer: Prefer = "future", period_end: bool = False) -> date:
    """A day from an ISO date (2026-12-31), a period ("2026-Q3", "last quarter": its first day, or its last with
    ``period_end``) or a relative phrase read by ``resolve_day``.

    Raises ``ValueError`` naming what was given and the forms accepted.
    """
    value = " ".join(text.split())
    numeric = _NUMERIC_DAY.match(value)
    if numeric and int(numeric["a"]) <= 12 and int(numeric["b"]) <= 12 and numeric["a"] != numeric["b"]:
        raise ValueError(
            f"{text!r} is ambiguous (day/month or month/day?); write it as YYYY-MM-DD, e.g. "
            f"{numeric['y']}-{numeric['b'].zfill(2)}-{numeric['a'].zfill(2)} or "
            f"{numeric['y']}-{numeric['a'].zfill(2)}-{numeric['b'].zfill(2)}"
        )
    if _ISO_LIKE.match(value):
        try:
            return date.fromisoformat("-".join(part.zfill(2) for part in value.split("-")))
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar day (YYYY-MM-DD)") from None
    try:
        period = parse_period(value, today)
    except ValueError:
        pass
    else:
        return period.last_day if period_end else period.start
    day = resolve_day(value, today, prefer=prefer) if value else None
    if day is None:
        raise ValueError(f"cannot read {text!r} as a date; try e.g. {EXAMPLES}")
    return day
