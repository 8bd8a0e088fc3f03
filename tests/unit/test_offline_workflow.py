"""The offline model reads everyday rep requests as the workflow tools: who to call, stalled deals, hot leads,
contacts at an account, edits, reopening and "oops undo that" (through the graph, audited)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import Engine

from agent.offline.context import ConversationContext
from agent.offline.planner import plan

TODAY = date(2026, 12, 7)


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("who should I call first today?", "who_to_call", {}),
        ("what should I work on first?", "who_to_call", {}),
        ("what are my priorities today?", "who_to_call", {}),
        ("which of my deals are going stale?", "stalled_deals", {"owner": "me"}),
        ("any stalled deals on the team?", "stalled_deals", {}),
        ("what are my hottest leads?", "hot_leads", {}),
        ("top 3 leads by score", "hot_leads", {"limit": 3}),
        ("who do we know at Osprey Bank?", "account_contacts", {"account": "Osprey Bank"}),
        ("change the amount of Osprey Bank - Lumen Starter to $55k", "edit_record", {"amount": 55000.0}),
        ('set the close date on "Acme renewal" to next Friday', "edit_record", {"expected_close_date": "2026-12-11"}),
        ('reassign "Acme renewal" to Jordan Blake', "edit_record", {"owner": "Jordan Blake"}),
        ("update Dana Fox's email to dana@new.example", "edit_record", {"record_type": "lead"}),
        (
            'reopen "Wexford Market", it was marked lost by mistake',
            "reopen_deal",
            {"reason": "it was marked lost by mistake"},
        ),
        ("oops undo that", "undo_last_change", {}),
    ],
)
def test_workflow_requests_pick_their_tool(text: str, tool: str, args: dict[str, Any]) -> None:
    decision = plan(text, ConversationContext(), TODAY)
    assert decision.kind == "tool" and decision.tool == tool, decision.text
    assert args.items() <= decision.args.items()


def test_process_questions_stay_with_the_bottleneck_analysis() -> None:
    for text in ("Where do deals get stuck?", "Which stage are deals stuck in?"):
        assert plan(text, ConversationContext(), TODAY).tool == "bottleneck_analysis"


def test_reopen_without_a_reason_asks_for_one() -> None:
    decision = plan("reopen Wexford Market - Lumen Starter", ConversationContext(), TODAY)
    assert decision.kind == "clarify" and "Why should it be reopened" in decision.text


def test_edit_then_oops_undo_that_through_the_graph(sqlite_engine: Engine, tmp_path: Path) -> None:
    from agent.context import Context
    from agent.graph import build_graph
    from agent.offline import OfflineChatModel  # type: ignore[attr-defined]
    from store.db import session_scope
    from store.models import Deal
    from tests.unit.test_agent_support import seed_team, services_for

    team = seed_team(sqlite_engine)
    assert team.rep.user_id is not None
    with session_scope(sqlite_engine) as s:
        deal = Deal(name="Acme renewal", owner_id=team.rep.user_id, stage="Proposal", amount=Decimal("10000"))
        s.add(deal)
        s.flush()
        deal_id = deal.id
    graph = build_graph(OfflineChatModel(today=TODAY), checkpointer=InMemorySaver())
    context = Context(actor=team.rep, services=services_for(sqlite_engine, tmp_path), today_override=TODAY)
    config = {"configurable": {"thread_id": "t"}}

    def say(text: str) -> str:
        out = graph.invoke({"messages": [HumanMessage(text)]}, config, context=context)
        return str(out["messages"][-1].content)

    edited = say('change the amount of "Acme renewal" to $25k')
    assert "amount 10,000 → 25,000" in edited and "receipt #" in edited
    undone = say("oops undo that")
    assert undone.startswith("Undid your edit deal") and "amount back to 10,000" in undone and "receipt #" in undone
    with session_scope(sqlite_engine) as s:
        again = s.get(Deal, deal_id)
        assert again is not None and again.amount == Decimal("10000")


def test_answers_say_the_span_asked_for_and_when_no_reason_was_recorded() -> None:
    import json

    from agent.offline.compose import compose

    row = {"deal_id": 7, "name": "Acme", "stage": "Proposal", "owner_email": "rita@example.com"}
    idle = {"deals": [{**row, "reason": "no stage change or interaction for 31 days"}], "total": 1, "idle_days": 30}
    text = compose("stalled_deals", {"owner": "me"}, idle, json.dumps(idle))
    assert text.startswith("1 open deal of your own with no stage change or interaction for 30+ days")
    none = {"deals": [], "total": 0, "idle_days": 14}
    assert "No open deals have gone 14+ days" in compose("stalled_deals", {}, none, json.dumps(none))
    lost = {
        "metric": "count",
        "unit": "deals",
        "group_by": ["loss_reason"],
        "computed": "number of lost deals, by loss reason, highest first",
        "rows": [{"group": {"loss_reason": None}, "value": 2473, "deals": 2473}],
        "total": {"value": 2473, "deals": 2473},
    }
    assert "No loss reason is recorded on these deals" in compose("pipeline_question", {}, lost, json.dumps(lost))
