"""Store-derived expectations: placeholders, SQL macros, formatting like the answers, read-only queries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from evals.expectations import ExpectationError, Filler, format_value
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
