"""Requests whose parse used to answer a smaller or different question: several values of a grouped filter, a
share of a whole, a median, a percentage that is not money, a person named after a verb, "the largest one" of a
listing, "there" pointing back at a breakdown, and "who has the most deals" in a stage. Each phrasing is written
for these tests (a workspace of its own, words no eval case uses)."""

from __future__ import annotations

from datetime import date

from agent.offline.compose import stated_difference
from agent.offline.context import ConversationContext
from agent.offline.planner import Decision, plan
from sales.vocabulary import Vocabulary

TODAY = date(2026, 11, 16)
VOCABULARY = Vocabulary(
    owners=("Ines Varga", "Tomas Berg", "Uma Rao"),
    teams=("Coastal", "Inland"),
    regions=("Coastal", "Inland", "Highlands"),
    products=("Beacon Pro", "Beacon Basic", "Beacon Cloud"),
    accounts=("Fjord Dairy", "Kestrel Mills"),
    industries=("Agriculture", "Utilities"),
    stages=("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation", "Won", "Lost"),
)


def _plan(text: str) -> Decision:
    return plan(text, ConversationContext(vocabulary=VOCABULARY), TODAY)


def _calls(decision: Decision) -> list[tuple[str, dict[str, object]]]:
    assert decision.kind == "tool", decision.text
    return [(str(decision.tool), decision.args), *decision.calls]


def test_two_values_of_the_grouped_filter_are_each_answered_not_one_dropped() -> None:
    calls = _calls(_plan("close rate by product, just Beacon Pro and Beacon Cloud"))
    assert [args.get("product") for _, args in calls] == ["Beacon Pro", "Beacon Cloud"]
    assert all(args["metric"] == "win_rate" and not args.get("group_by") for _, args in calls)


def test_two_offices_that_are_also_team_names_are_two_offices() -> None:
    calls = _calls(_plan("open pipeline for Coastal and Inland"))
    assert [args.get("region") for _, args in calls] == ["Coastal", "Inland"]
    assert all(not args.get("team") for _, args in calls)  # never "team Inland, region Coastal"


def test_a_share_asks_for_the_part_and_the_whole() -> None:
    (_, part), (_, whole) = _calls(_plan("what portion of the open pipeline sits in Negotiation?"))
    assert (part["metric"], part["stage"], part["status"]) == ("total_amount", "Negotiation", "open")
    assert "stage" not in whole and whole["status"] == "open" and whole["metric"] == "total_amount"
    (_, part), (_, whole) = _calls(_plan("what percentage of deals are at Proposal right now"))
    assert part["metric"] == "count" and part["stage"] == "Proposal" and "stage" not in whole
    (_, part), (_, whole) = _calls(_plan("what share of bookings this year came from Beacon Basic"))
    assert (part["metric"], part["status"], part["product"]) == ("total_amount", "won", "Beacon Basic")
    assert "product" not in whole and whole["period"] == part["period"] == "this year"


def test_a_share_of_won_revenue_is_not_the_win_rate_but_a_share_of_deals_won_is() -> None:
    ((_, args), *_) = _calls(_plan("what share of won revenue is Beacon Cloud"))
    assert args["metric"] == "total_amount"
    ((_, args),) = _calls(_plan("what fraction of our deals closed won in Q3"))
    assert args["metric"] == "win_rate"


def test_the_share_is_stated_from_the_two_answers() -> None:
    base = {"metric": "count", "status": "open"}
    whole = ("pipeline_question", base, {"unit": "deals", "total": {"value": 40}, "computed": "Number of open deals"})
    part = ("pipeline_question", {**base, "stage": "Negotiation"}, {"unit": "deals", "total": {"value": 10}})
    assert stated_difference([part, whole]) == "Share: Negotiation is 10 of 40 (number of open deals), 25.0%."
    assert stated_difference([whole, part]) == "Share: Negotiation is 10 of 40 (number of open deals), 25.0%."


def test_a_median_deal_size_is_a_median_not_an_average() -> None:
    ((_, args),) = _calls(_plan("median contract value of deals we won in Utilities"))
    assert args["metric"] == "median_amount" and args["status"] == "won" and args["industry"] == "Utilities"


