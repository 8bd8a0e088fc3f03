"""Tools called directly with a Context: permission from the Context only, receipts on changes, clear refusals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from agent.context import Context
from sales.errors import InvalidInput, NotFound, PermissionDenied
from store.db import session_scope
from store.models import AuditEvent, Deal, Lead
from tests.unit.test_agent_support import Team, seed_team, services_for
from tools.base import ApprovalTicket, ToolUnavailable, describe_error
from tools.registry import GUARDED_TOOLS, SPECS, langchain_tools
from tools.results import RESULT_MODELS
from tools.schemas import TOOL_ARGS


def _ctx(engine: Engine, tmp_path: Path, actor_name: str = "rep") -> tuple[Context, Team]:
    team = seed_team(engine)
    return Context(actor=getattr(team, actor_name), services=services_for(engine, tmp_path)), team


def _run(ctx: Context, tool: str, /, **args: object) -> object:
    return SPECS[tool].run(ctx, TOOL_ARGS[tool].model_validate(args))


def _receipt(engine: Engine, receipt_id: int, action: str) -> None:
    with session_scope(engine) as s:
        event = s.get(AuditEvent, receipt_id)
        assert event is not None and event.action == action


def test_every_tool_has_a_spec_a_result_model_and_a_langchain_wrapper() -> None:
    assert set(SPECS) == set(TOOL_ARGS) == set(RESULT_MODELS)
    assert {"qualify_lead", "send_follow_up"} == GUARDED_TOOLS
    wrapped = {t.name: t for t in langchain_tools()}
    assert set(wrapped) == set(TOOL_ARGS)
    assert all(len(t.description) > 40 for t in wrapped.values())


def test_records_tools_act_as_the_context_actor_and_return_receipts(sqlite_engine: Engine, tmp_path: Path) -> None:
    ctx, team = _ctx(sqlite_engine, tmp_path)
    created = _run(ctx, "create_lead", name="Ivy Chen", email="ivy@north.example", company="Northwind")
    assert created.owner_email == "rita@example.com" and created.created  # type: ignore[attr-defined]
    _receipt(sqlite_engine, created.receipt_id, "create_lead")  # type: ignore[attr-defined]
    found = _run(ctx, "find_records", entity="lead", query="ivy")
    assert [r.name for r in found.records] == ["Ivy Chen"]  # type: ignore[attr-defined]
    with session_scope(sqlite_engine) as s:
        olga_deal = Deal(name="West Deal", owner_id=team.other_rep.user_id or 0, stage="Prospecting")
        rita_deal = Deal(name="East Deal", owner_id=team.rep.user_id or 0, stage="Prospecting")
        s.add_all([olga_deal, rita_deal])
        s.flush()
        olga_id, rita_id = olga_deal.id, rita_deal.id
    assert [r.id for r in _run(ctx, "find_records", entity="deal").records] == [rita_id]  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied):
        _run(ctx, "move_deal", deal_id=olga_id, to_stage="Qualified")
    moved = _run(ctx, "move_deal", deal_name="East Deal", to_stage="qualified")
    assert (moved.from_stage, moved.to_stage) == ("Prospecting", "Qualified")  # type: ignore[attr-defined]
    _receipt(sqlite_engine, moved.receipt_id, "move_deal")  # type: ignore[attr-defined]
    logged = _run(ctx, "log_interaction", deal_id=rita_id, channel="call", body="Talked budget; they want a pilot.")
    assert logged.record_name == "East Deal"  # type: ignore[attr-defined]
    _receipt(sqlite_engine, logged.receipt_id, "log_interaction")  # type: ignore[attr-defined]
    task = _run(ctx, "create_task", title="Send pilot plan", due_date="2026-12-01", deal_name="East Deal")
    _receipt(sqlite_engine, task.receipt_id, "create_task")  # type: ignore[attr-defined]
    listed = _run(ctx, "list_tasks", due_before="2026-12-02", due_after="2026-12-01")
    assert [t.title for t in listed.tasks] == ["Send pilot plan"]  # type: ignore[attr-defined]


def test_guarded_tools_only_prepare_a_pending_request(sqlite_engine: Engine, tmp_path: Path) -> None:
    ctx, team = _ctx(sqlite_engine, tmp_path)
    ticket = _run(ctx, "qualify_lead", lead_name="dana", amount=5000)
    assert isinstance(ticket, ApprovalTicket) and ticket.approvers == ["mia@example.com"]
    with session_scope(sqlite_engine) as s:
        lead = s.get(Lead, team.lead_id)
        assert lead is not None and lead.status == "new"
    draft = _run(ctx, "draft_follow_up", lead_id=team.lead_id, purpose="Share the pricing sheet")
    assert "Hi Dana" in draft.body and "I'm writing to share the pricing sheet." in draft.body  # type: ignore[attr-defined]
    assert draft.subject == "Checking in on Acme Corp"  # type: ignore[attr-defined]
    own = _run(ctx, "draft_follow_up", lead_name="Dana", subject="Pricing", body="Dana, the pricing sheet is attached.")
    assert (own.subject, own.body) == ("Pricing", "Dana, the pricing sheet is attached.")  # type: ignore[attr-defined]
    send = _run(ctx, "send_follow_up", message_id=draft.message_id)  # type: ignore[attr-defined]
    assert isinstance(send, ApprovalTicket) and send.preview == draft.body  # type: ignore[attr-defined]


def test_refusals_are_specific(sqlite_engine: Engine, tmp_path: Path) -> None:
    ctx, _ = _ctx(sqlite_engine, tmp_path)
    with pytest.raises(NotFound, match="no lead you can see"):
        _run(ctx, "qualify_lead", lead_name="Nobody")
    with pytest.raises(ValidationError) as info:
        TOOL_ARGS["pipeline_question"].model_validate({"metric": "profit"})
    assert "metric" in describe_error(info.value).error
    with pytest.raises(InvalidInput, match="period"):
        _run(ctx, "pipeline_question", metric="count", period="the blue moon")
    failure = describe_error(
        ToolUnavailable("not available yet: revenue forecasting (analytics.forecast is not installed)")
    )
    assert failure.kind == "unavailable" and "not available yet" in failure.error


def test_deal_listing_filters_by_amount_industry_product_and_region(engine: Engine, tmp_path: Path) -> None:
    from store.models import Account

    ctx, team = _ctx(engine, tmp_path)
    owner = team.rep.user_id or 0
    with session_scope(engine) as s:
        retail = Account(name="Shopco", industry="Retail", region="EMEA", owner_id=owner)
        clinic = Account(name="Clinico", industry="Healthcare", region="Americas", owner_id=owner)
        s.add_all([retail, clinic])
        s.flush()
        s.add_all(
            [
                Deal(
                    name="Shop big",
                    owner_id=owner,
                    stage="Proposal",
                    amount=Decimal(80_000),
                    product="Pro",
                    account_id=retail.id,
                ),
                Deal(
                    name="Shop small",
                    owner_id=owner,
                    stage="Proposal",
                    amount=Decimal(8_000),
                    product="Lite",
                    account_id=retail.id,
                ),
                Deal(
                    name="Clinic big",
                    owner_id=owner,
                    stage="Proposal",
                    amount=Decimal(90_000),
                    product="Pro",
                    account_id=clinic.id,
                ),
            ]
        )

    def names(**filters: object) -> list[str]:
        return sorted(r.name for r in _run(ctx, "find_records", entity="deal", **filters).records)  # type: ignore[attr-defined]

    assert names(amount_min=50_000) == ["Clinic big", "Shop big"]
    assert names(amount_max=10_000) == ["Shop small"]
    assert names(industry="retail") == ["Shop big", "Shop small"]
    assert names(industry="Retail", amount_min=50_000) == ["Shop big"]
    assert names(product="pro") == ["Clinic big", "Shop big"]
    assert names(region="americas") == ["Clinic big"]
    assert names(amount_min=50_000, amount_currency="EUR") == []  # a threshold in euros compares only euro deals
    # a filter only deals have, asked of leads, is refused instead of silently ignored
    with pytest.raises(InvalidInput, match="only deals can be filtered by industry"):
        _run(ctx, "find_records", entity="lead", industry="Retail")


def test_a_listing_reports_how_many_match_in_all_and_filters_on_closed_and_created_dates(
    engine: Engine, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    ctx, team = _ctx(engine, tmp_path)
    owner = team.rep.user_id or 0
    with session_scope(engine) as s:
        for n in range(14):
            s.add(
                Deal(
                    name=f"Won {n}",
                    owner_id=owner,
                    stage="Won",
                    amount=Decimal(1000 * (n + 1)),
                    closed_at=datetime(2025 if n < 9 else 2026, 3, 1, tzinfo=UTC),
                    created_at=datetime(2025, 1, 2, tzinfo=UTC),
                )
            )
    found = _run(ctx, "find_records", entity="deal", status="won", limit=5)
    assert len(found.records) == 5 and found.total == 14  # type: ignore[attr-defined]
    closed = _run(ctx, "find_records", entity="deal", closed="2025", limit=100)
    assert closed.total == 9  # type: ignore[attr-defined]
    assert _run(ctx, "find_records", entity="deal", created="2026", limit=100).total == 0  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="closed"):
        _run(ctx, "find_records", entity="deal", closed="Q7")


def test_leads_listed_by_where_they_came_from_with_the_real_total(engine: Engine, tmp_path: Path) -> None:
    ctx, team = _ctx(engine, tmp_path)
    with session_scope(engine) as s:
        for n in range(12):
            s.add(Lead(name=f"Lead {n}", source="paid_ads" if n % 3 else "webinar", owner_id=team.rep.user_id))
    found = _run(ctx, "find_records", entity="lead", source="paid ads", limit=3)
    assert len(found.records) == 3 and found.total == 8  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="only leads"):
        _run(ctx, "find_records", entity="deal", source="webinar")
