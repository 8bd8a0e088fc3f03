"""Fixing mistakes (edit, reopen, undo) and deciding what to do next (stalled deals, who to call, hot leads,
contacts at an account): audited, permission-checked, and nothing changes on a refusal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from sales.deals import move_deal_to_stage
from sales.edits import edit_record, reopen_deal, undo_last_change
from sales.errors import InvalidInput, NotFound, PermissionDenied
from store.db import session_scope
from store.models import AuditEvent, Contact, Deal, StageChange, Task
from store.types import utcnow
from tests.unit.test_agent_support import Team, seed_team


def _deal(engine: Engine, team: Team, stage: str = "Proposal", **fields: object) -> int:
    assert team.rep.user_id is not None
    with session_scope(engine) as s:
        deal = Deal(name=fields.pop("name", "Acme renewal"), owner_id=team.rep.user_id, stage=stage, **fields)
        s.add(deal)
        s.flush()
        assert deal.id is not None
        s.add(StageChange(deal_id=deal.id, from_stage=None, to_stage=stage, changed_at=utcnow()))
        return deal.id


def _events(engine: Engine, action: str) -> list[AuditEvent]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_edit_is_audited_and_checked_field_by_field(engine: Engine) -> None:
    team = seed_team(engine)
    deal_id = _deal(engine, team, amount=Decimal("10000"))
    with session_scope(engine) as s:
        done = edit_record(s, team.rep, "deal", deal_id, {"amount": "45000", "expected_close_date": "2027-01-15"})
    assert done.changed["amount"] == (Decimal("10000.00"), Decimal("45000"))
    [event] = _events(engine, "edit_deal")
    assert event.id == done.receipt_id and event.after == {"amount": "45000", "expected_close_date": "2027-01-15"}
    with session_scope(engine) as s:
        with pytest.raises(InvalidInput) as bad:  # one bad field: nothing is written
            edit_record(s, team.rep, "deal", deal_id, {"amount": "-5", "name": "New name"})
        assert "amount" in bad.value.problems
    with session_scope(engine) as s:
        deal = s.get(Deal, deal_id)
        assert deal is not None and deal.name == "Acme renewal" and deal.amount == Decimal("45000")


def test_edit_permissions(engine: Engine) -> None:
    team = seed_team(engine)
    deal_id = _deal(engine, team)
    with session_scope(engine) as s:
        with pytest.raises(PermissionDenied):
            edit_record(s, team.other_rep, "deal", deal_id, {"amount": 5})
        with pytest.raises(PermissionDenied):  # a rep cannot give their deal away
            edit_record(s, team.rep, "deal", deal_id, {"owner": "olga@example.com"})
        with pytest.raises(PermissionDenied):  # a manager cannot hand it to another team
            edit_record(s, team.manager, "deal", deal_id, {"owner": "olga@example.com"})
    with session_scope(engine) as s:
        done = edit_record(s, team.manager, "deal", deal_id, {"owner": "Mia Manager"})
        assert done.changed["owner_id"][1] == team.manager.user_id
    assert not _events(engine, "edit_deal")[1:]


def test_reopen_needs_a_manager_and_a_reason_and_goes_back_to_where_it_closed(engine: Engine) -> None:
    team = seed_team(engine)
    deal_id = _deal(engine, team, stage="Negotiation", amount=Decimal("5000"))
    with session_scope(engine) as s:
        move_deal_to_stage(s, team.rep, deal_id, "Lost", loss_reason="price")
    with session_scope(engine) as s:
        with pytest.raises(PermissionDenied):
            reopen_deal(s, team.rep, deal_id, "marked lost by mistake")
        with pytest.raises(PermissionDenied):
            reopen_deal(s, team.other_manager, deal_id, "marked lost by mistake")
        with pytest.raises(InvalidInput):
            reopen_deal(s, team.manager, deal_id, "  ")
    with session_scope(engine) as s:
        done = reopen_deal(s, team.manager, deal_id, "marked lost by mistake")
    assert (done.from_stage, done.to_stage) == ("Lost", "Negotiation")
    with session_scope(engine) as s:
        deal = s.get(Deal, deal_id)
        assert deal is not None and deal.stage == "Negotiation" and deal.closed_at is None and deal.loss_reason is None
        steps = s.exec(
            select(StageChange.to_stage).where(StageChange.deal_id == deal_id).order_by(col(StageChange.id))
        ).all()
        assert steps == ["Negotiation", "Lost", "Negotiation"]
        with pytest.raises(InvalidInput):  # open deals do not reopen
            reopen_deal(s, team.manager, deal_id, "again")
    [event] = _events(engine, "reopen_deal")
    assert event.after is not None and event.after["reason"] == "marked lost by mistake"


def test_undo_reverses_only_your_own_last_change(engine: Engine) -> None:
    team = seed_team(engine)
    deal_id = _deal(engine, team, amount=Decimal("10000"))
    with session_scope(engine) as s:
        edit_record(s, team.rep, "deal", deal_id, {"amount": 20000})
    with session_scope(engine) as s:
        move_deal_to_stage(s, team.rep, deal_id, "Negotiation")
    with session_scope(engine) as s:
        with pytest.raises(NotFound):
            undo_last_change(s, team.manager)  # the manager has changed nothing
        first = undo_last_change(s, team.rep)
    assert first.action == "move_deal" and first.restored["stage"] == "Proposal"
    with session_scope(engine) as s:
        deal = s.get(Deal, deal_id)
        assert deal is not None and deal.stage == "Proposal"
        assert s.exec(select(StageChange.to_stage).where(StageChange.deal_id == deal_id)).all() == ["Proposal"]
        second = undo_last_change(s, team.rep)  # then the edit before it
    assert second.action == "edit_deal"
    with session_scope(engine) as s:
        deal = s.get(Deal, deal_id)
        assert deal is not None and deal.amount == Decimal("10000")
        undos = s.exec(select(AuditEvent).where(AuditEvent.action == "undo").order_by(col(AuditEvent.id))).all()
        assert [e.after["undoes"] for e in undos if e.after] == [first.undone_event_id, second.undone_event_id]


def test_undo_refuses_old_changes_and_records_changed_since(engine: Engine) -> None:
    team = seed_team(engine)
    deal_id = _deal(engine, team, amount=Decimal("10000"))
    with session_scope(engine) as s:
        edit_record(s, team.rep, "deal", deal_id, {"amount": 20000})
    with session_scope(engine) as s, pytest.raises(InvalidInput, match="more than 30 minutes"):
        undo_last_change(s, team.rep, now=utcnow() + timedelta(hours=2))
    with session_scope(engine) as s:
        edit_record(s, team.manager, "deal", deal_id, {"amount": 30000})  # someone else changes it after
    with session_scope(engine) as s, pytest.raises(InvalidInput, match="changed since"):
        undo_last_change(s, team.rep)
    with session_scope(engine) as s:
        deal = s.get(Deal, deal_id)
        assert deal is not None and deal.amount == Decimal("30000")


def test_who_to_call_puts_a_planted_hot_deal_first(sqlite_engine: Engine, tmp_path: Path) -> None:
    from sales.demo import seed_demo
    from sales.permissions import actor_for_user
    from sales.priorities import who_to_call
    from sales.users import user_by_email

    today = date(2026, 11, 16)
    with session_scope(sqlite_engine) as s:
        seed_demo(s, seed=7, anchor=today)
    with session_scope(sqlite_engine) as s:
        sam = user_by_email(s, "sam.rivera@demo.example")
        assert sam is not None and sam.id is not None
        entered = utcnow() - timedelta(days=60)
        hot = Deal(
            name="Planted Hot - Lumen Enterprise",
            owner_id=sam.id,
            stage="Negotiation",
            amount=Decimal("900000"),
            product="Lumen Enterprise",
            created_at=entered - timedelta(days=60),
            stage_entered_at=entered,
            expected_close_date=today + timedelta(days=10),
        )
        s.add(hot)
        s.flush()
        assert hot.id is not None
        s.add(StageChange(deal_id=hot.id, from_stage="Proposal", to_stage="Negotiation", changed_at=entered))
        s.add(Task(title="Send the revised order form", owner_id=sam.id, deal_id=hot.id, due_date=today))
        actor = actor_for_user(s, sam)
    with session_scope(sqlite_engine) as s:
        ranked = who_to_call(s, actor, today=today)
    assert ranked[0].deal_id == hot.id and len(ranked) == 5
    assert "1 task due: Send the revised order form" in ranked[0].reason and "to win ×" in ranked[0].reason
    assert all(r.priority >= ranked[i + 1].priority for i, r in enumerate(ranked[:-1]))


def test_contacts_at_an_account_and_hot_leads_respect_visibility(engine: Engine) -> None:
    from sales.priorities import contacts_at_account, hottest_leads
    from store.models import Account, Lead

    team = seed_team(engine)
    with session_scope(engine) as s:
        acme = Account(name="Acme Corp")
        s.add(acme)
        s.flush()
        s.add(Contact(name="Dana Fox", title="CTO", account_id=acme.id, owner_id=team.rep.user_id))
        s.add(Contact(name="Olga's Contact", account_id=acme.id, owner_id=team.other_rep.user_id))
        lead = s.get(Lead, team.lead_id)
        assert lead is not None
        lead.score, lead.account_id = 81.0, acme.id
        s.add(lead)
    with session_scope(engine) as s:
        mine = contacts_at_account(s, team.rep, "acme")  # Rita works the account: she sees everyone there
        theirs = contacts_at_account(s, team.other_manager, "Acme Corp")  # Otto's team has nothing there
        assert {c["name"] for c in mine.contacts} == {"Dana Fox", "Olga's Contact"}
        assert {c["name"] for c in theirs.contacts} == {"Olga's Contact"}
        with pytest.raises(NotFound):
            contacts_at_account(s, team.rep, "Globex")
        assert [h.name for h in hottest_leads(s, team.rep)] == ["Dana Fox"]
        assert hottest_leads(s, team.other_rep) == []


def test_hot_leads_scores_the_unscored_open_leads_first_in_one_audited_batch(engine: Engine, tmp_path: Path) -> None:
    from agent.context import Context
    from tests.unit.test_agent_support import services_for
    from tools.schemas import HotLeadsArgs
    from tools.workflow import hot_leads

    team = seed_team(engine)
    context = Context(actor=team.rep, services=services_for(engine, tmp_path))
    first = hot_leads(context, HotLeadsArgs())
    assert first.scored_now == 1 and first.unscored == 0 and [lead.name for lead in first.leads] == ["Dana Fox"]
    [event] = _events(engine, "score_leads")
    assert event.id == first.receipt_id
    again = hot_leads(context, HotLeadsArgs())  # nothing left to score: no second audit event
    assert again.scored_now == 0 and again.receipt_id is None and len(_events(engine, "score_leads")) == 1


def test_deals_idle_for_a_span_the_rep_names(engine: Engine) -> None:
    """ "not touched in a month": one limit for every open stage instead of each stage's own, longest idle first."""
    from sales.deals import list_deals, list_stalled_deals

    team = seed_team(engine)
    now = utcnow()
    old = _deal(engine, team, name="Quiet one", stage_entered_at=now - timedelta(days=40), amount=Decimal(5))
    recent = _deal(engine, team, name="Busy one", stage_entered_at=now - timedelta(days=10), amount=Decimal(90))
    middling = _deal(engine, team, name="Proposal 25", stage_entered_at=now - timedelta(days=25), amount=Decimal(50))
    with session_scope(engine) as s:
        by_stage_limit = {d.deal_id for d in list_stalled_deals(s, team.rep, now=now)}
        month = list_stalled_deals(s, team.rep, now=now, idle_days=30)
        fortnight = list_stalled_deals(s, team.rep, now=now, idle_days=14)
        biggest = list_deals(s, team.rep, largest_first=True, limit=2)
    assert by_stage_limit == {old}  # Proposal allows 30 days
    assert [d.deal_id for d in month] == [old] and "you asked for 30 or more" in month[0].reason
    assert [d.deal_id for d in fortnight] == [old, middling] and recent not in {d.deal_id for d in fortnight}
    assert [d.id for d in biggest] == [recent, middling]  # by amount, not by last update