def test_a_percentage_is_never_a_money_threshold_and_is_named() -> None:
    decision = _plan("show deals closing this quarter with a likelihood over 60%")
    ((_, args),) = _calls(decision)
    assert "amount_min" not in args
    assert any("60%" in part for part in decision.unapplied)


def test_the_verb_before_a_name_is_not_part_of_it() -> None:
    ((_, args),) = _calls(_plan("List Tomas's open deals"))
    assert args["owner"] == "Tomas"


def test_a_draft_for_the_largest_of_a_listing_is_drafted_for_that_record() -> None:
    decision = _plan("pull up Uma's open deals and write a check-in for the biggest one")
    assert decision.tool == "find_records" and decision.args["largest_first"] is True
    (step,) = decision.then
    assert step["tool"] == "draft_follow_up" and step["from"] == {"deal_id": "records.0.id"}


def test_there_carries_the_breakdown_into_the_second_question() -> None:
    (_, first), (_, later) = _calls(
        _plan("which industries have the worst close rate this year, and how much did we lose there?")
    )
    assert first["group_by"] == later["group_by"] == ["industry"] and later["status"] == "lost"


def test_who_has_the_most_deals_in_a_stage_ranks_the_reps_and_names_stuck() -> None:
    decision = _plan("who has the most deals stuck in Proposal")
    ((tool, args),) = _calls(decision)
    assert tool == "pipeline_question"
    assert (args["metric"], args["group_by"], args["stage"]) == ("count", ["owner"], "Proposal")
    assert any(part.startswith('"stuck"') for part in decision.unapplied)
    decision = _plan("which rep has the most stalled deals")
    assert decision.tool == "stalled_deals"  # idle deals are the stalled-deals tool's own figure


def test_pipeline_before_deals_is_money() -> None:
    ((_, args),) = _calls(_plan("pipeline by rep for deals closing next quarter"))
    assert args["metric"] == "total_amount" and args["group_by"] == ["owner"]
    ((_, args),) = _calls(_plan("deals in the pipeline by rep"))
    assert args["metric"] == "count"


def test_the_pipeline_compared_with_last_month_is_the_pipeline_then_not_deals_created_then() -> None:
    (_, now), (_, then) = _calls(_plan("how does our open pipeline look against last month?"))
    assert "open_on" not in now and then["open_on"] == "2026-10-31"
    assert all(args["status"] == "open" and "period" not in args for args in (now, then))
    decision = _plan("Negotiation pipeline versus last quarter")
    ((_, args),) = _calls(decision)  # no stage history per day: the comparison is named, not faked
    assert "open_on" not in args and any("comparison" in part for part in decision.unapplied)
    (_, this), (_, last) = _calls(_plan("deals created this month vs last month"))
    assert (this["period"], last["period"]) == ("this month", "last month")  # created: a period each


def test_the_past_pipeline_comparison_is_stated_as_a_change() -> None:
    base = {"metric": "total_amount", "status": "open"}
    money = {"unit": "currency", "currency": "USD"}
    now = ("pipeline_question", base, {**money, "total": {"value": 900.0, "currency": "USD"}})
    then = (
        "pipeline_question",
        {**base, "open_on": "2026-10-31"},
        {**money, "total": {"value": 1000.0, "currency": "USD"}},
    )
    line = stated_difference([now, then])
    assert line is not None and line.startswith(
        "Compared: the pipeline now $900 against $1,000 at the end of 2026-10-31, a change of -$100 (-10.0%)."
    )


def test_conversion_from_one_stage_to_another_names_both() -> None:
    ((_, args),) = _calls(_plan("Discovery to Won conversion by rep"))
    assert (args["stage"], args["to_stage"], args["group_by"]) == ("Discovery", "Won", ["owner"])
    ((_, args),) = _calls(_plan("what fraction of Qualified deals make it into Proposal"))
    assert (args["metric"], args["stage"], args["to_stage"]) == ("stage_conversion", "Qualified", "Proposal")
    ((_, args),) = _calls(_plan("conversion rate out of Negotiation"))
    assert "to_stage" not in args  # no target: any later stage


def test_a_team_named_like_an_office_is_a_team_when_the_request_says_team() -> None:
    calls = _calls(_plan("Coastal team against Inland team on won revenue"))
    assert [args.get("team") for _, args in calls] == ["Coastal", "Inland"]
    assert all(not args.get("region") for _, args in calls)


