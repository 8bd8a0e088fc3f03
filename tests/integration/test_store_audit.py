"""The audit log is a hash chain: any edited or removed row is reported as the first broken link."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.audit import record_event, verify_chain
from store.db import session_scope


def _write_events(engine: Engine, n: int) -> None:
    with session_scope(engine) as s:
        for i in range(n):
            record_event(
                s,
                actor_id=None,
                actor="system",
                action="move_deal",
                record_type="deal",
                record_id=i,
                before={"stage": "Proposal"},
                after={"stage": "Negotiation", "amount": Decimal("1200.50"), "note": "ünïcode"},
            )


def test_untouched_chain_verifies(engine: Engine) -> None:
    _write_events(engine, 5)
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert report.ok
    assert report.checked == 5


def test_edited_row_is_the_first_broken_link(engine: Engine) -> None:
    _write_events(engine, 5)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'nothing_happened' WHERE id = 3"))
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert not report.ok
    assert report.first_broken_id == 3
    assert report.checked == 2
    assert "edited" in (report.problem or "")


def test_deleted_row_breaks_the_next_link(engine: Engine) -> None:
    _write_events(engine, 5)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 2"))
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert not report.ok
    assert report.first_broken_id == 3


def test_receipts_survive_a_round_trip_through_the_database(engine: Engine) -> None:
    with session_scope(engine) as s:
        event = record_event(
            s,
            actor_id=None,
            actor="system",
            action="x",
            record_type="deal",
            record_id=1,
            after={"amount": Decimal("5")},
        )
        event_id = event.id
    with session_scope(engine) as s:
        row = s.execute(text("SELECT action, record_id FROM audit_events WHERE id = :i"), {"i": event_id}).one()
    assert tuple(row) == ("x", "1")


def test_read_only_sessions_run_beside_a_writer(sqlite_engine: Engine) -> None:
    from store.db import session_scope as scope

    with scope(sqlite_engine) as writer:
        record_event(writer, actor_id=None, actor="system", action="x", record_type="deal", record_id=1)
        with scope(sqlite_engine, read_only=True) as reader:
            # the reader does not wait for the writer's lock and sees only committed rows
            assert reader.execute(text("SELECT count(*) FROM audit_events")).scalar() == 0
    with scope(sqlite_engine, read_only=True) as reader:
        assert reader.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
