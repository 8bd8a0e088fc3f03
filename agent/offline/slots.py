"""Slot extractors for the offline model: amounts, stages, periods, days, owners, groupings, ids, names and
contact details, each a small pure function over the (normalised) text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from sales.dates import resolve_day as resolve_day  # re-exported: the planner reads days with it too
from sales.periods import Period, parse_period, period_containing, shift
from sales.stages import DEFAULT_MACHINE

# --- amounts -----------------------------------------------------------------------------------------------

_MULTIPLIERS = {"k": 1_000, "thousand": 1_000, "grand": 1_000, "m": 1_000_000, "mm": 1_000_000, "million": 1_000_000}
_MULTIPLIERS |= {"mil": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000, "billion": 1_000_000_000}
_AMOUNT = re.compile(
    r"(?P<cur>[$€£¥₹]|\b(?:usd|eur|gbp|jpy|inr)\s?)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?"
    r"(?P<mult>k|thousand|grand|mm|m|mil|million|bn|b|billion)?\b"
    r"(?P<tail>\s?(?:usd|dollars|bucks|eur|euros|gbp|pounds|jpy|yen|inr|rupees)\b)?",
    re.IGNORECASE,
)
# the currency a symbol or code next to an amount names ("$" is taken as US dollars)
_CURRENCY_MARKS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "dollars": "USD", "bucks": "USD"}
_CURRENCY_MARKS |= {"euros": "EUR", "pounds": "GBP", "yen": "JPY", "rupees": "INR"}
_AMOUNT_CONTEXT = re.compile(
    r"(?:\b(for|worth|at|of|valued at|amount|value|size|over|under|above|below|more than|less than|fewer than|"
    r"at least|at most|greater than|bigger than|larger than|smaller than|exceeding|upwards of|north of|up to)|[<>])\s*$",
    re.I,
)


@dataclass(frozen=True)
class Amount:
    value: float
    start: int
    end: int
    currency: str | None = None
    """The ISO code its symbol or code names ("€40k" → EUR); None when the amount is a bare number."""


def _currency_mark(mark: str | None) -> str | None:
    if not mark or not mark.strip():
        return None
    text = mark.strip().lower()
    return _CURRENCY_MARKS.get(text, text.upper() if len(text) == 3 and text.isalpha() else None)


def find_amounts(text: str) -> list[Amount]:
    """Money amounts: "$40k", "40,000", "1.2m", "USD 5000", "250 grand". Years, ids and phone numbers are not."""
    found: list[Amount] = []
    for match in _AMOUNT.finditer(text):
        raw, mult, cur, tail = match.group("num"), match.group("mult"), match.group("cur"), match.group("tail")
        before = text[: match.start()]
        if before.endswith(("#", "q", "Q", "-", "/", "+")) or re.search(
            r"\b(id|no\.?|number|lead|deal)\s*$", before, re.I
        ):
            continue
        after = text[match.end() : match.end() + 3]
        if after.startswith(("-", "/", ":")) or re.match(
            r"\s?(?:(?:st|nd|rd|th|am|pm|days?|weeks?|months?|percent|per cent|pct)\b|%)", text[match.end() :], re.I
        ):
            continue
        has_marker = bool(cur or mult or tail)
        plain = raw.replace(",", "")
        if not has_marker:
            counted = re.match(  # "more than 5 deals": a count of things, not money
                r"\s?(deals?|leads?|times|people|reps?|customers?|accounts?|contacts?|tasks?|calls?|emails?|"
                r"meetings?|hours?)\b",
                text[match.end() :],
                re.I,
            )
            if counted:
                continue
            looks_like_year = len(plain) == 4 and plain.startswith(("19", "20")) and "," not in raw
            if (looks_like_year and not _THRESHOLD_BEFORE.search(before)) or not (
                "," in raw or _AMOUNT_CONTEXT.search(before)
            ):
                continue
        value = float(Decimal(plain) * _MULTIPLIERS.get((mult or "").lower(), 1))
        found.append(Amount(value, match.start(), match.end(), _currency_mark(cur) or _currency_mark(tail)))
    return found


def first_amount(text: str) -> float | None:
    amounts = find_amounts(text)
    return amounts[0].value if amounts else None


# --- ids ---------------------------------------------------------------------------------------------------


def find_id(text: str, kind: str) -> int | None:
    """An explicit id: "lead #12", "deal 7", "message #3"; a bare "#12" counts for any kind."""
    match = re.search(rf"\b{kind}s?\s*(?:#|no\.?|number|id)?\s*(\d+)\b", text, re.IGNORECASE)
    if match:
        return int(match.group(1))
    match = re.search(r"(?<![\w&])#\s?(\d+)\b", text)
    return int(match.group(1)) if match else None


# --- stages ------------------------------------------------------------------------------------------------

STAGE_SYNONYMS: dict[str, str] = {
    "closed won": "Won",
    "closed-won": "Won",
    "won": "Won",
    "win": "Won",
    "closed lost": "Lost",
    "closed-lost": "Lost",
    "lost": "Lost",
    "dead": "Lost",
    "lose": "Lost",
    "discovery": "Discovery",
    "demo": "Discovery",
    "demo stage": "Discovery",
    "disco": "Discovery",
    "proposal": "Proposal",
    "proposal sent": "Proposal",
    "quote": "Proposal",
    "quoting": "Proposal",
    "negotiation": "Negotiation",
    "negotiating": "Negotiation",
    "contracting": "Negotiation",
    "redlines": "Negotiation",
    "qualified": "Qualified",
    "qualification": "Qualified",
    "qualifying": "Qualified",
    "prospecting": "Prospecting",
    "prospect": "Prospecting",
    "prospects": "Prospecting",
}
for _stage in DEFAULT_MACHINE.stages:
    STAGE_SYNONYMS.setdefault(_stage.lower(), _stage)
_STAGE_RE = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in STAGE_SYNONYMS), key=len, reverse=True)) + r")\b", re.IGNORECASE
)


@dataclass(frozen=True)
class StageMention:
    stage: str
    start: int
    end: int


@lru_cache(maxsize=16)
def _stage_words(stages: tuple[str, ...]) -> tuple[dict[str, str], re.Pattern[str]]:
    """Phrase → stage for a workspace with ``stages``: its own names, and our synonyms of the stages it has (won
    and lost always: the stage machine reads "Won" and "Lost" as its won and lost stages whatever they are called)."""
    words = {k: v for k, v in STAGE_SYNONYMS.items() if v in stages or v in ("Won", "Lost")}
    words |= {" ".join(stage.lower().split()): stage for stage in stages}
    pattern = re.compile(
        r"\b(" + "|".join(sorted((re.escape(k) for k in words), key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE
    )
    return words, pattern


def _words_for(stages: Sequence[str] | None) -> tuple[dict[str, str], re.Pattern[str]]:
    if not stages or tuple(stages) == DEFAULT_MACHINE.stages:
        return STAGE_SYNONYMS, _STAGE_RE
    return _stage_words(tuple(stages))


def find_stages(text: str, stages: Sequence[str] | None = None) -> list[StageMention]:
    """The stages named in ``text``; ``stages`` are the workspace's (``Vocabulary.stages``), the demo's when None."""
    words, pattern = _words_for(stages)
    return [
        StageMention(words[" ".join(m.group(1).lower().split())], m.start(), m.end()) for m in pattern.finditer(text)
    ]


def canonical_stage(text: str, stages: Sequence[str] | None = None) -> str | None:
    """The stage named by ``text`` (a synonym is fine) among ``stages`` (the demo's when None), or None."""
    cleaned = " ".join(text.lower().strip(" .!?").split())
    cleaned = re.sub(r"^(the|to|into|in)\s+", "", cleaned)
    cleaned = re.sub(r"\s+(stage|phase|column)$", "", cleaned)
    return _words_for(stages)[0].get(cleaned)


# --- periods and days --------------------------------------------------------------------------------------

_MONTH_NAMES = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
)
_PERIOD_RE = re.compile(
    r"\b(?P<rel>(?:this|current|last|previous|prior|next|coming)\s+(?:fiscal year|fy|week|month|quarter|year)"
    r"|(?:next|coming|last|past)\s+\d{1,3}\s+days)\b"
    r"|\b(?P<q1>q[1-4])\s*(?:fy\s*)?(?P<y1>\d{4})?\b"
    r"|\b(?:fy\s*)?(?P<y2>\d{4})\s*[-/ ]?\s*(?P<q2>q[1-4])\b"
    r"|\b(?P<ym>\d{4}-\d{1,2})\b(?!-)"
    r"|\b(?P<ytd>ytd|year to date|this year so far)\b"
    r"|\b(?P<mon>" + _MONTH_NAMES + r")\.?(?:\s+(?P<my>\d{4}))?\b(?!\s*\d{1,2}(?:st|nd|rd|th)?\b)"
    r"|\b(?:in|during|for|of|fy)\s*(?P<year>20\d{2})\b(?!\s*[-/ ]?\s*q[1-4]\b)(?!-\d)"
    r"|\bthe\s+(?:(?P<bu>week|month|quarter|year)\s+before|(?:previous|prior|preceding)\s+(?P<bu2>week|month|quarter|year))\b"
    r"|\b(?P<same>the\s+same\s+(?:week|month|quarter|period|time)\s+(?:last|a|one|the previous|the prior)\s+year)\b"
    r"|\b(?P<ya>(?:a|one)\s+year\s+(?:earlier|before|ago)|(?:the\s+)?year\s+before|last\s+year'?s)\b(?=\s*$|\s*[?.!,])"
    r"|\b(?P<the>the (?:quarter|month|year))\b(?!\s+(?:before|after|ago))"
    r"|(?<![\w#$€£¥.,/-])(?P<bare>20\d{2})\b(?![.,]?\d|\s*[-/]\s*\d|\s*(?:k|m|bn|usd|eur|gbp|dollars|euros|pounds)\b|%)",
    re.IGNORECASE,
)
_THRESHOLD_BEFORE = re.compile(
    r"(?:\b(?:over|above|under|below|more than|less than|at least|at most|greater than|bigger than|larger than|"
    r"smaller than|exceeding|upwards of|north of|up to|worth|valued at)|[<>])\s*$",
    re.IGNORECASE,
)
"""Words before a number that make it an amount even when it looks like a year ("deals over 2000")."""
_NOT_A_YEAR_BEFORE = re.compile(
    r"(?:\b(?:id|number|no\.?|deal|lead|account|task|approval|message|top|bottom|first|limit)|[#$€£=])\s*$",
    re.IGNORECASE,
)
"""A bare four-digit number is a year unless an amount, an id or a count is what came before it."""