def test_reaching_a_stage_is_a_conversion_to_it_and_how_much_of_is_an_amount() -> None:
    ((_, args),) = _calls(_plan("what percentage of deals got to Negotiation"))
    assert (args["metric"], args.get("to_stage"), args.get("group_by")) == (
        "stage_conversion",
        "Negotiation",
        ["stage"],
    )
    ((_, args),) = _calls(_plan("how much of the open pipeline is Beacon Pro"))
    assert args["product"] == "Beacon Pro"  # the amount asked; no share of a whole


def test_everyone_except_one_is_the_whole_less_that_part() -> None:
    decision = _plan("bookings this year for the whole team other than Uma")
    (_, whole), (_, part) = _calls(decision)
    assert "owner" not in whole and part["owner"] == "Uma Rao" and decision.excluding == "owner"
    assert not decision.unapplied
    base = {"metric": "total_amount", "status": "won"}
    money = {"unit": "currency", "currency": "USD"}
    answered = [
        ("pipeline_question", base, {**money, "total": {"value": 1000.0, "currency": "USD"}}),
        ("pipeline_question", {**base, "owner": "Uma Rao"}, {**money, "total": {"value": 400.0, "currency": "USD"}}),
    ]
    assert stated_difference(answered, excluding="owner") == (
        "Excluding Uma Rao: $1,000 in all, less $400 for Uma Rao, leaves $600."
    )
    decision = _plan("close rate excluding Tomas")  # a rate cannot be subtracted: the others' rate instead
    assert decision.args["exclude"] == {"owner": "Tomas Berg"} and not decision.unapplied


def test_a_second_request_about_what_the_first_found() -> None:
    decision = _plan("list the deals expected to close next month and give me their total")
    (tool, listing), (_, total) = _calls(decision)
    assert tool == "find_records" and listing["closing"] == "next month"
    assert (total["metric"], total["status"], total["period"], total["date_field"]) == (
        "total_amount",
        "open",
        "next month",
        "expected_close",
    )
    decision = _plan("find our largest deal in Negotiation and remind me to call about it on Friday")
    (step,) = decision.then
    assert step["tool"] == "create_task" and step["from"] == {"deal_id": "records.0.id"}
    decision = _plan("which industry has the most open pipeline, and how many of those deals are in Proposal?")
    (step,) = decision.then
    assert step["from"] == {"industry": "rows.0.group.industry"} and step["args"]["stage"] == "Proposal"


def test_the_month_before_is_before_the_first_questions_month() -> None:
    (_, first), (_, later) = _calls(_plan("what did we book in September and how does it compare to the month before?"))
    assert (first["period"], later["period"], later["status"]) == ("2026-09", "2026-08", "won")


def test_two_stages_and_two_bands_are_each_answered() -> None:
    calls = _calls(_plan("count of open deals per rep in Discovery or Proposal"))
    assert [args["stage"] for _, args in calls] == ["Discovery", "Proposal"]
    (_, low), (_, high) = _calls(_plan("close rate for deals below 5k versus above 40k"))
    assert (low.get("amount_max"), low.get("amount_min")) == (5000, None)
    assert (high.get("amount_min"), high.get("amount_max")) == (40000, None)


def test_amount_words_in_a_listing_are_the_filter_not_a_name() -> None:
    ((_, args),) = _calls(_plan("open deals worth between 15k and 45k in Qualified"))
    assert (args["amount_min"], args["amount_max"], args.get("query")) == (15000, 45000, None)


def test_i_compared_with_a_colleague_is_two_answers_mine_first() -> None:
    calls = _calls(_plan("what have I booked this year compared with Tomas?"))
    assert [args.get("owner") for _, args in calls] == ["me", "Tomas Berg"]


