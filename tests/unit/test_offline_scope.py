"""A read answers the whole request or names what it left out (the conversation's worst failure is a confident
answer to a smaller question). The filters, owners, groupings, periods and comparisons a request carries are read
once, the way a pipeline question reads them, and handed to whichever tool answers: what that tool cannot apply is
named in the answer. Phrasings here are written for these tests, in words no eval case uses."""

from __future__ import annotations

from datetime import date

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.offline.context import ConversationContext
from agent.offline.model import NOTES_KEY, OfflineChatModel
from agent.offline.planner import Decision, plan
from sales.vocabulary import VOCABULARY_KEY, Vocabulary

TODAY = date(2026, 11, 16)
VOCABULARY = Vocabulary(
    owners=("Ana Okafor", "Bram de Wit", "Chen Li", "Dana Ruiz"),
    teams=("North", "South"),
    regions=("Nordics", "Iberia"),
    products=("Orbit Enterprise", "Orbit Lite"),
    accounts=("Halden Foods", "Quarry Labs"),
    industries=("Retail", "Healthcare"),
)


def _plan(text: str) -> Decision:
    return plan(text, ConversationContext(vocabulary=VOCABULARY), TODAY)


def _calls(decision: Decision) -> list[tuple[str, dict[str, object]]]:
    assert decision.kind == "tool", decision.text
    return [(str(decision.tool), decision.args), *decision.calls]


def test_a_forecast_takes_the_owner_the_request_names() -> None:
    decision = _plan("projected bookings next quarter just for Chen Li")
    ((tool, args),) = _calls(decision)
    assert tool == "forecast" and args["owner"] == "Chen Li" and args["period"] == "next quarter"
    assert decision.unapplied == []


def test_a_forecast_names_the_split_and_the_filter_it_cannot_apply() -> None:
    decision = _plan("forecast for this quarter per product in the Nordics")
    ((tool, args),) = _calls(decision)
    assert tool == "forecast" and "group_by" not in args
    assert "by product" in decision.unapplied and "region Nordics" in decision.unapplied


def test_a_bare_listing_keeps_its_amount_threshold_and_close_period() -> None:
    ((tool, args),) = _calls(_plan("opportunities above 75k due to close next month"))
    assert tool == "find_records" and args["entity"] == "deal"
    assert args["amount_min"] == 75_000 and args["closing"] == "next month" and args.get("query") is None


def test_a_listing_takes_the_industry_and_the_owner_instead_of_matching_them_as_a_name() -> None:
    ((tool, args),) = _calls(_plan("Dana's active deals in healthcare"))
    assert tool == "find_records"
    assert args["owner"] == "Dana Ruiz" and args["industry"] == "Healthcare" and args["status"] == "open"
    assert args.get("query") is None


def test_a_product_called_enterprise_is_not_the_enterprise_size_band() -> None:
    ((_, args), (_, other)) = _calls(_plan("mean deal value for Orbit Enterprise vs last quarter"))
    assert args["product"] == other["product"] == "Orbit Enterprise"
    assert "amount_min" not in args and "amount_min" not in other


def test_versus_an_earlier_period_asks_the_question_for_both_periods() -> None:
    calls = _calls(_plan("how many deals did we close-win in Q2 compared with Q1"))
    assert [args["period"] for _, args in calls] == ["2026-Q2", "2026-Q1"]
    calls = _calls(_plan("how did Iberia do against last month"))
    assert [args["period"] for _, args in calls] == ["this month", "last month"]
    assert all(args["region"] == "Iberia" for _, args in calls)


def test_won_as_an_adjective_is_a_question_not_a_move_and_both_halves_are_answered() -> None:
    calls = _calls(_plan("won revenue this month and how many deals we lost"))
    assert [(tool, args.get("status")) for tool, args in calls] == [
        ("pipeline_question", "won"),
        ("pipeline_question", "lost"),
    ]


def test_a_bottleneck_analysis_names_the_owner_filter_it_does_not_apply() -> None:
    decision = _plan("where do Bram de Wit's deals get held up since October")
    ((tool, args),) = _calls(decision)
    assert tool == "bottleneck_analysis" and args["since"] == "2026-10-01"
    assert "owner Bram de Wit" in decision.unapplied


def test_a_deal_named_with_words_the_workspace_does_not_know_is_looked_up_not_questioned() -> None:
    ((tool, args),) = _calls(_plan("what stage is the Quarry Labs - Orbit Lite + Gold Care deal in"))
    assert tool == "find_records" and args["query"] == "Quarry Labs"