@dataclass(frozen=True)
class PeriodMention:
    text: str  # what the tool receives: relative phrases kept ("last quarter"), absolute ones canonical
    start: int
    end: int


def find_period(text: str, today: date, fiscal_year_start_month: int = 1) -> PeriodMention | None:
    """The first reporting period mentioned, validated with ``sales.periods.parse_period``."""
    return next(iter(find_periods(text, today, fiscal_year_start_month)), None)


def find_periods(text: str, today: date, fiscal_year_start_month: int = 1) -> list[PeriodMention]:
    """Every reporting period mentioned, in order ("this quarter versus last quarter": two)."""
    found: list[PeriodMention] = []
    for match in _PERIOD_RE.finditer(text):
        # "may" is usually the verb; only "in May" / "for may" counts
        if (
            match.group("mon")
            and match.group("mon").lower() == "may"
            and not match.group("my")
            and not re.search(r"\b(in|for|during|of|since)\s+$", text[: match.start()], re.I)
        ):
            continue
        if match.group("mon") and match.group("mon").lower() in ("mar", "jun", "sep") and not match.group("my"):
            continue
        before = text[: match.start()]
        if match.group("bare") and (_NOT_A_YEAR_BEFORE.search(before) or _THRESHOLD_BEFORE.search(before)):
            continue
        if match.group("same") or match.group("ya"):
            # "this quarter versus the same quarter last year": the period a year before the one named before it
            label = _year_before(found[-1].text, today, fiscal_year_start_month) if found else None
        elif match.group("bu") or match.group("bu2"):
            # "last month compared with the month before": the period before the one named just before it
            label = (
                _period_before(found[-1].text, match.group("bu") or match.group("bu2"), today, fiscal_year_start_month)
                if found
                else None
            )
        else:
            label = _period_label(match, today, fiscal_year_start_month)
        if label is not None:
            found.append(PeriodMention(label, match.start(), match.end()))
    return found


