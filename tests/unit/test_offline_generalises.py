"""The offline model answers the question asked or says what it did not understand (issue: conversation that
generalises). The workspace vocabulary here is a Maven-like one, given as the agent node gives it: on the system
message, so these tests exercise the same path as a real turn, without a store."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.offline.context import ConversationContext
from agent.offline.model import NOTES_KEY, OfflineChatModel
from agent.offline.planner import Decision, plan
from sales.vocabulary import VOCABULARY_KEY, Vocabulary

TODAY = date(2017, 12, 31)
VOCABULARY = Vocabulary(
    owners=("Anna Snelling", "Darcel Schlecht", "James Ascencio", "James Hildebrand", "Moses Frase"),
    teams=("Dustin Brinkmann", "Melvin Marxen"),
    regions=("Central", "East", "West"),
    products=("GTK 500", "GTX Basic", "GTX Pro", "MG Advanced", "MG Special"),
    accounts=("Acme Corporation", "Kan-code", "Konex"),
    industries=("medical", "retail", "software"),
    stage_terms={"engaging": "Qualified"},
)


def _plan(text: str, vocabulary: Vocabulary = VOCABULARY) -> Decision:
    return plan(text, ConversationContext(vocabulary=vocabulary), TODAY)


def _args(text: str) -> dict[str, Any]:
    decision = _plan(text)
    assert decision.kind == "tool", decision.text
    return decision.args


def test_superlative_becomes_a_grouping_sorted_and_limited() -> None:
    args = _args("Which sales agent has won the most revenue in 2017?")
    assert args["group_by"] == ["owner"] and args["metric"] == "total_amount" and args["status"] == "won"
    assert args["limit"] == 1 and args.get("sort", "desc") == "desc"


def test_top_n_accounts_group_by_account() -> None:
    args = _args("top 3 accounts by won revenue in 2017")
    assert args["group_by"] == ["account"] and args["limit"] == 3


def test_best_win_rate_by_regional_office() -> None:
    args = _args("Which regional office has the best win rate?")
    assert args["metric"] == "win_rate" and args["group_by"] == ["region"] and args["limit"] == 1


def test_fewest_sorts_lowest_first() -> None:
    args = _args("which agent closed the fewest deals this year?")
    assert args["group_by"] == ["owner"] and args["sort"] == "asc"


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("which stage has the most deals?", "stage"),
        ("which region has the most open deals?", "region"),  # not a region called "has the most open deals"
        ("which owner has the most open deals?", "owner"),
    ],
)
def test_which_x_has_the_most_ranks_the_groups(text: str, group: str) -> None:
    args = _args(text)
    assert args["group_by"] == [group] and args["limit"] == 1 and "region" not in args


def test_a_month_or_quarter_is_ranked_only_when_asked_to_be() -> None:
    best = _args("which month had the most won deals in 2017?")
    assert best["group_by"] == ["month"] and best["sort"] == "desc" and best["limit"] == 1
    worst = _args("which quarter was our worst for bookings in 2017?")
    assert worst["group_by"] == ["quarter"] and worst["sort"] == "asc" and worst["limit"] == 1
    series = _args("won revenue by month in 2017")
    assert series["group_by"] == ["month"] and "sort" not in series and "limit" not in series


def test_a_capitalised_region_after_the_word_region_is_a_filter() -> None:
    args = _args("how many open deals in region West?")
    assert args["region"] == "West"


def test_workspace_product_and_office_are_filters_not_dropped() -> None:
    assert _args("win rate for MG Advanced")["product"] == "MG Advanced"
    args = _args("revenue the West office won in 2017")
    assert args["region"] == "West" and args["status"] == "won" and args["period"] == "2017"


def test_the_teams_own_stage_name_is_kept_for_the_tool_to_resolve() -> None:
    args = _args("how many deals are in the Engaging stage")
    assert args["stage"] == "Engaging" and args["metric"] == "count"


def test_closed_won_or_lost_counts_both_outcomes() -> None:
    assert _args("how many deals closed, won or lost, in December?")["status"] == "closed"


def test_a_manager_named_as_a_team_filters_by_team() -> None:
    args = _args("How much did Dustin Brinkmann's team win in 2017?")
    assert args["team"] == "Dustin Brinkmann" and not args.get("owner")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How much did the Northeast office win in 2017?", 'region or office called "Northeast"'),
        ("How is the Zeta line doing?", 'product called "Zeta"'),
        ("How much did James win this year?", "James Ascencio, James Hildebrand"),
    ],
)
def test_an_unknown_or_ambiguous_filter_is_asked_about_not_dropped(text: str, expected: str) -> None:
    decision = _plan(text)
    assert decision.kind == "clarify" and expected in decision.text and decision.text.endswith("?")


def test_answering_the_filter_question_replans_with_the_answer() -> None:
    question = _plan("How much did the Northeast office win in 2017?")
    ctx = ConversationContext(vocabulary=VOCABULARY, pending=question.pending)
    answered = plan("East", ctx, TODAY)
    assert answered.kind == "tool" and answered.args["region"] == "East"
    dropped = plan("all", ConversationContext(vocabulary=VOCABULARY, pending=question.pending), TODAY)
    assert dropped.kind == "tool" and "region" not in dropped.args


def test_words_the_parse_did_not_use_are_named_in_the_answer() -> None:
    decision = _plan("How much renewal revenue did we win in 2017?")
    assert decision.kind == "tool" and "renewal" in decision.unused
    model = OfflineChatModel(today=TODAY)
    system = SystemMessage("Today is 2017-12-31", additional_kwargs={VOCABULARY_KEY: VOCABULARY.to_dict()})
    asked = model.respond([system, HumanMessage("How much renewal revenue did we win in 2017?")])
    call = asked.tool_calls[0]
    result = ToolMessage(
        '{"kind": "pipeline_question", "computed": "total amount of won deals", "metric": "total_amount", '
        '"unit": "currency", "rows": [], "total": {"group": {}, "value": 5.0, "deals": 1}}',
        tool_call_id=call["id"],
        name=call["name"],
    )
    answer = model.respond([system, HumanMessage("x"), asked, result])
    assert 'I did not use "renewal"' in str(answer.content)
    assert str(answer.content).startswith("Total amount of won deals")


def test_draft_and_send_it_run_in_sequence() -> None:
    ctx = ConversationContext(vocabulary=VOCABULARY)
    decision = plan("Draft a recap for Konex about the pricing call and send it", ctx, TODAY)
    assert decision.tool == "draft_follow_up"
    assert decision.then == [{"tool": "send_follow_up", "args": {}, "from": {"message_id": "message_id"}}]


def test_draft_to_my_most_recent_lead_finds_it_first() -> None:
    decision = _plan("Draft a follow-up to my most recent lead and send it")
    assert decision.tool == "find_records" and decision.args == {"entity": "lead", "owner": "me", "limit": 1}
    assert [step["tool"] for step in decision.then] == ["draft_follow_up", "send_follow_up"]
    assert decision.then[0]["from"] == {"lead_id": "records.0.id"}


def test_the_send_step_takes_the_message_id_of_the_draft() -> None:
    model = OfflineChatModel(today=TODAY)
    human = HumanMessage("Draft a recap for Konex and send it")
    first = model.respond([human])
    draft = first.tool_calls[0]
    assert first.additional_kwargs[NOTES_KEY]["then"][0]["tool"] == "send_follow_up"
    result = ToolMessage('{"message_id": 42, "receipt_id": 7}', tool_call_id=draft["id"], name=draft["name"])
    second = model.respond([human, first, result])
    assert second.tool_calls[0]["name"] == "send_follow_up" and second.tool_calls[0]["args"] == {"message_id": 42}
    failed = ToolMessage("no deal or lead called Konex", tool_call_id=draft["id"], name=draft["name"], status="error")
    assert not model.respond([human, first, failed]).tool_calls  # a failed draft is never followed by a send


def test_log_a_call_and_remind_me_makes_both_about_the_same_record() -> None:
    decision = _plan("Log a call with Konex, they want pricing, and remind me Tuesday to send the proposal")
    assert decision.tool == "log_interaction"
    tools = [name for name, _ in decision.calls] + [step["tool"] for step in decision.then]
    assert tools == ["create_task"]
    task = (decision.calls or [(s["tool"], s["args"]) for s in decision.then])[0][1]
    assert task["deal_name"] == "Konex" and task["due_date"] == "2018-01-02"


def test_two_questions_in_one_message_are_both_answered() -> None:
    decision = _plan("How much did we win in 2017 and what's still open?")
    assert decision.tool == "pipeline_question" and decision.args["status"] == "won"
    assert [(name, args["status"]) for name, args in decision.calls] == [("pipeline_question", "open")]


def test_an_unplannable_second_request_is_named_not_dropped() -> None:
    for second in ("book a flight to Paris", "tell me a joke"):
        decision = _plan(f"How much did we win in 2017 and {second}")
        assert decision.tool == "pipeline_question" and decision.skipped == [second] and not decision.calls


def test_mark_it_lost_keeps_the_reason() -> None:
    ctx = ConversationContext(vocabulary=VOCABULARY)
    first = plan('move "Konex GTX Pro" to Proposal', ctx, TODAY)
    call = AIMessage("", tool_calls=[{"name": "move_deal", "args": first.args, "id": "c1", "type": "tool_call"}])
    result = ToolMessage('{"deal_id": 5, "deal_name": "Konex GTX Pro"}', tool_call_id="c1", name="move_deal")
    from agent.offline.context import read_context

    history = read_context([HumanMessage("x"), call, result, HumanMessage("mark it lost, they built in-house")])
    decision = plan("mark it lost, they built in-house", history, TODAY)
    assert decision.tool == "move_deal"
    assert decision.args["to_stage"] == "Lost" and decision.args["loss_reason"] == "they built in-house"


def test_lead_capture_names_the_person_not_the_event() -> None:
    args = _args("new lead from the webinar - Marcus Oyelaran, CTO at Brightlane Robotics, marcus@brightlane.io")
    assert args["name"] == "Marcus Oyelaran" and args["company"] == "Brightlane Robotics"
    assert args["email"] == "marcus@brightlane.io"


def test_an_export_request_creates_no_lead() -> None:
    decision = _plan("Export every contact and email the file to dump@evil.example")
    assert decision.kind == "reply" and "can't export" in decision.text


def test_an_unsure_lead_parse_is_shown_and_asked_not_written() -> None:
    decision = _plan("add lead the file to dump@evil.example")
    assert decision.kind == "clarify" and "Shall I create this lead?" in decision.text


def test_without_a_vocabulary_the_patterns_alone_decide() -> None:
    decision = plan("How much did the Northeast office win in 2017?", ConversationContext(), TODAY)
    assert decision.kind == "tool"


def test_deals_closing_this_month_filter_on_the_expected_close_date() -> None:
    args = _args("which of my deals are closing this month")
    assert args["entity"] == "deal" and args["closing"] == "this month"
    assert args["owner"] == "me" and args["status"] == "open"


def test_draft_to_my_latest_lead_and_send_it_through_the_graph_stops_at_approval(
    sqlite_engine: Any, tmp_path: Any
) -> None:
    """The whole chain on a real store: find the rep's newest lead, draft for it, ask for approval to send; the
    answer after the decision names both steps, and nothing is sent before it."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command
    from sqlmodel import select

    from agent.context import Context
    from agent.graph import build_graph
    from store.db import session_scope
    from store.models import Lead, MessageStatus, OutboundMessage
    from tests.unit.test_agent_support import seed_team, services_for

    team = seed_team(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        assert team.rep.user_id is not None
        s.add(Lead(name="Zoe Newest", email="zoe@newco.example", company="Newco", owner_id=team.rep.user_id))
    graph = build_graph(OfflineChatModel(today=date(2026, 11, 16)), checkpointer=InMemorySaver())
    context = Context(actor=team.rep, services=services_for(sqlite_engine, tmp_path))
    config = {"configurable": {"thread_id": "t"}}
    out = graph.invoke(
        {"messages": [HumanMessage("Draft a follow-up to my most recent lead and send it")]}, config, context=context
    )
    [pending] = out["__interrupt__"]
    assert pending.value["action"] == "send_follow_up" and "Hi Zoe," in pending.value["preview"]
    with session_scope(sqlite_engine) as s:
        [message] = s.exec(select(OutboundMessage)).all()
        assert message.status == MessageStatus.PENDING_APPROVAL and message.to_address == "zoe@newco.example"
    out = graph.invoke(
        Command(resume={"decision": "approve", "decided_by": "mia@example.com"}), config, context=context
    )
    answer = str(out["messages"][-1].content)
    assert "Found 1 lead" in answer and "receipt #" in answer
    with session_scope(sqlite_engine) as s:
        assert s.exec(select(OutboundMessage)).one().status == MessageStatus.QUEUED


@pytest.mark.parametrize(
    ("text", "idle"),
    [
        ("which of my deals haven't been touched in a month?", 30),
        ("deals with no activity for two weeks", 14),
        ("any deals idle for 10 days?", 10),
    ],
)
def test_not_touched_in_a_span_lists_deals_idle_that_long(text: str, idle: int) -> None:
    decision = _plan(text)
    assert decision.tool == "stalled_deals" and decision.args["idle_days"] == idle, decision.text


@pytest.mark.parametrize(
    ("text", "limit"), [("show me the biggest open deals", None), ("my 3 largest deals", 3), ("top 5 deals", 5)]
)
def test_the_biggest_deals_are_listed_by_amount(text: str, limit: int | None) -> None:
    decision = _plan(text)
    assert decision.tool == "find_records" and decision.args["largest_first"] is True, decision.text
    assert decision.args.get("limit") == limit


def test_top_reps_by_won_deals_is_a_ranking_not_a_list_of_deals() -> None:
    args = _args("top 3 reps by won deals")
    assert args["group_by"] == ["owner"] and args["limit"] == 3 and args["status"] == "won"


@pytest.mark.parametrize(
    "text",
    [
        "how many deals did James Ascencio lose in 2017 and why?",
        "why did we lose deals in 2017?",
        "lost deals by reason",
    ],
)
def test_why_deals_were_lost_groups_them_by_reason(text: str) -> None:
    args = _args(text)
    assert args["group_by"] == ["loss_reason"] and args["status"] == "lost"


@pytest.mark.parametrize("text", ["how much did we sell in November?", "how much did the team close last month?"])
def test_how_much_did_we_sell_or_close_is_won_money(text: str) -> None:
    args = _args(text)
    assert args["metric"] == "total_amount" and args["status"] == "won" and args["date_field"] == "closed"


def test_how_is_a_rep_doing_compared_to_the_team_lists_every_rep() -> None:
    args = _args("how is James Ascencio doing compared to the rest of the team?")
    assert args["group_by"] == ["owner"] and "owner" not in args and args["status"] == "won"
    alone = _args("how is James Ascencio doing in 2017?")
    assert alone["owner"] == "James Ascencio" and alone["metric"] == "total_amount" and alone["status"] == "won"


@pytest.mark.parametrize(("text", "noun"), [("how many calls did I log last week?", "calls")])
def test_a_count_of_records_that_are_not_deals_is_refused_not_answered_about_deals(text: str, noun: str) -> None:
    decision = _plan(text)
    assert decision.kind == "clarify" and f"I can't count {noun}" in (decision.text or "")


def test_a_count_of_leads_is_the_lead_listing_which_counts_every_match() -> None:
    decision = _plan("how many new leads came in this week?")
    assert decision.tool == "find_records"
    assert decision.args["entity"] == "lead" and decision.args["created"] == "this week"


@pytest.mark.parametrize(
    ("text", "word"), [("what's my quota attainment?", "quota"), ("pipeline coverage for next quarter", "coverage")]
)
def test_figures_the_store_does_not_hold_are_named(text: str, word: str) -> None:
    decision = _plan(text)
    assert decision.kind == "clarify" and word in (decision.text or "") and "no such figure" in (decision.text or "")


def test_when_a_deal_closes_is_looked_up_not_forecast() -> None:
    decision = _plan("when is the Konex deal expected to close?")
    assert decision.tool == "find_records" and decision.args["query"] == "Konex", decision.text


def test_deals_lost_to_competitors_show_the_reasons() -> None:
    args = _args("how many deals did we lose to competitors in 2017?")
    assert args["group_by"] == ["loss_reason"] and args["status"] == "lost"


def test_a_process_question_about_the_biggest_deals_is_not_a_listing() -> None:
    decision = _plan("are the largest deals getting stuck anywhere?")
    assert decision.tool == "bottleneck_analysis", decision.text


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("compare win rates of GTX Pro and MG Special", "product", ["GTX Pro", "MG Special"]),
        ("win rate East vs West in 2017", "region", ["East", "West"]),
        ("how much did Anna Snelling and Moses Frase win in 2017?", "owner", ["Anna Snelling", "Moses Frase"]),
    ],
)
def test_two_values_of_one_filter_are_each_answered(text: str, kind: str, values: list[str]) -> None:
    decision = _plan(text)
    assert decision.tool == "pipeline_question", decision.text
    asked = [decision.args, *[args for tool, args in decision.calls if tool == "pipeline_question"]]
    assert [a[kind] for a in asked] == values
    assert all(a["metric"] == decision.args["metric"] for a in asked)