def test_the_pipeline_at_the_end_of_a_period_is_the_pipeline_on_that_day() -> None:
    ((_, args),) = _calls(_plan("what did Uma's open pipeline add up to at the end of August"))
    assert args["open_on"] == "2026-08-31" and args["owner"] == "Uma Rao"
    assert not args.get("period") and not args.get("date_field")  # never the deals created in August
    (_, now), (_, then) = _calls(_plan("open pipeline right now versus the end of last quarter"))
    assert now.get("open_on") is None and then["open_on"] == "2026-09-30"
    # "before the end of the year" is when deals are expected to close, not a day to read the pipeline on
    ((_, closing),) = _calls(_plan("pipeline closing before the end of the year"))
    assert closing.get("open_on") is None and closing["date_field"] == "expected_close"
    # a listing shows deals as they are now, so the past day is named, never read as "created in" the period
    listing = _plan("list open Proposal deals at the end of last month")
    assert listing.tool == "find_records" and not listing.args.get("created")
    assert any("end of last month" in u for u in listing.unapplied)


def test_the_single_biggest_deal_is_one_deal() -> None:
    decision = _plan("which is the single largest won deal Tomas has")
    assert decision.tool == "find_records" and decision.args["limit"] == 1 and decision.args["largest_first"]
    assert not decision.args.get("query") and not decision.unapplied and not decision.unused
    plural = _plan("list the largest open deals")
    assert plural.args["largest_first"] and plural.args.get("limit") is None


def test_a_listing_sitting_longest_in_a_stage_is_ordered_by_days_in_it() -> None:
    decision = _plan("which deals have been parked in Negotiation the longest")
    assert decision.tool == "find_records"
    assert decision.args["longest_in_stage"] and decision.args["stage"] == "Negotiation"
    assert not decision.args.get("largest_first")


def test_the_same_threshold_on_both_sides_is_two_bands_in_the_order_said() -> None:
    (_, first), (_, second) = _calls(_plan("close rate above 20k versus below 20k"))
    assert (first.get("amount_min"), first.get("amount_max")) == (20000.0, None)
    assert (second.get("amount_min"), second.get("amount_max")) == (None, 20000.0)
    answered = [
        ("pipeline_question", first, {"unit": "ratio", "total": {"value": 0.3, "deals": 40}}),
        ("pipeline_question", second, {"unit": "ratio", "total": {"value": 0.4, "deals": 90}}),
    ]
    stated = stated_difference(answered) or ""
    assert "at least 20,000 30.0% against deals of at most 20,000 40.0%" in stated and "-10.0 percentage" in stated


def test_a_stage_left_out_of_the_pipeline_is_the_whole_less_that_stage() -> None:
    decision = _plan("open pipeline not counting deals in Discovery")
    (_, whole), (_, part) = _calls(decision)
    assert decision.excluding == "stage" and not whole.get("stage") and part["stage"] == "Discovery"
    assert whole["status"] == part["status"] == "open"
    named = _plan("close rate leaving out Coastal")  # an office that is also a team is left out once, as the office
    assert named.args["exclude"] == {"region": "Coastal"} and not named.unapplied


def test_which_ones_after_a_count_lists_the_deals_counted() -> None:
    decision = _plan("how many Agriculture deals are open above 40k, and who owns them?")
    (_, counted), (tool, listed) = _calls(decision)
    assert counted["metric"] == "count" and tool == "find_records"
    assert (listed["industry"], listed["status"], listed["amount_min"]) == ("Agriculture", "open", 40000.0)
    decision = _plan("how many deals did Ines lose last quarter and which ones were they")
    (_, counted), (tool, listed) = _calls(decision)
    assert tool == "find_records" and listed["owner"] == "Ines Varga" and listed["closed"] == "last quarter"
    assert listed["status"] == "lost"


def test_a_bound_on_each_groups_figure_is_not_a_deal_amount_filter() -> None:
    ((_, won),) = _calls(_plan("which reps closed more than 250k last quarter"))
    assert (won["metric"], won["group_by"], won["value_min"]) == ("total_amount", ["owner"], 250000.0)
    assert won.get("amount_min") is None and won["status"] == "won"
    ((_, counted),) = _calls(_plan("sectors with fewer than 8 open deals"))
    assert (counted["metric"], counted["group_by"], counted["value_max"]) == ("count", ["industry"], 7.0)
    assert counted.get("amount_max") is None
    # one figure and a bound: the figure, checked against the bound (the tool says yes or no)
    single = _plan("has Ines sold over 90k this quarter")
    assert single.tool == "pipeline_question" and single.args["metric"] == "total_amount"
    assert single.args.get("amount_min") is None and single.args["value_min"] == 90000.0 and not single.unapplied
    # a deal's own amount is still a deal filter
    ((_, deals),) = _calls(_plan("which reps have open deals worth over 60k"))
    assert deals.get("amount_min") == 60000.0 and deals.get("value_min") is None


