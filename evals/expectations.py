"""Store-derived expectations: ``{{ ... }}`` placeholders in cases, filled from the run's store at run time.

* ``{{ demo.rep }}``, ``{{ demo.manager }}``... the demo users' emails (``demo_users``); ``{{ store.admin }}`` the
  store's first admin (for imported stores); ``{{ today }}``.
* ``{{ sql: SELECT ... }}`` one value from a read-only query, formatted the way answers format numbers
  (``agent.offline.format``): ints with thousands separators, other numbers by a trailing ``| money``,
  ``| percent`` (a ratio), ``| days``, ``| number`` (whole) or ``| number1`` (one decimal), ``| text`` as is.
* Inside SQL: ``[[me]]`` the speaker's user id, ``[[user:EMAIL]]`` a user's id, ``[[today]]``, and
  ``[[start:PERIOD]]`` / ``[[end:PERIOD]]`` the bounds of a period ("last quarter", "2026-Q3") as quoted
  ISO dates, end exclusive — the same periods the tools parse, so no date or number is hard-coded in a case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


class ExpectationError(ValueError):
    """A placeholder cannot be filled (bad query, no row, unknown name); the case fails with this message."""


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
            if name in ("start", "end"):
                try:
                    period = parse_period(arg, self.today, self.fiscal_year_start_month)
                except ValueError as exc:
                    raise ExpectationError(str(exc)) from None
                return f"'{(period.start if name == 'start' else period.end).isoformat()}'"
            raise ExpectationError(f"unknown SQL macro [[{name}]]")

        return _MACRO.sub(macro, self.text(query) if "{{" in query else query)

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