def test_deals_longest_in_their_stage_come_first_with_their_days_in_it(engine: Engine, tmp_path: Path) -> None:
    """ "which deals have been sitting in Proposal the longest": by the day each entered its current stage."""
    from agent.context import Context
    from tests.unit.test_agent_support import services_for
    from tools.records import find_records
    from tools.schemas import FindRecordsArgs

    team = seed_team(engine)
    now = utcnow()
    longest = _deal(engine, team, name="Since June", stage_entered_at=now - timedelta(days=90), amount=Decimal(5))
    newest = _deal(engine, team, name="Since Monday", stage_entered_at=now - timedelta(days=2), amount=Decimal(900))
    _deal(engine, team, name="Elsewhere", stage="Discovery", stage_entered_at=now - timedelta(days=300))
    context = Context(actor=team.rep, services=services_for(engine, tmp_path))
    found = find_records(context, FindRecordsArgs(entity="deal", stage="Proposal", longest_in_stage=True))
    assert [r.id for r in found.records] == [longest, newest]  # not by amount, not by last update
    assert [round(r.days_in_stage or 0) for r in found.records] == [90, 2]
    plain = find_records(context, FindRecordsArgs(entity="deal", stage="Proposal"))
    assert all(r.days_in_stage is None for r in plain.records)
    with pytest.raises(InvalidInput, match="only deals have stages"):
        find_records(context, FindRecordsArgs(entity="lead", longest_in_stage=True))


def test_a_name_matching_one_open_and_some_closed_deals_means_the_open_one(engine: Engine) -> None:
    from tools.records import deal_id_for

    team = seed_team(engine)
    closed = _deal(engine, team, name="Rosewood renewal 2025", stage="Lost")
    still_open = _deal(engine, team, name="Rosewood renewal 2026")
    with session_scope(engine) as s:
        assert deal_id_for(s, team.rep, None, "Rosewood", prefer_open=True) == still_open
        with pytest.raises(InvalidInput, match="matches several"):
            deal_id_for(s, team.rep, None, "Rosewood")  # reopening, say, may well mean the closed one
        assert deal_id_for(s, team.rep, closed, None, prefer_open=True) == closed
