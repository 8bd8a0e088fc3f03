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


HELD_OUT_B_NOTE = (
    """Second held-out set, written after the eval-suite fixes (first set no longer untouched) and run once."""
)
HELD_OUT_B: list[Case] = [
    ("hey, can you log a new lead for me - Rosa Alvarez, rosa@alvarezbuilds.com, owner of Alvarez Builds", "create_lead", {"name": "Rosa Alvarez", "email": "rosa@alvarezbuilds.com"}),
    ("Lead: Tim Cook, tim@pearfruit.example, Pear Fruit Inc", "create_lead", {"name": "Tim Cook", "company": "Pear Fruit Inc"}),
    ("please capture: Yuki Tanaka | Procurement Lead | Sakura Foods | +81 3-1234-5678 | yuki@sakura.jp", "create_lead", {"name": "Yuki Tanaka", "email": "yuki@sakura.jp"}),
    ("add Marcus Webb from Ironclad Security to the crm, marcus.webb@ironclad.io", "create_lead", {"name": "Marcus Webb", "email": "marcus.webb@ironclad.io"}),
    ("pull up the Ironclad deal", "find_records", {"entity": "deal", "query": "Ironclad"}),
    ("show me leads from Sakura Foods", "find_records", {"entity": "lead", "query": "Sakura Foods"}),
    ("list my deals in negotiation pls", "find_records", {"entity": "deal", "owner": "me", "stage": "Negotiation"}),
    ("who owns Pear Fruit?", "find_records", {"query": "Pear Fruit"}),
    ("score Rosa Alvarez", "score_lead", {"lead_name": "Rosa Alvarez"}),
    ("how hot is the Sakura lead", "score_lead", {"lead_name": "Sakura"}),
    ("what's the lead score for Marcus Webb?", "score_lead", {"lead_name": "Marcus Webb"}),
    ("is Tim Cook worth a call?", "score_lead", {"lead_name": "Tim Cook"}),
    ("qualify Rosa Alvarez at $35k", "qualify_lead", {"lead_name": "Rosa Alvarez", "amount": 35000.0}),
    ("Marcus Webb is qualified - budget 90k", "qualify_lead", {"lead_name": "Marcus Webb", "amount": 90000.0}),
    ("convert Yuki Tanaka to a deal", "qualify_lead", {"lead_name": "Yuki Tanaka"}),
    ("pls qualify lead #205", "qualify_lead", {"lead_id": 205}),
    ("move Ironclad Security to proposal", "move_deal", {"deal_name": "Ironclad Security", "to_stage": "Proposal"}),
    ("we lost Pear Fruit because of budget cuts", "move_deal", {"deal_name": "Pear Fruit", "to_stage": "Lost", "loss_reason": has("budget cuts")}),
    ("Sakura Foods signed today for $48k", "move_deal", {"deal_name": "Sakura Foods", "to_stage": "Won", "amount": 48000.0}),
    ("bump deal 301 back to discovery", "move_deal", {"deal_id": 301, "to_stage": "Discovery"}),
    ("log a call with Ironclad: CISO wants a pen test report", "log_interaction", {"deal_name": "Ironclad", "channel": "call", "body": has("pen test")}),
    ("met the Sakura team today, they want pricing in yen", "log_interaction", {"channel": "meeting", "body": has("yen")}),
    ("note on Pear Fruit: legal is reviewing the MSA", "log_interaction", {"deal_name": "Pear Fruit", "body": has("MSA")}),
    ("Rosa Alvarez emailed back, she's on vacation until Jan 5", "log_interaction", {"lead_name": "Rosa Alvarez", "channel": "email"}),
    ("remind me to chase Ironclad on Monday", "create_task", {"title": has("chase Ironclad"), "due_date": "2026-11-30"}),
    ("create a task to send Yuki the quote in yen by Friday", "create_task", {"title": has("send Yuki the quote"), "due_date": "2026-11-27"}),
    ("I need to call Marcus tomorrow", "create_task", {"title": has("call Marcus"), "due_date": "2026-11-24"}),
    ("set a reminder: renewal check for Pear Fruit, next Wednesday", "create_task", {"title": has("renewal check"), "due_date": "2026-11-25"}),
    ("what's on my list for today", "list_tasks", {"due_before": "2026-11-24"}),
    ("show me my overdue tasks", "list_tasks", {"due_before": "2026-11-23"}),
    ("what tasks are due next week?", "list_tasks", {"due_after": "2026-11-30", "due_before": "2026-12-07"}),
    ("any to-dos for the Ironclad deal?", "list_tasks", {"deal_name": "Ironclad"}),
    ("draft an email to Ironclad about the pen test report", "draft_follow_up", {"deal_name": "Ironclad", "purpose": has("pen test")}),
    ("write a quick follow-up for Pear Fruit re: the MSA", "draft_follow_up", {"deal_name": "Pear Fruit", "purpose": has("MSA")}),
    ("follow up with Rosa Alvarez to schedule a site visit", "draft_follow_up", {"lead_name": "Rosa Alvarez", "purpose": has("site visit")}),
    ("prepare a recap email for Sakura Foods", "draft_follow_up", {"deal_name": "Sakura Foods"}),
    ("great, send it", "send_follow_up", {"message_id": 7}),
    ("send now pls", "send_follow_up", {"message_id": 7}),
    ("ok go ahead and send the draft", "send_follow_up", {"message_id": 7}),
    ("yep ship it", "send_follow_up", {"message_id": 7}),
    ("how much have we won this quarter?", "pipeline_question", {"metric": "total_amount", "status": "won", "period": "this quarter"}),
    ("deals closed per rep last month", "pipeline_question", {"group_by": ["owner"], "period": "last month"}),
    ("what's the win rate for Sarah this year", "pipeline_question", {"metric": "win_rate", "period": "this year"}),
    ("average sales cycle by industry", "pipeline_question", {"metric": "avg_cycle_days", "group_by": ["industry"]}),
    ("where are deals getting stuck by rep?", "bottleneck_analysis", {"segment": "owner"}),
    ("what's our biggest bottleneck?", "bottleneck_analysis", {}),
    ("which stage is the slowest for big deals", "bottleneck_analysis", {"segment": "size"}),
    ("are deals stalling more in some industries?", "bottleneck_analysis", {"segment": "industry"}),
    ("forecast for next quarter", "forecast", {"period": "next quarter"}),
    ("what will each rep close this month?", "forecast", {"period": "this month", "group_by": "owner"}),
    ("team forecast for Q1 2027 please", "forecast", {"period": "2027-Q1"}),
    ("what's the projected number for december?", "forecast", {"period": "2026-12"}),
    ("what did Ironclad say about the pen test?", "search_interactions", {"account": "Ironclad", "query": has("pen test")}),
    ("has anyone complained about our onboarding?", "search_interactions", {"query": has("onboarding")}),
    ("search call notes for 'renewal risk'", "search_interactions", {"query": "renewal risk", "channel": "call"}),
    ("which accounts mentioned SOC 2?", "search_interactions", {"query": has("SOC 2")}),
]  # fmt: skip
# first run 50/56 (89.3 %); the misses were then fixed, so B (like A) now guards against regressions only
MIN_HELD_OUT_B_ACCURACY = 0.95


