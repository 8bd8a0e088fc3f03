"""The deal stage machine, playbook tasks, stalled deals and the pipeline summary, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sales.deals import DealInput, create_deal, list_stalled_deals, move_deal_to_stage, update_deal
from sales.errors import InvalidInput, PermissionDenied, TransitionNotAllowed
from sales.interactions import InteractionInput, log_interaction
from sales.pipeline import pipeline_summary
from sales.stages import DEFAULT_MACHINE
from store.models import AuditEvent, Deal, StageChange, Task, User
from store.types import utcnow
from tests.factories import actor, small_org


def _deal(s: Session, who, **kw) -> Deal:  # type: ignore[no-untyped-def]
    data = {"name": "Acme expansion", "account_name": "Acme", "amount": Decimal("25000"), **kw}
    return create_deal(s, who, DealInput(**data)).deal


def test_new_deal_gets_history_and_playbook_tasks(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        close = utcnow().date() + timedelta(days=90)
        result = create_deal(s, rep, DealInput(name="Acme", account_name="Acme", expected_close_date=close))
        s.commit()
        changes = s.exec(select(StageChange).where(StageChange.deal_id == result.deal.id)).all()
        assert [(c.from_stage, c.to_stage) for c in changes] == [(None, "Prospecting")]
        tasks = {t.kind: t for t in s.exec(select(Task).where(Task.deal_id == result.deal.id)).all()}
        assert set(tasks) == {"meeting", "close_plan"}
        assert tasks["meeting"].due_date == utcnow().date() + timedelta(days=10)
        assert tasks["close_plan"].due_date == close - timedelta(days=30)
        later = close + timedelta(days=14)
        assert result.deal.id is not None
        update_deal(s, rep, result.deal.id, expected_close_date=later)
        s.commit()
        s.refresh(tasks["close_plan"])
        assert tasks["close_plan"].due_date == later - timedelta(days=30)


def test_disallowed_move_is_refused_with_the_allowed_moves(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        deal = _deal(s, rep)
        s.commit()
        assert deal.id is not None
        with pytest.raises(TransitionNotAllowed) as info:
            move_deal_to_stage(s, rep, deal.id, "negotiation")
        assert info.value.allowed == ["Qualified", "Lost"]
        assert "Qualified, Lost" in str(info.value)
        with pytest.raises(TransitionNotAllowed, match="not a stage"):
            move_deal_to_stage(s, rep, deal.id, "Closed-ish")


def test_lost_needs_a_reason_and_won_needs_an_amount(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        deal = _deal(s, rep, amount=None)
        s.commit()
        assert deal.id is not None
        with pytest.raises(InvalidInput, match="loss_reason"):
            move_deal_to_stage(s, rep, deal.id, "Lost")
        for stage in ("Qualified", "Discovery", "Proposal", "Negotiation"):
            move_deal_to_stage(s, rep, deal.id, stage)
        with pytest.raises(InvalidInput, match="amount"):
            move_deal_to_stage(s, rep, deal.id, "Won")
        result = move_deal_to_stage(s, rep, deal.id, "won", amount="48000")
        s.commit()
        assert result.deal.stage == "Won"
        assert result.deal.amount == Decimal("48000")
        assert result.deal.closed_at is not None
        assert s.get(AuditEvent, result.receipt_id) is not None
        with pytest.raises(TransitionNotAllowed, match="closed"):
            move_deal_to_stage(s, rep, deal.id, "Lost", loss_reason="changed mind")


def test_a_rep_cannot_move_another_teams_deal(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        deal = _deal(s, actor(s, org["east_rep1"]))
        s.commit()
        assert deal.id is not None
        with pytest.raises(PermissionDenied):
            move_deal_to_stage(s, actor(s, org["west_rep1"]), deal.id, "Qualified")
        with pytest.raises(PermissionDenied):
            move_deal_to_stage(s, actor(s, org["west_mgr"]), deal.id, "Qualified")
        move_deal_to_stage(s, actor(s, org["east_mgr"]), deal.id, "Qualified")


def test_stalled_deals_are_listed_with_why(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        quiet = _deal(s, rep, name="Quiet deal")
        busy = _deal(s, rep, name="Busy deal")
        s.commit()
        assert busy.id is not None
        long_ago = utcnow() - timedelta(days=40)
        for deal in (quiet, busy):
            deal.stage_entered_at = long_ago
            s.add(deal)
        log_interaction(
            s,
            rep,
            InteractionInput(
                deal_id=busy.id, channel="call", body="Good call", occurred_at=utcnow() - timedelta(days=2)
            ),
        )
        s.commit()
        stalled = list_stalled_deals(s, rep)
        assert [d.name for d in stalled] == ["Quiet deal"]
        assert stalled[0].days_idle >= 40
        assert stalled[0].limit_days == DEFAULT_MACHINE.stall_limit("Prospecting")
        assert "no stage change or interaction for" in stalled[0].reason
        assert list_stalled_deals(s, actor(s, org["west_rep1"])) == []


def test_pipeline_summary_totals_by_stage_and_owner(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        e1, w1 = actor(s, org["east_rep1"]), actor(s, org["west_rep1"])
        _deal(s, e1, amount=Decimal("100.10"))
        _deal(s, e1, amount=Decimal("200.20"))
        _deal(s, e1, amount=None)
        _deal(s, w1, amount=Decimal("5"))
        s.commit()
        rows = pipeline_summary(s, actor(s, org["admin"]))
        assert [(r.stage, r.owner_name, r.deals, r.amount) for r in rows] == [
            ("Prospecting", "Eli One", 3, Decimal("300.30")),
            ("Prospecting", "Will One", 1, Decimal("5.00")),
        ]
        assert [r.owner_name for r in pipeline_summary(s, e1)] == ["Eli One"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([*DEFAULT_MACHINE.stages, "Bogus"]), max_size=12))
def test_any_sequence_of_requests_keeps_history_consistent(sqlite_engine: Engine, targets: list[str]) -> None:
    # Hypothesis reuses the fixture's store across examples: build the org once, then reuse its rep.
    with Session(sqlite_engine) as s:
        rep_user = s.exec(select(User).where(User.email == "eli.one@test.example")).first() or small_org(s)["east_rep1"]
        rep = actor(s, rep_user)
        deal = create_deal(s, rep, DealInput(name="P", amount=Decimal("10"))).deal
        s.commit()
        assert deal.id is not None
        expected = ["Prospecting"]
        for target in targets:
            allowed = DEFAULT_MACHINE.allowed_moves(expected[-1])
            try:
                move_deal_to_stage(s, rep, deal.id, target, loss_reason="price")
                s.commit()
            except (TransitionNotAllowed, InvalidInput):
                s.rollback()
                assert target not in allowed
                continue
            assert target in allowed
            expected.append(target)
        history = s.exec(select(StageChange).where(StageChange.deal_id == deal.id).order_by(col(StageChange.id))).all()
        assert [h.to_stage for h in history] == expected
        assert all(h.from_stage == prev for h, prev in zip(history[1:], expected, strict=False))
        s.refresh(deal)
        assert deal.stage == expected[-1]


def test_the_audit_log_keeps_no_customer_words(engine: Engine) -> None:
    from sales.interactions import update_interaction

    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        deal = _deal(s, rep)
        note, receipt = log_interaction(
            s,
            rep,
            InteractionInput(
                deal_id=deal.id, channel="email", subject="Pricing for Jane", body="Jane Roe says the price is too high"
            ),
        )
        assert note.id is not None
        edit_receipt = update_interaction(s, rep, note.id, body="Jane Roe wants 10% off")
        s.commit()
        for event_id in (receipt, edit_receipt):
            event = s.get(AuditEvent, event_id)
            assert event is not None
            text = repr(event.before) + repr(event.after)
            assert "Jane" not in text
            assert "price" not in text
        logged = s.get(AuditEvent, receipt)
        assert logged is not None and logged.after is not None
        assert logged.after["body_chars"] == len("Jane Roe says the price is too high")