def test_a_share_of_deals_lost_is_of_the_closed_deals() -> None:
    (_, lost), (_, closed) = _calls(_plan("what percent of his deals did Tomas lose this year"))
    assert (lost["status"], closed["status"]) == ("lost", "closed")
    assert lost["owner"] == closed["owner"] == "Tomas Berg" and lost["metric"] == closed["metric"] == "count"
    answered = [
        ("pipeline_question", lost, {"unit": "deals", "total": {"value": 12, "deals": 12}}),
        ("pipeline_question", closed, {"unit": "deals", "total": {"value": 30, "deals": 30}}),
    ]
    assert stated_difference(answered) == "Share: lost is 12 of 30 closed deals (won or lost), 40.0%."


def test_rate_bounds_who_and_loss_rates() -> None:
    ((_, rates),) = _calls(_plan("sectors whose close rate is under 30%"))
    assert (rates["metric"], rates["group_by"], rates["value_max"]) == ("win_rate", ["industry"], 0.3)
    ((_, who),) = _calls(_plan("who booked more than 75k last month"))
    assert (who["group_by"], who["value_min"], who["status"]) == (["owner"], 75000.0, "won")
    (_, lost), (_, closed) = _calls(_plan("what was the loss rate in Highlands last quarter"))
    assert (lost["status"], closed["status"], lost["region"], closed["region"]) == (
        "lost",
        "closed",
        "Highlands",
        "Highlands",
    )
    grouped = _plan("loss ratio per product this year")
    assert grouped.args["metric"] == "win_rate" and any("100% less" in u for u in grouped.unapplied)


def test_a_period_before_versus_is_not_compared_and_the_total_refers_back() -> None:
    (_, ines), (_, tomas) = _calls(_plan("how many deals did Ines open last quarter versus Tomas"))
    assert ines["period"] == tomas["period"] == "last quarter"
    assert (ines["owner"], tomas["owner"]) == ("Ines Varga", "Tomas Berg")
    (_, counted), (_, total) = _calls(_plan("how many Negotiation deals close next month, and what's the total?"))
    assert total["metric"] == "total_amount" and total["stage"] == counted["stage"] == "Negotiation"
    assert total["period"] == "next month" and total["status"] == "open"


def test_a_counted_condition_a_listing_cannot_filter_on_is_named() -> None:
    decision = _plan("show me deals with more than 4 contacts")
    assert decision.tool == "find_records" and '"more than 4 contacts"' in decision.unapplied
    figure = _plan("accounts' deals with more than 4 contacts")  # a count, whichever tool answers, names it too
    assert '"more than 4 contacts"' in figure.unapplied
    money = _plan("list deals over 25000 dollars")
    assert money.args["amount_min"] == 25000.0 and not money.unapplied


def test_a_message_typed_in_lower_case_still_names_the_rep() -> None:
    ((_, args),) = _calls(_plan("how many deals did tomas win in q3"))
    assert args["owner"] == "Tomas Berg"
    ((_, plain),) = _calls(_plan("how many deals did we win in q3, will it hold"))  # a word stays a word
    assert not plain.get("owner")


def test_number_words_limit_a_listing() -> None:
    decision = _plan("my four biggest open opportunities")
    assert decision.args["limit"] == 4 and decision.args["largest_first"]
    assert _plan("top five deals in Negotiation").args["limit"] == 5


def test_one_name_that_is_an_office_and_a_team_is_one_filter() -> None:
    (_, part), (_, whole) = _calls(_plan("what fraction of this year's wins came from Coastal"))
    assert part.get("region") == "Coastal" and not part.get("team")
    assert not whole.get("region") and not whole.get("team")
    ((_, team),) = _calls(_plan("how did the Coastal team do this year"))
    assert team["team"] == "Coastal" and not team.get("region")