def canonical_period(period: Period, fy: int = 1) -> str | None:
    """The label a tool takes for ``period`` ("2026-10", "2026-Q2", "2025"), checked by parsing it back."""
    if period.granularity == "day":
        return None  # a run of days is said as it was ("the next 30 days"), not renamed
    if period.granularity == "week":
        iso_year, week, _ = period.start.isocalendar()
        label = f"{iso_year}-W{week:02d}"
    elif period.granularity == "month":
        label = f"{period.start.year}-{period.start.month:02d}"
    elif period.granularity == "quarter":
        quarter, fiscal_year = period.label.split()[:2]
        label = f"{fiscal_year}-{quarter}"
    else:
        label = period.label.replace(" ", "")
    try:
        back = parse_period(label, period.start, fy)
    except ValueError:
        return None
    return label if (back.start, back.end) == (period.start, period.end) else None


def _year_before(previous: str, today: date, fy: int) -> str | None:
    """The period of the same length as ``previous``, a year earlier ("the same quarter last year")."""
    try:
        named = parse_period(previous, today, fy)
    except ValueError:
        return None
    steps = {"week": 52, "month": 12, "quarter": 4, "year": 1}.get(named.granularity)
    if steps is None:
        return None  # a run of days ("the next 30 days") has no name for the same days a year earlier
    return canonical_period(shift(named, -steps, fy), fy)


