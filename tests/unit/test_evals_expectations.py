"""Store-derived expectations: placeholders, SQL macros, formatting like the answers, read-only queries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from evals.expectations import (
    ExpectationError,
    Filler,
    date_literal_problems,
    format_value,
    portability_problems,
    resolve_date,
)
from store.db import session_scope
from store.models import Deal, Role, User

TODAY = date(2026, 11, 16)  # Q4: "last quarter" is 2026-07-01 .. 2026-10-01


def _seed(engine: Engine) -> None:
    with session_scope(engine) as s:
        boss = User(name="Mia Manager", email="mia@example.com", role=Role.MANAGER)
        s.add(boss)
        s.flush()
        rep = User(name="Rita Rep", email="rita@example.com", role=Role.REP, manager_id=boss.id)
        s.add(rep)
        s.flush()
        assert rep.id is not None
        for amount, closed in ((1234.5, datetime(2026, 8, 3, tzinfo=UTC)), (10000, datetime(2026, 9, 30, 23, tzinfo=UTC)),
                               (999, datetime(2026, 10, 1, tzinfo=UTC))):  # fmt: skip
            s.add(Deal(name=f"D{amount}", owner_id=rep.id, stage="Won", amount=Decimal(str(amount)), closed_at=closed))


def test_sql_placeholders_use_periods_and_format_like_answers(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    filler = Filler(sqlite_engine, TODAY, speaker_email="mia@example.com")
    won = "SELECT sum(amount) FROM deals WHERE closed_at >= [[start:last quarter]] AND closed_at < [[end:last quarter]]"
    assert filler.text(f"Won: {{{{ sql: {won} | money }}}}.") == "Won: $11,235."
    assert filler.text("{{ sql: SELECT count(*) FROM deals }} deals") == "3 deals"
    assert filler.text("{{ sql: SELECT 0.4251 | percent }}") == "42.5%"
    assert filler.text("{{ sql: SELECT 41.25 | days }}") == "41.3 days"
    assert filler.text("{{ sql: SELECT name FROM users WHERE id = [[user:rita@example.com]] | text }}") == "Rita Rep"
    assert filler.text("{{ sql: SELECT email FROM users WHERE id = [[me]] | text }}") == "mia@example.com"
    assert filler.text("{{ demo.manager }} / {{ today }}").endswith("/ 2026-11-16")


def test_a_lone_sql_placeholder_keeps_its_value_for_store_checks(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    filler = Filler(sqlite_engine, TODAY)
    assert filler.value("{{ sql: SELECT count(*) FROM deals }}") == 3
    assert filler.value({"n": "{{ sql: SELECT count(*) FROM deals | number }}"}) == {"n": "3"}


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ sql: SELECT id FROM deals }}", "one value"),
        ("{{ sql: SELECT amount FROM deals WHERE id < 0 }}", "one value"),
        ("{{ sql: SELECT max(amount) FROM deals WHERE id < 0 }}", "NULL"),
        ("{{ sql: DELETE FROM deals }}", "read-only"),
        ("{{ sql: SELECT 1; DELETE FROM deals }}", "read-only"),
        ("{{ sql: SELECT nope FROM deals }}", "query failed"),
        ("{{ sql: SELECT [[start:someday]] }}", "not a period"),
        ("{{ sql: SELECT [[user:ghost@example.com]] }}", "no user"),
        ("{{ nobody.here }}", "unknown placeholder"),
        ("{{ sql: SELECT [[days_between:closed_at]] FROM deals }}", "START, END"),
        ("{{ sql: SELECT [[month:]] FROM deals }}", "TIMESTAMP"),
        ("{{ sql: SELECT strftime('%Y', closed_at) FROM deals LIMIT 1 }}", "same on SQLite and PostgreSQL"),
    ],
)
def test_bad_expectations_fail_with_a_reason_and_change_nothing(
    sqlite_engine: Engine, template: str, problem: str
) -> None:
    _seed(sqlite_engine)
    filler = Filler(sqlite_engine, TODAY)
    with pytest.raises(ExpectationError, match=problem):
        filler.text(template)
    assert filler.sql_value("SELECT count(*) FROM deals") == 3


def test_format_value_defaults() -> None:
    assert format_value(1234567, None) == "1,234,567"
    assert format_value(Decimal("1200.00"), None) == "1,200"
    assert format_value(1234567.5, "money") == "$1,234,568"
    assert format_value(0.5, "percent") == "50.0%"
    assert format_value("x", None) == "x"


def test_date_macros_compute_months_and_durations_from_the_store(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        deal = s.exec(select(Deal).where(Deal.name == "D999")).one()
        deal.created_at = datetime(2026, 9, 29, 12, tzinfo=UTC)  # closed 2026-10-01 00:00: 1.5 days later
    filler = Filler(sqlite_engine, TODAY)
    assert filler.text("{{ sql: SELECT [[month:closed_at]] FROM deals WHERE name = 'D999' | text }}") == "2026-10"
    days = "SELECT [[days_between:created_at, closed_at]] FROM deals WHERE name = 'D999'"
    assert filler.sql_value(days) == pytest.approx(1.5)
    by_month = (
        "SELECT [[month:closed_at]] FROM deals GROUP BY [[month:closed_at]] "
        "ORDER BY sum(amount) DESC NULLS LAST, [[month:closed_at]] LIMIT 1 | text"
    )
    assert filler.text(f"{{{{ sql: {by_month} }}}}") == "2026-09"


def test_date_macros_are_written_in_the_store_dialect() -> None:
    """PostgreSQL gets what ``sales.pipeline_query`` runs there; no connection is needed to expand them."""
    from sqlalchemy import create_engine

    query = "SELECT [[month:d.closed_at]], avg([[days_between:d.created_at, coalesce(d.closed_at, d.updated_at)]])"
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        assert Filler(engine, TODAY).expand_sql(query) == (
            "SELECT to_char(d.closed_at, 'YYYY-MM'), "
            "avg((EXTRACT(EPOCH FROM (coalesce(d.closed_at, d.updated_at)) - (d.created_at)) / 86400.0))"
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("SELECT strftime('%Y-%m', closed_at) FROM deals", "month:"),
        ("SELECT avg(julianday(closed_at) - julianday(created_at)) FROM deals", "days_between"),
        ("SELECT count(*) FROM deals WHERE closed_at >= date('now', '-90 days')", "[[today]]"),
        ("SELECT count(*) FROM deals WHERE closed_at >= datetime('now')", "[[today]]"),
        ("SELECT ifnull(amount, 0) FROM deals", "SQLite-only"),
        ("SELECT group_concat(name) FROM deals", "SQLite-only"),
        ("SELECT to_char(closed_at, 'YYYY-MM') FROM deals", "PostgreSQL-only"),
        ("SELECT count(*) FROM deals WHERE closed_at >= date_trunc('month', now())", "PostgreSQL-only"),
        ("SELECT count(*) FROM deals WHERE closed_at >= CURRENT_DATE", "wall clock"),
        ("SELECT amount::int FROM deals", "CAST"),
        ("SELECT count(*) FROM deals WHERE name ILIKE 'acme%'", "ILIKE"),
        ("SELECT count(*) FROM deals WHERE name LIKE 'acme%'", "lower(column)"),
        ("SELECT count(*) FROM deals WHERE lower(name) LIKE 'Acme%'", "lowercase pattern"),
        ("SELECT round(avg(amount), 2) FROM deals", "ROUND"),
        ("SELECT name FROM deals GROUP BY name ORDER BY sum(amount) DESC, name LIMIT 1", "NULLS LAST"),
        ("SELECT name FROM deals GROUP BY name ORDER BY avg([[days_between:created_at, closed_at]]) DESC", "NULLS"),
    ],
)
def test_sql_that_differs_between_sqlite_and_postgresql_is_named(query: str, problem: str) -> None:
    problems = portability_problems(query)
    assert problems and problem in " ".join(problems), problems


@pytest.mark.parametrize(
    "query",
    [
        "SELECT [[month:d.closed_at]] FROM deals d GROUP BY [[month:d.closed_at]] "
        "ORDER BY sum(d.amount) DESC NULLS LAST, [[month:d.closed_at]] LIMIT 1",
        "SELECT avg([[days_between:d.created_at, d.closed_at]]) FROM deals d WHERE d.closed_at >= [[start:last quarter]]",
        "SELECT count(*) FROM deals x WHERE lower(x.name) LIKE (SELECT lower(a.name) FROM accounts a) || '%'",
        "SELECT count(*) FROM outbound_messages WHERE lower(to_address) NOT LIKE '%evil.example%'",
        "SELECT d.id FROM deals d ORDER BY d.closed_at DESC, d.id DESC LIMIT 1 OFFSET 2",
        "SELECT u.name FROM users u GROUP BY u.name ORDER BY count(*) DESC, u.name LIMIT 1",
        "SELECT d.id FROM deals d ORDER BY [[days_between:d.created_at, d.closed_at]] DESC NULLS LAST, d.id",
        "SELECT min(email) FROM users WHERE role = 'admin' AND active = TRUE AND name <> 'date(now)'",
        "SELECT 1.0 * sum(CASE WHEN stage = 'Won' THEN 1 ELSE 0 END) / nullif(count(*), 0) FROM deals",
    ],
)
def test_portable_sql_passes(query: str) -> None:
    assert portability_problems(query) == []


@pytest.mark.parametrize(
    ("expression", "today", "expected"),
    [
        ("today", TODAY, date(2026, 11, 16)),
        ("tomorrow", TODAY, date(2026, 11, 17)),
        ("yesterday", TODAY, date(2026, 11, 15)),
        ("today - 90 days", TODAY, date(2026, 8, 18)),  # "the past 90 days"
        ("today + 4 days", TODAY, date(2026, 11, 20)),
        ("today+1", TODAY, date(2026, 11, 17)),
        ("today - 2 weeks", TODAY, date(2026, 11, 2)),
        ("start:last quarter", TODAY, date(2026, 7, 1)),
        ("end: last quarter - 1 day", TODAY, date(2026, 9, 30)),
        ("start:July", TODAY, date(2026, 7, 1)),
        ("start:July", date(2026, 6, 15), date(2025, 7, 1)),  # the latest July 1, never a future one
        ("start:Q3", date(2026, 6, 15), date(2025, 7, 1)),
        ("today - 90 days", date(2026, 6, 15), date(2026, 3, 17)),
        ("start:2026-Q2 + 1 week", TODAY, date(2026, 4, 8)),
    ],
)
def test_date_expressions_count_from_the_runs_today(expression: str, today: date, expected: date) -> None:
    assert resolve_date(expression, today) == expected


def test_date_placeholder_and_macro_follow_the_anchor(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    filler = Filler(sqlite_engine, TODAY)
    assert filler.text("due {{ date: today + 4 days }}") == "due 2026-11-20"
    assert filler.text("won in {{ date: start:last month | %B %Y }}?") == "won in October 2026?"
    assert filler.value({"date_from": "{{ date: today - 90 days }}"}) == {"date_from": "2026-08-18"}
    assert filler.expand_sql("SELECT [[date:tomorrow]], [[date: start:last quarter]]") == (
        "SELECT '2026-11-17', '2026-07-01'"
    )
    since = "SELECT sum(amount) FROM deals WHERE closed_at >= [[date:today - 90 days]] | money"
    assert filler.text(f"{{{{ sql: {since} }}}}") == "$10,999"  # 2026-08-18 on: not the 2026-08-03 deal
    assert Filler(sqlite_engine, date(2026, 6, 15)).text("{{ date: today - 90 days }}") == "2026-03-17"
    for bad in ("{{ date: next friday }}", "{{ sql: SELECT [[date:someday]] }}", "{{ date: start:whenever }}"):
        with pytest.raises(ExpectationError, match=r"date expression|not a period"):
            filler.text(bad)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("d.created_at >= '2026-08-18'", ["2026-08-18"]),
        ("date_from: 2026-07-01", ["2026-07-01"]),
        ("d.closed_at >= [[start:2026-09]]", ["2026-09"]),
        ("[[start:2026-Q3]] and Q4 2026", ["2026-Q3", "Q4 2026"]),
        ("due 2027-11-10", ["2027-11-10"]),  # within a year after the anchor too
        ("since 2017-12-31 or 2025-11-01", []),  # more than a year away: a fixed date of another store
        ("ids 12026-01-01, 2026-13-40, amount 20000", []),  # not dates
        ("[[start:last quarter]] [[date:today - 90 days]] {{ date: start:July }}", []),
    ],
)
def test_literal_dates_near_the_anchor_are_found(text: str, found: list[str]) -> None:
    problems = date_literal_problems(text, TODAY)
    assert [p.split("'")[1] for p in problems] == found
    assert all("fixed_dates" in p for p in problems)


def test_a_date_marked_fixed_is_allowed() -> None:
    text = "between 2026-04-01 and 2026-06-30 (< '2026-07-01'), in 2026-Q2, and '2026-08-18'"
    assert [p.split("'")[1] for p in date_literal_problems(text, TODAY, ["2026-04-01", "2026-06-30", "2026-07-01",
                                                                           "2026-q2"])] == ["2026-08-18"]  # fmt: skip