def test_the_answer_says_what_was_not_applied() -> None:
    model = OfflineChatModel(today=TODAY)
    system = SystemMessage("Today is 2026-11-16.", additional_kwargs={VOCABULARY_KEY: VOCABULARY.to_dict()})
    human = HumanMessage("forecast for this quarter per product")
    call = model.invoke([system, human])
    assert isinstance(call, AIMessage) and call.tool_calls
    assert call.additional_kwargs[NOTES_KEY]["unapplied"] == ["by product"]
    result = ToolMessage(
        '{"period": "Q4 2026", "expected": 1000.0, "low": 800.0, "high": 1200.0, "currency": "USD"}',
        tool_call_id=call.tool_calls[0]["id"],
        name="forecast",
    )
    answer = str(model.invoke([system, human, call, result]).content)
    assert "Forecast for Q4 2026" in answer
    assert "Not applied: by product" in answer and "splits by owner or team only" in answer


def test_a_second_question_naming_no_scope_keeps_the_first_ones_filters() -> None:
    calls = _calls(_plan("how many deals did Iberia lose in Q3 and what was the win rate"))
    assert [(args["metric"], args.get("region"), args.get("period")) for _, args in calls] == [
        ("count", "Iberia", "2026-Q3"),
        ("win_rate", "Iberia", "2026-Q3"),
    ]
    calls = _calls(_plan("how many deals did Iberia lose in Q3 and what was the overall win rate"))
    assert calls[1][1].get("region") is None  # "overall" widens it on purpose


def test_a_listing_reads_a_possessive_name_a_stage_a_threshold_and_the_close_period() -> None:
    ((tool, args),) = _calls(_plan("Chen Li's proposal deals over 3k"))
    assert tool == "find_records"
    assert (args["owner"], args["stage"], args["amount_min"]) == ("Chen Li", "Proposal", 3000.0)
    ((tool, args),) = _calls(_plan("deals worth more than 5000 that Ana Okafor won in 2025"))
    assert (args["status"], args["closed"], args["amount_min"]) == ("won", "2025", 5000.0)


def test_a_count_of_things_is_not_an_amount() -> None:
    args = _calls(_plan("which reps have more than 5 deals in Proposal"))[0][1]
    assert "amount_min" not in args


SOURCED = Vocabulary(
    owners=VOCABULARY.owners, regions=VOCABULARY.regions, lead_sources=("trade_show", "webinar", "referral")
)


def test_the_workspaces_own_lead_sources_filter_and_group() -> None:
    ((tool, args),) = _calls(
        plan("which leads came in through the trade show", ConversationContext(vocabulary=SOURCED), TODAY)
    )
    assert tool == "find_records" and args["entity"] == "lead" and args["source"] == "trade_show"
    ((tool, args),) = _calls(plan("win rate by lead source this year", ConversationContext(vocabulary=SOURCED), TODAY))
    assert tool == "pipeline_question" and args["group_by"] == ["source"]
    decision = plan("forecast next month for referral deals", ConversationContext(vocabulary=SOURCED), TODAY)
    assert decision.tool == "forecast" and "lead source referral" in decision.unapplied


def test_bare_years_and_the_period_before_are_both_answered() -> None:
    calls = _calls(_plan("bookings 2025 against 2024"))
    assert [args["period"] for _, args in calls] == ["2025", "2024"]
    calls = _calls(_plan("deals lost in September compared with the month before"))
    assert [args["period"] for _, args in calls] == ["2026-09", "2026-08"]
    calls = _calls(_plan("win rate in Q2 vs the previous quarter"))
    assert [args["period"] for _, args in calls] == ["2026-Q2", "2026-Q1"]
    calls = _calls(_plan("how much did Iberia book in 2024, 2025 and 2026"))
    assert [args["period"] for _, args in calls] == ["2024", "2025", "2026"]


def test_a_number_after_a_threshold_word_is_an_amount_not_a_year() -> None:
    ((tool, args),) = _calls(_plan("opportunities above 2000 that Bram de Wit won"))
    assert tool == "find_records" and args["amount_min"] == 2000.0 and "closed" not in args
    ((_, args),) = _calls(_plan("number of deals over 2025 dollars"))
    assert args["amount_min"] == 2025.0 and "period" not in args


def test_a_second_period_on_another_date_is_applied_by_a_listing_and_named_by_a_figure() -> None:
    ((tool, args),) = _calls(_plan("opportunities opened in October that are due to close next quarter"))
    assert tool == "find_records" and (args["created"], args["closing"]) == ("2026-10", "next quarter")
    decision = _plan("total value of deals created in October slated to close next quarter")
    assert decision.tool == "pipeline_question" and decision.args["period"] == "2026-10"
    assert "the period next quarter" in decision.unapplied


def test_days_to_win_is_the_cycle_and_what_someone_closed_is_their_won_revenue() -> None:
    ((_, args),) = _calls(_plan("mean days to win per rep"))
    assert args["metric"] == "avg_cycle_days" and args["group_by"] == ["owner"]
    ((_, args),) = _calls(_plan("what has Chen Li closed this year"))
    assert (args["metric"], args["status"], args["owner"]) == ("total_amount", "won", "Chen Li")