def _period_before(previous: str, unit: str, today: date, fy: int) -> str | None:
    """The ``unit`` (month, quarter, year) that ends where the period ``previous`` starts."""
    try:
        named = parse_period(previous, today, fy)
    except ValueError:
        return None
    if unit == "year" and named.granularity != "year":
        return _year_before(previous, today, fy)  # "Q3 versus the year before": Q3 of the year before
    base = period_containing(named.start, unit, fy)  # type: ignore[arg-type]
    return canonical_period(shift(base, -1, fy), fy)


def _period_label(match: re.Match[str], today: date, fy: int) -> str | None:
    fy_prefix = "FY" if fy != 1 else ""
    try:
        if match.group("rel"):
            phrase = " ".join(match.group("rel").lower().split()).replace("current", "this")
            parse_period(phrase, today, fy)
            return phrase
        if match.group("ytd"):
            return "this year"
        if match.group("the"):
            return "this " + match.group("the").split()[-1]
        if match.group("q1") or match.group("q2"):
            quarter = (match.group("q1") or match.group("q2")).upper()
            year = match.group("y1") or match.group("y2")
            if year:
                parse_period(f"{year}-{quarter}", today, fy)
                return f"{year}-{quarter}"
            period = parse_period(quarter, today, fy)
            return f"{period.label.split()[-1].removeprefix('FY')}-{quarter}"
        if match.group("ym"):
            year, month = match.group("ym").split("-")
            parse_period(f"{year}-{month}", today, fy)
            return f"{year}-{int(month):02d}"
        if match.group("mon"):
            phrase = match.group("mon") + (f" {match.group('my')}" if match.group("my") else "")
            period = parse_period(phrase, today, fy)
            return f"{period.start.year}-{period.start.month:02d}"
        if match.group("year") or match.group("bare"):
            year = match.group("year") or match.group("bare")
            parse_period(year, today, fy)
            return f"{fy_prefix}{year}"
    except ValueError:
        return None
    return None