def test_second_held_out_accuracy() -> None:
    results = [check(case) for case in HELD_OUT_B]
    failures = [problem for ok, problem in results if not ok]
    accuracy = 1 - len(failures) / len(results)
    print(f"held-out B accuracy {accuracy:.1%} ({len(results) - len(failures)}/{len(results)})")
    for problem in failures:
        print("  miss:", problem)
    assert accuracy >= MIN_HELD_OUT_B_ACCURACY, "\n".join(failures)


HELD_OUT_C_NOTE = """Third held-out set: written last, run once, never tuned on. Its first-run accuracy is the honest
estimate of how the model does on phrasings nobody fitted it to; the bar below is set from that run."""
HELD_OUT_C: list[Case] = [
    ("so I just got off the phone with a new prospect, can you add her? Leila Haddad, COO at Cedar Analytics, leila@cedaranalytics.com", "create_lead", {"name": "Leila Haddad", "email": "leila@cedaranalytics.com"}),
    ("new contact for the crm: Piotr Nowak, piotr.nowak@vistula.pl", "create_lead", {"name": "Piotr Nowak"}),
    ("add lead pls\nGrace Kim\nVP Finance\nHarbor Freightways\ngrace.kim@harborfw.com", "create_lead", {"name": "Grace Kim", "company": "Harbor Freightways"}),
    ("can you look up Cedar Analytics for me", "find_records", {"query": "Cedar Analytics"}),
    ("show me all my leads that are still new", "find_records", {"entity": "lead", "owner": "me", "status": "new"}),
    ("list lost deals", "find_records", {"entity": "deal", "status": "lost"}),
    ("what score did Leila Haddad get?", "score_lead", {"lead_name": "Leila Haddad"}),
    ("rate lead 410", "score_lead", {"lead_id": 410}),
    ("how likely is Piotr Nowak to buy", "score_lead", {"lead_name": "Piotr Nowak"}),
    ("Leila Haddad has budget and authority, please qualify her", "qualify_lead", {"lead_name": "Leila Haddad"}),
    ("turn Grace Kim into an opportunity, ~20k", "qualify_lead", {"lead_name": "Grace Kim", "amount": 20000.0}),
    ("qualify lead 410 please", "qualify_lead", {"lead_id": 410}),
    ("Cedar Analytics moved to negotiation today", "move_deal", {"deal_name": "Cedar Analytics", "to_stage": "Negotiation"}),
    ("pls mark harbor freightways as closed lost - went with a competitor", "move_deal", {"to_stage": "Lost", "loss_reason": has("competitor")}),
    ("advance Vistula to proposal stage", "move_deal", {"deal_name": "Vistula", "to_stage": "Proposal"}),
    ("log an email to Cedar Analytics: sent over the security docs", "log_interaction", {"deal_name": "Cedar Analytics", "channel": "email"}),
    ("had coffee with the Vistula folks, they're keen on a Q1 start", "log_interaction", {"channel": "meeting", "body": has("Q1 start")}),
    ("note: Harbor Freightways asked for net-60 payment terms", "log_interaction", {"body": has("net-60")}),
    ("set a reminder to call Piotr on Thursday", "create_task", {"title": has("call Piotr"), "due_date": "2026-11-26"}),
    ("add to my to-do list: prepare Cedar renewal deck, due Dec 1", "create_task", {"title": has("prepare Cedar renewal deck"), "due_date": "2026-12-01"}),
    ("remind me next week to check on Grace Kim", "create_task", {"title": has("Grace Kim"), "due_date": "2026-11-30"}),
    ("what have I got on today?", "list_tasks", {"due_before": "2026-11-24"}),
    ("list the team's open tasks", "list_tasks", {"owner": "team"}),
    ("anything overdue on my list?", "list_tasks", {"due_before": "2026-11-23"}),
    ("write to Cedar Analytics to confirm the kickoff date", "draft_follow_up", {"deal_name": "Cedar Analytics", "purpose": has("confirm the kickoff")}),
    ("draft a follow up for Grace Kim", "draft_follow_up", {"lead_name": "Grace Kim"}),
    ("email the Vistula team a summary of our call", "draft_follow_up", {"deal_name": "Vistula"}),
    ("perfect, please send", "send_follow_up", {"message_id": 7}),
    ("send the follow-up", "send_follow_up", {"message_id": 7}),
    ("that works, send it out", "send_follow_up", {"message_id": 7}),
    ("total bookings by month this year?", "pipeline_question", {"metric": "total_amount", "status": "won", "group_by": ["month"], "period": "this year"}),
    ("how many open deals do we have in discovery", "pipeline_question", {"metric": "count", "stage": "Discovery"}),
    ("avg deal size last quarter per team", "pipeline_question", {"metric": "avg_amount", "group_by": ["team"], "period": "last quarter"}),
    ("where is the pipeline leaking?", "bottleneck_analysis", {}),
    ("show bottlenecks since the start of the year", "bottleneck_analysis", {}),
    ("what stage are deals stuck in the longest by industry", "bottleneck_analysis", {"segment": "industry"}),
    ("what's the forecast looking like for Q4?", "forecast", {"period": "2026-Q4"}),
    ("projected bookings next month by rep", "forecast", {"period": "next month", "group_by": "owner"}),
    ("are we going to hit our number this quarter?", "forecast", {"period": "this quarter"}),
    ("what did Harbor Freightways say about payment terms?", "search_interactions", {"account": "Harbor Freightways", "query": has("payment terms")}),
    ("search emails about contract renewal", "search_interactions", {"query": has("contract renewal"), "channel": "email"}),
    ("has any customer mentioned layoffs recently?", "search_interactions", {"query": has("layoffs")}),
]  # fmt: skip
# first run 37/42 (88.1 %); the 5 misses were all safe (a help reply or a question, never a wrong action):
# "can you add her? <details>", "rate lead 410", "what have I got on today?", "write to Cedar Analytics to ...",
# "are we going to hit our number this quarter?". Deliberately not tuned on.
MIN_HELD_OUT_C_ACCURACY = 0.88


def test_third_held_out_accuracy() -> None:
    results = [check(case) for case in HELD_OUT_C]
    failures = [problem for ok, problem in results if not ok]
    accuracy = 1 - len(failures) / len(results)
    print(f"held-out C accuracy {accuracy:.1%} ({len(results) - len(failures)}/{len(results)})")
    for problem in failures:
        print("  miss:", problem)
    assert accuracy >= MIN_HELD_OUT_C_ACCURACY, "\n".join(failures)


# measured when the held-out set was first run (see the model's notes); a drop below this is a regression
# first run 78/84 (92.9 %); later fixes for the eval suite and set B brought it to 84/84
MIN_HELD_OUT_ACCURACY = 0.95


def test_held_out_accuracy() -> None:
    results = [check(case) for case in HELD_OUT]
    failures = [problem for ok, problem in results if not ok]
    accuracy = 1 - len(failures) / len(results)
    print(f"held-out accuracy {accuracy:.1%} ({len(results) - len(failures)}/{len(results)})")
    for problem in failures:
        print("  miss:", problem)
    assert accuracy >= MIN_HELD_OUT_ACCURACY, "\n".join(failures)
