"""Intent scoring for the offline model: weighted cue patterns per tool, with negation and question detection.

Scores are computed on the user's own request (never on pasted data); the planner adds slot-based evidence
(a stage named, an e-mail pasted, a draft in the conversation) before picking the best intent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.offline.metrics import METRIC_PHRASES

QUERY_INTENTS = frozenset(
    {
        "find_records",
        "pipeline_question",
        "forecast",
        "search_interactions",
        "list_tasks",
        "bottleneck_analysis",
        "stalled_deals",
        "who_to_call",
        "hot_leads",
        "account_contacts",
        "experiment_status",
    }
)
ACTION_INTENTS = frozenset(
    {
        "create_lead",
        "qualify_lead",
        "move_deal",
        "log_interaction",
        "create_task",
        "draft_follow_up",
        "send_follow_up",
        "edit_record",
        "reopen_deal",
        "undo_last_change",
    }
)

_Cue = tuple[str, float]

# fmt: off
CUES: dict[str, list[_Cue]] = {
    "edit_draft": [
        (r"\b(change|update|set|edit|rewrite|replace|fix|make|use)\b[^.?!]{0,20}\bsubject( line)?\b", 5.0),
        (r"\b(make|keep|write|have) (it|this|that|the (draft|email|message|note|follow-up))\b[^.?!]{0,20}\b(shorter|briefer|more concise|tighter|short|brief|formal|informal|casual|friendl\w*|warmer|polite|professional)\b", 5.0),
        (r"\b(shorten|trim|tighten|cut down)\b[^.?!]{0,20}\b(it|this|that|draft|email|message|note|follow-up)\b", 4.0),
        (r"\b(more|less) (formal|casual|friendly|professional|polite)\b|\bfriendlier\b", 3.5),
        (r"\b(formal|friendly|friendlier|casual|professional|warmer) tone\b|\b(change|adjust|soften) the tone\b", 3.5),
        (r"\b(shorter|too long|too wordy)\b", 2.0),
    ],
    "who_to_call": [
        (r"\bwho (should|do|shall|must) (i|we) (call|ring|phone|contact|reach out to|chase)\b|\bwho to (call|chase)\b", 5.0),
        (r"\bwhat should (i|we) (work on|focus on|tackle) first\b|\b(my )?priorities (for )?today\b", 4.5),
        (r"\bcall list\b|\bwho('s| is) (most )?worth (a )?call(ing)?\b", 4.0),
    ],
    "stalled_deals": [
        (r"\b(stalled|stale|idle|neglected|dormant|untouched|forgotten|going cold|gone cold|cold)\s+(deals?|opportunit(y|ies)|opps?)\b", 5.0),
        (r"\b(which|what|any|list|show|my|our)\b[^.?!]{0,30}\b(deals?|opps?|opportunit(y|ies))\b[^.?!]{0,25}\b(stalled|stale|idle|going cold|gone cold|been neglected|untouched)\b", 4.5),
        (r"\b(deals?|opps?)\b[^.?!]{0,20}\b(nobody|no one)('s| has) (touched|worked on)\b", 4.5),
        # "which of my deals haven't been touched in a month", "deals with no activity for two weeks"
        (r"\b(deals?|opps?|opportunit(y|ies))\b[^.?!]{0,40}\b(have ?n[o']t|has ?n[o']t|not been|no one has|nobody has|without( any)?|with no|no)\b[^.?!]{0,25}\b(touched|worked on|updated|contacted|activity|activities|touch(es)?|interactions?|movement|moved|updates?|contact)\b[^.?!]{0,15}\b(in|for|since|over)\b", 5.0),
        (r"\b(deals?|opps?)\b[^.?!]{0,30}\b(idle|quiet|silent|untouched|dormant)\s+(for|in|over)\s+(a|an|one|two|three|four|six|\d+)\b", 5.0),
    ],
    "hot_leads": [
        (r"\b(hottest|warmest|most promising|best|top|highest[- ]scor\w*|strongest)\s+(\d+\s+)?(open\s+)?leads\b", 5.0),
        (r"\b(hottest|warmest|highest[- ]scor\w*)\s+lead\b|\bhot leads\b", 5.0),
    ],
    "experiment_status": [
        (r"\b(experiments?|a/b tests?|ab tests?|split tests?|control group|treatment (arm|group))\b", 4.0),
        (r"\b(is|are|was|has|have|did|does)\b[^.?!]{0,50}\b(rule|change|process|playbook|cadence|sequence|approach|trial|pilot)\b[^.?!]{0,25}\b(working|worked|helping|helped|paying off|paid off|making a difference|made a difference|doing anything|moving the needle|effective|improv\w*)\b", 5.5),
        # "is the new discovery script helping?": a new thing asked after as a whole
        (r"\b(is|are|has|have|did|does)\s+(the|our|my|this|that)\s+new\s+[\w' -]{1,40}?\s+(been\s+)?(working|worked|helping|helped|paying off|paid off|making a difference|made a difference|moving the needle)\b", 5.5),
    ],
    "account_contacts": [
        (r"\b(who do (we|i) know at|who('s| is| are) (our |the )?contacts? (at|for)|contacts? at|contacts (for|in)|people (at|we know at)|who (works|is) at)\b", 5.0),
    ],
    "edit_record": [
        (r"\b(change|update|set|edit|correct|fix|adjust|bump)\b[^.?!]{0,40}\b(amount|value|close date|closing date|expected close|owner|e-?mail|phone|title|product)\b", 4.0),
        (r"\b(reassign|hand (it )?over|hand off|transfer)\b", 4.0),
        (r"\brename\b", 4.0),
        (r"\b(amount|value|close date|closing date|email|phone|title|owner) (is now|should be|is actually|needs to be|is wrong)\b", 4.0),
        # "push the close date to end of January": a close date moves, the deal does not change stage
        (r"\b(push|move|slip|pull)\b[^.?!]{0,25}\b(close date|closing date|expected close( date)?)\b", 5.0),
    ],
    "reopen_deal": [
        (r"\b(reopen|re-open|un-?lose|unwin|revive)\b", 5.0),
        (r"\b(marked|closed|set) (it |that |this )?(as )?(lost|won) by (mistake|accident)\b", 5.0),
        (r"\bmark (it |that |this )?(as )?open again\b|\bback to open\b", 4.5),
    ],
    "undo_last_change": [
        (r"\b(undo|revert|roll ?back|take (that|it) back|reverse (that|it|my last))\b", 5.0),
        (r"\boops\b", 1.0),
    ],
    "create_lead": [
        (r"\b(add|create|capture|enter|save|register|set up|put in|record|log|make|input|start)\s+(?:(?:a|an|this|the|my|these|that)\s+)?(?:new\s+)?leads?\b", 3.0),
        (r"\b(add|put|save|enter)\b[^.?!]{0,30}\b(to|as|in|into)\s+(the\s+|my\s+|our\s+)?(leads|lead list|crm)\b", 3.0),
        (r"\bnew (lead|prospect|contact)\b", 2.0),
        (r"\blead\b", 0.5),
        (r"\b(add|create|save|enter|capture|put)\b[^.?!]{0,25}\b(contact|prospect|person|signature|guy|woman|man|him|her|them)\b", 2.0),
        (r"\b(signature|business card|sig|vcard|contact card|contact details|his details|her details)\b", 1.5),
        (r"\b(into|in|to) (the )?(crm|system|pipeline as a lead)\b", 1.0),
        (r"\b(met|spoke to|talked to|got a card from|ran into)\b", 0.5),
        (r"\b(referral|referred)\b", 1.0),
        (r"\binbound\b", 0.5),
    ],
    "find_records": [
        (r"\b(find|look ?up|lookup|search for|pull up)\b|^open\b", 1.5),
        (r"\b(show|list|pull|get|fetch|display|give me|see|check)\b", 1.0),
        # "list the deals expected to close next month": the deals themselves, not a forecast of them
        (r"^(?:(?:please|pls|can you|could you)\s+)?(show|list|pull up|display|give me)\s+(me\s+)?(the\s+|all\s+|our\s+|my\s+)?(\w+\s+)?(deals|opportunities|leads)\b", 1.5),
        (r"\b(leads|deals|accounts|contacts|records|lead|deal|account|contact)\b", 1.0),
        (r"\b(my|our|open|all|active|new|won|lost)\s+(leads|deals|accounts|contacts)\b", 1.0),
        (r"\b(do we have|is there|are there|have we got|any)\b[^.?!]{0,30}\b(lead|deal|account|contact)s?\b", 1.5),
        (r"\bwho (owns|is the owner|is working)\b", 2.0),
        # "which deals have been sitting in Proposal the longest": a listing ordered by days in the stage
        # ("which stage are deals stuck in the longest" asks about stages: a bottleneck)
        (r"^(?!.*\b(what|which) (stages?|deal sizes?|sizes?|segments?|industr\w+|reps?|owners?|products?|regions?|teams?|sources?)\b).*?\b(deals|opportunities|opps)\b[^.?!]{0,30}?(\b(sitting|sat|stuck|been|spent|waiting|languishing|parked)\b[^.?!]{0,40}\b(the )?longest\b|\blongest (time )?in (their |its |the )?(current )?stage\b)", 4.0),
        # "... and which ones were they", "and list them": the records a first question counted
        (r"\b(which|what) (ones|deals|leads) (were|are) (they|those|these)\b|^(and )?(list|show) (me )?(them|those|these)\b", 2.5),
        (r"\b(status of|details (on|for|of|about)|where are we with|where do we stand with|what's the latest on|(?:what|which) stage is)\b", 2.0),
        (r"\bwhich (leads|deals|accounts|contacts)\b", 0.5),
        # "which of my deals are expected to close this month": the deals themselves, not a forecast of them
        (r"\bwhich (of (my|our|the|his|her|their) )?(open )?(deals|opportunities|opps)\b[^.?!]{0,30}\b(expected|due|slated|set|going) to close\b", 2.0),
        # "what's closing for me in the next 30 days": the deals themselves
        (r"\b(what's|what is|what are|anything|whats)\s+(closing|due to close|expected to close|slated to close|set to close)\b", 2.0),
        # "when is the Saltmarsh deal expected to close?": the record's own close date, not a forecast
        (r"\bwhen (is|will|does|do|should) (the |our |my )?[\w .&'-]{1,40}?\b(expected to |going to |set to |due to |likely to )?(close|sign|land)\b", 4.0),
        (r"\b(biggest|largest|highest[- ]value|most valuable)\s+(\d{1,3}\s+)?(open\s+)?(deals|opportunities|opps)\b", 1.5),  # weaker than a process word: 'do our biggest deals stall?'
        (r"\b(\d{1,3}|two|three|four|five|six|seven|eight|nine|ten|twenty)\s+(biggest|largest)\s+(open\s+)?(deals|opportunities|opps)\b", 1.5),
        (r"\btop\s+(\d{1,3}|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty)\s+(open\s+|won\s+|lost\s+)?(deals|opportunities|opps)\b(?![^.?!]{0,20}\b(by|per)\s+(rep|owner|stage|region|product|account|team|industry|month|quarter))", 3.0),
    ],
    "score_lead": [
        (r"\bscor(e|es|ed|ing)\b", 2.5),
        (r"\bhow (good|hot|warm|promising|strong|likely|qualified) (is|are|a)\b", 2.0),
        (r"\b(lead quality|rate (this|the|that) lead|rank (this|the|that) lead)\b", 2.5),
        (r"\b(good|hot|strong|solid|decent|promising) (lead|fit|prospect)\b", 2.5),
        (r"\bany good\b", 2.0),
        (r"\bworth (chasing|pursuing|a call|our time|the effort|it)\b", 2.0),
        (r"\b(likely|chance|odds|probability)\b[^.?!]{0,20}\b(convert|converts|close|buy)\b", 2.0),
        (r"\bprioriti[sz]e\b", 1.0),
    ],
    "qualify_lead": [
        (r"\bqualif(y|ied|ying)\b", 2.5),
        (r"\b(convert|turn|promote|upgrade|make)\b[^.?!]{0,30}\b(into|to|a)\s+(a |an )?(deal|opportunity)\b", 3.0),
        (r"\b(sql|sales qualified|mql)\b", 1.5),
        (r"\bready for (a |the )?(deal|sales|pipeline|ae)\b", 1.5),
        (r"\b(disqualif\w*|unqualified)\b", -4.0),
    ],
    "move_deal": [
        (r"\b(move|moving|moved|advance|push|bump|progress|shift|set|change|update|put|take|drag|slide)\b[^.?!]{0,40}\b(to|into|in|as|back to)\b", 1.5),
        (r"\bmark(ed)?\b[^.?!]{0,35}\b(as|won|lost|closed)\b", 2.0),
        (r"\b(we|i|they) (just |finally |officially )?(won|lost|closed|signed|booked|landed|lost out on)\b", 2.0),
        (r"\b(closed[- ]won|closed[- ]lost)\b", 2.0),
        (r"\b(close|closed) (it|the deal|out)\b", 1.0),
        (r"\bstage\b", 1.0),
        (r"\b(to|into|as) (the )?(prospecting|qualified|discovery|proposal|negotiation|won|lost|demo|closed won|closed lost)( stage)?\b", 1.5),
        (r"\b(went|gone|go|going|signed|is|are|has|have) (with )?(a |another )?(competitor|someone else|another vendor)\b", 2.5),
        (r"\b(is|are|should be) (now )?(in|at) (prospecting|proposal|negotiation|discovery|qualified)( now)?\b", 2.0),
        (r"\b(signed|inked)\b(?!\s+(the |an? )?(nda|msa|sow|po|order form|contract back))", 1.5),
        (r"\b(is dead|went dark)\b", 1.0),
        (r"\bmove (it|this|that|them|this one|that one) (along|forward|ahead|on|up)\b|\bready for (prospecting|qualified|discovery|proposal|negotiation|demo)\b", 2.0),
    ],
    "log_interaction": [
        (r"\blog(ged|ging)?\b", 2.0),
        (r"\b(note|notes)\b", 1.5),
        (r"\b(had|just had|finished|wrapped up|got off) (a |an |the |my )?(call|meeting|chat|demo|conversation|lunch|coffee|zoom)\b", 2.5),
        (r"\b(called|emailed|met with|met the|spoke (with|to)|talked (with|to)|chatted with|heard (back )?from|got an email from|pinged)\b", 1.5),
        (r"\b(jot down|write down|add a note|add note|quick note)\b", 2.0),
        (r"\b(record|capture|document)\b", 1.0),
        (r"\b(call|meeting|conversation|voicemail)\b", 0.5),
        (r"\b(they|he|she|customer|client) (want|wants|said|says|asked|need|needs|mentioned|told|prefer|prefers|are|is|loved|liked|hated)\b", 1.0),
    ],
    "create_task": [
        (r"\bremind(er)?\b", 3.0),
        (r"\b(create|add|set|make|new|schedule|put|open)\b[^.?!]{0,20}\b(task|to-do|reminder)\b", 3.0),
        (r"\b(to-do|task)\b", 1.0),
        (r"\b(i need to|i have to|i should|i must|i gotta|i've got to|don't let me forget|dont let me forget)\b", 1.5),
        (r"\b(put|add)\b.{0,40}\b(on|in|to) my (list|calendar|plate|to-do list|agenda)\b", 3.5),
        (r"^(task|to-do|reminder)\b|\b(task|to-do|reminder)\s*[:-]", 3.0),
        (r"\bnudge me\b", 3.0),
    ],
    "list_tasks": [
        (r"\b(my|our|the team's|team|open|overdue|pending|upcoming|outstanding)\s+(tasks|to-dos|to-do list|reminders|follow-ups|action items)\b", 2.5),
        (r"\bon (my|our|the team's|the team|team's) (plate|list|agenda|to-do list|schedule)\b", 3.0),
        (r"\bwhat (do|should) i (have|need) to (do|get done)\b|\bwhat should i (do|work on|focus on|tackle)\b", 3.0),
        (r"\b(tasks|to-dos|reminders|action items)\b", 1.5),
        (r"\boverdue\b", 1.0),
        (r"\bwhat's due\b|\bwhat is due\b|\bdue (today|this week|tomorrow)\b", 2.0),
        (r"\b(agenda|to-do list|to do list)\b", 1.0),
        (r"\bon my to do list\b", 3.0),
        (r"\b(anything|something) (is )?due\b", 2.0),
        (r"\b(everything|all|what) (that )?i (need|have) to do\b|\bneed to do (today|this week|tomorrow)\b", 3.0),
    ],
    "draft_follow_up": [
        (r"\b(draft|write|compose|prepare|prep|put together|whip up|craft|create)\b(?:(?!\b(?:task|reminder|to-do)\b)[^.?!]){0,30}\b(email|follow-up|message|reply|mail|note to|letter|response|recap|summary|thank-you note|check-in|check in|nudge|intro email|introduction)\b", 3.0),
        (r"\bdraft\b", 1.5),
        (r"\bfollow-up (email|message|note)\b", 2.0),
        (r"\bfollow-up\b", 1.0),
        (r"\b(follow-up|check in|touch base|circle back|reach out) (with|to|on)\b", 2.0),
        (r"\b(send|shoot|drop|fire off|email)\b[^.?!]{0,20}\b(a|an|some)\b[^.?!]{0,15}\b(email|follow-up|note|message|line|recap|thank you)\b", 2.0),
        (r"\b(thank-you|thank you|recap) (email|note|message)\b", 1.0),
    ],
    "send_follow_up": [
        (r"\bsend (it|that|this|the draft|the email|the message|my draft|the follow-up|the note|them|that one|this one|message|draft)\b", 3.0),
        (r"^(?:(?:please|ok|okay|yes|yep|great|good|perfect|looks good|lgtm|cool|thanks|alright|go ahead and|go ahead|now)[, !]*)*(send|ship|fire off)\b", 2.0),
        (r"\b(ship it|fire it off|send it off|send away|send it out|send that out|hit send|go ahead and send|send now)\b", 1.5),
        (r"\bsend\b", 0.5),
    ],
    "pipeline_question": [
        (r"\bhow (much|many)\b", 2.0),
        (r"\bhow long\b", 2.5),
        (r"\b(share|percentage|proportion|fraction|percent|ratio) of\b", 2.5),
        (r"\b(average|avg|mean|median)\b", 1.0),
        (r"\b(win rates?|win-rates?|close rates?|closing rates?|win ratios?|win percentage|win %|hit rates?|success rates?|loss rates?|loss ratios?)\b", 3.0),
        (r"\bhow often (do|did|does) (we|i|they|my team|the team) (win|close|lose)\b", 3.0),
        (r"\b(open|my|our|team's|total|whole|entire|current) pipeline\b", 2.0),
        (r"\b(monthly|quarterly|break(ing)? ?down|breakdown|month over month|quarter over quarter)\b", 2.0),
        (r"\b(make it past|made it past|get past|share of deals|percentage of deals|% of deals)\b", 3.0),
        (r"\b(conversion|conversion rate|convert(ed|s)? from|progress(ed)? from|made it from|moved from|go from)\b", 3.0),
        (r"\bconvert(ed|s)?\b", 1.0),
        (r"\b(sales cycle|cycle time|cycle length|days to close|time to close|how long (does it|do deals|did it|does a deal|do they) take)\b", 3.0),
        (r"\b(deal size|average|mean|median|total|sum|revenue|bookings|pipeline value|value of|amount)\b", 1.5),
        (r"\b(by|per|each|across|broken down by|split by)\s+(my |our |the |sales |regional )?(rep|reps|owner|stage|industry|sector|vertical|product|region|territory|month|quarter|team|person|agent|office|account|customer|client|manager|seller)s?\b", 1.5),
        (r"\bwhat (did|have|has|had) (we|i|you|they|the company|the team|our team|my team|[A-Z][a-z]+(?: [A-Z][a-z]+)?) (win|won|book|booked|sell|sold|close|closed|lose|lost|bring in|brought in)\b", 2.5),
        # "what did the Iberia manager's team book": any subject of a few words
        (r"\bwhat (did|have|has|had) [\w' .&-]{1,40}? (win|won|book|booked|sell|sold|close|closed|lose|lost|bring in|brought in)\b", 1.5),
        (r"\b(best|top|worst)[- ]selling\b", 2.0),
        (r"\bcompare\b[^.?!]{0,30}\b(offices?|regions?|teams?|reps?|agents?|products?|managers?|sectors?|industr(y|ies))('s|')?", 2.0),
        (r"\bpipeline\b", 1.0),
        # "which products sold more than 500 deals", "reps with over 20 won deals": a bound on each group's figure
        (r"^(?:(?:show|list|give|find|get)(?: me)?\s+)?(?:(?:which|what|the|all|our|my)\s+)?(?:of (?:the|our|my) )?(reps?|agents?|owners?|sellers?|salespeople|products?|industr(?:y|ies)|sectors?|verticals?|regions?|offices?|teams?|accounts?|customers?|clients?|sources?|months?|quarters?)\b[^.?!]{0,40}\b(?<!deals )(?<!deal )(?<!worth )(?<!opportunities )(?<!opps )(?<!valued at )(?<!sized )(more than|fewer than|less than|over|under|above|below|at least|at most)\s+(?:[$€£]?\d[\d,.]*\s*(?:k|m|mm|bn|million|thousand)\b|[$€£]\d|\d[\d,]*\s+(?:(?:won|open|lost|closed|new|active)\s+)?(?:deals|opportunities|opps|wins|sales|losses|orders)\b)", 4.5),
        # "products with a win rate below 35%": a bound on each group's rate (not "a probability above 70%")
        (r"^(?:(?:show|list|give|find|get)(?: me)?\s+)?(?:(?:which|what|the|all|our|my|any)\s+)?(reps?|agents?|owners?|sellers?|salespeople|products?|industr(?:y|ies)|sectors?|verticals?|regions?|offices?|teams?|accounts?|customers?|clients?|sources?|months?|quarters?)\b[^.?!]{0,40}\b(win|close|closing|conversion|loss|hit|success) (rates?|ratios?)\b[^.?!]{0,20}\b(more than|less than|over|under|above|below|at least|at most)\s+\d+(?:\.\d+)?\s*(?:%|percent)", 4.5),  # never a deal's own amount ("accounts with deals over 50k")
        # "customers by revenue", "products by pipeline": the groups ranked by a figure
        (r"^(?:(?:show|list|rank|give)(?: me)?\s+)?(?:(?:the|our|my|all|top)\s+)?(reps?|agents?|owners?|sellers?|products?|industr(?:y|ies)|sectors?|regions?|offices?|teams?|accounts?|customers?|clients?|sources?)\s+(?:ranked\s+|sorted\s+)?by\s+(?:won\s+)?(revenue|bookings|amount|value|pipeline|wins|deal size|win rate|sales)\b", 3.0),
        # "did Uma win more than 100k this year": one figure against a bound
        (r"^(did|has|have|is|are|was|were)\b[^.?!]{0,40}\b(win|won|sell|sold|book|booked|bring in|brought in|close|closed)\b[^.?!]{0,12}\b(more than|less than|over|under|above|below|at least)\b", 3.0),
        (r"^pipeline\b(?!\s*(?:review|meeting|call)\b)", 1.0),  # "pipeline closing this quarter": a noun phrase asking
        (r"\b(who|which rep|which reps|top reps?|best reps?)\b[^.?!]{0,20}\b(won|closed|sold|booked|most|best|highest|lowest)\b", 2.0),
        (r"\bnumber of\b|\bcount\b", 2.0),
        # "who has the most deals stuck in Discovery": a ranking of people by a count, whatever the deals' state
        (r"\b(who|which (reps?|owners?|sellers?|agents?|teams?|offices?|regions?))\b[^.?!]{0,25}\b(most|fewest|least)\s+((?!stalled|stale|idle|inactive|stuck)\w+\s+)?(deals|opportunities|leads)\b", 3.0),
        (r"\b(worth|value)\b", 0.5),
        (r"\bhow (are|is) (we|my team|the team|our team)\b", 1.0),
        (r"\bhow (is|are|am|'s) (the |our |my )?[\w .&-]{1,40}\b(doing|performing|going|trending|selling|tracking)\b", 1.5),
        (r"\bhow (am i|are we|is \w+) (doing|performing|tracking)\b", 1.5),
        (r"\b(which|what) (of (the|our|my) )?(sales agent|agent|salesperson|seller|owner|office|regional office|account|customer|client|rep|product|team|manager|region|territory|sector|vertical|stage|month|quarter|industr(y|ie))(s|'s)?\b[^.?!]{0,40}\b(most|least|fewest|highest|lowest|best|worst|biggest|largest|smallest)\b", 2.5),
        (r"\b(top|bottom)\s+\d{1,3}\s+\w+", 1.0),
        (r"\b(quotas?|attainment|pipeline coverage)\b", 2.0),
        (r"\b(which|what) (accounts?|customers?|clients?|companies)\b[^.?!]{0,30}\b(bought|buy|buys|purchased|ordered|signed)\b", 4.0),
        (r"\bwhy (did|do|does|are|were|have|has) [\w ]{1,30}?(lose|lost|losing)\b|\bloss reasons?\b|\breasons? (for|why)( we)? (losing|lost|los(s|ses))\b|\band why\b[^.?!]*$|\b(by|per) (loss )?reasons?\b", 3.0),
        # "top 3 reps by won deals", "best 5 accounts": a ranking of groups, not a list of deals
        (r"\b(top|bottom|best|worst)\s+(\d{1,3}\s+)?(sales\s+)?(reps?|agents?|sellers?|salespeople|owners?|accounts?|customers?|clients?|products?|regions?|offices?|teams?|industries|sectors?|verticals?|stages?|managers?)\b", 2.5),
        (r"\b(compare|comparison|leaderboard|ranking|rank)\b", 1.0),
    ],
    "bottleneck_analysis": [
        (r"\b(bottleneck|bottlenecks|stuck|stall|stalled|stalling|clog|clogged|choke point|friction|held up|hold-up|hold up|holds up|slowing (us|things|deals) down)\b", 3.5),
        (r"\b(drop off|drop-off|leak|leaking|leaks|fall out|fall through|die|dying|lose momentum)\b", 2.0),
        (r"\b(slowest|take the longest|takes the longest|longest|slow(est)? stage|lag|lagging)\b", 1.5),
        (r"\bslowing\b.{0,25}\bdown\b|\bholding (up|back)\b|\bslows?\b.{0,25}\bdown\b", 3.5),
        (r"\b(process|funnel|flow)\b", 0.5),
        (r"\bwhere\b", 0.5),
    ],
    "forecast": [
        (r"\b(forecast|forecasting|forecasted|projection|projections|projected|predict|prediction|outlook)\b", 3.5),
        (r"\bexpected (revenue|bookings|closings|sales|wins)\b", 3.5),
        (r"\b(expect(ed)? to close|going to close|gonna close|will (we|i|my team|the team|each rep|every rep|the reps|reps|they|each of my reps) (close|hit|land|make|book)|likely to close|on track|land this|landing|commit)\b", 2.5),
        (r"\b(quota|target|number)\b", 0.5),
        (r"\b(end up|finish) (the )?(quarter|month|year)\b", 2.0),
    ],
    "search_interactions": [
        (r"\bwhat (did|has|have|was|were) [^.?!]{1,40}\b(say|said|saying|mention|mentioned|tell|told|write|wrote|ask|asked|think|feel|complain)\b", 3.0),
        (r"\b(mention|mentions|mentioned|mentioning|talk(ed|s)? about|brought up|bring up|raised|complain(ed|ing|s)?|said about|say about|saying about|ask(ed)? about)\b", 2.0),
        (r"\b(search|find|look through|dig (up|through)|go through|scan|grep)\b[^.?!]{0,30}\b(notes|emails|calls|interactions|conversations|messages|meetings|history)\b", 3.0),
        (r"\b(notes|emails|calls|meetings|conversations)\s+(on|about|for|from|with|mentioning|where|that mention)\b", 2.0),
        (r"\b(came|come|comes|coming) up\b", 2.0),
        (r"\b(waiting on|waiting for|blocked on|blocked by|worried about|concerned about|interested in|asking for|asked for|ask for|asks for|requested|pushing back on)\b", 2.0),
        (r"\b(notes|emails|calls|interactions|conversations|transcripts|call notes|meeting notes)\b", 1.0),
        (r"\b(concern|concerns|objection|objections|feedback|pushback|sentiment|pain points?)\b", 1.5),
        (r"\b(anyone|anybody|any customer|any prospect|any deal|any account)\b", 0.5),
    ],
}
# fmt: on
# the funnel figures' own phrases (agent.offline.metrics) name a pipeline question as surely as "win rate" does
CUES["pipeline_question"] += [(pattern, 4.0) for _, pattern in METRIC_PHRASES]

_COMPILED: dict[str, list[tuple[re.Pattern[str], float]]] = {
    intent: [(re.compile(pattern, re.IGNORECASE), weight) for pattern, weight in cues] for intent, cues in CUES.items()
}
_NEGATION = re.compile(
    r"\b(don't|do not|dont|never|not|no need to|without|stop|cancel|hold off on|hold off|wait before you|shouldn't|won't)"
    r"(\s+\w+){0,2}\s*$",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"^(what|what's|whats|how|how's|which|who|whose|where|when|why|is|are|do|does|did|can you tell|any|have we|has)\b",
    re.IGNORECASE,
)


_WH_START = re.compile(r"^(what|what's|whats|how|how's|which|who|whose|where|when|why)\b(?!\s+(about|if)\b)", re.I)


def is_question(text: str) -> bool:
    stripped = re.sub(r"^(please|pls|hey|hi|ok|okay|so|and|quick question|q)[,:!\s]+", "", text.strip(), flags=re.I)
    return text.rstrip().endswith("?") or bool(_QUESTION.match(stripped))


def is_negated(text: str, start: int) -> bool:
    return bool(_NEGATION.search(text[:start]))


@dataclass
class IntentScores:
    scores: dict[str, float] = field(default_factory=dict)
    question: bool = False

    def add(self, intent: str, weight: float) -> None:
        self.scores[intent] = self.scores.get(intent, 0.0) + weight

    def ranked(self) -> list[tuple[str, float]]:
        # ties go to the order the cues are declared in (more specific intents first is not needed: the planner
        # adds slot evidence), so sort by score only and keep declaration order stable
        order = list(CUES)
        return sorted(self.scores.items(), key=lambda item: (-item[1], order.index(item[0])))

    def best(self) -> tuple[str | None, float]:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0][1] > 0 else (None, 0.0)


def score_intents(request: str) -> IntentScores:
    """Cue scores for each intent over the user's request; negated cues count against their intent."""
    result = IntentScores(question=is_question(request))
    for intent, cues in _COMPILED.items():
        for pattern, weight in cues:
            match = pattern.search(request)
            if not match:
                continue
            negated = weight > 0 and is_negated(request, match.start())
            result.add(intent, -weight if negated else weight)
    wh_question = bool(_WH_START.match(request.strip()))
    for intent in list(result.scores):
        if result.question and intent in QUERY_INTENTS:
            result.add(intent, 0.75)
        elif intent in ACTION_INTENTS and intent != "send_follow_up" and (wh_question or result.question):
            # "how long did the deals we lost take?" asks about deals; it does not move one
            result.add(intent, -2.0 if wh_question else -0.25)
    return result
