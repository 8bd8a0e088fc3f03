"""Held-out phrasings (not tuned on): the offline model's accuracy on them stays at or above the recorded bar."""

from __future__ import annotations

from tests.unit.test_offline_corpus import Case, has
from tests.unit.test_offline_phrasings import check

HELD_OUT_NOTE = """Held-out phrasings: written after the tuning set passed and run once before any further change.
First run: 78/84 (92.9 %). Their accuracy is reported, not forced to 100 %: they measure how well the cue/slot
pipeline generalises to phrasings it was not fitted to. Today is Monday 2026-11-23."""

HELD_OUT: list[Case] = [
    # create_lead
    ("Add a new lead please: Greta Lind, Purchasing Director, Nordic Foods AB, greta.lind@nordicfoods.se", "create_lead", {"name": "Greta Lind", "email": "greta.lind@nordicfoods.se"}),
    ("can u create a lead for tony stark, tony@starkindustries.com", "create_lead", {"name": "Tony Stark", "email": "tony@starkindustries.com"}),
    ("Just met this person at the conference, add her:\nLinda Park\nCMO, Brightside Media\nlinda@brightside.media", "create_lead", {"name": "Linda Park", "company": "Brightside Media"}),
    ("New prospect from a partner: Oscar Diaz (oscar.diaz@tecnova.mx)", "create_lead", {"name": "Oscar Diaz", "email": "oscar.diaz@tecnova.mx"}),
    ("save lead Hannah Berg hannah@berg-consulting.de", "create_lead", {"name": "Hannah Berg", "email": "hannah@berg-consulting.de"}),
    ("Put Victor Hugo from Les Mis Ltd in the CRM as a lead, victor@lesmis.co.uk", "create_lead", {"name": "Victor Hugo", "company": "Les Mis Ltd"}),
    # find_records
    ("show me deals in the proposal stage", "find_records", {"entity": "deal", "stage": "Proposal"}),
    ("Can you find the Nordic Foods account?", "find_records", {"entity": "account", "query": "Nordic Foods"}),
    ("list my won deals", "find_records", {"entity": "deal", "owner": "me", "status": "won"}),
    ("any open opps for Tecnova?", "find_records", {"entity": "deal", "query": "Tecnova"}),
    ("look up the lead Greta Lind", "find_records", {"entity": "lead", "query": "Greta Lind"}),
    ("get me all new leads", "find_records", {"entity": "lead", "status": "new"}),
    # score_lead
    ("what's Greta Lind's score?", "score_lead", {"lead_name": "Greta Lind"}),
    ("how strong a lead is Oscar Diaz", "score_lead", {"lead_name": "Oscar Diaz"}),
    ("score lead #33 pls", "score_lead", {"lead_id": 33}),
    ("Could you tell me if Hannah Berg is a hot lead?", "score_lead", {"lead_name": "Hannah Berg"}),
    ("is Brightside Media worth pursuing?", "score_lead", {"lead_name": "Brightside Media"}),
    ("re-score Victor Hugo", "score_lead", {"lead_name": "Victor Hugo"}),
    # qualify_lead
    ("qualify Greta Lind, they have a $60k budget", "qualify_lead", {"lead_name": "Greta Lind", "amount": 60000.0}),
    ("Please convert lead 33 to an opportunity", "qualify_lead", {"lead_id": 33}),
    ("Oscar Diaz is qualified", "qualify_lead", {"lead_name": "Oscar Diaz"}),
    ("can we qualify Hannah Berg?", "qualify_lead", {"lead_name": "Hannah Berg"}),
    ("mark the Brightside lead as qualified", "qualify_lead", {"lead_name": "Brightside"}),
    ("qualify tony stark for 250k", "qualify_lead", {"lead_name": "tony stark", "amount": 250000.0}),
    # move_deal
    ("move Nordic Foods to Proposal", "move_deal", {"deal_name": "Nordic Foods", "to_stage": "Proposal"}),
    ("Tecnova deal is in negotiation now", "move_deal", {"deal_name": "Tecnova", "to_stage": "Negotiation"}),
    ("we just won Brightside!", "move_deal", {"deal_name": "Brightside", "to_stage": "Won"}),
    ("mark the Berg Consulting opp as lost, they chose a cheaper vendor", "move_deal", {"deal_name": "Berg Consulting", "to_stage": "Lost", "loss_reason": has("cheaper vendor")}),
    ("advance deal 88 to the next stage: discovery", "move_deal", {"deal_id": 88, "to_stage": "Discovery"}),
    ("please set Les Mis to closed won, final amount $72,500", "move_deal", {"deal_name": "Les Mis", "to_stage": "Won", "amount": 72500.0}),
    # log_interaction
    ("log a call with Nordic Foods - they asked for references", "log_interaction", {"deal_name": "Nordic Foods", "channel": "call", "body": has("references")}),
    ("Had a demo with Tecnova today, went really well", "log_interaction", {"deal_name": "Tecnova", "channel": "meeting"}),
    ("note for Brightside: budget approved by the board", "log_interaction", {"deal_name": "Brightside", "body": has("budget approved")}),
    ("I emailed Berg Consulting the updated pricing", "log_interaction", {"deal_name": "Berg Consulting", "channel": "email", "direction": "outbound"}),
    ("log meeting with Les Mis: they need SSO before signing", "log_interaction", {"deal_name": "Les Mis", "channel": "meeting", "body": has("SSO")}),
    ("add a note on deal 88 that procurement is involved", "log_interaction", {"deal_id": 88, "body": has("procurement")}),
    # create_task
    ("remind me to send Greta the contract on Thursday", "create_task", {"title": has("send Greta the contract"), "due_date": "2026-11-26"}),
    ("create a task: call Oscar back tomorrow", "create_task", {"title": has("call Oscar back"), "due_date": "2026-11-24"}),
    ("Set a reminder to check on the Tecnova PO in 1 week", "create_task", {"title": has("Tecnova PO"), "due_date": "2026-11-30"}),
    ("I should follow up with Hannah on Friday", "create_task", {"title": has("Hannah"), "due_date": "2026-11-27"}),
    ("add a todo for next Monday: prepare Brightside proposal", "create_task", {"title": has("prepare Brightside proposal"), "due_date": "2026-11-30"}),
    ("remind me on Dec 10 to renew the Les Mis contract", "create_task", {"title": has("renew the Les Mis contract"), "due_date": "2026-12-10"}),
    # list_tasks
    ("what tasks do I have this week?", "list_tasks", {"owner": "me", "due_before": "2026-11-30"}),
    ("show overdue reminders", "list_tasks", {"due_before": "2026-11-23"}),
    ("what's on the team's plate?", "list_tasks", {"owner": "team"}),
    ("my tasks for today pls", "list_tasks", {"owner": "me", "due_before": "2026-11-24"}),
    ("list completed tasks", "list_tasks", {"status": "done"}),
    ("what do I need to get done next week?", "list_tasks", {"due_after": "2026-11-30", "due_before": "2026-12-07"}),
    # draft_follow_up
    ("draft an email to Nordic Foods about the pilot results", "draft_follow_up", {"deal_name": "Nordic Foods", "purpose": has("pilot results")}),
    ("write a follow-up for Tecnova", "draft_follow_up", {"deal_name": "Tecnova"}),
    ("Can you draft a thank you email to Brightside after today's demo?", "draft_follow_up", {"deal_name": "Brightside"}),
    ("prepare a follow-up to lead Hannah Berg to book a call", "draft_follow_up", {"lead_name": "Hannah Berg", "purpose": has("book a call")}),
    ("follow up with Les Mis regarding the SSO question", "draft_follow_up", {"deal_name": "Les Mis", "purpose": has("SSO question")}),
    ("compose a nudge email for deal 88", "draft_follow_up", {"deal_id": 88}),
    # send_follow_up (after draft #7)
    ("ok, send it now", "send_follow_up", {"message_id": 7}),
    ("Yes please send", "send_follow_up", {"message_id": 7}),
    ("send the email", "send_follow_up", {"message_id": 7}),
    ("looks great, ship it", "send_follow_up", {"message_id": 7}),
    ("go ahead", "send_follow_up", {"message_id": 7}),
    ("send message 7 please", "send_follow_up", {"message_id": 7}),
    # pipeline_question
    ("what's the total value of open deals?", "pipeline_question", {"metric": "total_amount", "status": "open"}),
    ("win rate for each rep this quarter", "pipeline_question", {"metric": "win_rate", "group_by": ["owner"], "period": "this quarter"}),
    ("how many deals did we lose last month", "pipeline_question", {"metric": "count", "status": "lost", "period": "last month"}),
    ("average deal size by industry", "pipeline_question", {"metric": "avg_amount", "group_by": ["industry"]}),
    ("How much revenue did we close in 2025?", "pipeline_question", {"metric": "total_amount", "period": "2025"}),
    ("what's the conversion rate from discovery to proposal by rep?", "pipeline_question", {"metric": "stage_conversion", "stage": "Discovery", "group_by": ["owner"]}),
    # bottleneck_analysis
    ("Where are our deals getting stuck this quarter?", "bottleneck_analysis", {"since": "2026-10-01"}),
    ("find the bottlenecks in our pipeline", "bottleneck_analysis", {}),
    ("which stage do deals stall in by industry", "bottleneck_analysis", {"segment": "industry"}),
    ("bottlenecks for small vs large deals?", "bottleneck_analysis", {"segment": "size"}),
    ("where do new reps get stuck?", "bottleneck_analysis", {"segment": "tenure"}),
    ("what slows deals down the most?", "bottleneck_analysis", {}),
    # forecast
    ("what's the forecast for next month?", "forecast", {"period": "next month"}),
    ("forecast for Q4 2026 by team", "forecast", {"period": "2026-Q4", "group_by": "team"}),
    ("what do we expect to close this quarter?", "forecast", {"period": "this quarter"}),
    ("show me the forecast per rep", "forecast", {"group_by": "owner"}),
    ("what's my forecast this quarter", "forecast", {"owner": None, "period": "this quarter"}),
    ("projection for 2027-Q1", "forecast", {"period": "2027-Q1"}),
    # search_interactions
    ("what did Nordic Foods say about the timeline?", "search_interactions", {"account": "Nordic Foods", "query": has("timeline")}),
    ("search emails for 'price increase'", "search_interactions", {"query": "price increase", "channel": "email"}),
    ("has anyone mentioned GDPR?", "search_interactions", {"query": has("GDPR")}),
    ("what concerns did Tecnova raise?", "search_interactions", {"account": "Tecnova", "query": has("concerns")}),
    ("find notes mentioning a competitor this year", "search_interactions", {"query": has("competitor"), "since": "2026-01-01"}),
    ("did Brightside bring up pricing in any calls?", "search_interactions", {"account": "Brightside", "query": has("pricing")}),
]  # fmt: skip


# measured when the held-out set was first run (see the model's notes); a drop below this is a regression
MIN_HELD_OUT_ACCURACY = 0.85


def test_held_out_accuracy() -> None:
    results = [check(case) for case in HELD_OUT]
    failures = [problem for ok, problem in results if not ok]
    accuracy = 1 - len(failures) / len(results)
    print(f"held-out accuracy {accuracy:.1%} ({len(results) - len(failures)}/{len(results)})")
    for problem in failures:
        print("  miss:", problem)
    assert accuracy >= MIN_HELD_OUT_ACCURACY, "\n".join(failures)