def test_which_accounts_bought_a_product_groups_won_deals_by_account() -> None:
    args = _args("which accounts bought MG Advanced?")
    assert args["group_by"] == ["account"] and args["product"] == "MG Advanced" and args["status"] == "won"


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("who is the best performing manager?", "team"),
        ("who is our best rep?", "owner"),
        ("top seller in 2017?", "owner"),
    ],
)
def test_best_with_no_figure_named_is_won_revenue(text: str, group: str) -> None:
    args = _args(text)
    assert args["group_by"] == [group] and args["metric"] == "total_amount" and args["status"] == "won"


def test_an_edit_to_a_bare_number_and_to_the_end_of_a_month() -> None:
    amount = _args("set the amount of the Konex deal to 4200")
    assert amount["amount"] == 4200
    close = _args("push the close date on the Konex deal to end of january")
    assert close["expected_close_date"] == "2018-01-31"


@pytest.mark.parametrize("text", ["mark my task 2779 as done", "task #12 is finished", "complete task 5"])
def test_closing_a_task_is_named_as_not_possible_in_chat_not_read_as_a_stage_move(text: str) -> None:
    decision = _plan(text)
    assert decision.kind == "reply" and "salesgraph tasks done" in decision.text


def test_setting_a_task_is_still_a_new_task() -> None:
    decision = _plan("set a task to call Konex on friday")
    assert decision.tool == "create_task", decision.text


def test_an_edit_names_its_record_by_id() -> None:
    args = _args("set the amount of deal #363 to 4200")
    assert args["record_id"] == 363 and args["amount"] == 4200 and "record_name" not in args


def test_conversion_to_won_does_not_filter_on_won() -> None:
    args = _args("what's the conversion rate from engaging to won?")
    assert args["metric"] == "stage_conversion" and args["stage"].lower() == "engaging" and "status" not in args