def test_a_change_from_one_period_to_another_compares_them_and_a_range_is_whole_periods() -> None:
    (_, now), (_, then) = _calls(_plan("how did Uma's close rate move from last quarter to this quarter"))
    assert (now["period"], then["period"]) == ("this quarter", "last quarter")  # the change is now less then
    ((_, spring),) = _calls(_plan("bookings from February to April"))
    assert (spring["date_from"], spring["date_to"]) == ("2026-02-01", "2026-05-01")
    ((_, days),) = _calls(_plan("won revenue from 2 February to 9 March"))  # asked in November: this year's
    assert (days["date_from"], days["date_to"]) == ("2026-02-02", "2026-03-10")


def test_oldest_a_day_not_read_and_a_month_ahead_for_closings() -> None:
    aged = _plan("show the oldest open deals in Qualified")
    assert aged.args["longest_in_stage"] and aged.args["stage"] == "Qualified" and not aged.unapplied
    holiday = _plan("what is closing for me before Thanksgiving")
    assert not holiday.args.get("query") and any("before Thanksgiving" in u for u in holiday.unapplied)
    assert holiday.args["status"] == "open"  # what is closing is still open
    assert _plan("deals closing in January").args["closing"] == "2027-01"  # the coming January
    ((_, won),) = _calls(_plan("what did we win in January"))
    assert won["period"] == "2026-01"  # the January gone by


def test_won_by_someone_is_their_share_of_the_wins_not_their_win_rate() -> None:
    (_, part), (_, whole) = _calls(_plan("what percentage of this year's deals were won by Highlands"))
    assert (part["metric"], part["status"], part["region"]) == ("count", "won", "Highlands")
    assert whole["status"] == "won" and not whole.get("region")


def test_quarters_changed_one_to_the_next_and_the_reasons_of_the_top_group() -> None:
    (_, later), (_, earlier) = _calls(_plan("how did bookings shift from Q2 2026 to Q3 2026"))
    assert (later["period"], earlier["period"]) == ("2026-Q3", "2026-Q2")
    decision = _plan("which industry lost the most deals this year, and what were the reasons?")
    assert decision.args["group_by"] == ["industry"] and decision.args["limit"] == 1
    (then,) = decision.then
    assert then["args"]["group_by"] == ["loss_reason"] and then["from"] == {"industry": "rows.0.group.industry"}


def test_which_deals_are_expected_to_close_lists_them() -> None:
    decision = _plan("which of our deals are slated to close next month but still sit in Qualified")
    assert decision.tool == "find_records"
    assert (decision.args["closing"], decision.args["stage"]) == ("next month", "Qualified")
    assert _plan("what will we close next month").tool == "forecast"


def test_a_value_left_out_of_a_rate_or_a_breakdown_is_excluded() -> None:
    ((_, rate),) = _calls(_plan("close rate this year not counting Uma"))
    assert rate["exclude"] == {"owner": "Uma Rao"} and not rate.get("owner")
    ((_, grouped),) = _calls(_plan("open pipeline per product apart from Beacon Cloud"))
    assert grouped["exclude"] == {"product": "Beacon Cloud"} and grouped["group_by"] == ["product"]
    listing = _plan("show open deals except the ones in Discovery")
    assert listing.tool == "find_records" and not listing.args.get("stage") and not listing.args.get("query")
    assert any(u.startswith("excluding Discovery") for u in listing.unapplied)


def test_a_deals_own_amount_after_a_dimension_is_a_deal_filter_not_a_bound() -> None:
    decision = _plan("accounts with deals over 40k")
    assert decision.args.get("amount_min") == 40000.0 and decision.args.get("value_min") is None
    idle = _plan("accounts with more than 3 contacts")
    assert idle.unapplied.count('"more than 3 contacts"') == 1  # named once


def test_groups_named_by_a_figure_are_ranked_by_it() -> None:
    ((_, customers),) = _calls(_plan("customers by revenue last year"))
    assert (customers["group_by"], customers["metric"], customers["status"]) == (["account"], "total_amount", "won")
    ((_, products),) = _calls(_plan("products by pipeline"))
    assert products["group_by"] == ["product"] and products["status"] == "open"
    listing = _plan("clients with deals over 35k")
    assert listing.tool == "find_records" and listing.args["amount_min"] == 35000.0


def test_an_amount_in_words_is_read_whole() -> None:
    decision = _plan("which products won more than 3 million in 2025")
    assert decision.args["value_min"] == 3_000_000.0 and not decision.unused and not decision.unapplied
