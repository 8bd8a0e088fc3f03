"""Answers composed from tool results: actions cite their receipt, errors are reported as errors, numbers are
formatted the stable way."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from agent.offline import OfflineChatModel
from tools.results import (
    CreateLeadResult,
    CreateTaskResult,
    DraftFollowUpResult,
    ForecastResult,
    InteractionHit,
    LogInteractionResult,
    MoveDealResult,
    PipelineQuestionResult,
    PipelineRow,
    QualifyLeadResult,
    ScoreFactor,
    ScoreLeadResult,
    SearchInteractionsResult,
    SendFollowUpResult,
    TaskSummary,
)


def answer(tool: str, args: dict[str, Any], content: str, status: str = "success") -> str:
    messages = [
        HumanMessage("..."),
        AIMessage("", tool_calls=[{"name": tool, "args": args, "id": "c1", "type": "tool_call"}]),
        ToolMessage(content, tool_call_id="c1", name=tool, status=status),
    ]
    reply = OfflineChatModel(today=date(2026, 11, 23)).respond(messages)
    assert reply.tool_calls == []
    return str(reply.content)


ACTIONS: list[tuple[str, BaseModel, str]] = [
    ("create_lead", CreateLeadResult(receipt_id=345, lead_id=12, name="Jane Doe", company="Acme", status="new", created=True), "Created lead #12 Jane Doe (Acme)"),
    ("qualify_lead", QualifyLeadResult(receipt_id=346, lead_id=12, lead_name="Jane Doe", deal_id=7, deal_name="Acme - new deal", stage="Qualified", amount=40000, approval_id=3, approved_by="mgr@demo.example"), "Qualified lead Jane Doe (approved by mgr@demo.example) and opened deal #7"),
    ("move_deal", MoveDealResult(receipt_id=347, deal_id=7, deal_name="Acme", from_stage="Proposal", to_stage="Won", amount=40000, currency="USD"), "Moved deal #7 Acme from Proposal to Won at $40,000"),
    ("log_interaction", LogInteractionResult(receipt_id=348, interaction_id=90, record_type="deal", record_id=7, record_name="Acme", channel="call", occurred_at="2026-11-23"), "Logged the call on Acme as interaction #90"),
    ("create_task", CreateTaskResult(receipt_id=349, task=TaskSummary(id=5, title="Call Bob", due_date="2026-11-27", status="open")), 'Created task #5 "Call Bob" due 2026-11-27'),
    ("draft_follow_up", DraftFollowUpResult(receipt_id=350, message_id=31, to="bob@acme.example", subject="Next steps", body="Hi Bob", status="draft", record_type="deal", record_id=7), 'Drafted message #31 to bob@acme.example: "Next steps"'),
    ("send_follow_up", SendFollowUpResult(receipt_id=351, message_id=31, to="bob@acme.example", subject="Next steps", status="sent", delivered=True, channel="smtp", approval_id=4, approved_by="rep@demo.example", note="delivered by SMTP"), "Sent message #31 to bob@acme.example"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "result", "claim"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_every_action_answer_quotes_its_receipt(tool: str, result: BaseModel, claim: str) -> None:
    text = answer(tool, {}, result.model_dump_json())
    assert claim in text
    assert f"(receipt #{result.receipt_id})" in text  # type: ignore[attr-defined]


@pytest.mark.parametrize("tool", [a[0] for a in ACTIONS])
def test_an_error_result_is_reported_and_never_claimed_as_done(tool: str) -> None:
    text = answer(tool, {"deal_name": "Acme"}, "You may only move your own deals; Acme belongs to Sam.", status="error")
    assert text.startswith("I couldn't ")
    assert "You may only move your own deals" in text
    assert "receipt" not in text
    for claim in ("Created", "Moved", "Logged", "Sent", "Drafted", "Qualified"):
        assert not text.startswith(claim)


def test_an_action_result_without_a_receipt_is_not_claimed_as_recorded() -> None:
    text = answer("move_deal", {}, '{"deal_id": 7, "deal_name": "Acme", "from_stage": "Proposal", "to_stage": "Won"}')
    assert "can't confirm" in text


def test_a_message_left_in_the_outbox_says_it_was_not_delivered() -> None:
    result = SendFollowUpResult(
        receipt_id=9, message_id=31, to="bob@acme.example", subject="Hi", status="queued", delivered=False,
        channel="outbox", approval_id=4, approved_by="mgr@demo.example", note="recorded in the outbox, not delivered",
    )  # fmt: skip
    text = answer("send_follow_up", {"message_id": 31}, result.model_dump_json())
    assert "not delivered" in text and "Sent" not in text and "(receipt #9)" in text


def test_grouped_pipeline_answers_format_money_and_counts() -> None:
    result = PipelineQuestionResult(
        metric="total_amount",
        unit="currency",
        group_by=["owner"],
        filters={"period": "last quarter"},
        rows=[
            PipelineRow(group={"owner": "ana@demo.example"}, value=1234567.5, deals=12),
            PipelineRow(group={"owner": "sam@demo.example"}, value=98000, deals=1),
        ],
        total=PipelineRow(value=1332567.5, deals=13),
    )
    text = answer("pipeline_question", {"metric": "total_amount", "group_by": ["owner"]}, result.model_dump_json())
    assert "Total amount (last quarter):" in text
    assert "- ana@demo.example: $1,234,568 over 12 deals" in text
    assert "- sam@demo.example: $98,000 over 1 deal" in text
    assert "Overall: $1,332,568 over 13 deals." in text


@pytest.mark.parametrize(
    ("metric", "unit", "value", "shown"),
    [("win_rate", "ratio", 0.4251, "42.5%"), ("avg_cycle_days", "days", 41.25, "41.3 days"),
     ("count", "deals", 1234, "1,234"), ("avg_amount", "currency", 15999.5, "$16,000")],
)  # fmt: skip
def test_single_value_pipeline_answers(metric: str, unit: str, value: float, shown: str) -> None:
    result = PipelineQuestionResult(metric=metric, unit=unit, rows=[], total=PipelineRow(value=value, deals=20))
    assert shown in answer("pipeline_question", {"metric": metric}, result.model_dump_json())


def test_score_forecast_and_search_answers() -> None:
    score = ScoreLeadResult(
        lead_id=12,
        name="Jane Doe",
        score=78.04,
        band="hot",
        factors=[ScoreFactor(feature="title", effect=0.3, description="VP title")],
    )
    assert "Lead Jane Doe scores 78.0 out of 100 (hot). Main factors: VP title." in answer(
        "score_lead", {}, score.model_dump_json()
    )
    forecast = ForecastResult(period="2026-Q4", expected=250000, low=180000, high=320000)
    assert "Forecast for 2026-Q4: $250,000 expected (range $180,000 to $320,000)." in answer(
        "forecast", {}, forecast.model_dump_json()
    )
    by_owner = ForecastResult(
        period="2026-Q4",
        expected=250000,
        rows=[  # as the forecast tool passes analytics.forecast's lines through
            {"key": "sam.rivera@demo.example", "currency": "USD", "expected": 150000.0, "p10": 90000.0},
            {"key": "priya.nair@demo.example", "currency": "USD", "expected": 100000.0, "p10": 60000.0},
        ],
    )
    text = answer("forecast", {"group_by": "owner"}, by_owner.model_dump_json())
    assert "sam.rivera@demo.example: $150,000" in text and "priya.nair@demo.example: $100,000" in text
    hits = SearchInteractionsResult(
        query="pricing",
        hits=[
            InteractionHit(
                interaction_id=1,
                occurred_at="2026-11-02T10:00:00Z",
                channel="call",
                snippet="They asked for a discount",
                account_name="Acme",
            )
        ],
    )
    text = answer("search_interactions", {"query": "pricing"}, hits.model_dump_json())
    assert (
        'Found 1 interaction about "pricing":' in text
        and '2026-11-02 · Acme · call: "They asked for a discount"' in text
    )


def test_several_tool_results_are_answered_together() -> None:
    messages = [
        HumanMessage("..."),
        AIMessage("", tool_calls=[
            {"name": "move_deal", "args": {}, "id": "a", "type": "tool_call"},
            {"name": "create_task", "args": {}, "id": "b", "type": "tool_call"},
        ]),
        ToolMessage(MoveDealResult(receipt_id=1, deal_id=7, deal_name="Acme", from_stage="Proposal", to_stage="Negotiation").model_dump_json(), tool_call_id="a"),
        ToolMessage("Task title is required.", tool_call_id="b", status="error"),
    ]  # fmt: skip
    text = str(OfflineChatModel().respond(messages).content)
    assert "Moved deal #7 Acme from Proposal to Negotiation (receipt #1)." in text
    assert "I couldn't create the task: Task title is required." in text


def test_a_missing_value_in_a_tool_summary_reads_as_unknown() -> None:
    score = ScoreLeadResult(lead_id=1, name="Nora Quinn", score=35, summary="Recency: last touch nan days ago.")
    text = answer("score_lead", {}, score.model_dump_json())
    assert "nan" not in text and "last touch unknown days ago" in text