_DAY_RE = re.compile(
    r"\b(?:(?:on|by|before|until|for|due|this|next|coming)\s+)*"
    r"(?P<phrase>today|tonight|tomorrow|day after tomorrow|yesterday|"
    r"(?:end of (?:the )?(?:day|week|month|quarter))|"
    r"(?:(?:the )?(?:end|start|beginning|middle|mid)(?: of|-) ?(?:the )?(?:(?:this|next|last) )?"
    r"(?:month|quarter|year|q[1-4]|" + _MONTH_NAMES + r")(?: \d{4})?)|"
    r"in (?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+) (?:days?|weeks?|months?)|"
    r"(?:a|one|two|three|\d+) (?:days?|weeks?) from now|"
    r"next week|next month|"
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)|"
    r"\d{4}-\d{2}-\d{2}|"
    r"\d{1,2}/\d{1,2}(?:/\d{2,4})?|"
    r"(?:" + _MONTH_NAMES + r")\.? \d{1,2}(?:st|nd|rd|th)?(?:,? \d{4})?|"
    r"\d{1,2}(?:st|nd|rd|th)? (?:of )?(?:" + _MONTH_NAMES + r")(?:,? \d{4})?|"
    r"the \d{1,2}(?:st|nd|rd|th))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DayMention:
    day: date
    start: int
    end: int


def find_day(text: str, today: date) -> DayMention | None:
    """The first calendar day mentioned ("next Friday", "in two weeks", "Dec 3", "end of month"), relative to
    ``today``; future dates are preferred, as in "remind me on Monday"."""
    for match in _DAY_RE.finditer(text):
        day = resolve_day(match.group(0), today)
        if day is not None:
            return DayMention(day, match.start(), match.end())
    return None


# --- owners, groupings -------------------------------------------------------------------------------------

GROUPINGS: dict[str, str] = {
    "lead source": "source",
    "lead sources": "source",
    "source": "source",
    "sources": "source",
    "channel": "source",
    "channels": "source",
    "rep": "owner",
    "reps": "owner",
    "owner": "owner",
    "owners": "owner",
    "person": "owner",
    "people": "owner",
    "salesrep": "owner",
    "user": "owner",
    "agent": "owner",
    "agents": "owner",
    "salesperson": "owner",
    "salespeople": "owner",
    "seller": "owner",
    "sellers": "owner",
    "account": "account",
    "accounts": "account",
    "customer": "account",
    "customers": "account",
    "client": "account",
    "clients": "account",
    "offices": "region",
    "regional office": "region",
    "regional offices": "region",
    "team": "team",
    "teams": "team",
    "manager": "team",
    "managers": "team",
    "stage": "stage",
    "stages": "stage",
    "industry": "industry",
    "industries": "industry",
    "sector": "industry",
    "sectors": "industry",
    "vertical": "industry",
    "verticals": "industry",
    "product": "product",
    "products": "product",
    "product line": "product",
    "sku": "product",
    "region": "region",
    "regions": "region",
    "territory": "region",
    "territories": "region",
    "geo": "region",
    "geography": "region",
    "office": "region",
    "month": "month",
    "months": "month",
    "quarter": "quarter",
    "quarters": "quarter",
}
_GROUP_WORDS = "|".join(sorted((re.escape(k) for k in GROUPINGS), key=len, reverse=True))
_GROUP_RE = re.compile(
    rf"\b(?:by|per|each|every|for each|for every|across|broken down by|split by|grouped by|break(?:ing)? down by)"
    rf"\s+(?:of\s+)?(?:the\s+|my\s+|our\s+|their\s+)?(?:sales\s+)?({_GROUP_WORDS})\b",
    re.IGNORECASE,
)
_GROUP_ADVERBS = {"monthly": "month", "quarterly": "quarter", "month over month": "month", "mom": "month"}
_GROUP_ADVERBS |= {"quarter over quarter": "quarter", "qoq": "quarter", "month by month": "month"}