def test_an_average_the_store_does_not_compute_is_named() -> None:
    decision = _plan("typical number of deals per office")
    assert decision.args["metric"] == "count"
    assert any(part.startswith('"typical"') for part in decision.unapplied)


def test_a_count_of_leads_is_a_lead_listing_not_a_count_of_deals() -> None:
    decision = plan("how many of my leads came from referrals", ConversationContext(vocabulary=SOURCED), TODAY)
    ((tool, args),) = _calls(decision)
    assert tool == "find_records" and (args["entity"], args["owner"], args["source"]) == ("lead", "me", "referral")
    ((tool, args),) = _calls(_plan("number of accounts in healthcare"))
    assert tool == "find_records" and (args["entity"], args["industry"]) == ("account", "Healthcare")


def test_accounts_are_listed_by_their_own_industry_and_deals_by_whoever_won_them() -> None:
    ((tool, args),) = _calls(_plan("accounts in retail"))
    assert tool == "find_records" and (args["entity"], args["industry"]) == ("account", "Retail")
    ((tool, args),) = _calls(_plan("opportunities won by Dana in 2025"))
    assert tool == "find_records" and (args["owner"], args["status"], args["closed"]) == ("Dana Ruiz", "won", "2025")


def test_the_answer_states_the_change_between_the_two_periods() -> None:
    from agent.offline.compose import stated_difference

    def answered(period: str, value: float) -> tuple[str, dict[str, object], dict[str, object]]:
        args = {"metric": "win_rate", "status": "closed", "period": period}
        return "pipeline_question", args, {"unit": "ratio", "group_by": [], "total": {"value": value}}

    line = stated_difference([answered("this quarter", 0.40), answered("last quarter", 0.25)])
    assert line == "Compared: this quarter 40.0% against last quarter 25.0%, a change of +15.0 percentage points."
    one = answered("this quarter", 0.4)
    rep = ("pipeline_question", {**one[1], "owner": "Chen Li"}, {**one[2], "total": {"value": 0.5}})
    # one rep against everyone: the rep's rate beside everyone's (the rep is among them), never a plain "change"
    assert stated_difference([one, rep]) == (
        "Compared: Chen Li 50.0% against 40.0% (everyone's, without the owner filter), Chen Li included, "
        "a difference of +10.0 percentage points."
    )
    count = {"metric": "total_amount", "status": "open"}
    whole = ("pipeline_question", count, {"unit": "currency", "total": {"value": 400.0, "currency": "USD"}})
    part = (
        "pipeline_question",
        {**count, "stage": "Proposal"},
        {"unit": "currency", "total": {"value": 100.0, "currency": "USD"}},
    )
    assert stated_difference([part, whole]) == (
        "Share: Proposal is $100 of $400 (the same figure without the stage filter), 25.0%."
    )
    ana = ("pipeline_question", {**one[1], "owner": "Ana Okafor"}, one[2])
    assert stated_difference([ana, rep]) == (
        "Compared: Ana Okafor 40.0% against Chen Li 50.0%, a difference of -10.0 percentage points."
    )
    two_things = ("pipeline_question", {**one[1], "owner": "Chen Li", "period": "last quarter"}, one[2])
    assert stated_difference([one, two_things]) is None  # two things differ: no single comparison to state


def test_which_segment_lost_most_and_why_ranks_first_then_gives_that_segments_reasons() -> None:
    decision = _plan("which office lost the most last quarter and why")
    ((tool, args),) = _calls(decision)
    assert tool == "pipeline_question" and args["group_by"] == ["region"] and args["limit"] == 1
    (step,) = decision.then
    assert step["args"]["group_by"] == ["loss_reason"] and step["args"]["period"] == "last quarter"
    assert step["from"] == {"region": "rows.0.group.region"}


def test_this_week_is_a_period_and_a_week_compares_with_the_week_before() -> None:
    ((_, args),) = _calls(_plan("deals Ana Okafor won this week"))
    assert args["closed"] == "this week"
    calls = _calls(_plan("total won last week compared with the week before"))
    assert [args["period"] for _, args in calls] == ["last week", "2026-W45"]


def test_a_value_named_to_be_left_out_is_never_the_only_one_kept() -> None:
    decision = _plan("total open pipeline per stage excluding Discovery")  # left out of the breakdown
    assert decision.args.get("stage") is None and decision.args["group_by"] == ["stage"]
    assert decision.unused == [] and decision.args["exclude"] == {"stage": "Discovery"} and not decision.unapplied
    decision = _plan("average deal size by industry other than retail")
    assert decision.args.get("industry") is None and decision.args["exclude"] == {"industry": "Retail"}


