"""Store-derived expectations: ``{{ ... }}`` placeholders in cases, filled from the run's store at run time.

* ``{{ demo.rep }}``, ``{{ demo.manager }}``... the demo users' emails (``demo_users``); ``{{ store.admin }}`` the
  store's first admin (for imported stores); ``{{ today }}``.
* ``{{ sql: SELECT ... }}`` one value from a read-only query, formatted the way answers format numbers
  (``agent.offline.format``): ints with thousands separators, other numbers by a trailing ``| money``,
  ``| percent`` (a ratio), ``| days``, ``| number`` (whole) or ``| number1`` (one decimal), ``| text`` as is.
* Inside SQL: ``[[me]]`` the speaker's user id, ``[[user:EMAIL]]`` a user's id, ``[[today]]``, and
  ``[[start:PERIOD]]`` / ``[[end:PERIOD]]`` the bounds of a period ("last quarter", "2026-Q3") as quoted
  ISO dates, end exclusive — the same periods the tools parse, so no date or number is hard-coded in a case.
* Dates relative to the run's date: ``{{ date: EXPR }}`` (an ISO date, for ``say:`` texts and tool-argument
  checks; ``{{ date: EXPR | %B %Y }}`` formats it with ``strftime``) and ``[[date:EXPR]]`` inside SQL (quoted).
  EXPR is ``today``, ``tomorrow``, ``yesterday``, ``start:PERIOD`` or ``end:PERIOD``, optionally ``+ N days`` /
  ``- N weeks`` (``resolve_date``). ``date_literal_problems`` finds ISO dates, months and quarters written as
  literals near the anchor, which would only be right on one anchor (``fixed_dates:`` exempts deliberate ones).
* The same SQL runs on SQLite and PostgreSQL (``--db``): date arithmetic goes through ``[[month:TIMESTAMP]]``
  ('YYYY-MM') and ``[[days_between:START, END]]`` (fractional days), written for the store's dialect the way
  ``sales.pipeline_query`` writes them; ``portability_problems`` refuses one-dialect SQL before it runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_MACRO = re.compile(r"\[\[\s*([a-z_]+)(?::\s*(.*?))?\s*\]\]", re.DOTALL)
_FORMAT = re.compile(r"^(?P<sql>.*?)\s*\|\s*(?P<fmt>money|percent|days|number1|number|text|raw)\s*$", re.DOTALL)
_WRITE = re.compile(
    r"\b(insert|update|delete|drop|alter|create|truncate|attach|detach|pragma|vacuum|grant|copy)\b", re.I
)


# Date arithmetic has no common SQL spelling; these macros render it per dialect exactly as the product's queries
# do (sales.pipeline_query), so an expected figure and the answer are computed the same way on either store.
# The store keeps naive UTC timestamps, so neither rendering depends on the session's time zone.
_DIALECT_MACROS: dict[str, dict[str, str]] = {
    "month": {"sqlite": "strftime('%Y-%m', {0})", "postgresql": "to_char({0}, 'YYYY-MM')"},
    "days_between": {
        "sqlite": "(julianday({1}) - julianday({0}))",
        "postgresql": "(EXTRACT(EPOCH FROM ({1}) - ({0})) / 86400.0)",
    },
}
_MACRO_ARITY = {"month": 1, "days_between": 2}

# SQL that means something else, or nothing, on one of the two stores. Checked on the case's text (macros unexpanded,
# string literals blanked), on every store, so a case written against SQLite cannot break only on PostgreSQL.
_NOT_PORTABLE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bstrftime\s*\(", re.I), "strftime() is SQLite-only; group by month with [[month:TIMESTAMP]]"),
    (
        re.compile(r"\bjulianday\s*\(", re.I),
        "julianday() is SQLite-only; use [[days_between:START, END]] for durations",
    ),
    (
        re.compile(r"\b(?:date|datetime|time|unixepoch|timediff)\s*\(", re.I),
        "SQLite date functions do not exist on PostgreSQL; compare with [[today]], [[start:PERIOD]], [[end:PERIOD]]",
    ),
    (
        re.compile(r"\b(?:ifnull|iif|instr|group_concat|printf|total|typeof|glob)\s*\(", re.I),
        "a SQLite-only function; use standard SQL (coalesce, CASE, position...)",
    ),
    (
        re.compile(r"\b(?:to_char|to_date|to_timestamp|date_trunc|date_part|extract|age|string_agg|now)\s*\(", re.I),
        "a PostgreSQL-only function; use [[month:...]], [[days_between:...]] or the period macros",
    ),
    (
        re.compile(r"\b(?:current_date|current_time|current_timestamp|localtime|localtimestamp)\b", re.I),
        "the server's wall clock is not the run's date; use [[today]] or [[start:PERIOD]] / [[end:PERIOD]]",
    ),
    (re.compile(r"::"), "'::' casts are PostgreSQL-only; use CAST(... AS ...)"),
    (re.compile(r"\bilike\b", re.I), "ILIKE is PostgreSQL-only; use lower(column) LIKE 'lowercase pattern'"),
    (re.compile(r"\bround\s*\(", re.I), "ROUND(float, n) fails on PostgreSQL; the | formats round the value"),
    (re.compile(r"\b(?:limit\s+\d+\s*,|top\s+\d)", re.I), "use LIMIT n OFFSET m"),
]
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_LIKE = re.compile(r"\bLIKE\b", re.I)
_LOWER_LIKE = re.compile(r"\blower\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\s+(?:NOT\s+)?LIKE\b", re.I)
_LIKE_LITERAL = re.compile(r"\bLIKE\s+('(?:[^']|'')*')", re.I)
_AGGREGATE = re.compile(r"\b(?:sum|avg|min|max)\s*\(|\[\[\s*days_between", re.I)


class ExpectationError(ValueError):
    """A placeholder cannot be filled (bad query, no row, unknown name); the case fails with this message."""


_DATE_EXPR = re.compile(
    r"^(?P<base>today|tomorrow|yesterday|(?:start|end)\s*:\s*(?P<period>[^+]+?))"
    r"(?:\s*(?P<sign>[+-])\s*(?P<n>\d+)\s*(?P<unit>days?|weeks?)?)?$",
    re.I,
)


def resolve_date(expression: str, today: date, fiscal_year_start_month: int = 1) -> date:
    """The date ``expression`` names, counted from the run's ``today`` (never the wall clock).

    ``today`` / ``tomorrow`` / ``yesterday``; ``start:PERIOD`` / ``end:PERIOD`` (the first day of a period the tools
    understand, ``sales.periods``, or its exclusive end: ``start:July`` is the latest July 1 on or before today);
    any of them ``+ N days`` or ``- N weeks`` (a bare ``N`` is days): ``today - 90 days`` is "the past 90 days".
    """
    from datetime import timedelta

    from sales.periods import parse_period

    text = " ".join(expression.split())
    match = _DATE_EXPR.match(text)
    if not match:
        raise ExpectationError(
            f"{expression!r} is not a date expression; write today, tomorrow, yesterday, start:PERIOD or end:PERIOD, "
            "optionally + or - N days/weeks (e.g. 'today - 90 days', 'start:last quarter')"
        )
    base = match.group("base").lower()
    if match.group("period"):
        try:
            period = parse_period(match.group("period"), today, fiscal_year_start_month)
        except ValueError as exc:
            raise ExpectationError(str(exc)) from None
        day = period.start if base.startswith("start") else period.end
    else:
        day = today + timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[base])
    if match.group("n"):
        step = int(match.group("n")) * (7 if (match.group("unit") or "").lower().startswith("week") else 1)
        day += timedelta(days=step if match.group("sign") == "+" else -step)
    return day


# Literal dates in a case: ISO days and months (2026-08-18, 2026-09) and quarters (2026-Q3, Q3 2026).
_DATE_LITERAL = re.compile(
    r"(?<![\w-])(?:(?P<y>\d{4})-(?P<m>\d{2})(?:-(?P<d>\d{2}))?|(?P<qy>\d{4})-?Q(?P<q>[1-4])|Q(?P<q2>[1-4])\s+(?P<qy2>\d{4}))"
    r"(?![\w-])",
    re.I,
)


def date_literal_problems(text: str, anchor: date, fixed: Iterable[str] = (), *, window_days: int = 366) -> list[str]:
    """Literal dates in ``text`` within ``window_days`` of ``anchor`` that are not listed in ``fixed``.

    Such a date is almost always the anchor seen through one run ("the past 90 days" written as 2026-08-18): it is
    right on that anchor only. Write it with ``[[date:...]]`` / ``{{ date: ... }}`` or a period macro instead, or,
    when the date really is fixed (the user names it), list it under the case's ``fixed_dates:``.
    """
    allowed = {item.strip().upper() for item in fixed}
    problems: list[str] = []
    for match in _DATE_LITERAL.finditer(text):
        literal = match.group(0)
        try:
            if match.group("y"):
                day = date(int(match.group("y")), int(match.group("m")), int(match.group("d") or 1))
            else:
                quarter = int(match.group("q") or match.group("q2"))
                day = date(int(match.group("qy") or match.group("qy2")), 3 * quarter - 2, 1)
        except ValueError:
            continue  # not a calendar date (an id, a phone number...)
        if abs((day - anchor).days) <= window_days and " ".join(literal.upper().split()) not in allowed:
            problems.append(
                f"{literal!r} is {abs((day - anchor).days)} days {'before' if day < anchor else 'after'} the anchor "
                f"{anchor.isoformat()}: compute it with [[date:...]], {{{{ date: ... }}}} or [[start:PERIOD]], "
                "or list it under fixed_dates: if the user names that exact date"
            )
    return problems


def portability_problems(query: str) -> list[str]:
    """Why ``query`` (a case's SQL, macros unexpanded) would not mean the same on SQLite and PostgreSQL; [] if it would.

    Besides functions only one side has: ``LIKE`` is case-insensitive on SQLite and case-sensitive on PostgreSQL,
    so it must compare ``lower(...)`` with a lowercase pattern; and NULL sorts as the largest value on PostgreSQL
    and the smallest on SQLite, so ranking by an aggregate (which may be NULL) says ``NULLS LAST`` like the
    product's rankings do. (Plain tie-breaking columns keep the dialect's default, as the product's do.)
    """
    problems: list[str] = []
    code = _STRING_LITERAL.sub("''", query)
    for pattern, message in _NOT_PORTABLE:
        found = pattern.search(code)
        if found:
            problems.append(f"{found.group(0).strip()!r}: {message}")
    if len(_LIKE.findall(code)) > len(_LOWER_LIKE.findall(code)):
        problems.append("LIKE is case-insensitive on SQLite only: write lower(column) LIKE 'lowercase pattern'")
    for literal in _LIKE_LITERAL.findall(query):
        if literal != literal.lower():
            problems.append(f"LIKE {literal}: compare lower(column) with a lowercase pattern")
    for item in _order_by_items(code):
        if _AGGREGATE.search(item) and not re.search(r"\bNULLS\s+(?:FIRST|LAST)\s*$", item, re.I):
            problems.append(
                f"ORDER BY {' '.join(item.split())[:80]}: say NULLS LAST (or FIRST); NULL sorts as the largest value "
                "on PostgreSQL and the smallest on SQLite"
            )
    return problems


def _order_by_items(code: str) -> list[str]:
    """The items of every ORDER BY clause in ``code`` (string literals already blanked), split at top-level commas."""
    items: list[str] = []
    for match in re.finditer(r"\bORDER\s+BY\b", code, re.I):
        depth, start, index = 0, match.end(), match.end()
        while index < len(code):
            char = code[index]
            if char in "([":
                depth += 1
            elif char in ")]":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                items.append(code[start:index].strip())
                start = index + 1
            elif depth == 0 and re.match(r"\b(?:LIMIT|OFFSET)\b", code[index:], re.I) and code[index - 1].isspace():
                break
            index += 1
        items.append(code[start:index].strip())
    return items


def demo_users() -> dict[str, str]:
    """The placeholder names of the demo company's people."""
    from sales import demo

    return {
        "demo.admin": demo.DEMO_ADMIN_EMAIL,
        "demo.manager": demo.DEMO_MANAGER_EMAIL,
        "demo.other_manager": demo.DEMO_OTHER_MANAGER_EMAIL,
        "demo.rep": demo.DEMO_REP_EMAIL,
        "demo.low_rep": demo.PLANTED.low_converting_rep_email,
        "demo.domain": demo.DEMO_DOMAIN,
    }


@dataclass
class Filler:
    """Fills placeholders for one case: the store to query, the speaker, the run's today and fiscal year."""

    engine: Engine
    today: date
    speaker_email: str | None = None
    fiscal_year_start_month: int = 1
    names: dict[str, str] = field(default_factory=demo_users)
    _user_ids: dict[str, int] = field(default_factory=dict)

    def text(self, template: str) -> str:
        """``template`` with every placeholder replaced."""
        return _PLACEHOLDER.sub(lambda m: self._one(m.group(1)), template)

    def value(self, template: Any) -> Any:
        """A case value with placeholders filled; a string that is exactly one ``{{ sql: ... | raw }}`` stays a number."""
        if isinstance(template, str):
            whole = _PLACEHOLDER.fullmatch(template.strip())
            if whole and whole.group(1).startswith("sql:") and _FORMAT.match(whole.group(1)[4:]) is None:
                return self.sql_value(whole.group(1)[4:])
            return self.text(template)
        if isinstance(template, list):
            return [self.value(item) for item in template]
        if isinstance(template, dict):
            return {key: self.value(item) for key, item in template.items()}
        return template

    def _one(self, expression: str) -> str:
        if expression.startswith("sql:"):
            body = expression[4:].strip()
            match = _FORMAT.match(body)
            fmt = match.group("fmt") if match else None
            query = match.group("sql") if match else body
            return format_value(self.sql_value(query), fmt)
        if expression == "today":
            return self.today.isoformat()
        if expression.startswith("date:"):
            body, _, fmt = expression[5:].partition("|")
            day = resolve_date(body, self.today, self.fiscal_year_start_month)
            return day.strftime(fmt.strip()) if fmt.strip() else day.isoformat()
        if expression == "me":
            if not self.speaker_email:
                raise ExpectationError("{{ me }} needs a speaker")
            return self.speaker_email
        if expression in self.names:
            return self.names[expression]
        if expression == "store.admin":
            return str(self.sql_value("SELECT min(email) FROM users WHERE role = 'admin' AND active = TRUE"))
        raise ExpectationError(f"unknown placeholder {{{{ {expression} }}}}")

    def user_id(self, email: str) -> int:
        if email not in self._user_ids:
            from sqlalchemy import text

            with self.engine.connect() as conn:
                found = conn.execute(
                    text("SELECT id FROM users WHERE lower(email) = lower(:email)"), {"email": email}
                ).scalar()
            if found is None:
                raise ExpectationError(f"no user {email!r} in this store")
            self._user_ids[email] = int(found)
        return self._user_ids[email]

    def expand_sql(self, query: str) -> str:
        """Replace the ``[[...]]`` macros; the result is plain SQL with quoted literals."""
        from sales.periods import parse_period

        def macro(match: re.Match[str]) -> str:
            name, arg = match.group(1), (match.group(2) or "").strip()
            arg = self.text(arg) if arg else arg
            if name == "me":
                if not self.speaker_email:
                    raise ExpectationError("[[me]] needs a speaker")
                return str(self.user_id(self.speaker_email))
            if name == "user":
                return str(self.user_id(self.names.get(arg, arg)))
            if name == "today":
                return f"'{self.today.isoformat()}'"
            if name == "date":
                return f"'{resolve_date(arg, self.today, self.fiscal_year_start_month).isoformat()}'"
            if name in _DIALECT_MACROS:
                return self._dialect_sql(name, arg)
            if name in ("start", "end"):
                try:
                    period = parse_period(arg, self.today, self.fiscal_year_start_month)
                except ValueError as exc:
                    raise ExpectationError(str(exc)) from None
                return f"'{(period.start if name == 'start' else period.end).isoformat()}'"
            raise ExpectationError(f"unknown SQL macro [[{name}]]")

        return _MACRO.sub(macro, self.text(query) if "{{" in query else query)

    def _dialect_sql(self, name: str, arg: str) -> str:
        """``[[month:TIMESTAMP]]`` or ``[[days_between:START, END]]`` in the SQL of this store's dialect."""
        dialect = self.engine.dialect.name
        if dialect not in _DIALECT_MACROS[name]:
            raise ExpectationError(f"[[{name}:]] has no {dialect} form (only {', '.join(_DIALECT_MACROS[name])})")
        args = _split_top_level(arg)
        if len(args) != _MACRO_ARITY[name] or not all(args):
            usage = "[[month:TIMESTAMP]]" if name == "month" else "[[days_between:START, END]]"
            raise ExpectationError(f"[[{name}:{arg}]]: write {usage}")
        return _DIALECT_MACROS[name][dialect].format(*args)

    def sql_value(self, query: str) -> Any:
        """The single value of a read-only query (a transaction that is always rolled back)."""
        rows = self.sql_rows(query)
        if len(rows) != 1 or len(rows[0]) != 1:
            shape = f"{len(rows)} row(s) of {len(rows[0]) if rows else 0} column(s)"
            raise ExpectationError(f"{{{{ sql: }}}} must return one value, got {shape}: {query.strip()[:200]}")
        value = rows[0][0]
        if value is None:
            raise ExpectationError(f"{{{{ sql: }}}} returned NULL (nothing matched?): {query.strip()[:200]}")
        return value

    def sql_rows(self, query: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        problems = portability_problems(query)
        if problems:
            raise ExpectationError(
                f"expectation SQL must mean the same on SQLite and PostgreSQL: {'; '.join(problems)}"
            )
        expanded = self.expand_sql(query).strip().rstrip(";")
        if _WRITE.search(expanded) or ";" in expanded:
            raise ExpectationError(f"expectation queries are read-only single SELECTs: {expanded[:200]}")
        try:
            with self.engine.connect() as conn:
                try:
                    return [tuple(row) for row in conn.execute(text(expanded)).fetchall()]
                finally:
                    conn.rollback()
        except SQLAlchemyError as exc:
            raise ExpectationError(
                f"expectation query failed: {(str(getattr(exc, 'orig', None) or exc).splitlines() or ['error'])[0]}"
            ) from None


def _split_top_level(text: str) -> list[str]:
    """``text`` split at commas outside parentheses, each part stripped."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _formatters() -> dict[str, Callable[[Any], str]]:
    from agent.offline.format import days, money, number, percent

    return {
        "money": money,
        "percent": percent,
        "days": days,
        "number": number,
        "number1": lambda v: number(v, 1),
        "text": str,
    }


def format_value(value: Any, fmt: str | None) -> str:
    """Format a store value the way answers show it (see ``agent.offline.format``)."""
    formatters = _formatters()
    if fmt == "raw":
        return str(value)
    if fmt is not None:
        return formatters[fmt](value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return formatters["number"](value)
    if isinstance(value, float | Decimal):
        return formatters["number"](value) if Decimal(str(value)) == Decimal(str(value)).to_integral() else str(value)
    return str(value)