def find_groupings(text: str) -> list[str]:
    """Groupings in order of mention: "by rep", "per industry", "each month", "monthly", "which rep"."""
    found: list[tuple[int, str]] = [(m.start(), GROUPINGS[m.group(1).lower()]) for m in _GROUP_RE.finditer(text)]
    for word, group in _GROUP_ADVERBS.items():
        for match in re.finditer(rf"\b{word}\b", text, re.IGNORECASE):
            found.append((match.start(), group))
    for match in re.finditer(
        rf"\b(?:which|what|whose|who's|top|best|worst|bottom)\s+(?:of\s+(?:the|our|my)\s+)?(?:(?:\d{{1,3}}|two|three|four|five|six|seven|eight|nine|ten|twenty)\s+)?(?:sales\s+|regional\s+)?({_GROUP_WORDS})\b",
        text,
        re.IGNORECASE,
    ):
        found.append((match.start(), GROUPINGS[match.group(1).lower()]))
    for match in re.finditer(
        rf"\b(?:compare|comparing|(?:best|top|worst)[- ]selling)\s+(?:the\s+|our\s+|my\s+)?(?:\w+\s+)?(?:sales\s+|regional\s+)?({_GROUP_WORDS})(?:'s|')?(?!\w)",
        text,
        re.IGNORECASE,
    ):
        found.append((match.start(), GROUPINGS[match.group(1).lower()]))
    for match in re.finditer(  # "the four slowest reps", "our weakest offices": a ranking of the groups
        rf"\b(?:slowest|fastest|quickest|weakest|strongest|highest|lowest|busiest|biggest|largest|smallest)\s+"
        rf"(?:sales\s+|regional\s+)?({_GROUP_WORDS})\b",
        text,
        re.IGNORECASE,
    ):
        found.append((match.start(), GROUPINGS[match.group(1).lower()]))
    for match in re.finditer(  # "the best performing manager", "worst-performing office"
        rf"\b(?:best|worst|top|strongest|weakest|highest|lowest)[- ](?:performing|producing|earning)\s+(?:sales\s+|regional\s+)?({_GROUP_WORDS})\b",
        text,
        re.IGNORECASE,
    ):
        found.append((match.start(), GROUPINGS[match.group(1).lower()]))
    named_group = bool(found)
    if not named_group and re.search(
        r"\bwho(?:'s|\s+is)?\s+(?:our\s+|my\s+|the\s+)?(?:weakest|strongest|best|worst|top)\b", text, re.I
    ):
        found.append((len(text), "owner"))
    if not named_group and re.search(
        r"\bwho\s+(?:won|closed|sold|brought|booked|has|had|is|are|was|lost)\b|\bleaderboard\b", text, re.I
    ):
        found.append((len(text), "owner"))
    result: list[str] = []
    for _, group in sorted(found):
        if group not in result:
            result.append(group)
    return result


# --- contact details ---------------------------------------------------------------------------------------

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|io|co|net|org|ai)(?:/\S*)?\b", re.IGNORECASE)


def find_emails(text: str) -> list[str]:
    return [m.group(0).rstrip(".").lower() for m in EMAIL_RE.finditer(text)]


def find_phone(text: str, region: str = "US") -> str | None:
    """The first phone number, as E.164 when it parses as a valid number, else as written."""
    import phonenumbers

    cleaned = EMAIL_RE.sub(" ", text)
    for match in phonenumbers.PhoneNumberMatcher(cleaned, region, leniency=phonenumbers.Leniency.POSSIBLE):
        number = match.number
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        return str(match.raw_string).strip()
    return None


_FREE_MAIL_TEXT = (
    "gmail.com googlemail.com yahoo.com hotmail.com outlook.com live.com icloud.com me.com aol.com "
    "proton.me protonmail.com gmx.com gmx.de web.de mail.com yandex.com zoho.com"
)
FREE_MAIL = frozenset(_FREE_MAIL_TEXT.split())


def company_from_email(email: str) -> str | None:
    domain = email.rsplit("@", 1)[-1].lower()
    if domain in FREE_MAIL:
        return None
    label = domain.split(".")[0]
    return " ".join(part.capitalize() for part in re.split(r"[-_]", label) if part) or None


def strip_contact_details(text: str) -> str:
    text = EMAIL_RE.sub(" ", text)
    text = _URL_RE.sub(" ", text)
    text = re.sub(r"(?:\+?\d[\d\s().-]{6,}\d)", " ", text)
    return text