def test_a_duration_or_share_the_parse_does_not_apply_is_named() -> None:
    decision = _plan("how many opportunities have been in Proposal for over 45 days")
    assert decision.args["stage"] == "Proposal" and '"over 45 days"' in decision.unapplied
    decision = _plan("win rate over the past 60 days")
    assert "date_from" in decision.args and decision.unapplied == []


def test_a_comparison_of_two_products_in_one_year_is_that_year_for_both() -> None:
    calls = _calls(_plan("bookings for Orbit Lite versus Orbit Enterprise in 2025"))
    assert [(args["product"], args["period"]) for _, args in calls] == [
        ("Orbit Lite", "2025"),
        ("Orbit Enterprise", "2025"),
    ]


def test_a_count_before_the_superlative_is_the_limit_and_a_share_won_is_the_win_rate() -> None:
    ((_, args),) = _calls(_plan("the four slowest reps by days to close"))
    assert args["limit"] == 4 and args["metric"] == "avg_cycle_days"
    ((_, args),) = _calls(_plan("what share of Iberia deals closed won in 2025"))
    assert (args["metric"], args["region"], args["period"]) == ("win_rate", "Iberia", "2025")


def test_a_team_named_by_a_manager_nobody_named_is_asked_about() -> None:
    decision = _plan("what did the Iberia manager's team book in 2025")
    assert decision.kind == "clarify" and "Which manager's team" in decision.text and "North, South" in decision.text
    assert _plan("won revenue by manager's team in 2025").kind == "tool"


def test_two_lead_sources_are_answered_each_and_compared() -> None:
    calls = _calls(plan("win rate on webinar deals vs referrals", ConversationContext(vocabulary=SOURCED), TODAY))
    assert [args["source"] for _, args in calls] == ["webinar", "referral"]


def test_the_same_period_a_year_earlier_and_trailing_quarters() -> None:
    calls = _calls(_plan("compare bookings this quarter to the same quarter last year"))
    assert [args["period"] for _, args in calls] == ["this quarter", "2025-Q4"]
    calls = _calls(_plan("win rate in Q3 versus the year before"))
    assert [args["period"] for _, args in calls] == ["2026-Q3", "2025-Q3"]
    ((_, args),) = _calls(_plan("won revenue per quarter over the past 4 quarters"))
    assert (args["date_from"], args["date_to"], args["group_by"]) == ("2025-10-01", "2026-10-01", ["quarter"])


def test_pipeline_closing_before_a_date_is_open_deals_by_expected_close() -> None:
    ((_, args),) = _calls(_plan("how much pipeline does each rep have closing by the end of the quarter"))
    assert (args["status"], args["date_field"], args["period"]) == ("open", "expected_close", "this quarter")


def test_losses_to_competitors_are_not_passed_off_as_every_loss() -> None:
    decision = _plan("how many deals did Chen Li lose to the competition in 2025")
    assert any(part.startswith("only the losses to competitors") for part in decision.unapplied)
    decision = _plan("deal size per industry not counting Retail")
    assert decision.args.get("industry") is None and decision.args["exclude"] == {"industry": "Retail"}


def test_a_comparison_with_a_period_that_is_not_over_says_so() -> None:
    from agent.offline.compose import stated_difference

    def answered(period: str, start: str, end: str, value: float) -> tuple[str, dict[str, object], dict[str, object]]:
        data = {"unit": "count", "group_by": [], "total": {"value": value}}
        data["filters"] = {"date_from": start, "date_to": end, "period": period}
        return "pipeline_question", {"metric": "count", "period": period}, data

    now = answered("this quarter", "2026-10-01", "2027-01-01", 20)
    before = answered("last quarter", "2026-07-01", "2026-10-01", 40)
    line = stated_difference([now, before], date(2026, 11, 16))
    assert line is not None and line.endswith("Note: this quarter is not over (47 of 92 days so far).")
    assert "not over" not in (stated_difference([now, before], date(2027, 1, 5)) or "")


def test_who_with_a_superlative_ranks_the_reps() -> None:
    ((_, args),) = _calls(_plan("who has the biggest open pipeline in Proposal"))
    assert (args["group_by"], args["limit"], args["stage"]) == (["owner"], 1, "Proposal")


def test_the_next_days_are_a_period_and_what_is_closing_for_me_is_my_deals() -> None:
    ((tool, args),) = _calls(_plan("what's closing for me in the next 30 days"))
    assert tool == "find_records" and (args["closing"], args["owner"]) == ("next 30 days", "me")
    decision = _plan("how much pipeline is expected to close in the next 60 days")
    assert decision.args["period"] == "next 60 days" and decision.unapplied == []
