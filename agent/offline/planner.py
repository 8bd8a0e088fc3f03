"""The offline model's decision for one turn: a tool call with schema-valid arguments, a clarifying question,
or a plain reply. Intent comes from the user's own request; pasted text only fills slots.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from agent.offline import names as nm
from agent.offline.contact import INDUSTRY_RE, parse_contact
from agent.offline.context import ConversationContext, Mention
from agent.offline.coverage import GRAMMAR, leftovers, question_for
from agent.offline.coverage import next_noun as _next_noun_kind
from agent.offline.format import number as fmt_number
from agent.offline.intents import ACTION_INTENTS, QUERY_INTENTS, is_negated, is_question, score_intents
from agent.offline.metrics import LEAD_METRICS, funnel_metric, metric_spans
from agent.offline.normalize import normalise, split_request
from agent.offline.slots import (
    GROUPINGS,
    PeriodMention,
    canonical_stage,
    find_amounts,
    find_day,
    find_groupings,
    find_id,
    find_period,
    find_periods,
    find_stages,
    first_amount,
    resolve_day,
)
from agent.offline.vocab import DIMENSION_NOUNS, KIND_NOUNS, choices, find_terms
from sales.dates import NUMBER_WORDS
from sales.periods import parse_period, period_containing, shift
from sales.query_terms import PAST_PIPELINE_METRICS
from sales.segments import SIZE_BANDS
from sales.vocabulary import Vocabulary
from tools.drafting import choose_kind
from tools.schemas import TOOL_ARGS

MIN_SCORE = 1.5


@dataclass
class Decision:
    """tool: call ``tool`` with ``args``; clarify: ask ``text`` and remember ``pending``; reply: say ``text``."""

    kind: str
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    pending: dict[str, Any] | None = None
    unused: list[str] = field(default_factory=list)
    """Words of the request the parse did not use: the answer names them, never drops them silently."""
    unapplied: list[str] = field(default_factory=list)
    """Parts of the request the chosen tool cannot apply ("by product" on a forecast): the answer names them."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """More independent tool calls made in the same turn ("how much did we win, and what's open?")."""
    skipped: list[str] = field(default_factory=list)
    """Parts of a multi-part request it could not act on: the answer says so."""
    then: list[dict[str, Any]] = field(default_factory=list)
    """Steps that need this call's result: {"tool", "args", "from": {arg: result field}} ("draft ... and send it")."""
    excluding: str | None = None
    """The filter a request leaves one value out of ("everyone except Sam"): the answer is the whole less that part."""


class Reroute(Exception):
    """The request is another tool's after all ("how many of my leads came from partners" is a lead listing,
    whose answer counts every match): build it as ``intent`` instead."""

    def __init__(self, intent: str) -> None:
        super().__init__(intent)
        self.intent = intent


class Clarify(Exception):
    """A required slot is missing: ask ``question``; the answer fills ``slot`` of ``intent`` (default: this one)."""

    def __init__(
        self, slot: str, question: str, filled: dict[str, Any] | None = None, intent: str | None = None
    ) -> None:
        super().__init__(question)
        self.slot = slot
        self.question = question
        self.filled = filled or {}
        self.intent = intent  # e.g. "send it" with no draft: the answer names a record to draft for


@dataclass
class Turn:
    raw: str  # the user's message as typed
    request: str  # normalised request line (decides the intent)
    request_raw: str  # the request line as typed
    data: str  # pasted data as typed
    ctx: ConversationContext
    today: date
    fy: int
    filled: dict[str, Any] = field(default_factory=dict)  # slots answered in a clarification

    @property
    def low(self) -> str:
        return self.request.lower()


# --- security ----------------------------------------------------------------------------------------------

_SECRET_ASK = re.compile(
    r"\b(system prompt|your prompt|initial prompt|hidden prompt|your instructions|the instructions you|"
    r"instructions you (were|have been) given|developer message|api[ _-]?keys?|tokens?|passwords?|secrets?|"
    r"credentials?|env(ironment)? var(iable)?s?|\.env|private key|connection string|database url|db url|"
    r"smtp password|bot token|signing secret)\b",
    re.IGNORECASE,
)
_REVEAL = re.compile(
    r"\b(show|reveal|print|tell|give|what('s| is| are)|display|dump|repeat|leak|share|read|output|send|list|"
    r"paste|copy|expose|disclose|recite)\b",
    re.IGNORECASE,
)
_OVERRIDE = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.?!]{0,30}\b(instructions|rules|prompt|guardrails|"
    r"approval|approvals|permissions?)\b|\byou are now\b|\bdeveloper mode\b|\bjailbreak\b",
    re.IGNORECASE,
)
REFUSE_SECRETS = (
    "I can't share my instructions, system prompt, API keys, tokens or other secrets. "
    "I can help with your leads, deals, tasks, follow-ups and pipeline questions."
)
REFUSE_OVERRIDE = (
    "I can't ignore my instructions or skip approvals and permissions. Tell me what you'd like to do with your "
    "leads, deals or tasks and I'll help within those rules."
)
HELP = (
    "I can capture leads (paste a signature), find records, score and qualify leads, move deals between stages, "
    "log calls and notes, create and list tasks, draft and send follow-ups (sending needs approval), and answer "
    'pipeline, forecast and bottleneck questions. For example: "move Acme to Negotiation" or '
    '"how much did each rep win last quarter?"'
)


def _security_reply(request: str) -> str | None:
    if _SECRET_ASK.search(request) and _REVEAL.search(request):
        return REFUSE_SECRETS
    if _OVERRIDE.search(request):
        return REFUSE_OVERRIDE
    return None


# --- the entry point ---------------------------------------------------------------------------------------


def plan(text: str, ctx: ConversationContext, today: date, fy: int = 1, tools: set[str] | None = None) -> Decision:
    """Decide what to do with the latest human message ``text`` given the conversation ``ctx``."""
    split = split_request(text)
    request = normalise(split.request)
    turn = Turn(text, request, split.request, split.data, ctx, today, fy)
    refusal = _security_reply(turn.request)
    if refusal:
        return Decision("reply", text=refusal)
    if ctx.pending and not _starts_new_request(turn):
        decision = _answer_pending(turn, ctx.pending)
        if decision is not None:
            return _check_tool(decision, tools)
    if not request and split.data:
        return _unrequested_data(turn)
    closing = _close_task(turn.low)
    if closing:
        return Decision("reply", text=closing)
    several = _several(turn, tools)
    if several is not None:
        return several
    intent = choose_intent(turn)
    if intent is None:
        if split.data and "@" in text:  # a pasted contact block that starts with the name, with no request
            pasted = Turn(text, "", "", text, ctx, today, fy)
            offer = _unrequested_data(pasted)
            if offer.kind == "clarify":
                return offer
        return Decision("reply", text=_small_talk(turn.low) or HELP)
    latest = _LATEST.search(turn.request_raw) if intent == "draft_follow_up" else None
    if latest:
        return _check_tool(_draft_for_latest(turn, latest.group("kind").lower(), turn.request_raw), tools)
    return _check_tool(_build(intent, turn), tools)


# --- several requests in one message ------------------------------------------------------------------------

_STEP_VERBS = (
    r"send|remind|email|draft|write|log|create|add|move|mark|schedule|set|book|score|qualify|show|list|find|"
    r"what|what's|how|which|who|whose|tell|give|make|put|note"
)
_SPLIT = re.compile(
    rf"\s*(?:[;?]|,?\s+(?:and then|then|and also|and|also|plus)\b)\s+(?=(?:(?:please|pls|also|then)\s+)?(?:{_STEP_VERBS})\b)"
    r"|\?\s+(?=(?:and|what about|how about)\b)",
    re.IGNORECASE,
)
_SEND_IT = re.compile(r"^(?:(?:please|pls|also|then)\s+)?send\s+(?:it|that|this|the draft|them)\b", re.I)
_LATEST = re.compile(r"\b(?:my\s+)?(?:most recent|latest|newest|last)\s+(?P<kind>lead|deal)\b", re.I)


def _part(turn: Turn, request_raw: str, ctx: ConversationContext | None = None) -> Turn:
    return Turn(turn.raw, normalise(request_raw), request_raw, turn.data, ctx or turn.ctx, turn.today, turn.fy)


def _several(turn: Turn, tools: set[str] | None) -> Decision | None:
    """A message with more than one request ("draft a recap for Acme and send it", "log a call with Bo and remind
    me Tuesday", "how much did we win, and what's still open?"): one call per request, in order; a step that
    needs the one before ("send it") runs on its result. None when the message holds one request."""
    pieces = [p.strip(" ,.") for p in _SPLIT.split(turn.request_raw) if p and p.strip(" ,.")]
    if len(pieces) < 2 or turn.data.strip():
        return None
    first_intent = choose_intent(_part(turn, pieces[0]))
    if first_intent is None:
        return None
    steps: list[tuple[str, str]] = [(pieces[0], first_intent)]
    for piece in pieces[1:]:
        if _SEND_IT.match(piece):
            steps.append((piece, "send_follow_up"))
            continue
        intent = choose_intent(_part(turn, piece)) or ""
        if (
            not intent
            and first_intent == "pipeline_question"
            and re.match(r"(what|what's|how|which|who|and|what about|how about)\b", piece, re.I)
        ):
            intent = "pipeline_question"  # "how much did we win, and what's still open?"
        steps.append((piece, intent))
    if sum(1 for _, intent in steps if intent) < 2 and not (
        first_intent in QUERY_INTENTS
        and all(re.match(rf"(?:{_STEP_VERBS}|and|what about|how about)\b", p, re.I) for p in pieces[1:])
    ):
        return None  # "and" inside one request ("log a call and note they want pricing")
    if len({intent for _, intent in steps if intent}) == 1 and steps[0][1] not in QUERY_INTENTS:
        return None  # the same action twice is one request with an "and" in it
    decisions: list[Decision] = []
    skipped: list[str] = []
    ctx = turn.ctx
    for piece, intent in steps:
        if not intent:
            skipped.append(piece)
            continue
        drafts = decisions and (
            decisions[-1].tool == "draft_follow_up"
            or any(step["tool"] == "draft_follow_up" for step in decisions[-1].then)
        )
        if intent == "send_follow_up" and drafts:
            decisions[-1].then.append({"tool": "send_follow_up", "args": {}, "from": {"message_id": "message_id"}})
            continue
        part = _part(turn, piece, ctx)
        latest = _LATEST.search(piece) if intent == "draft_follow_up" else None
        if latest:
            decisions.append(_draft_for_latest(part, latest.group("kind").lower(), piece))
            continue
        listed = _FROM_LISTING.search(piece) if intent == "draft_follow_up" and decisions else None
        if listed and decisions[-1].tool == "find_records" and decisions[-1].args.get("entity") in ("deal", "lead"):
            _draft_for_listed(decisions[-1], listed, piece)  # "show Priya's deals and draft ... for the largest one"
            continue
        decision = _build(intent, part)
        if decision.kind == "clarify" and not decisions:
            return decision  # ask about the first request before doing anything
        if decision.kind != "tool":
            skipped.append(piece)
            continue
        if decisions and decision.tool == "pipeline_question" == decisions[0].tool:
            _carry_question(decisions[0].args, decision.args, piece, turn)
        if decisions:
            _refer_back(decisions[0], decision, piece)
        decisions.append(decision)
        mention = _record_from(decision)
        if mention is not None:  # "... with Bo and remind me Tuesday": the reminder is about Bo too
            ctx = ConversationContext(
                mentions=[*ctx.mentions, mention], last_draft_id=ctx.last_draft_id, vocabulary=ctx.vocabulary
            )
    if not decisions:
        return None
    first = decisions[0]
    for later in decisions[1:]:
        if later.tool == "create_task" and not any(
            k in later.args for k in ("deal_id", "deal_name", "lead_id", "lead_name")
        ):
            mention = _record_from(first)
            if mention is not None:
                later.args |= _ref_args(mention)
        feed = later.args.pop("_from", None)
        if feed and not first.then:  # "... and create a task to review it": fed by the first step's result
            first.then.append({"tool": later.tool, "args": later.args, "from": feed})
            first.then.extend(later.then)
        elif first.then or later.then or later.tool in ("draft_follow_up", "send_follow_up"):
            first.then.append({"tool": later.tool, "args": later.args, "from": {}})
            first.then.extend(later.then)
        else:
            first.calls.append((str(later.tool), later.args))
        first.unused.extend(later.unused)
        first.unapplied.extend(later.unapplied)
    first.skipped.extend(skipped)
    return _check_tool(first, tools)


_FILTER_ARGS = ("owner", "team", "region", "product", "account", "industry", "stage")
_PERIOD_ARGS = ("period", "date_from", "date_to")


_BACK = re.compile(
    r"\b(it|its|them|they|those|these|their|that one|this one|the total|in total|altogether|there)\b", re.I
)
_LISTING_FILTERS = (
    *("owner", "stage", "industry", "product", "region", "account", "status"),
    *("amount_min", "amount_max", "amount_currency"),
)
"""A deal listing's filters that a pipeline question takes under the same name."""


def _refer_back(first: Decision, later: Decision, piece: str) -> None:
    """A second request about what the first one found: "list the deals closing this month and tell me the
    total" (the listing's filters), "show our biggest deal in Proposal and create a task to review it" (that
    deal), "which product has the most pipeline, and how many of those deals are in Negotiation" (that product)."""
    reasons = later.tool == "pipeline_question" and "loss_reason" in (later.args.get("group_by") or [])
    if not _BACK.search(piece) and not reasons:  # "... lost the most, and what were the reasons": its reasons
        return
    if first.tool == "find_records" and first.args.get("entity") == "deal" and later.tool == "pipeline_question":
        own = [k for k in (*_FILTER_ARGS, *_PERIOD_ARGS, "amount_min", "amount_max") if later.args.get(k)]
        if own:
            return  # the second question names its own scope
        for key in _LISTING_FILTERS:
            if first.args.get(key) is not None:
                later.args[key] = first.args[key]
        for field_name, date_field in (("closing", "expected_close"), ("closed", "closed"), ("created", "created")):
            if first.args.get(field_name):
                later.args["period"], later.args["date_field"] = first.args[field_name], date_field
                break
        if later.args.get("status") is None and first.args.get("status"):
            later.args["status"] = first.args["status"]
    elif (
        first.tool == "pipeline_question"
        and later.tool == "find_records"
        and later.args.get("entity") == "deal"
        and not first.args.get("group_by")
    ):
        # "how many deals over 100k are open, and who owns them": the deals the question counted, listed
        if any(later.args.get(k) is not None for k in (*_LISTING_FILTERS, *_LISTING_DATES, "query")):
            return  # the listing names its own scope
        for key in _LISTING_FILTERS:
            if first.args.get(key) is not None and not (key == "owner" and first.args[key] == "team"):
                later.args[key] = first.args[key]
        listing_date = {"expected_close": "closing", "closed": "closed", "created": "created"}
        if first.args.get("period") and first.args.get("date_field") in listing_date:
            later.args[listing_date[first.args["date_field"]]] = first.args["period"]
        elif first.args.get("date_from") or first.args.get("open_on"):
            later.unapplied.append("the first question's dates (a listing takes a named period only)")
        if first.args.get("metric") == "total_amount":
            later.args["largest_first"] = True
    elif first.tool == "find_records" and later.tool == "create_task":
        kind = first.args.get("entity")
        one = first.args.get("largest_first") or first.args.get("limit") == 1
        if kind in ("deal", "lead") and one and not any(k in later.args for k in ("deal_id", "deal_name", "lead_id")):
            later.args["_from"] = {f"{kind}_id": "records.0.id"}
    elif first.tool == later.tool == "pipeline_question":
        groups = [g for g in first.args.get("group_by") or [] if g in (*_FILTER_KINDS, "source", "stage")]
        if first.args.get("limit") == 1 and len(groups) == 1 and not later.args.get(groups[0]):
            (dimension,) = groups  # the one group the first answer names is what "those" are
            rest = [g for g in later.args.get("group_by") or [] if g != dimension]
            if rest:
                later.args["group_by"] = rest  # "... and what were the reasons": that account's, by reason
            else:
                later.args.pop("group_by", None)
            later.args["_from"] = {dimension: f"rows.0.group.{dimension}"}


def _carry_question(first: dict[str, Any], later: dict[str, Any], piece: str, turn: Turn) -> None:
    """An elliptical second question keeps what it does not say from the first: "how much did we win last quarter,
    and how many did we lose in it?" (the period), "... in the East office? And in the West?" (all but the office),
    "what did Central win, and what's its average won deal?" (the office)."""
    elliptical = bool(re.match(r"(and|what about|how about)\b", piece, re.I))
    # "... and what's the total": the first question's deals added up (not "the total pipeline")
    their_total = re.search(
        r"\b(?:the|their|a) total\b(?!\s+(?:pipeline|revenue|bookings|for|of|across|company))", piece, re.I
    )
    refers_back = elliptical or their_total or re.search(r"\b(its|it|they|their|them|that|those|same)\b", piece, re.I)
    if later.get("metric") == "count" and (elliptical or not re.search(r"\b(how many|number of|count)\b", piece, re.I)):
        later["metric"] = first.get("metric", "count")
    if refers_back and "status" in first and "status" not in later:
        later["status"] = first["status"]
    before = re.search(
        r"\b(?:the\s+)?(?:month|quarter|week|year)\s+before\b|\bthe\s+(?:previous|prior)\s+\w+", piece, re.I
    )
    if before and first.get("period") and not later.get("date_from"):
        # "what did we win last month, and how does it compare to the month before": before the first's period
        found = find_periods(f"{first['period']} versus {before.group(0)}".lower(), turn.today, turn.fy)
        if len(found) == 2:
            later["period"] = found[1].text
            if first.get("date_field"):
                later["date_field"] = first["date_field"]
    closed_then_open = first.get("date_field") == "closed" and later.get("status") == "open"
    if not any(later.get(key) for key in _PERIOD_ARGS) and not closed_then_open:  # an open deal has no close date
        for key in (*_PERIOD_ARGS, "date_field"):
            if first.get(key):
                later[key] = first[key]
    # "how many did Central lose in Q3 and what was the win rate": a second question naming no scope of its own
    # is about the first one's (the answer restates it); "overall", "the whole company" widen it on purpose
    bare = their_total or not re.search(
        r"\b(overall|company|whole|entire|everyone|everybody|all|total|across)\b", piece, re.I
    )
    if (refers_back or bare) and not any(later.get(key) for key in _FILTER_ARGS):
        for key in _FILTER_ARGS:
            if first.get(key):
                later[key] = first[key]
    if first.get("owner") and not later.get("owner"):
        later["owner"] = first["owner"]
    there = re.search(r"\b(there|in (?:them|those|each)|for (?:them|those|each)|each of them|per one)\b", piece, re.I)
    if (elliptical or there) and first.get("group_by") and not later.get("group_by"):
        later["group_by"] = first["group_by"]  # "which industries win least, and how many did we lose there?"


def _record_from(decision: Decision) -> Mention | None:
    args = decision.args
    for kind in ("deal", "lead"):
        if args.get(f"{kind}_id") is not None or args.get(f"{kind}_name"):
            return Mention(kind, args.get(f"{kind}_name"), args.get(f"{kind}_id"))
    return None


def _purpose_args(text: str) -> dict[str, Any]:
    """The draft's purpose, when the words say one ("... about the renewal timeline")."""
    purpose = _PURPOSE.search(text)
    return {"purpose": purpose.group("p").strip(" .!?")[:500]} if purpose else {}


def _draft_for_latest(turn: Turn, kind: str, piece: str) -> Decision:
    """ "Draft a follow-up to my most recent lead": find that record first, then draft for it."""
    args = _purpose_args(_LATEST.sub("", piece))
    return Decision(
        "tool",
        tool="find_records",
        args={"entity": kind, "owner": "me", "limit": 1},
        then=[{"tool": "draft_follow_up", "args": args, "from": {f"{kind}_id": "records.0.id"}}],
    )


_FROM_LISTING = re.compile(
    r"\b(?:for|to|on|about)\s+the\s+(?P<which>largest|biggest|top|first|newest|latest|most recent)"
    r"(?:\s+(?:one|deal|lead|of them))?\b",
    re.I,
)


def _draft_for_listed(listing: Decision, which: re.Match[str], piece: str) -> None:
    """The draft is for one record of the listing before it: the listing is ordered so that record comes first."""
    kind = str(listing.args["entity"])
    word = which.group("which").lower()
    if word in ("largest", "biggest", "top") and kind == "deal":
        listing.args["largest_first"] = True
    args = _purpose_args(piece[: which.start()] + piece[which.end() :])
    listing.then.append({"tool": "draft_follow_up", "args": args, "from": {f"{kind}_id": "records.0.id"}})


def _check_tool(decision: Decision, tools: set[str] | None) -> Decision:
    if decision.kind == "tool" and tools is not None and decision.tool not in tools:
        return Decision("reply", text=f"I can't do that here: the {decision.tool} tool is not available.")
    return decision


def _close_task(low: str) -> str | None:
    """No chat tool closes tasks: say so, never read "mark task 12 done" as a stage move."""
    task = re.search(
        r"\b(?:mark|set)\b[^.?!]{0,30}\btask\s*#?\s*(\d+)?[^.?!]{0,15}\b(?:as )?(?:done|complete|completed|finished)\b|"
        r"\b(?:tick off|check off|close|complete|finish)\s+(?:my |the |that |this )?task\s*#?\s*(\d+)?|"
        r"\btask\s*#?\s*(\d+)?\s+(?:is )?(?:done|complete|completed|finished)\b",
        low,
    )
    if task:
        number = task.group(1) or task.group(2) or task.group(3) or "ID"
        return f"I can't mark tasks done from chat yet: run `salesgraph tasks done {number}`. " + HELP
    return None


def _small_talk(low: str) -> str | None:
    if re.fullmatch(r"(hi|hey|hello|yo|morning|good (morning|afternoon|evening))[!. ]*", low):
        return "Hi! " + HELP
    if re.fullmatch(r"(thanks|thank you|thx|cheers|great|perfect|cool|ok|okay|nice)[!. ]*", low):
        return "You're welcome."
    if re.fullmatch(r"(no|nope|cancel|never ?mind|nvm|stop|forget it)[!. ]*", low):
        return "OK, I won't do anything."
    if re.search(r"\b(delete|remove|erase|destroy|purge|wipe)\b", low):
        return "I can't delete records from chat; ask an admin. " + HELP
    if re.search(r"\b(export|dump|download|extract|exfiltrate)\b", low):
        return (
            "I can't export data or send files from chat. An admin can export records with `salesgraph export`. " + HELP
        )
    return None


def _unrequested_data(turn: Turn) -> Decision:
    """Pasted text with no request: offer to capture it as a lead, never act on what it says."""
    contact = parse_contact(turn.data)
    if contact.get("name") and (contact.get("email") or contact.get("phone")):
        return Decision(
            "clarify",
            text=f"That looks like contact details for {contact['name']}. Shall I add them as a new lead?",
            pending={"intent": "create_lead", "slot": "confirm", "text": turn.raw, "filled": {}},
        )
    return Decision("reply", text="What would you like me to do with that text? " + HELP)


# --- intent choice -----------------------------------------------------------------------------------------


def choose_intent(turn: Turn) -> str | None:
    scores = score_intents(nm.mask_quoted_names(turn.request))
    low = turn.low
    stages = find_stages(low, turn.ctx.vocabulary.stages)
    has_record_word = bool(re.search(r"\b(deal|deals|lead|leads)\b", low))
    metric_words = re.search(
        r"\b(conversion|convert|rate|how many|how much|average|total|number of|cycle|revenue|bookings|amount|"
        r"worth(?!\s+(?:more|less|over|under|above|below|at least|at most|between)\b))\b",
        low,
    )
    # a stage named next to a move verb is strong evidence; a stage word alone ("the demo went well") is not
    if stages and scores.scores.get("move_deal", 0) >= 1.5 and not is_question(turn.request) and not metric_words:
        scores.add("move_deal", 1.5)
    if turn.data and (re.search(r"@", turn.data) or re.search(r"\d{3}", turn.data)):
        scores.add("create_lead", 1.0)
    # the first verb of an imperative is a strong signal of what the user wants done
    first = re.match(r"^(?:(?:please|pls|can you|could you|would you|ok|okay|hey|so|quick)[,\s]+)*(\w+)", low)
    adjective = first is not None and re.match(
        r"(?:won|lost)\s+(?:revenue|deals|business|bookings|amounts?|value|pipeline|sales|totals?|counts?|"
        r"opportunities|ones|dollars|money)\b",
        low[first.start(1) :],
    )
    if first and first.group(1) in _LEADING_VERBS and not adjective:  # "won revenue": an adjective, not "won Acme"
        scores.add(_LEADING_VERBS[first.group(1)], 2.5 if first.group(1) == "email" else 1.5)
    if (
        turn.data
        and find_stages(turn.data.lower(), turn.ctx.vocabulary.stages)
        and re.search(r"\b(update|move|set|change|push|advance|mark)\b", low)
    ):
        scores.add("move_deal", 3.0)  # "update the Acme deal: moved to proposal"
    # contact details typed inline with an add/create verb: "add jane doe vp sales jane@acme.com"
    if re.search(r"[\w.+-]+@[\w-]+\.\w", turn.request) and re.search(r"\b(add|create|new|save|enter|capture)\b", low):
        scores.add("create_lead", 2.5)
    # "pipeline in Discovery", "EMEA pipeline": the pipeline with a stage or a workspace name is a question about it
    if re.search(r"\bpipeline\b", low) and (stages or find_terms(turn.request, turn.ctx.vocabulary)):
        scores.add("pipeline_question", 1.0)
    # counting or totalling deals is a pipeline question, even about deals "expected to close"
    if re.search(r"\bhow many\b|\bnumber of\b", low) and re.search(r"\bdeals?\b", low):
        scores.add("pipeline_question", 1.5)
    if turn.ctx.last_draft_id is not None and re.search(r"\b(send|ship|fire|go ahead|lgtm)\b", low):
        scores.add("send_follow_up", 1.5)
    _draft_edit_evidence(turn, scores)
    # "mark X as qualified" is the lead qualification unless a deal is meant
    if re.search(r"\bqualif", low):
        mentioned = nm.known_name_in(turn.request, turn.ctx)
        deal_move = re.search(r"\b(to|into|as|back to)\s+(the\s+)?qualified\b", low) and (
            re.search(r"\b(deal|stage)\b", low)
            or (re.search(r"\b(move|moved|push|set|change|back to)\b", low) and not re.search(r"\blead\b", low))
        )
        listing = re.search(r"^(show|list|find|display|any|which|how many|get|pull)\b.*\bqualified\s+leads\b", low)
        if deal_move or (mentioned and mentioned.kind == "deal"):
            scores.add("qualify_lead", -3.0)
        elif listing:
            scores.add("qualify_lead", -4.0)
        else:
            scores.add("move_deal", -4.0)
    # pipeline questions about counts/amounts of deals beat a plain record lookup
    if re.search(r"\bhow (many|much)\b|\b(total|average|win rate|number of)\b", low):
        scores.add("find_records", -1.5)
    # "send a follow-up to Acme" with no draft to send is a request to draft one
    if (
        re.search(r"\b(send|shoot|drop)\b", low)
        and (turn.ctx.last_draft_id is None or re.search(r"\b(to|for|with)\s+(?!me\b|them\b|him\b|her\b)\w", low))
        and re.search(r"\b(email|follow-up|note|message|line|recap|thank)", low)
        and not re.search(r"\bsend (it|that|this|the draft|my draft)\b", low)
    ):
        scores.add("draft_follow_up", 1.5)
        scores.add("send_follow_up", -2.0)
    if re.search(r"\b(tasks?|to-dos?|reminders?|action items)\b", low):
        scores.add("find_records", -1.5)  # "any to-dos for the Acme deal?" lists tasks
    # "I should follow up with Hannah on Friday": a commitment with a day is a task, not an email now
    if find_day(turn.request, turn.today) and re.search(
        r"\b(i need to|i should|i have to|i must|i gotta|don't forget to|dont forget to)\b", low
    ):
        scores.add("create_task", 2.0)
    # "please capture:" + a pasted contact block
    if (
        turn.data
        and re.search(r"@", turn.data)
        and re.fullmatch(
            r"(?:(?:please|pls|can you|could you)\s+)*(capture|add|save|enter|record|log|create)(\s+(this|these|it|them))?",
            low.strip(" ?!."),
        )
    ):
        scores.add("create_lead", 2.5)
    if re.search(r"\bwho\b", low) and has_record_word and not re.search(r"\b(won|closed|sold|booked|most)\b", low):
        scores.add("find_records", 0.5)
    # a bare list of records with filters ("deals over 50k closing this month", "Priya's open deals in retail")
    listed = _RECORD_LIST.match(low) or _listing_with_workspace_words(turn)
    if (
        listed
        and not metric_words
        and not re.search(r"\b(who|which|what|why|how)\b", low)
        and not find_groupings(turn.request)
        and not _asks_for_groups(turn)
        and not (_VERSUS.search(low) and find_periods(low, turn.today, turn.fy))  # a comparison of figures
    ):
        scores.add("find_records", 2.0)
    # "how did EMEA do versus last year", "Q3 compared with Q2": a question about figures over two periods
    if (_VERSUS.search(low) and find_periods(low, turn.today, turn.fy)) or re.search(
        r"^how (?:did|does|do|has|have|is|are) [\w' ]{1,40}\b(?:do|done|doing|performing|tracking)\b", low
    ):
        scores.add("pipeline_question", 2.0)
    intent, score = scores.best()
    if intent is None or score < MIN_SCORE:
        return None
    if intent == "send_follow_up" and not _asks_to_send(turn.request):
        ranked = [name for name, value in scores.ranked() if name != "send_follow_up" and value >= MIN_SCORE]
        return ranked[0] if ranked else None
    return intent


def _asks_for_groups(turn: Turn) -> bool:
    """ "by", "per", "each", "split": a breakdown asked for, unless "by" names who ("deals won by Sam")."""
    if re.search(r"\b(?:per|each|breakdown|split)\b", turn.low):
        return True
    owners = {w for o in turn.ctx.vocabulary.owners for w in o.lower().split()}
    for match in re.finditer(r"\b(?<!owned )(?<!assigned )(?<!run )by\s+(?:the\s+)?([\w'.-]+)", turn.request, re.I):
        word = match.group(1)
        if word.lower().removesuffix("'s") in owners or (word[:1].isupper() and word.lower() not in GROUPINGS):
            continue  # a person: a filter on who, not a grouping
        return True
    return False


_RECORD_LIST = re.compile(
    r"^(?:(?:all|my|our|the|any|every|open|active|won|lost|big|bigger|biggest|large|largest|small|new|"
    r"recent|current|[a-z]+'s|[A-Z][\w.&-]*)\s+)*(?:deals|leads|opportunities|accounts|contacts|customers|clients)\b(?!\s*:)"
)
"""A request that starts with the records it wants: a listing, whatever filters follow."""


def _listing_with_workspace_words(turn: Turn) -> bool:
    """ "Anna Snelling's engaging deals", "my referral leads": before the records only a possessive name, the
    workspace's own words (stages, lead sources, industries, products, regions, names) and listing adjectives."""
    low = turn.low
    records_at = re.search(r"\b(?:deals|leads|opportunities|accounts|contacts)\b", low)
    if records_at is None or records_at.start() == 0:
        return False
    head = low[: records_at.start()]
    for mention in reversed(find_stages(head, turn.ctx.vocabulary.stages)):
        head = head[: mention.start] + " " + head[mention.end :]
    vocabulary = turn.ctx.vocabulary
    known = {
        w
        for values in (
            vocabulary.lead_sources,
            vocabulary.industries,
            vocabulary.products,
            vocabulary.regions,
            vocabulary.owners,
            vocabulary.teams,
        )
        for value in values
        for w in value.replace("_", " ").lower().split()
    }
    words = head.split()
    return bool(words) and all(
        w.endswith("'s") or w in known or _RECORD_LIST.match(w + " deals") is not None for w in words
    )


_LEADING_VERBS = {
    "remind": "create_task",
    "log": "log_interaction",
    "draft": "draft_follow_up",
    "compose": "draft_follow_up",
    "email": "draft_follow_up",
    "shoot": "draft_follow_up",
    "move": "move_deal",
    "push": "move_deal",
    "advance": "move_deal",
    "bump": "move_deal",
    "lost": "move_deal",
    "won": "move_deal",
    "qualify": "qualify_lead",
    "score": "score_lead",
    "forecast": "forecast",
    "search": "search_interactions",
    "grep": "search_interactions",
}


def _asks_to_send(request: str) -> bool:
    """Only the user's own, un-negated request to send counts: never a pasted instruction."""
    for match in re.finditer(r"\b(send|ship|fire (it )?off|go ahead|lgtm)\b", request, re.IGNORECASE):
        if not is_negated(request, match.start()):
            return True
    return False


def _starts_new_request(turn: Turn) -> bool:
    """An answer to a clarifying question is short; a message with its own strong intent is a new request."""
    scores = score_intents(nm.mask_quoted_names(turn.request))
    _, score = scores.best()
    return score >= 3.0 and len(turn.request.split()) > 3


# --- clarification answers ---------------------------------------------------------------------------------

_YES = re.compile(
    r"^(y|yes|yep|yeah|yup|sure|ok|okay|please|please do|do it|go ahead|correct|right|sounds good)\b", re.I
)
_NO = re.compile(r"^(n|no|nope|nah|cancel|never ?mind|nvm|don't|do not|stop|forget it)\b", re.I)


def _answer_pending(turn: Turn, pending: dict[str, Any]) -> Decision | None:
    intent = str(pending.get("intent"))
    slot = str(pending.get("slot"))
    answer = turn.raw.strip()
    if _NO.match(answer):
        return Decision("reply", text="OK, I won't do that.")
    filled = dict(pending.get("filled") or {})
    value: Any = None
    if slot == "confirm":
        if not _YES.match(answer):
            return None
        value = True
    elif slot == "to_stage":
        stages = turn.ctx.vocabulary.stages
        value = canonical_stage(answer, stages) or next((m.stage for m in find_stages(answer, stages)), None)
    elif slot == "amount":
        value = first_amount(answer) or (
            float(answer.replace(",", "").lstrip("$")) if re.fullmatch(r"\$?[\d,.]+", answer) else None
        )
    elif slot == "due_date":
        day = find_day(answer, turn.today)
        value = day.day.isoformat() if day else None
    elif slot in ("deal", "lead", "record", "name", "to"):
        offered = [Mention(str(c["kind"]), c.get("name"), c.get("id")) for c in pending.get("choices") or []]
        choice = _pick_listed(answer, offered or turn.ctx.last_records)
        word = str(pending.get("word") or "")
        original_text = str(pending.get("text", ""))
        if choice is not None and choice.name and word and len(_SPLIT.split(original_text)) > 1:
            # a message with several requests: put the chosen record's full name in and plan it all again
            requoted = original_text.replace(word, f'"{choice.name}"', 1)
            rest = ConversationContext(mentions=turn.ctx.mentions, vocabulary=turn.ctx.vocabulary)
            return plan(requoted, rest, turn.today, turn.fy)
        if choice is not None:
            filled[f"{slot}_choice"] = {"kind": choice.kind, "name": choice.name, "id": choice.id}
            value = choice.name or choice.id
        else:
            quoted = nm.quoted_names(answer)
            # the whole answer is the name: keep "Saltmarsh Broadcasting - Lumen Enterprise" in one piece
            value = quoted[0] if quoted else nm.clean_name(answer, whole=True)
            explicit = find_id(answer, slot if slot in ("deal", "lead") else "record")
            if explicit is not None:
                filled[f"{slot}_id"] = explicit
                value = value or explicit
    elif slot == "filter":  # a word the parse did not know: the answer replaces it, or "all" leaves it out
        original = _replace_word(str(pending.get("text", "")), str(filled.get("_word", "")), answer)
        filled.pop("_word", None)
        split = split_request(original)
        retry = Turn(
            original, normalise(split.request), split.request, split.data, turn.ctx, turn.today, turn.fy, filled
        )
        return _build(intent, retry)
    else:  # free text slots: body, title, query, loss_reason, purpose
        value = answer.strip()
    if value in (None, ""):
        return None
    filled[slot] = value
    original = str(pending.get("text", ""))
    split = split_request(original)
    previous = Turn(
        original, normalise(split.request), split.request, split.data, turn.ctx, turn.today, turn.fy, filled
    )
    return _build(intent, previous)


_LEAVE_OUT = re.compile(
    r"^(all|any|none|ignore( it| that)?|leave it out|skip( it)?|drop it|never ?mind( that)?|no filter)\b", re.I
)


def _replace_word(text: str, word: str, answer: str) -> str:
    """``text`` with the unknown ``word`` replaced by the answer, or removed (with its filter noun) for "all"."""
    if not word:
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
    if _LEAVE_OUT.match(answer.strip()):
        nouns = "|".join(re.escape(n) for n in sorted(DIMENSION_NOUNS, key=len, reverse=True))
        text = re.sub(
            rf"\b(?:in|for|from|at|of|with)?\s*(?:the\s+)?{re.escape(word)}(?:'s)?(?:\s+(?:{nouns})\b)?",
            " ",
            text,
            count=1,
        )
        return " ".join(text.split())
    value = answer.strip().strip(" .!?\"'")
    value = re.sub(r"^(?:i meant|i mean|the|it's|its|it is)\s+", "", value, flags=re.I)
    return pattern.sub(value, text, count=1)


def _pick_listed(answer: str, records: list[Mention]) -> Mention | None:
    """ "the first one", "#380", "380" or a name from the records just listed (or offered as choices)."""
    if not records:
        return None
    low = answer.lower()
    ident = re.search(r"#?\s*(\d+)\b", low)
    if ident:
        for record in records:
            if record.id == int(ident.group(1)):
                return record
    ordinals = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "fifth": 4}
    ordinals |= {"last": -1}
    for word, index in ordinals.items():
        if re.search(rf"\b{word}\b", low):
            try:
                return records[index]
            except IndexError:
                return None
    named = [r for r in records if r.name and (r.name.lower() in low or low.strip(" .!?\"'") in r.name.lower())]
    return named[0] if len(named) == 1 else None


# --- building the tool call --------------------------------------------------------------------------------


def _build(intent: str, turn: Turn) -> Decision:
    try:
        return _build_as(intent, turn)
    except Reroute as reroute:
        return _build_as(reroute.intent, turn)


def _build_as(intent: str, turn: Turn) -> Decision:
    builder = BUILDERS[intent]
    try:
        args = builder(turn)
        unapplied = _scope_audit(intent, turn, args) if intent in SCOPE_AUDITED else []
    except Clarify as clarify:
        filled = {**turn.filled, **clarify.filled}
        return Decision(
            "clarify",
            text=clarify.question,
            pending={"intent": clarify.intent or intent, "slot": clarify.slot, "text": turn.raw, "filled": filled},
        )
    unused = [str(word) for word in args.pop("_unused", None) or []]
    unapplied += [str(part) for part in args.pop("_unapplied", None) or []]
    # a word named alone is said once: '"probability"' is inside '"probability above 70%"'
    unapplied = list(dict.fromkeys(unapplied))
    unapplied = [
        part for part in unapplied if not any(part != other and part.strip('"') in other for other in unapplied)
    ]
    then: list[dict[str, Any]] = args.pop("_then", None) or []
    each: dict[str, list[str]] = args.pop("_each", None) or {}
    share_of = args.pop("_share", None)
    also: list[dict[str, Any]] = args.pop("_also", None) or []
    excluding = args.pop("_excluding", None)
    args = {key: value for key, value in args.items() if value is not None and value != []}
    try:
        validated = TOOL_ARGS[intent].model_validate(args)
    except ValidationError as exc:  # a bug in a builder; say so rather than call the tool with bad arguments
        problem = "; ".join(str(error["msg"]) for error in exc.errors())
        return Decision("reply", text=f"I couldn't work out the details for {intent.replace('_', ' ')}: {problem}.")
    first = validated.model_dump(exclude_unset=True, exclude_none=True)
    # "compare GTX Pro and MG Special": the same question once per value named, each answered
    calls = [(intent, {**first, kind: value}) for kind, values in each.items() for value in values[1:]]
    for override in also:  # the same question with one argument changed (None: left out), "the pipeline then"
        calls.append((intent, {k: v for k, v in {**first, **override}.items() if v is not None}))
    if share_of in first:  # "what share of the pipeline is in Proposal": the whole, beside the part
        calls.append((intent, {k: v for k, v in first.items() if k != share_of}))
    return Decision(
        "tool",
        tool=intent,
        args=first,
        unused=unused,
        unapplied=unapplied,
        calls=calls,
        then=then,
        excluding=excluding if calls else None,
    )


def _record(turn: Turn, kind: str, patterns: list[re.Pattern[str]], question: str, slot: str | None = None) -> Mention:
    """The lead or deal the request is about: an id, a quoted name, a pattern, a known name, a pronoun, or ask."""
    slot = slot or kind
    choice = turn.filled.get(f"{slot}_choice")
    if isinstance(choice, dict):
        return Mention(choice["kind"], choice.get("name"), choice.get("id"))
    if turn.filled.get(f"{slot}_id"):
        return Mention(kind, None, int(turn.filled[f"{slot}_id"]))
    if turn.filled.get(slot):
        value = turn.filled[slot]
        known = turn.ctx.known_names().get(str(value).lower())
        return Mention(known.kind if known else kind, str(value), known.id if known else None)
    request = turn.request
    explicit = find_id(request, kind) if re.search(rf"\b{kind}s?\s*#?\s*\d+|#\s?\d+", request, re.I) else None
    if explicit is not None:
        return Mention(kind, None, explicit)
    quoted = nm.quoted_names(turn.request_raw)
    if quoted:
        return _with_known_kind(Mention(kind, quoted[0], None), turn.ctx)
    name, pronoun = nm.first_pattern_name(request, patterns)
    if name and not pronoun:
        return _with_known_kind(Mention(kind, name, None), turn.ctx)
    known = nm.known_name_in(request, turn.ctx)
    if known and known.name:
        return known
    capitalised = [n for n in nm.capitalised_names(request) if not canonical_stage(n, turn.ctx.vocabulary.stages)]
    refers_back = pronoun or re.search(
        r"\b(it|that|this|them|him|her|the deal|the lead|that deal|this deal|this lead|that lead|this one)\b",
        request,
        re.I,
    )
    if refers_back and (turn.ctx.mentions or turn.ctx.last_records):
        if len(turn.ctx.last_records) > 1 and turn.ctx.records_are_latest:
            listed = ", ".join(r.name or f"#{r.id}" for r in turn.ctx.last_records[:5])
            raise Clarify(slot, f"Which one do you mean: {listed}?")
        last = turn.ctx.last(kind) or turn.ctx.last()
        if last is not None:
            return last
    if capitalised:
        return _with_known_kind(Mention(kind, capitalised[0], None), turn.ctx)
    # "rate this lead: Tom Lee" / "log call: Initech, discussed renewal" - the name follows the colon
    data_names = nm.capitalised_names(turn.data.split("\n")[0]) if turn.data else []
    if data_names:
        return _with_known_kind(Mention(kind, data_names[0], None), turn.ctx)
    raise Clarify(slot, question)


def _with_known_kind(mention: Mention, ctx: ConversationContext) -> Mention:
    known = ctx.known_names().get((mention.name or "").lower())
    if known:
        return Mention(known.kind, known.name, known.id)
    return mention


def _lead_or_deal(turn: Turn, mention: Mention) -> Mention:
    """A record named right after the word "lead" (or in a request about a lead, not a deal) is a lead."""
    if mention.id is not None or mention.kind == "lead" or re.search(r"\bdeal\b", turn.low):
        return mention
    if turn.ctx.known_names().get((mention.name or "").lower()) is not None:
        return mention
    if re.search(r"\blead\b", turn.low) or nm.looks_like_person(mention.name):
        return Mention("lead", mention.name, None)
    return mention


def _ref_args(mention: Mention, *, allow: tuple[str, ...] = ("deal", "lead")) -> dict[str, Any]:
    kind = mention.kind if mention.kind in allow else allow[0]
    if mention.id is not None:
        return {f"{kind}_id": mention.id}
    return {f"{kind}_name": mention.name}


def _p(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


_NAME = r"(?!(?:me|us|them|him|her|it|back|out|over)\b)(?P<name>[\w&'.\- ]+?)"
_END = (
    r"(?=\s*(?:$|[,.;!?()]|\s[-–—:]|:|\s(?:to|into|as|from|for|because|since|due|with|on|at|by|and|please|pls|now|"
    r"today|tomorrow|yesterday|earlier|this|next|last|lead|deal|account|stage|about|re|regarding|saying|that|"
    r"who|they|he|she|asking|said|says|is|are|was|were|has|have|ever|again|back)\b))"
)

# --- create_lead -------------------------------------------------------------------------------------------

_LEAD_COMMAND = re.compile(
    r"^(?:(?:please|pls|can you|could you|would you|kindly|hey|ok|so)[,\s]+)*"
    r"(?:(?:add|create|capture|enter|save|log|register|put|make|input|record|set up|start)\s+)?"
    r"(?:(?:a|an|this|the|these|that|my|new)\s+)*(?:new\s+)?(?:lead|contact|prospect|person|signature|guy|one)?s?"
    r"(?:\s+(?:for|from|called|named|with details|details))?\s*[:,-]?\s*",
    re.IGNORECASE,
)
_LEAD_TAIL = re.compile(
    r"\s*[,;-]?\s*\b(?:(?:add|save|put) (?:him|her|them|it) )?(?:as (?:a |an )?(?:new )?(?:lead|prospect|contact)|"
    r"(?:in|into|to) (?:the )?(?:crm|system|pipeline|leads))\b",
    re.IGNORECASE,
)


def _strip_command(turn: Turn, pattern: re.Pattern[str]) -> str:
    """Remove a leading command from the request as typed, matching on the normalised (typo-fixed) text."""
    match = pattern.match(turn.request)
    if not match or not match.end():
        return turn.request_raw
    removed = turn.request[: match.end()]
    words = len(removed.split())
    tail = re.match(r"\S*", turn.request[match.end() :])
    if not removed[-1].isspace() and tail and re.search(r"\w", tail.group(0)):
        words -= 1  # the match ended inside a word: keep that word
    return " ".join(turn.request_raw.split()[max(words, 0) :])


def build_create_lead(turn: Turn) -> dict[str, Any]:
    request_body = _strip_command(turn, _LEAD_COMMAND)
    request_body = _LEAD_TAIL.sub(" ", request_body)
    request_body = re.sub(r"\b(?:i |we )?(?:just )?(?:met|spoke to|talked to)\s+", "", request_body, flags=re.I)
    contact = parse_contact(turn.data, hint=turn.request_raw) if turn.data.strip() else {}
    if not contact.get("name"):
        source_text = "\n".join(part for part in (request_body, turn.data) if part.strip())
        contact = parse_contact(source_text, hint=turn.request_raw)
    # "new lead from the webinar - Marcus Oyelaran, CTO at ...": the words before the dash say where it came from
    lead_in = re.match(r"^(?P<src>[^,@\n]{2,40}?)\s+[-–—:]\s+(?P<rest>.+)$", request_body, re.S)
    if lead_in and not turn.data.strip():
        rest = parse_contact(lead_in.group("rest"), hint=turn.request_raw)
        if rest.get("name") and _confident_name(str(rest["name"])):
            contact = rest
    if turn.filled.get("name"):
        contact["name"] = str(turn.filled["name"])
    if not contact.get("name"):
        raise Clarify("name", "What's the lead's full name? (An email, phone, title and company help too.)")
    allowed = set(TOOL_ARGS["create_lead"].model_fields)
    args = {key: value for key, value in contact.items() if key in allowed}
    confident = _confident_name(str(args["name"])) and bool(args.get("email") or args.get("company"))
    if not confident and not turn.filled.get("confirm") and not turn.filled.get("name"):
        shown = ", ".join(
            f"{key} {args[key]}" for key in ("name", "title", "company", "email", "phone") if args.get(key)
        )
        raise Clarify(
            "confirm",
            f"I'm not sure I read that right. I parsed: {shown}. Shall I create this lead? "
            "(Or tell me the name, company and email.)",
        )
    return args


_NOT_NAMES = re.compile(
    r"\b(the|file|files|every|all|contacts?|leads?|webinar|event|conference|export|list|data|database|email|"
    r"emails|customers?|attached|attachment|spreadsheet|csv|record|records|this|that|someone|somebody)\b",
    re.I,
)


def _confident_name(name: str) -> bool:
    """A person's name as people write one: two to four capitalised words, none of them a common noun."""
    words = name.split()
    return 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words) and not _NOT_NAMES.search(name)


# --- find_records ------------------------------------------------------------------------------------------

_ENTITY_WORDS = (
    (r"\b(leads?|prospects?|mqls?|sqls?)\b", "lead"),
    (r"\b(deals?|pipeline|opportunit(y|ies))\b", "deal"),
    (r"\b(accounts?|compan(y|ies)|customers?|clients?)\b", "account"),
    (r"\b(contacts?|people|persons?)\b", "contact"),
    (r"\b(tasks?|to-dos?|reminders?)\b", "task"),
)
_LEAD_STATUS = {"new": "new", "working": "working", "qualified": "qualified", "disqualified": "disqualified"}
_FIND_NAME = _p(
    rf"\b(?:named|called|for|at|from|matching|containing|with|about|on|of|re|regarding)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:find|look ?up|lookup|show(?: me)?|pull up|open|get|fetch|display|check)\s+(?:the\s+)?{_NAME}\s+(?:deal|lead|account|contact|record)s?\b",
    rf"\b(?:find|look ?up|lookup|pull up|open|check)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:status of|details (?:on|for|of|about)|where are we with|where do we stand with|latest on|what stage is)\s+(?:the\s+)?{_NAME}{_END}",
)


def _person(words: str) -> str | None:
    """The name in a capitalised run, without the sentence's first word ("Show Priya" → "Priya")."""
    kept = words.split()
    while kept and kept[0].lower() in nm.STOP_WORDS:
        kept.pop(0)
    return " ".join(kept) or None


def _owner(turn: Turn) -> str | None:
    """ "my deals" → me; "Sarah's deals", "owned by Sarah", "for rep Sarah" → Sarah. "my team/reps" → None."""
    text = turn.request
    match = re.search(
        r"\b(?:owned by|assigned to|belonging to|for rep|rep|owner)\s+(?P<o>[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)?)", text
    )
    person = _person(match.group("o")) if match else None
    if person:
        return person
    match = re.search(
        r"\b(?P<o>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)'s\s+(?:deals|leads|pipeline|tasks|accounts|win rate|numbers|bookings|revenue|sales|forecast|quota|book|open deals|closed deals|average|cycle)\b",
        text,
    )
    person = _person(match.group("o")) if match else None
    if person:
        return person
    match = re.search(
        r"\b(?:did|has|have|does|is)\s+(?P<o>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s+(?:win|won|close|closed|sell|sold|book|booked|lose|lost|have|got|own|owns)\b",
        text,
    )
    person = _person(match.group("o")) if match else None
    if person:
        return person
    own_team = re.search(
        r"\bmy (team|reps|people|org|group|region|managers|direct reports|whole team)\b|\bteam'?s?\b",
        text,
        re.IGNORECASE,
    )
    mine = re.search(
        r"\b(my|mine)\b|\b(i|i've)\s+(won|closed|sold|booked|lost|have|got|own)\b|\bdo i\b|\bam i\b|\bhave i\b|"
        r"\b(?:closing|due|slated|expected|open|won|lost|booked)\s+for me\b",
        text,
        re.I,
    )
    if mine and not own_team:
        return "me"
    return None


_NUMBERS = {
    **{"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10},
    **{"eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20},
}
"""Number words, for every parse that reads one ("the last four quarters", "my three largest", "next ten days")."""
_NUMBER_WORDS = "|".join(w for w in _NUMBERS if w != "fourteen")  # a listing's limit: as the regex always had
_FIND_MODIFIERS = (
    r"^(?:(?:my|mine|our|ours|yours|all|open|active|new|won|lost|closed|stalled|stuck|big|biggest|largest|single|"
    r"one|hot|recent|latest|top|the|any|qualified|working|disqualified|current|overdue|oldest|\d+)\s*)+\b"
    r"|\b(?:deals?|leads?|accounts?|contacts?|tasks?|close|closes|closing)$"
)
_LONGEST_IN_STAGE = re.compile(
    r"^(?!.*\b(?:what|which) (?:stages?|deal sizes?|sizes?|segments?|industr\w+|reps?|owners?|products?|regions?|"
    r"teams?|sources?)\b).*?\b(?:deals|opportunities|opps)\b[^.?!]{0,30}?(?:\b(?:sitting|sat|stuck|been|spent|waiting|languishing|parked)\b[^.?!]{0,40}\b(?:the\s+)?longest\b"
    r"|\blongest\s+(?:time\s+)?in\s+(?:their\s+|its\s+|the\s+)?(?:current\s+)?stage\b)"
)
# "the biggest deal", "my single largest lost deal": one deal, the largest (not "the biggest deals")
_ONE_LARGEST = re.compile(
    r"\b(?:biggest|largest|highest[- ]value|most valuable|largest[- ]value)\s+(?:[a-z]+\s+){0,2}?deal\b(?!s)"
)


_LISTING_DATES = ("closing", "closed", "created")
_RECORD_NOUNS = frozenset(
    ("lead", "leads", "deal", "deals", "account", "accounts", "contact", "contacts", "opportunity", "opportunities")
)
_DATE_WORDS = (
    ("closing", r"\b(?:closing|close|closes|due|slated|expected)\b"),
    ("closed", r"\b(?:won|lost|closed|signed|booked)\b"),
    ("created", r"\b(?:created|opened|added|came in|entered|started|new)\b"),
)


def _period_fields(low: str, today: date, fy: int) -> dict[str, str]:
    """Each period named, on the deal date the words just before it name (within the same clause): a deal
    listing's closing, closed and created filters. A period with no such word nearby is left to the caller."""
    fields: dict[str, str] = {}
    last_end = 0
    for mention in find_periods(low, today, fy):
        window = low[max(last_end, mention.start - 40) : mention.start]
        best: tuple[int, str] | None = None
        for name, pattern in _DATE_WORDS:
            for match in re.finditer(pattern, window):
                if best is None or match.start() > best[0]:
                    best = (match.start(), name)
        if best is not None and best[1] not in fields:
            fields[best[1]] = mention.text
        last_end = mention.end
    return fields


def build_find_records(turn: Turn) -> dict[str, Any]:
    low = turn.low
    entity = None
    for pattern, name in _ENTITY_WORDS:
        if re.search(pattern, low):
            entity = name
            break
    mentions = find_stages(low, turn.ctx.vocabulary.stages)
    left_out = [m.stage for m in mentions if _EXCLUSION.search(low[: m.start])]  # "except Proposal": not a filter
    stages = [m.stage for m in mentions if m.stage not in left_out]
    args: dict[str, Any] = {}
    if left_out:
        args["_unapplied"] = [f"excluding {', '.join(left_out)} (a listing keeps the stage it names)"]
    owner = _owner(turn)
    if entity is None:
        known = nm.known_name_in(turn.request, turn.ctx)
        entity = known.kind if known else "deal"
    if entity == "lead":
        for word, status in _LEAD_STATUS.items():
            if re.search(rf"\b{word}\b", low):
                args["status"] = status
    elif entity == "deal":
        if "Won" in stages or re.search(r"\bwon\b", low):
            args["status"] = "won"
        elif "Lost" in stages:
            args["status"] = "lost"
        elif re.search(r"\b(open|active|in flight|live)\b", low):
            args["status"] = "open"
        open_stages = [s for s in stages if s not in ("Won", "Lost")]
        if open_stages:
            args["stage"] = open_stages[0]
    elif entity == "task":
        args["status"] = "done" if re.search(r"\b(done|completed|finished)\b", low) else "open"
    quoted = nm.quoted_names(turn.request_raw)
    query = quoted[0] if quoted else None
    if query is None:
        query, _ = nm.first_pattern_name(turn.request, _FIND_NAME)
        if query and (
            canonical_stage(query, turn.ctx.vocabulary.stages) or query == owner or find_period(query, turn.today)
        ):
            query = None
    if query is None:
        candidates = [
            n
            for n in nm.capitalised_names(turn.request)
            if n != owner and not canonical_stage(n, turn.ctx.vocabulary.stages)
        ]
        query = candidates[0] if candidates else None
    if query:
        query = re.sub(_FIND_MODIFIERS, "", query, flags=re.I).strip() or None
    if query and (find_amounts(query) or re.search(r"\b(worth|between|over|under|above|below)\b", query, re.I)):
        query = None  # "deals worth between 20k and 60k": the amount filter, not a name
    if query and re.search(r"\b(except|excluding|other than|apart from|but not|not in|without)\b", query, re.I):
        query = None  # "open deals except those in Negotiation": an exclusion, never a name to search for
    if query and query.lower() in ("me", "my", owner.lower() if owner else ""):
        query = None
    limit = re.search(
        rf"\b(?:top|first|last|latest|biggest|largest)\s+(\d{{1,3}}|{_NUMBER_WORDS})\b"
        rf"|\b(\d{{1,3}}|{_NUMBER_WORDS})\s+(?:biggest|largest|latest|newest|most recent|oldest|smallest)\b",
        low,
    )
    if entity == "deal":
        # "created last month and expected to close next quarter": each period on the date its own words name
        fields = _period_fields(low, turn.today, turn.fy)
        for field_name, period_text in fields.items():
            args[field_name] = period_text
        if "closing" not in fields and re.search(
            r"\b(closing|close|closes|expected to close|due to close|slated to close)\b", low
        ):
            period = find_period(low, turn.today, turn.fy)
            if period is not None and period.text not in fields.values():
                args["closing"] = period.text
            elif period is None and not args.get("status"):
                args["status"] = "open"  # "what's closing for me": the open deals, whatever the day said
        if args.get("closing"):
            args["closing"] = _month_ahead(str(args["closing"]), low, turn.today)
            args.setdefault("status", "open")  # a deal "closing this month" is still open
        if query and any(args.get(k) for k in _LISTING_DATES) and find_period(query.lower(), turn.today, turn.fy):
            query = None
    if entity == "deal" and re.search(
        r"\b(biggest|largest|highest[- ]value|most valuable|top|largest[- ]value)\b", low
    ):
        args["largest_first"] = True  # "the biggest open deals": by amount, not the latest updated
        if _ONE_LARGEST.search(low) and not limit:
            args["limit"] = 1
    oldest = re.search(r"\b(oldest|stalest|longest[- ]running)\b", low)
    if entity == "deal" and oldest and args.get("stage"):  # "the oldest open deals in Discovery": longest there
        args["longest_in_stage"] = True
    elif oldest:
        args.setdefault("_unapplied", []).append(
            f'"{oldest.group(1)}" (a listing is ordered by amount, last update, or days in one named stage)'
        )
    when = re.search(rf"\b(before|after|until|till|by)\s+{re.escape(query)}\b", turn.request, re.I) if query else None
    if when:  # "what's closing for me before Christmas": a day not read, never a name to search for
        args.setdefault("_unapplied", []).append(f'"{when.group(0)}" (not a date I can read: name a day or a period)')
        query = None
    if entity == "deal" and _LONGEST_IN_STAGE.search(low):
        args["longest_in_stage"] = True  # "sitting in Proposal the longest": by days in the current stage
        args.setdefault("status", "open")
        args.pop("largest_first", None)
    if re.search(r"\b(most recent|latest|newest|last)\s+(lead|deal|contact|account)\b", low):
        args["limit"] = 1
        query = None if query and re.search(r"\b(recent|latest|newest|last)\b", query.lower()) else query
    args |= {"entity": entity, "query": query, "owner": owner}
    if limit:
        said = limit.group(1) or limit.group(2)
        args["limit"] = max(1, min(100, int(said) if said.isdigit() else _NUMBERS[said]))
    _unapplied_measures(turn, args)  # "with probability above 70%", "idle for 30 days": no such filter here
    _counted_conditions(turn, args)
    return args


def _counted_conditions(turn: Turn, args: dict[str, Any]) -> None:
    """ "deals with more than 3 contacts": a count of something no filter counts is named, never dropped."""
    money = [a.start for a in find_amounts(turn.request)]
    for counted in _COUNTED_CONDITION.finditer(turn.low):
        noun = counted.group("noun")
        if noun in _MEASURE_UNITS or noun in _COUNTED_DEALS or any(counted.start() <= m < counted.end() for m in money):
            continue
        args.setdefault("_unapplied", []).append(f'"{counted.group(0)}"')


_COUNTED_CONDITION = re.compile(
    r"\b(?:more than|fewer than|less than|over|under|above|below|at least|at most)\s+\d+\s+(?P<noun>[a-z]+s)\b"
)
_MEASURE_UNITS = frozenset(("days", "weeks", "months", "hours", "points", "years", "percent"))
_COUNTED_DEALS = frozenset(("deals", "opportunities", "opps", "wins", "sales", "losses", "orders"))


# --- score / qualify ---------------------------------------------------------------------------------------

_SCORE_NAME = _p(
    rf"\b(?:score|rate|rank|scoring|score for|prioriti[sz]e)\s+(?:for\s+|of\s+)?(?:the\s+|this\s+|that\s+|my\s+)?(?:lead\s+|new lead\s+)?{_NAME}{_END}",
    rf"\bhow (?:good|hot|warm|promising|strong|likely|qualified)\s+(?:is|are|a lead is)\s+(?:the\s+)?(?:lead\s+)?{_NAME}{_END}",
    rf"\b(?:is|are)\s+(?:the\s+)?(?:lead\s+)?{_NAME}\s+(?:a\s+)?(?:good|hot|strong|solid|decent|promising|worth)\b",
    rf"\b{_NAME}'s\s+(?:lead\s+)?score\b",
    rf"\b(?:lead|chance|odds|probability|likely)\b[^?]*?\b(?:of|for|is|that)\s+(?:the\s+)?{_NAME}{_END}",
)
_QUALIFY_NAME = _p(
    rf"\b(?:qualify|qualifying)\s+(?:the\s+|this\s+|that\s+|my\s+)?(?:lead\s+)?{_NAME}{_END}",
    rf"\b(?:convert|turn|promote|upgrade|make)\s+(?:the\s+)?(?:lead\s+)?{_NAME}\s+(?:into|to|a)\b",
    rf"\bmark\s+(?:the\s+)?(?:lead\s+)?{_NAME}\s+as\s+(?:a\s+)?(?:qualified|sql)\b",
    rf"\b{_NAME}\s+(?:is|looks|seems)\s+(?:now\s+)?(?:qualified|ready)\b",
)


def build_score_lead(turn: Turn) -> dict[str, Any]:
    lead = _record(turn, "lead", _SCORE_NAME, "Which lead should I score?")
    return _ref_args(lead, allow=("lead",))


def build_qualify_lead(turn: Turn) -> dict[str, Any]:
    lead = _record(turn, "lead", _QUALIFY_NAME, "Which lead should I qualify?")
    args = _ref_args(lead, allow=("lead",))
    amount = turn.filled.get("amount") or first_amount(turn.request) or first_amount(turn.data)
    if amount is None:
        loose = re.search(
            r"\b(?:amount|budget|worth|value|size)\s*(?:of|is|:|~)?\s*(\$?\d[\d,.]*\s?[km]?)\b", turn.data, re.I
        )
        amount = first_amount("for " + loose.group(1)) if loose else None
    note = re.search(r"\b(?:because|since|as they|reason:?|note:?)\s+(?P<n>.+)$", turn.request_raw, re.I)
    args["amount"] = amount
    args["note"] = (note.group("n").strip() if note else None) or (turn.data.strip()[:500] or None)
    return args


# --- move_deal ---------------------------------------------------------------------------------------------

_MOVE_NAME = _p(
    rf"\b(?:move|moving|advance|push|bump|progress|shift|set|change|update|put|take|drag|slide|mark|marked|flip)\s+(?:the\s+)?(?:deal\s+)?{_NAME}(?:\s+(?:deal|opp|account))?\s+(?:to|into|in|as|back to|forward to|from|stage)\b",
    rf"\b(?:we|i|they)\s+(?:just\s+|finally\s+|officially\s+)?(?:won|lost|closed|signed|booked|landed|lost out on)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:close|closed)\s+(?:out\s+)?(?:the\s+)?{_NAME}\s+(?:as\s+)?(?:won|lost|deal)\b",
    rf"^(?:the\s+)?{_NAME}\s+(?:deal\s+)?(?:is|are|has|have|just|went|signed|moved|should be|needs to go|can go|got)\b",
    rf"\b{_NAME}\s+(?:signed|went with|chose|picked)\b",
    rf"\b(?:deal|stage (?:of|for))\s+{_NAME}{_END}",
)


def _target_stage(turn: Turn) -> str | None:
    if turn.filled.get("to_stage"):
        return str(turn.filled["to_stage"])
    low = turn.low
    mentions = find_stages(low, turn.ctx.vocabulary.stages)
    if not mentions and turn.data:
        low = turn.data.lower()  # "update the Acme deal: moved to proposal"
        mentions = find_stages(low, turn.ctx.vocabulary.stages)
    if not mentions:
        low = turn.low
        if re.search(r"\b(we|i)\s+(?:just\s+|finally\s+)?(closed|landed|signed|booked)\b|\bclose(d)? it\b", low):
            return "Won"
        if re.search(r"\b(signed|inked)\b(?!\s+(the |an? )?(nda|msa|sow|po|order form))", low):
            return "Won"
        if re.search(
            r"\b(went with|chose|picked|signed with) (a |another |the )?(competitor|someone else|another vendor)\b", low
        ):
            return "Lost"
        return None
    preferred = [
        m
        for m in mentions
        if re.search(r"\b(to|into|in|as|at|back to|forward to|is|are|now)\s+(the\s+)?$", low[: m.start])
    ]
    not_from = [m for m in mentions if not re.search(r"\bfrom\s+(the\s+)?$", low[: m.start])]
    chosen = (preferred or not_from or mentions)[-1 if preferred else 0]
    return chosen.stage


def build_move_deal(turn: Turn) -> dict[str, Any]:
    stage = _target_stage(turn)
    where = f" to {stage}" if stage else ""
    deal = _record(turn, "deal", _MOVE_NAME, f"Which deal should I move{where}?", slot="deal")
    label = deal.name or (f"deal #{deal.id}" if deal.id else "the deal")
    if stage is None:
        stages = ", ".join(turn.ctx.vocabulary.stages)
        # a stage of the built-in pipeline that this workspace does not have ("qualified" in Maven's)
        other = [m.stage for m in find_stages(turn.low) if m.stage not in turn.ctx.vocabulary.stages]
        missing = f"This workspace has no {other[0]} stage. " if other else ""
        raise Clarify("to_stage", f"{missing}Which stage should I move {label} to? ({stages})", filled=_remember(deal))
    args = _ref_args(deal, allow=("deal",)) | {"to_stage": stage}
    amount = turn.filled.get("amount")
    if amount is None and stage == "Won":
        amount = first_amount(turn.request)
    args["amount"] = amount
    if stage == "Lost":
        reason = turn.filled.get("loss_reason") or _loss_reason(turn.request_raw, turn.data)
        if not reason:
            raise Clarify(
                "loss_reason", f"Why did we lose {label}? I'll record it as the loss reason.", filled=_remember(deal)
            )
        args["loss_reason"] = reason
    return args


def _remember(mention: Mention) -> dict[str, Any]:
    return {"deal_choice": {"kind": mention.kind, "name": mention.name, "id": mention.id}}


def _loss_reason(request: str, data: str) -> str | None:
    match = re.search(
        r"\b(?:because(?: of)?|due to|since|reason:?|as|over|lost (?:it |them )?(?:to|on)|went with|chose|to)\s+(?P<r>.+)$",
        re.sub(r"^.*?\b(?:lost|lose|losing|dead|closed[- ]lost)\b", "", request, count=1, flags=re.I),
        re.I,
    )
    reason = match.group("r").strip(" .!") if match else None
    if reason is None:
        rest = re.sub(r"^.*?\b(?:lost|lose|losing|dead|closed[- ]lost)\b", "", request, count=1, flags=re.I)
        dash = re.search(r"\s[-–—:]\s*(?P<r>.+)$|,\s*(?:reason:?\s*)?(?P<r2>.+)$", rest)
        reason = (dash.group("r") or dash.group("r2")).strip(" .!") if dash else None
    if reason and (canonical_stage(reason) or reason.lower() in ("lost", "closed lost", "reason", "the reason")):
        reason = None
    if not reason and data.strip():
        reason = data.strip()
    return reason[:500] if reason else None


# --- log_interaction ---------------------------------------------------------------------------------------

_LOG_NAME = _p(
    rf"\b(?:call|meeting|chat|demo|email|conversation|note|notes|lunch|coffee|zoom|voicemail|interaction|touchpoint)\s+(?:with|on|for|to|from|about|re)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:called|emailed|met with|met|spoke (?:with|to)|talked (?:with|to)|chatted with|heard (?:back )?from|got an email from|pinged|phoned|rang)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:log|note|record|add a note|add note|jot down)\s+(?:on|for|to|against)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:on|for|to|against|with)\s+(?:the\s+)?{_NAME}\s+(?:deal|lead|account)\b",
)
_BODY_START = re.compile(
    r"(?:[:\-–—]|,|\bsaying\b|\bthat says\b|\bwho said\b|\b(?=they |he |she |customer |client ))\s*(?P<b>.+)$", re.I
)


def build_log_interaction(turn: Turn) -> dict[str, Any]:
    low = turn.low
    record = _record(turn, "deal", _LOG_NAME, "Which deal or lead should I log this on?", slot="record")
    record = _lead_or_deal(turn, record)
    channel = "note"
    if re.search(r"\b(call|called|phoned|rang|dialed|voicemail|phone|spoke|talked|chatted)\b", low):
        channel = "call"
    elif re.search(r"\b(meeting|met|demo|lunch|coffee|zoom|onsite|on-site|visit|teams call)\b", low):
        channel = "meeting"
    elif re.search(r"\b(email|emailed|e-mailed|wrote|mail)\b", low):
        channel = "email"
    elif re.search(r"\bslack\b", low):
        channel = "slack"
    direction = None
    if re.search(
        r"\b(they|he|she|customer|client)\s+(called|emailed|rang|reached out|pinged)|\bheard from|\bgot an email from|\binbound\b|\bcalled (me|us)\b",
        low,
    ):
        direction = "inbound"
    elif re.search(
        r"\b(i|we)\s+(called|emailed|rang|reached out|pinged|left)|\bcalled (them|him|her)\b|\boutbound\b|\bleft a voicemail\b",
        low,
    ):
        direction = "outbound"
    elif channel == "note":
        direction = "internal"
    body = turn.filled.get("body") or _body(turn, record)
    if not body:
        what = {"call": "on the call", "meeting": "in the meeting", "email": "in the email"}.get(channel, "")
        raise Clarify(
            "body",
            f"What happened {what} with {record.name or 'them'}? I'll log it in your words.".replace("  ", " "),
            filled={"record_choice": {"kind": record.kind, "name": record.name, "id": record.id}},
        )
    occurred = _occurred_on(turn)
    return _ref_args(record) | {
        "channel": channel,
        "direction": direction,
        "body": body[:5000],
        "occurred_at": occurred,
    }


_LOG_COMMAND = re.compile(
    r"^(?:(?:please|pls|can you|could you|quick)\s+)*(?:log|record|add|note|jot down)\s+(?:a |an |the )?"
    r"(?:quick )?(?:call|meeting|email|note|interaction|touchpoint)?\s*(?:with|on|for|to|from)?\s*",
    re.IGNORECASE,
)


_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _occurred_on(turn: Turn) -> str | None:
    """When a logged interaction happened: "yesterday", "today", "(last|on) Tuesday", "on Nov 20"; never a future
    day ("she's away until Jan 5" is content, not the date of the email)."""
    low, today = turn.low, turn.today
    if re.search(r"\byesterday\b", low):
        return (today - timedelta(days=1)).isoformat()
    if re.search(r"\b(today|this morning|this afternoon|earlier today|just now)\b", low):
        return today.isoformat()
    weekday = re.search(r"\b(?:last|on|this past)\s+(" + "|".join(_WEEKDAY_NAMES) + r")\b", low)
    if weekday:
        back = (today.weekday() - _WEEKDAY_NAMES.index(weekday.group(1))) % 7 or 7
        return (today - timedelta(days=back)).isoformat()
    explicit = re.search(r"\bon\s+(\d{4}-\d{2}-\d{2}|[a-z]{3,9}\.? \d{1,2}(?:st|nd|rd|th)?|\d{1,2}/\d{1,2})\b", low)
    if explicit:
        day = resolve_day(explicit.group(1), today)
        if day is not None and day > today:
            day = day.replace(year=day.year - 1)
        return day.isoformat() if day else None
    return None


def _body(turn: Turn, record: Mention) -> str | None:
    body = _body_from_parts(turn, record)
    if body:
        return body
    # "Emailed Park & Co the proposal": the request itself is the note, once the log command is removed
    rest = _LOG_COMMAND.sub("", turn.request_raw).strip()
    without_name = rest.lower().replace((record.name or "").lower(), " ") if record.name else rest.lower()
    if len(without_name.split()) >= 2 and len(rest.split()) >= 4:
        return rest
    return None


def _body_from_parts(turn: Turn, record: Mention) -> str | None:
    if turn.data.strip():
        return turn.data.strip()
    raw = turn.request_raw
    name = record.name or ""
    if name:
        position = raw.lower().find(name.lower())
        if position >= 0:
            rest = raw[position + len(name) :]
            match = _BODY_START.search(rest)
            if match and len(match.group("b").split()) >= 2:
                return match.group("b").strip()
            rest = re.sub(r"^\s*(?:deal|lead|account)?\s*", "", rest)
            if len(rest.split()) >= 3:
                return rest.strip(" ,.-")
    match = _BODY_START.search(raw)
    if match and len(match.group("b").split()) >= 3:
        return match.group("b").strip()
    return None


# --- tasks -------------------------------------------------------------------------------------------------

_TASK_TITLE = _p(
    r"\bremind\s+(?:me|(?P<who>[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)?))\s+(?:[\w ]{0,25}?\s)?(?:to|about|that i need to|that i have to|of)\s+(?P<t>.+)$",
    r"\b(?:nudge me|don't let me forget|dont let me forget|i need to|i have to|i should|i must|i gotta|i've got to)\s+(?:to\s+)?(?P<t>.+)$",
    r"\b(?:create|add|set|make|new|schedule|put|open)\s+(?:up\s+)?(?:a\s+|an\s+|the\s+)?(?:new\s+)?(?:task|to-do|reminder)(?:\s+for\s+(?P<who>[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)?)(?=\s+to\b))?(?:\s+(?:to|for|about|:|-))?\s+(?P<t>.+)$",
    r"\b(?:add|put)\s+(?P<t>.+?)\s+(?:on|in|to)\s+my\s+(?:list|calendar|plate|to-do list|agenda)\b",
    r"\b(?:task|to-do|reminder)\s*[:\-]\s*(?P<t>.+)$",
)


def build_create_task(turn: Turn) -> dict[str, Any]:
    owner = None
    title = turn.filled.get("title")
    text = turn.request if not turn.data else f"{turn.request}: {turn.data}"
    if turn.data.strip() and not title:
        title = turn.data.strip().split("\n")[0]  # "add a task for the Acme deal: send case study, due Monday"
        title = re.sub(r",?\s*\bdue\b.*$", "", title, flags=re.I) or title
    if not title:
        for pattern in _TASK_TITLE:
            match = pattern.search(text)
            if match:
                title = match.group("t")
                who = match.groupdict().get("who")
                if who and who.lower() not in nm.STOP_WORDS:
                    owner = who
                break
    due = turn.filled.get("due_date")
    if not due:
        day = find_day(text, turn.today)
        if day is not None:
            due = day.day.isoformat()
            if title:
                span = text[day.start : day.end]
                title = title.replace(span, " ")
    if title:
        title = re.sub(r"\b(please|pls|thanks|thank you)\b", " ", title, flags=re.I)
        title = re.sub(r"\(\s*(?:due)?\s*\)", " ", title)
        title = " ".join(title.split()).strip(" ,.-!'\"")
        for _ in range(3):
            title = re.sub(r"\s+(?:on|by|at|before|for|due|,)\s*$", "", title)
            title = re.sub(r"^(?:on|to|by|about|that)\s+", "", title, flags=re.I).strip(" ,.-!'\"")
    if not title:
        raise Clarify("title", 'What should the task say? (e.g. "call Bob about the renewal")')
    title = title[0].upper() + title[1:]
    owner = owner or _task_assignee(turn.request)
    args: dict[str, Any] = {"title": title[:500], "due_date": due, "owner": owner}
    known = nm.known_name_in(turn.request, turn.ctx)
    link = re.search(r"\b(?:for|on|about|re)\s+(?:the\s+)?(?P<n>[\w&'. -]+?)\s+(?P<k>deal|lead)\b", turn.request)
    quoted = [q for q in nm.quoted_names(turn.request_raw) if q.lower() not in title.lower() or " - " in q]
    if link and nm.clean_name(link.group("n")):
        args[f"{link.group('k').lower()}_name"] = nm.clean_name(link.group("n"))
    elif quoted:
        args["lead_name" if re.search(r"\blead\b", turn.low) else "deal_name"] = quoted[0]
    elif known is not None:
        args |= _ref_args(known)
    return args


def _task_assignee(request: str) -> str | None:
    match = re.search(
        r"\b(?:assign(?:ed)? (?:it |this )?to|for)\s+(?P<o>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s*(?:to\b|$)", request
    )
    if match and match.group("o").lower() not in nm.STOP_WORDS:
        return match.group("o")
    return None


def build_list_tasks(turn: Turn) -> dict[str, Any]:
    low = turn.low
    owner = "me"
    if re.search(r"\b(team|team's|everyone|everybody|all reps|whole team|my reps|our)\b", low):
        owner = "team"
    match = re.search(
        r"\b(?P<o>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)'s\s+(?:open\s+)?(?:tasks|to-dos|plate|list|reminders)\b", turn.request
    )
    match = match or re.search(
        r"\b(?:does|has|did|for)\s+(?P<o>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s+(?:have|got|need|own)\b", turn.request
    )
    if match and match.group("o").lower() not in nm.STOP_WORDS:
        owner = match.group("o")
    status = "open"
    if re.search(r"\b(done|completed|finished|closed)\b", low):
        status = "done"
    elif re.search(r"\ball (my |of my |the )?(tasks|to-dos)\b|\bincluding (done|completed)\b", low):
        status = "all"
    today = turn.today
    monday = today - timedelta(days=today.weekday())
    before = after = None
    if re.search(r"\b(overdue|past due|late)\b", low):
        before = today
    elif re.search(r"\b(today|tonight)\b", low):
        before = today + timedelta(days=1)
    elif re.search(r"\btomorrow\b", low):
        after, before = today + timedelta(days=1), today + timedelta(days=2)
    elif re.search(r"\bnext week\b", low):
        after, before = monday + timedelta(days=7), monday + timedelta(days=14)
    elif re.search(r"\b(this week|the week|rest of the week|end of week|by friday)\b", low):
        before = monday + timedelta(days=7)
    elif re.search(r"\b(this month|the month)\b", low):
        before = parse_period("this month", today).end
    elif re.search(r"\bnext (\d+|two|three|seven|ten|fourteen) days\b", low):
        count = re.search(r"\bnext (\d+|two|three|seven|ten|fourteen) days\b", low).group(1)  # type: ignore[union-attr]
        before = today + timedelta(days=int(count) if count.isdigit() else _NUMBERS[count])
    args: dict[str, Any] = {"owner": owner, "status": status}
    args["due_before"] = before.isoformat() if before else None
    args["due_after"] = after.isoformat() if after else None
    link = re.search(
        r"\b(?:for|on|about|re)\s+(?:the\s+)?(?P<n>[\w&'. -]+?)\s+(?P<k>deal|lead|account)\b", turn.request
    )
    if link and nm.clean_name(link.group("n")):
        args["lead_name" if link.group("k").lower() == "lead" else "deal_name"] = nm.clean_name(link.group("n"))
    else:
        names = [n for n in nm.capitalised_names(turn.request) if n != owner]
        if names and re.search(r"\b(for|on|about|re)\s+" + re.escape(names[0]), turn.request):
            args["deal_name"] = names[0]
    return args


# --- follow-ups --------------------------------------------------------------------------------------------

_DRAFT_NAME = _p(
    rf"\b(?:email|follow-up|message|note|reply|mail|recap|thank-you note|thank you note|thank you email|line|letter)\s+(?:to|for|with)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:follow-up|check in|touch base|circle back|reach out|write)\s+(?:with|to|on)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:email|draft|write|ping|nudge)\s+(?!an?\b|the\b|some\b|me\b)(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:for|to)\s+(?:the\s+)?{_NAME}\s+(?:deal|lead|account)\b",
    rf"\bfor\s+(?:the\s+)?{_NAME}{_END}",
)
_PURPOSE = re.compile(
    r"\b(?:about|regarding|re:?|on|asking (?:for|about|them to)|to (?=book|send|schedule|confirm|share|ask|recap|thank|discuss|introduce|check|set up|propose|follow|get|see|remind|offer|invite))\s*(?P<p>.+)$",
    re.IGNORECASE,
)


def build_draft_follow_up(turn: Turn) -> dict[str, Any]:
    record = _record(turn, "deal", _DRAFT_NAME, "Who is the follow-up for? Name the deal or lead.", slot="record")
    record = _lead_or_deal(turn, record)
    args = _ref_args(record)
    emails = list(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", turn.request_raw))
    args["to"] = emails[0].lower() if emails else None
    purpose = turn.filled.get("purpose")
    if not purpose:
        after_name = turn.request_raw
        if record.name:
            index = after_name.lower().find(record.name.lower())
            if index >= 0:
                after_name = after_name[index + len(record.name) :]
        match = _PURPOSE.search(after_name) or _PURPOSE.search(turn.request_raw)
        if match:
            purpose = re.sub(r"^(?:the\s+)?(?:deal|lead|account)\s*", "", match.group("p")).strip(" .!?")
            if record.name and purpose.lower() == record.name.lower():
                purpose = None
        if not purpose and turn.data.strip():
            purpose = turn.data.strip()
    args["purpose"] = (purpose or None) and str(purpose)[:500]
    words = nm.mask_quoted_names(turn.request_raw)
    if record.name:
        words = re.sub(re.escape(record.name), " ", words, flags=re.I)  # "Acme - Proposal" names no purpose
    args["template"] = choose_kind(words, args["purpose"])
    return args


def build_send_follow_up(turn: Turn) -> dict[str, Any]:
    explicit = re.search(r"\b(?:message|draft|email|msg)\s*#?\s*(\d+)\b|#\s?(\d+)", turn.request, re.I)
    if explicit:
        return {"message_id": int(explicit.group(1) or explicit.group(2))}
    if turn.ctx.last_draft_id is not None:
        return {"message_id": turn.ctx.last_draft_id}
    raise Clarify(
        "record",
        "There's no draft in this conversation to send yet. Which deal or lead should I draft a follow-up for?",
        filled={},
        intent="draft_follow_up",
    )


# --- editing a draft ---------------------------------------------------------------------------------------

_DRAFT_EDIT_WORDS = re.compile(
    r"\b(subject|tone|shorter|shorten|formal|friendl\w*|casual|concise|brief\w*|wordy)\b", re.I
)
_NEW_SUBJECT = re.compile(r"\bsubject(?:\s+line)?\s*(?:to|:|=|as|should be|to be|to read|reads?)?\s*(?P<s>.*)$", re.I)
_SUBJECT_END = re.compile(
    r"\s*(?:,|;|\band\b|\bthen\b)\s*(?=(?:make|keep|use|change|shorten|set|send|write)\b)|\s+please$", re.I
)
_LESS_FORMAL = re.compile(r"\b(less formal|informal|friendl\w*|casual|warm(?:er)?|relaxed|less stiff)\b", re.I)
_MORE_FORMAL = re.compile(r"\b(formal|professional|polite|less casual|less friendly|businesslike)\b", re.I)
_SHORTER = re.compile(
    r"\b(shorter|shorten|brief(?:er)?|concise|trim|tighten|too long|too wordy|cut (?:it )?down)\b", re.I
)


def _draft_edit_evidence(turn: Turn, scores: Any) -> None:
    """ "Change the subject", "make it shorter", "more formal": about the draft in the conversation, if there is one."""
    if not _DRAFT_EDIT_WORDS.search(turn.low):
        return
    if turn.ctx.last_draft_id is not None or find_id(turn.request, "message") is not None:
        scores.add("edit_draft", 2.0)
        if "edit_record" in scores.scores:  # "change the email's tone" is about the draft, not a contact's email
            scores.add("edit_record", -2.0)


def _draft_changes(request: str, data: str) -> dict[str, Any]:
    """The edits a request asks for: a new subject (after "subject to", or pasted after a colon), a tone, shorter,
    a pasted new body."""
    changes: dict[str, Any] = {}
    subject = _NEW_SUBJECT.search(request)
    rest = request
    if subject:
        said, *after = _SUBJECT_END.split(subject.group("s"), maxsplit=1)
        text = (said or data.split("\n")[0]).strip().strip("\"'“”‘’ ").rstrip(".!")
        if text:
            changes["subject"] = text[:200]
        rest = " ".join([request[: subject.start()], *after])  # the words around the new subject
    if _LESS_FORMAL.search(rest):
        changes["tone"] = "friendly"
    elif _MORE_FORMAL.search(rest):
        changes["tone"] = "formal"
    if _SHORTER.search(rest):
        changes["length"] = "shorter"
    if re.search(r"\b(body|text)\b", rest, re.I) and data.strip() and not subject:
        changes["body"] = data.strip() + "\n"
    return changes


def build_edit_draft(turn: Turn) -> dict[str, Any]:
    explicit = re.search(r"\b(?:message|draft|email|msg)\s*#?\s*(\d+)\b|#\s?(\d+)", turn.request, re.I)
    answered = re.search(r"\d+", str(turn.filled.get("message_id") or ""))
    if explicit:
        message_id: int | None = int(explicit.group(1) or explicit.group(2))
    elif answered:
        message_id = int(answered.group(0))
    else:
        message_id = turn.ctx.last_draft_id
    if message_id is None:
        raise Clarify(
            "message_id",
            "Which draft should I change? Give its message number (e.g. #12), or ask me to draft a follow-up first.",
        )
    args: dict[str, Any] = {"message_id": message_id, **_draft_changes(turn.request_raw, turn.data)}
    answer = str(turn.filled.get("subject") or "").strip()
    if answer:  # the answer to "what should I change?": a change said in words, else the new subject itself
        args |= _draft_changes(answer, "") or {"subject": answer.strip("\"'“”‘’ ")[:200]}
    if not any(args.get(key) for key in ("subject", "tone", "length", "body")):
        raise Clarify(
            "subject",
            "What should I change in the draft: the subject (say the new one), the tone (formal or friendly), or make "
            "it shorter?",
            filled={"message_id": message_id},
        )
    return args


# --- pipeline questions ------------------------------------------------------------------------------------

_REGION = re.compile(
    r"\b(?:in|for|from|across)\s+(?:the\s+)?(?P<r>emea|apac|latam|na|north america|south america|europe|asia|"
    r"east|west|central|north|south|us|uk|dach|nordics|anz)\b(?:\s+region)?|\bregion\s+(?P<r2>(?-i:[A-Z])[\w-]*(?:\s+(?-i:[A-Z])[\w-]*)*)",
    re.IGNORECASE,
)


def _metric(low: str) -> str:
    named = funnel_metric(low)  # the funnel figures' phrases, as data (agent.offline.metrics)
    if named:
        return named
    if re.search(
        r"\b(win rates?|win-rates?|close rates?|closing rates?|win ratios?|win percentage|win %|hit rates?|success rates?|how often (do|did|does) (we|i|they|my team|the team) win)\b",
        low,
    ) or re.search(
        r"\b(percentage|share|proportion|percent|%|fraction)\b(?![^?.!]{0,30}\b(revenue|amount|value|bookings|money|"
        r"dollars|pipeline)\b)[^?.!]{0,50}\b(closed[- ]won|won)\b(?!\s+by\b)",  # "won by the West office": a share
        low,
    ):
        return "win_rate"
    if re.search(
        r"\b(sales cycle|cycle time|cycle length|(days|weeks|time) to (close|win|a win|closing|winning)|how long|how many days|"
        r"velocity)\b",
        low,
    ):
        return "avg_cycle_days"
    if re.search(
        r"\b(conversion|convert|converts|converted|progress(ed)? from|made it from|(make|makes|made) it (to|into)|"
        r"move(d)? from|go from|get from|advance from|make it past|made it past|get past|got past|past (the )?(prospecting|qualified|discovery|proposal|negotiation)|share of deals|percentage of deals|% of deals)\b",
        low,
    ):
        return "stage_conversion"
    if re.search(
        r"\b(average|mean|typical|median)\b[^?]{0,25}\b(deal|size|amount|value|contract|acv|ticket)\b|\b(deal size|avg deal|average deal)\b|"
        r"\b(worth|value|size|amount)\b[^?]{0,25}\bon average\b|\bon average\b[^?]{0,25}\b(worth|value|size|amount)\b",
        low,
    ):
        return "avg_amount"
    if re.search(r"\b(how many|number of|count|how much of the pipeline is)\b", low) and not re.search(
        r"\bhow many (dollars|\$)", low
    ):
        return "count"
    if re.search(r"\b(by deals|deals won|number of deals|most deals|fewest deals|in deals)\b", low):
        return "count"
    if re.search(
        r"\b(money|dollars|in \$|brings? in|brought in|best[- ]selling|top[- ]selling)\b|"
        r"\bwhat (did|have|has|had) [\w ]{1,30}\b(win|won|book|booked|sell|sold|bring in|brought in|close|closed)\b",
        low,
    ):
        return "total_amount"
    if re.search(rf"\b(won|win|sold|sell|booked|book|closed)\b[^?]{{0,30}}\b({_HIGH}|{_LOW})\b", low) and not re.search(
        r"\bdeals\b", low
    ):
        return "total_amount"  # "which team won the most": the most money
    if re.search(
        r"\b(how much|total|revenue|sum|value|bookings|worth|amount|dollars|sales|sold|book|booked|\$)\b", low
    ):
        return "total_amount"
    pipeline, deals = re.search(r"\bpipeline\b", low), re.search(r"\bdeals\b", low)
    if pipeline and (deals is None or pipeline.start() < deals.start()):
        return "total_amount"  # "the open pipeline by stage", "pipeline by owner for deals closing...": money
    if _DOING.search(low):
        return "total_amount"  # "how is Jordan doing": what they brought in
    return "count"


_DOING = re.compile(
    r"\b(doing|performing|tracking|getting on|performers?)\b|\bhow (?:did|does|do|has|have) [\w' ]{1,40}\b(?:do|done)\b|"
    r"\b(best|top|strongest|worst|weakest|leading)\s+(sales\s+)?(reps?|sellers?|salespeople|salesperson|agents?|"
    r"managers?|teams?|offices?|regions?)\b"
)
"""How someone is doing, or who is best, with no figure named: what they brought in (won revenue)."""
_COMPARED = re.compile(
    r"\b(?:compared? (?:to|with)|vs\.?|versus|against|relative to)\s+(?:the rest of\s+)?(?:the|my|his|her|their|our)\s+"
    r"team\b|\b(?:the )?rest of (?:the|my|his|her|their|our) team\b"
)


_LOSS_WHY = re.compile(
    r"\bwhy\b[^.?!]{0,40}\b(lose|lost|losing)\b|\b(lose|lost|losing)\b[^.?!]{0,60}\band why\b|\bloss reasons?\b|"
    r"\breasons? (for|why)( we)? (losing|lost|loss(es)?)\b|\b(by|per) (loss )?reason\b|"
    r"\b(lose|lost|losing) (deals? )?to (a |the |our )?(competitors?|competition|rivals?)\b|"
    r"\bwhat (?:were|are|was) (?:the |their |its )?(?:main )?reasons?\b"  # "... lost the most, and what were the reasons"
)


def _status(low: str, metric: str) -> str | None:
    if metric == "win_rate":
        return "closed"
    if metric == "stage_conversion":
        return None  # "from Engaging to won": Won is where deals go, not a filter (won-only would convert 100%)
    if metric in LEAD_METRICS or metric == "revenue_per_closer_hour":
        return None  # over leads (no deal status), or over won deals by definition
    if re.search(
        r"\b(won (or|and|&|/) lost|lost (or|and|&|/) won|wins (and|or) losses|either way|closed either)\b", low
    ):
        return "closed"  # "closed, won or lost": both outcomes
    if re.search(r"\b(lost|lose|losses|losing)\b", low) and not re.search(r"\b(won|win)\b", low):
        return "lost"
    if re.search(
        r"\b(won|win|wins|winning|bookings|booked|book|sold|sell|sells|bought|purchased|signed|landed|closed[- ]won|revenue|best[- ]selling|"
        r"top[- ]selling|brings? in|brought in|made (me|us|the company) (the most )?money|earned)\b",
        low,
    ):
        return "won"
    if re.search(
        r"\b(open|in the pipeline|in pipeline|active|in flight|currently|right now|sitting|live|pipeline|still)\b",
        low,
    ) or re.search(r"\bare (in|at)\b", low):
        return "open"
    if metric == "total_amount" and _DOING.search(low):
        return "won"  # "how is Jordan doing": won revenue
    if metric == "total_amount" and re.search(r"\b(how much|what) (did|have|has) [\w ]{1,30}? (close|closed)\b", low):
        return "won"  # "how much did we close in November": the money brought in, not won plus lost
    if re.search(r"\b(closed|close)\b", low) and metric not in ("avg_cycle_days", "median_cycle_days"):
        return "closed"
    return None


def _date_field(low: str, status: str | None, metric: str) -> str | None:
    if re.search(
        r"\b(expected to close|expected close|closing (this|next|in|before|by|within)|close (before|by)|slated to close|due to close|set to close|should close|scheduled to close|close date)\b",
        low,
    ):
        return "expected_close"
    if re.search(r"\b(created|new deals|opened|came in|added|generated|sourced|entered|started)\b", low):
        return "created"
    if status in ("won", "lost", "closed") or metric in ("win_rate", "avg_cycle_days", "median_cycle_days"):
        return "closed"
    return None


def _size_band(low: str) -> tuple[float | None, float | None]:
    bounds: dict[str, tuple[float | None, float | None]] = {}
    lower: float | None = None
    for name, upper in SIZE_BANDS:
        bounds[name] = (lower, float(upper) if upper is not None else None)
        lower = float(upper) if upper is not None else None
    if re.search(r"\benterprise\b", low):
        return bounds["enterprise"]
    if re.search(r"\bmid[- ]?market\b|\bmid[- ]?size\b|\bmidsize\b", low):
        return bounds["mid-market"]
    if re.search(r"\b(small deals|smb|small business|small ones)\b", low):
        return bounds["small"]
    return None, None


_UNSUPPORTED_METRIC = re.compile(
    r"\b(discounts?|margins?|profits?|profitability|quotas?|attainment|churn|retention|nps|commissions?|mrr|arr|"
    r"ltv|cac|costs?|expenses?|spend|budgets?|forecast accuracy|satisfaction|csat|pipeline coverage|coverage)\b",
    re.IGNORECASE,
)
METRICS_OFFERED = (
    "the number of deals, total, average or median deal amount, win rate, days to close, and stage conversion"
)
# "how many new leads came in", "how many calls did I log": counts of records that are not deals
_OTHER_RECORDS = re.compile(
    r"\b(?:how many|number of|count of|count|total)\s+(?:of\s+)?"
    r"(?:(?:new|open|inbound|outbound|my|our|the|his|her|their|team's|sales)\s+){0,2}"
    r"(leads|calls|emails|meetings|notes|interactions|activities|tasks|contacts|accounts|touches|touchpoints|demos)\b"
)
_OTHER_RECORDS_INSTEAD = {
    "leads": "'list my new leads' or 'hottest leads'",
    "tasks": "'list my open tasks'",
    "contacts": "'contacts at <account>'",
    "accounts": "the number of deals by account ('deals by account')",
}


_VERSUS = re.compile(
    r"\b(?:versus|vs\.?|v\.|compared? (?:to|with)|comparison (?:to|with)|against|relative to)\s"
    r"|\bcompar(?:e|ing)\b[^.?!]{1,60}?\b(?:to|with)\s"
)


def _same_kind_now(label: str) -> str | None:
    """The current period of the same length as ``label``: "last year", "2025" → "this year"; "Q2" → "this quarter"."""
    low = label.lower()
    if re.search(r"\bweek\b", low):
        return "this week"
    if re.search(r"\bquarter\b|q[1-4]", low):
        return "this quarter"
    if re.search(r"\bmonth\b|^\d{4}-\d{2}$", low):
        return "this month"
    if re.search(r"\byear\b|^(fy)?\d{4}$", low):
        return "this year"
    return None


_CHANGE = re.compile(
    r"\b(chang\w*|grow\w*|grew|drop\w*|fell|fall\w*|improv\w*|declin\w*|mov(?:e|ed|ing)|shift\w*|trend\w*|"
    r"go(?:ne)? (?:up|down)|went (?:up|down))\b"
)
"""A change asked about: "from last quarter to this quarter" is then two periods compared, not one range."""
_PERIOD_JOIN = re.compile(r"^(?:,|and|or|&|,\s*and|and\s+(?:in|for)|or\s+(?:in|for)|,\s*(?:in|for))?$")
"""What may stand between two periods answered one after the other ("2024, 2025 and 2026")."""


def _month_ahead(label: str, low: str, today: date) -> str:
    """ "Deals closing in December", asked in November: the coming December. A month named without a year is the
    latest one gone by ("won in December"), but an expected close date lies ahead."""
    month = re.fullmatch(r"(\d{4})-(\d{2})", label)
    if month is None or re.search(r"\b(19|20)\d{2}\b", low):
        return label
    year, number = int(month.group(1)), int(month.group(2))
    if (year, number) < (today.year, today.month):
        return f"{year + 1}-{number:02d}"
    return label


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1) if (day.month, day.day) != (2, 29) else day.replace(year=day.year - 1, day=28)


def _two_periods(first: str, second: str, turn: Turn) -> tuple[date, date] | None:
    """The start of ``first`` and the (exclusive) end of ``second`` when both are whole periods, in order."""
    if re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\b|\d{4}-\d{2}-\d{2}|/", f"{first} {second}"):
        return None  # "from 3 March to 10 April", "from 2017-03-01 to ...": days, read as days
    try:
        one, two = parse_period(first.strip(), turn.today, turn.fy), parse_period(second.strip(), turn.today, turn.fy)
    except ValueError:
        return None
    return (one.start, two.end) if one.start <= two.start else None


def _compared_periods(low: str, today: date, fy: int) -> tuple[list[str] | None, list[str]]:
    """The periods to answer one by one ("this quarter versus last quarter", "EMEA vs last year": this year against
    last, "revenue in 2024 and 2025"), or None; and the periods named that neither applies (to say so)."""
    versus = _VERSUS.search(low)
    found = find_periods(low, today, fy)
    periods: list[PeriodMention] = []
    for mention in found:
        if mention.text not in [p.text for p in periods]:
            periods.append(mention)
    if len(periods) >= 2:
        joined = all(_PERIOD_JOIN.match(" ".join(low[a.end : b.start].split())) for a, b in itertools.pairwise(periods))
        # "how has the win rate changed from last quarter to this quarter": two periods compared, not one range
        change = (
            len(periods) == 2
            and _CHANGE.search(low)
            and " ".join(low[periods[0].end : periods[1].start].split()) == "to"
            and re.search(r"\bfrom\s+(?:the\s+)?$", low[: periods[0].start])
        )
        if change and versus is None:  # "from last quarter to this quarter": the later one first, so the
            return [periods[1].text, periods[0].text], []  # change stated is the one asked about
        if versus is not None or joined or change:
            return [p.text for p in periods], []
        return None, [p.text for p in periods[1:]]
    if (
        len(periods) == 1
        and versus is not None
        and periods[0].start >= versus.end()  # "Priya last month versus Jordan": the period is not compared
        and re.fullmatch(r"\s*(?:the\s+|same\s+|that\s+|of\s+)*", low[versus.end() : periods[0].start])
    ):  # "EMEA vs last year": the period is what is compared with, not "GTX Pro versus MG Special in 2017"
        now = _same_kind_now(periods[0].text)
        if now is not None and now != periods[0].text:
            return [now, periods[0].text], []
    return None, []


def build_pipeline_question(turn: Turn, also_known: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The pipeline question's arguments; ``also_known``: more words that are not left over (another tool's own
    words, when this parse reads the scope of a forecast or a listing)."""
    low = turn.low
    unsupported = _UNSUPPORTED_METRIC.search(low)
    if unsupported and not turn.filled.get("_metric_ok"):
        raise Clarify(
            "filter",
            f'I can\'t compute "{unsupported.group(1)}": the store has no such figure. I can give {METRICS_OFFERED}. '
            "Which of those would help?",
            filled={"_word": unsupported.group(1), "_metric_ok": True},
        )
    other = _OTHER_RECORDS.search(low) if funnel_metric(low) is None else None  # "how many leads became deals"
    if other and other.group(1) in ("leads", "accounts", "contacts") and not turn.filled.get("_metric_ok"):
        raise Reroute("find_records")  # a listing counts every record that matches, with the filters it takes
    if other and not turn.filled.get("_metric_ok"):
        noun = other.group(1)
        instead = _OTHER_RECORDS_INSTEAD.get(
            noun, "a search of the logged notes ('what did customers say about pricing')"
        )
        raise Clarify(
            "filter",
            f"I can't count {noun}: pipeline questions are about deals ({METRICS_OFFERED}). For {noun}, try "
            f"{instead}. Should I answer about deals instead?",
            filled={"_word": noun, "_metric_ok": True},
        )
    bad_quarter = re.search(r"\b(q[05-9]|q\d{2,})\b", low)
    if bad_quarter:
        raise Clarify(
            "filter",
            f'"{bad_quarter.group(1).upper()}" is not a quarter: a year has Q1 to Q4. Which period did you mean?',
            filled={"_word": bad_quarter.group(1)},
        )
    metric = _metric(low)
    share = _SHARE.search(low)
    if share and metric == "stage_conversion" and not _CONVERTS.search(low):
        metric = "count"  # "what percentage of deals are in Negotiation": a share of the deals, not a conversion
    loss_rate = re.search(r"\b(?:loss|lose|losing)[- ](?:rates?|ratios?|percentages?)\b", low)
    if loss_rate:  # the lost deals' share of the closed ones (one figure), or beside a breakdown the win rate
        metric = "win_rate" if find_groupings(turn.request) else "count"
    status = "lost" if loss_rate and metric == "count" else _status(low, metric)
    if _date_field(low, None, metric) == "expected_close" and not re.search(r"\b(open|won|lost|pipeline)\b", low):
        status = None  # "expected to close next month" counts every deal with that expected close date
    groups = find_groupings(turn.request)
    ranked_by = re.match(
        r"^(?:(?:show|list|rank|give)(?: me)?\s+)?(?:(?:the|our|my|all|top)\s+)?([a-z]+)\s+(?:ranked\s+|sorted\s+)?by\s+"
        r"(?:won\s+)?(?:revenue|bookings|amount|value|pipeline|wins|deal size|win rate|sales)\b",
        low,
    )
    if not groups and ranked_by and GROUPINGS.get(ranked_by.group(1)):
        groups = [GROUPINGS[ranked_by.group(1)]]  # "customers by revenue": the customers, ranked by it
    if not groups and re.search(rf"\bwho(?:'s| is| has| had| have)?\b[^.?!]{{0,60}}\b({_HIGH}|{_LOW})\b", low):
        groups = ["owner"]  # "who on my team has the most open pipeline": the reps, ranked
    why_lost = False
    if _LOSS_WHY.search(low) and "loss_reason" not in groups and metric in ("count", "total_amount"):
        why_lost = True
        groups = [*groups, "loss_reason"]  # "how many did we lose and why": the lost deals by their reason
        status = "lost"
    args: dict[str, Any] = {"metric": metric, "group_by": groups, "status": status}
    if loss_rate and metric == "count":
        args["_also"] = [{"status": "closed"}]
    elif loss_rate:
        args["_unapplied"] = [f'"{loss_rate.group(0)}" (shown as the win rate: each loss rate is 100% less it)']
    args["owner"] = _owner(turn)
    team = re.search(r"\b(?P<t>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)'s\s+team\b|\bteam\s+(?P<t2>[A-Z][a-z]+)\b", turn.request)
    if team:
        args["team"] = team.group("t") or team.group("t2")
        if args["owner"] == args["team"]:
            args["owner"] = None
    stages = [m for m in find_stages(low, turn.ctx.vocabulary.stages) if m.stage not in ("Won", "Lost")]
    if metric in LEAD_METRICS:
        stages = []  # "lead to qualified": the funnel's steps, not a stage filter
    if stages:
        if metric == "stage_conversion":
            from_stage = [m for m in stages if re.search(r"\bfrom\s+(the\s+)?$", low[: m.start])]
            starts = [m for m in stages if not _INTO.search(low[: m.start])]  # "got to Proposal": the target
            if from_stage or starts:
                args["stage"] = (from_stage or starts)[0].stage
            elif "stage" not in groups:
                args["group_by"] = [*groups, "stage"]
        else:
            args["stage"] = stages[0].stage
            if status is None:
                args["status"] = "open"
            named = list(dict.fromkeys(m.stage for m in stages))
            if len(named) > 1 and "stage" not in groups:
                args["_each"] = {"stage": named}  # "in Proposal or Negotiation": each stage answered
    elif metric == "stage_conversion" and "stage" not in groups:
        args["group_by"] = [*groups, "stage"]
    if metric == "stage_conversion":
        args["to_stage"] = _conversion_target(turn, args.get("stage"))
    sources = _lead_sources(turn)
    source = sources[0] if sources else None
    if source and "source" not in groups:
        args["source"] = source  # "win rate on webinar deals": where the deal's lead came from
    # a workspace with industries names them itself (find_terms); the common list is for one without
    industry = None if turn.ctx.vocabulary.industries else INDUSTRY_RE.search(low)
    if industry and "industry" not in groups:
        args["industry"] = industry.group(1).lower()
    product = re.search(
        r"\bproduct\s+(?P<p>[A-Z0-9][\w-]*(?:\s+[A-Z0-9][\w-]*)*)|\b(?P<p2>[A-Z][\w-]*(?:\s+[A-Z0-9][\w-]*)*)\s+(?:product|line|sku|plan)s?\b",
        turn.request,
    )
    if product:
        value = product.group("p") or product.group("p2")
        if value and value.lower() not in nm.STOP_WORDS:
            args["product"] = value
    region = _REGION.search(turn.request)
    if region:
        value = region.group("r") or region.group("r2")
        args["region"] = value.upper() if len(value) <= 5 else value.title()
    period = find_period(low, turn.today, turn.fy)
    since = re.search(r"\bsince\s+(?P<s>.+?)(?:$|[?,.])", low)
    if since:
        day = find_day(since.group("s"), turn.today)
        start = None
        try:
            start = parse_period(since.group("s").strip(), turn.today, turn.fy).start
        except ValueError:
            if day is not None:
                start = day.day if day.day <= turn.today else day.day.replace(year=day.day.year - 1)
        if start is not None:
            args["date_from"] = start.isoformat()
            period = None
    between = re.search(
        r"\b(?:between|from)\s+(?P<a>.+?)\s+(?:and|to|until|through|-)\s+(?P<b>.+?)(?:$|[?,.]|\s+(?:by|per|for|in)\b)",
        low,
    )
    span = _two_periods(between.group("a"), between.group("b"), turn) if between else None
    if span is not None:  # "from January to March", "between 2024 and 2025": whole periods, not days
        if not _CHANGE.search(low):  # "how did bookings grow from 2025 to 2026": each year, compared
            args["date_from"], args["date_to"] = span[0].isoformat(), span[1].isoformat()
            period = None
    elif between:
        start_day, end_day = resolve_day(between.group("a"), turn.today), resolve_day(between.group("b"), turn.today)
        if start_day and end_day and start_day > turn.today and not re.search(r"\b(clos\w*|due|expected)\b", low):
            # "revenue from 1 March to 10 April" asked in November: last spring, not next (no year was said)
            start_day, end_day = _year_before(start_day), _year_before(end_day)
        if start_day and end_day and start_day <= end_day:
            args["date_from"] = start_day.isoformat()
            args["date_to"] = (end_day + timedelta(days=1)).isoformat()  # "between A and B" includes B
            period = None
    trailing = re.search(
        r"\b(?:last|past|previous|prior)\s+(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|twelve)\s+"
        r"(weeks|months|quarters|years)\b",
        low,
    )
    if trailing:  # "the last 4 quarters": the four whole quarters before this one
        said = trailing.group(1)
        units = int(said) if said.isdigit() else _NUMBERS[said]
        unit = trailing.group(2).removesuffix("s")
        current = period_containing(turn.today, unit, turn.fy)  # type: ignore[arg-type]
        args["date_from"] = shift(current, -units, turn.fy).start.isoformat()
        args["date_to"] = current.start.isoformat()
        period = None
    if re.search(r"\b(last|past) (\d+|thirty|ninety|sixty) days\b", low):
        count = re.search(r"\b(?:last|past) (\d+|thirty|ninety|sixty) days\b", low).group(1)  # type: ignore[union-attr]
        number = int(count) if count.isdigit() else {"thirty": 30, "sixty": 60, "ninety": 90}[count]
        args["date_from"] = (turn.today - timedelta(days=number)).isoformat()
        period = None
    half = re.search(
        r"\b(first|1st|second|2nd) half(?: of (?:the year|this year|(?P<y>\d{4})))?\b|\bh(?P<h>[12])(?: (?P<y2>\d{4}))?\b",
        low,
    )
    if half:
        year = int(half.group("y") or half.group("y2") or turn.today.year)
        second = half.group("h") == "2" or (half.group(1) or "") in ("second", "2nd")
        start, end = (date(year, 7, 1), date(year + 1, 1, 1)) if second else (date(year, 1, 1), date(year, 7, 1))
        args["date_from"], args["date_to"] = start.isoformat(), end.isoformat()
        period = None
    args["period"] = period.text if period else None
    compared, extra_periods = (None, []) if args.get("date_from") else _compared_periods(low, turn.today, turn.fy)
    if compared:
        args["period"] = compared[0]
    for extra in extra_periods:  # "deals created last month closing next quarter": one period per answer
        args.setdefault("_unapplied", []).append(f"the period {extra}")
    field_name = _date_field(low, args["status"], metric)
    if (period or args.get("date_from")) and field_name is None:
        field_name = "created"
    fields = _period_fields(low, turn.today, turn.fy)
    own = {v: k for k, v in reversed(fields.items())}.get(str(args.get("period")))
    if own is not None and len(fields) > 1:
        # "deals created in October slated to close next quarter": October is on the created date its words name
        field_name = {"closing": "expected_close", "closed": "closed", "created": "created"}[own]
    args["date_field"] = field_name
    if field_name == "expected_close" and args.get("period"):
        args["period"] = _month_ahead(str(args["period"]), low, turn.today)
    if field_name == "closed" and args.get("period") and not re.search(r"\b(won|lost|win|lose|wins|losses)\b", low):
        ahead = parse_period(args["period"], turn.today, turn.fy)
        if ahead.start > turn.today and args.get("status") in (None, "closed", "all"):
            # "how many deals close next month": nothing has closed in the future, so the expected close date
            args["date_field"], args["status"] = "expected_close", "open"
    band_text = low  # "Lumen Enterprise" is a product, not the enterprise size band
    for name in (*turn.ctx.vocabulary.products, *turn.ctx.vocabulary.accounts):
        if "enterprise" in name.lower() or "small" in name.lower():
            band_text = band_text.replace(name.lower(), " ")
    amount_min, amount_max = _size_band(band_text)
    amounts = find_amounts(turn.request)
    # "products with more than 500 deals", "which reps won over 200k": a bound on each group's figure, not a
    # filter on single deals' amounts
    counted = list(_GROUP_COUNT.finditer(low))
    amounts = [a for a in amounts if not any(m.start() <= a.start < m.end() for m in counted)]
    group_totals = [a for a in amounts if _GROUP_TOTAL.search(low[max(0, a.start - 40) : a.start])]
    amounts = [a for a in amounts if a not in group_totals]
    _group_bounds(turn, args, counted, group_totals)
    _counted_conditions(turn, args)
    # the threshold's currency is the one its symbol or code names ("over €50k"); unmarked, the tool decides
    threshold_currency: str | None = None
    for first, second in itertools.pairwise(amounts):
        # "between $10k and $50k", "from 10,000 to 50,000": a range, lower bound first
        joiner = low[first.end : second.start].strip()
        lead_in = low[max(0, first.start - 12) : first.start]
        if joiner in ("and", "to", "-", "–", "through") and (joiner != "and" or re.search(r"between\s*$", lead_in)):
            amount_min, amount_max = min(first.value, second.value), max(first.value, second.value)
            threshold_currency = first.currency or second.currency
    bound_order: list[str] = []  # which bound the request named first ("over 50k compared with under 50k")
    for amount in amounts:
        before = low[max(0, amount.start - 20) : amount.start]
        if re.search(r"(over|above|more than|bigger than|larger than|at least|greater than|>|min(imum)?)\s*$", before):
            bound_order.append("min")
            amount_min = amount.value
            threshold_currency = amount.currency or threshold_currency
        elif re.search(r"(under|below|less than|smaller than|at most|<|max(imum)?|up to)\s*$", before):
            bound_order.append("max")
            amount_max = amount.value
            threshold_currency = amount.currency or threshold_currency
    args["amount_min"], args["amount_max"] = amount_min, amount_max
    if threshold_currency and (amount_min is not None or amount_max is not None):
        args["amount_currency"] = threshold_currency
    if amount_min is not None and amount_max is not None and amount_min >= amount_max:
        # "under 10k vs over 50k", "over 50k compared with under 50k": two bands compared, not one empty range
        if bound_order[:1] == ["min"]:
            args["amount_max"] = None
            args["_also"] = [{"amount_min": None, "amount_max": amount_max}]
        else:
            args["amount_min"] = None
            args["_also"] = [{"amount_min": amount_min, "amount_max": None}]
    limit = re.search(
        r"\b(?:top|bottom|best|worst|first)\s+(\d{1,3}|two|three|four|five|six|seven|eight|nine|ten|twenty)\b"
        r"|\b(?:the\s+)?(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|twenty)\s+(?:most|least\s+)?"
        rf"(?:{_HIGH}|{_LOW}|slowest|fastest)\b",
        low,
    )
    if limit:
        said = limit.group(1) or limit.group(2)
        args["limit"] = int(said) if said.isdigit() else _NUMBERS[said]
    _rank(turn, args)
    _workspace_terms(turn, args, also_known)
    if len(sources) > 1 and "source" not in args["group_by"]:
        if args.get("_each") or compared:  # one thing answered per value at a time
            args.setdefault("_unapplied", []).append(f"one answer per lead source ({', '.join(sources)})")
        else:
            args["_each"] = {"source": sources}  # "referrals vs webinars": one answer each
    ranked = [g for g in args["group_by"] if g != "loss_reason"]
    if why_lost and args.get("limit") == 1 and len(ranked) == 1 and ranked[0] in (*_FILTER_KINDS, "source"):
        # "which region lost the most and why": the region first, then that region's loss reasons
        (dimension,) = ranked
        args["group_by"] = ranked
        reasons = {k: v for k, v in args.items() if not k.startswith("_") and k not in ("limit", "sort", "group_by")}
        reasons = {k: v for k, v in reasons.items() if v is not None}
        args["_then"] = [
            {
                "tool": "pipeline_question",
                "args": {**reasons, "group_by": ["loss_reason"]},
                "from": {dimension: f"rows.0.group.{dimension}"},
            }
        ]
    past = args.get("status") == "open" and _date_field(low, "open", metric) is None
    ends = _period_ends(turn) if past and not compared else []
    if compared and past and not also_known:
        _past_pipeline(turn, args, compared)  # "how's my pipeline compared to last month": then, not created then
    elif ends:  # "my pipeline at the end of September", "today compared with the end of last quarter"
        now_too = _VERSUS.search(low) or re.search(r"\b(today|now|currently|at the moment|right now)\b", low)
        _past_pipeline(turn, args, ["now", *ends] if now_too else ends)
    elif compared:
        if args.get("_each"):  # two products and two periods: answer the products, name the comparison
            args.setdefault("_unapplied", []).append(f"the comparison of {' with '.join(compared)}")
        else:
            args["_each"] = {"period": compared}
    if _COMPARED.search(low) and "owner" not in (args.get("group_by") or []):
        # "how is Jordan doing compared to the rest of the team": every rep the asker may see, Jordan among them
        args["group_by"] = ["owner", *(args.get("group_by") or [])]
        args["owner"] = None
    teams = turn.ctx.vocabulary.teams
    if (
        not args.get("team")
        and len(teams) > 1
        and re.search(r"\b(?:the|that|this)\s+(?:[\w-]+\s+){0,2}manager'?s?\s+team\b", low)
        and not re.search(r"\b(?:my|our|each|every|per|by)\s+(?:[\w-]+\s+)?manager", low)
    ):
        # "the Central manager's team": a team is named by its manager, and no manager was named
        raise Clarify(
            "filter",
            f"Which manager's team do you mean: {', '.join(teams)}?",
            filled={"_word": "manager's team"},
        )
    if re.search(
        r"\b(lost|lose|losing|losses)\b[^.?!]{0,20}\bto (?:a |the |our )?(competitors?|competition|rivals?)\b", low
    ):
        args.setdefault("_unapplied", []).append(
            "only the losses to competitors (loss reasons are free text: the breakdown shows each reason, and "
            "the total counts every loss)"
        )
    stuck = re.search(r"\b(stuck|stalled|stalling|stale|idle|languishing)\b", low)
    if stuck and not also_known and args.get("status") == "open":  # the figure counts every open deal, quiet or not
        args.setdefault("_unapplied", []).append(
            f'"{stuck.group(1)}" (every open deal counts here, active or not; ask for stalled deals to see the ones '
            "with no recent activity)"
        )
    if share and metric in ("count", "total_amount"):
        _share_of(turn, args, share)
    _excluded(turn, args)
    if not also_known:  # another tool's own words may be these ("tasks due in 2 days"): its builder reads them
        _unapplied_measures(turn, args)
    average = re.search(r"\b(average|avg|mean|typical|median)\b", low)
    if average and metric in ("count", "total_amount"):  # "average number of calls": no average of that is computed
        args.setdefault("_unapplied", []).append(
            f'"{average.group(1)}" (the averages I compute are the average deal amount and the days to close)'
        )
    if args["status"] is None:
        args.pop("status")
    if args.get("date_field") is None:
        args.pop("date_field", None)
    return args


_INTO = re.compile(r"(?:\bto|\binto|→|->|\breach(?:ing|ed)?|\bmake it to|\bmade it to)\s+(?:the\s+)?$")


def _conversion_target(turn: Turn, stage: str | None) -> str | None:
    """ "Proposal to Won", "from Discovery into Negotiation": the stage the converting deals must reach."""
    every = find_stages(turn.low, turn.ctx.vocabulary.stages)
    start = next((m for m in every if m.stage == stage), None)
    for mention in every:
        after_start = start is None or mention.start >= start.end
        if after_start and mention.stage not in ("Lost", stage) and _INTO.search(turn.low[: mention.start]):
            return mention.stage
    return None


# "at the end of September", "compared with the end of last quarter"; never "closing before the end of the year"
_END_OF = re.compile(
    r"(?:^|\b(?:at|as of|as at|on|with|to|vs\.?|versus|against|from|than|and|was|stood|worth)\s+)the end of\s*$"
)


def _period_ends(turn: Turn) -> list[str]:
    """The periods named as "the end of <period>": the day the pipeline is read on, not a range of dates."""
    ends: list[str] = []
    for mention in find_periods(turn.low, turn.today, turn.fy):
        if _END_OF.search(turn.low[max(0, mention.start - 40) : mention.start]) and mention.text not in ends:
            ends.append(mention.text)
    return ends


_BOUND_OPS = {
    **dict.fromkeys(("more than", "over", "above", "greater than", "in excess of"), "above"),
    **dict.fromkeys(("at least", "no less than", "minimum of"), "min"),
    **dict.fromkeys(("fewer than", "less than", "under", "below"), "below"),
    **dict.fromkeys(("at most", "no more than", "maximum of"), "max"),
}
_OPS = "|".join(sorted(_BOUND_OPS, key=len, reverse=True))
_GROUP_COUNT = re.compile(
    rf"\b(?P<op>{_OPS})\s+(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+)\s+"
    r"(?:(?:won|open|lost|closed|new|active)\s+)?(?:deals|opportunities|opps|wins|sales|losses|orders)\b"
)
_RATE_BOUND = re.compile(rf"\b(?P<op>{_OPS})\s+(?P<n>\d{{1,3}}(?:\.\d+)?)\s*(?:%|percent\b)")
_GROUP_TOTAL = re.compile(
    r"\b(?:won|win|sold|sell|booked|book|brought in|bring in|closed|made|generated|earned|lost|has|have|had|"
    r"(?:pipeline|revenue|bookings|sales) (?:of|is|are|was|were|totals?|totalling)|"
    rf"pipeline of|revenue of|bookings of)\s+(?:a total of\s+|in total\s+)?(?P<op>{_OPS})\s*$"
)


def _group_bounds(turn: Turn, args: dict[str, Any], counted: list[re.Match[str]], totals: list[Any]) -> None:
    """A bound on each group's figure ("which products sold more than 500 deals": the count by product, only those
    above 500; "which reps won over 200k": their won total). With no breakdown there are no groups to keep or
    drop: the figure is answered and the bound named."""
    bounds: list[tuple[str, str, float, str]] = []  # (metric, op, value, said)
    for match in counted:
        bounds.append(
            ("count", _BOUND_OPS[match.group("op")], float(match.group("n").replace(",", "")), match.group(0))
        )
    if args.get("metric") in ("win_rate", "stage_conversion"):  # "products with a win rate below 35%"
        for match in _RATE_BOUND.finditer(turn.low):
            bounds.append(
                (args["metric"], _BOUND_OPS[match.group("op")], float(match.group("n")) / 100, match.group(0))
            )
    for amount in totals:
        verb = _GROUP_TOTAL.search(turn.low[max(0, amount.start - 40) : amount.start])
        assert verb is not None
        said = turn.low[amount.start - len(verb.group("op")) - 1 : amount.end].strip()
        bounds.append(("total_amount", _BOUND_OPS[verb.group("op")], float(amount.value), said))
    if not bounds:
        return
    first_said = turn.low.find(bounds[0][3])
    lead = re.match(
        r"^(?:(?:show|list|give|find|get)(?: me)?\s+)?(?:(?:which|what|the|all|our|my|any)\s+)?([a-z]+)\b", turn.low
    )
    if not args.get("group_by") and lead and lead.end() <= first_said and GROUPINGS.get(lead.group(1)):
        args["group_by"] = [GROUPINGS[lead.group(1)]]  # "reps with over 20 won deals": by rep
    elif not args.get("group_by") and re.match(r"^(?:and\s+)?who\b", turn.low):
        args["group_by"] = ["owner"]  # "who on my team closed over 300k": the reps
    sold = re.search(r"\b(won|win|sold|sell|booked|book|wins|sales)\b", turn.low)
    money = bounds[0][0] == "total_amount"
    if (sold and args.get("status") in (None, "all")) or (money and args.get("status") == "closed"):
        args["status"] = "won"  # "closed more than 250k": revenue closed is won revenue
    metric, op, value, said = bounds[0]  # without a breakdown, the one figure is checked against the bound
    if args.get("metric") in ("count", "total_amount"):
        args["metric"] = metric
    elif metric != args.get("metric"):
        args.setdefault("_unapplied", []).append(f'"{said}" (it bounds a {metric.replace("_", " ")}, not this figure)')
        return
    if metric == "count":  # whole deals: "more than 500" is 501 or more
        value = value + 1 if op == "above" else value - 1 if op == "below" else value
    args["value_min" if op in ("above", "min") else "value_max"] = value
    if args.get("status") == "won" and args.get("period") and args.get("date_field") in (None, "created"):
        args["date_field"] = "closed"
    for _, _, _, extra in bounds[1:]:
        args.setdefault("_unapplied", []).append(f'"{extra}" (one bound per question)')


def _past_pipeline(turn: Turn, args: dict[str, Any], compared: list[str]) -> None:
    """The open pipeline compared over periods is the pipeline as it stood then (``open_on``: the end of each past
    period; the current one, and the label "now", is now), never the deals created in each period."""
    args["period"] = args["date_field"] = None  # never the deals created in each period
    why = None
    if args.get("stage") or "stage" in (args.get("group_by") or []) or args.get("_each"):
        why = "a past day's pipeline cannot be split by stage"
    elif args["metric"] not in PAST_PIPELINE_METRICS:
        why = "a past day's pipeline has counts and amounts only"
    if why:
        what = f"the comparison of {' with '.join(compared)}" if len(compared) > 1 else f"the end of {compared[0]}"
        args.setdefault("_unapplied", []).append(f"{what} ({why})")
        return
    days: list[str | None] = []
    for label in compared:
        if label == "now":
            days.append(None)
            continue
        period = parse_period(label, turn.today, turn.fy)
        if period.start <= turn.today < period.end:
            days.append(None)  # the period we are in: the pipeline now
        else:
            days.append(min(period.end - timedelta(days=1), turn.today).isoformat())
    args["open_on"] = days[0]
    if len(days) > 1:
        args["_also"] = [{"open_on": day} for day in days[1:]]


_SHARE = re.compile(r"\b(share|percentage|proportion|fraction|percent|what %|what part of|what portion of)\b", re.I)
_CONVERTS = re.compile(
    r"\b(convert\w*|conversion|progress\w*|made it|make it|makes it|get past|got past|gets? to|got to|getting to|"
    r"moved? (?:from|past|to)|advance\w*|go(?:es)? from|went from|reach(?:ed|es)?)\b"
)
_SHARE_KEYS = ("stage", "owner", "product", "region", "industry", "account", "source", "team")


def _share_of(turn: Turn, args: dict[str, Any], share: re.Match[str]) -> None:
    """ "What share of our pipeline is in Proposal": the part (the value named after the share word) and the
    whole it is a share of (the same question without that value), so the answer can state the percentage."""
    if args.get("group_by") or args.get("_each"):
        return  # a breakdown already shows every part; several values are answered each
    low = turn.low
    outcome = re.search(
        r"\b(?:did|do|does|has|have|had)\b[^.?!]{0,40}?\b(?:lose|lost|win|won)\b(?!\s+by\b)"
        r"|\b(?:were|was|got|been)\s+(?:lost|won)\b(?!\s+by\b)",
        low[share.end() :],
    )
    if outcome and args.get("status") in ("won", "lost") and not args.get("_also"):
        # "what percentage of deals did Anna lose": her lost deals out of her closed ones, not her share of all losses
        args["_also"] = [{"status": "closed"}]
        return
    named = []
    for key in _SHARE_KEYS:
        value = args.get(key)
        if isinstance(value, str) and value:
            said = "my" if value == "me" else value.lower().replace("_", " ")
            at = low.rfind(said.split()[0]) if said.split() else -1
            if at > share.start() or key == "stage":
                named.append((at, key))
    if not named:
        args.setdefault("_unapplied", []).append(
            f'"{share.group(1)}" (no part of the figure was named to take a share of; ask for a breakdown, '
            "e.g. by stage)"
        )
        return
    args["_share"] = max(named)[1]  # the value named last is the part ("EMEA pipeline in Proposal": Proposal)


_EXCLUSION = re.compile(
    r"\b(?:excluding|exclude|excludes|except(?:\s+for)?|other than|apart from|aside from|but not|not in|not from|not|"
    r"not counting|not including|discounting|leaving aside|setting aside|barring|save for|"
    r"without|outside(?:\s+of)?|minus|leaving out|ignoring|ex)\s+(?:the\s+|any\s+|all\s+|of\s+)?"
    # "excluding deals in Prospecting", "except the ones owned by Sam"
    r"(?:(?:deals?|ones|those|anything|everything|opportunities)\s+(?:that are\s+|which are\s+|still\s+)?"
    r"(?:in|from|at|for|with|owned by|by|of|on)\s+(?:the\s+)?)?$",
    re.IGNORECASE,
)


def _excluded(turn: Turn, args: dict[str, Any]) -> None:
    """ "pipeline by stage excluding Prospecting", "deal size by sector except software": a filter named only to
    be left out must not be applied as the only one kept. A question filters on the values it names, so the
    exclusion is named as not applied instead."""
    low = turn.low
    named: set[str] = set()  # "EMEA" as an office and as a team is named once
    for key in ("stage", "industry", "product", "region", "account", "owner", "team", "source"):
        value = args.get(key)
        if not isinstance(value, str) or not value or value.lower() in ("me", "my", "i"):
            continue
        said = {value.lower(), value.lower().replace("_", " "), value.lower().split()[0]}
        hits = [m for w in said if len(w) > 2 for m in re.finditer(rf"\b{re.escape(w)}\b", low)]
        if hits and all(_EXCLUSION.search(low[: m.start()]) for m in hits):
            args[key] = None
            negations = {w for m in hits for w in (_EXCLUSION.search(low[: m.start()]) or m).group(0).split()}
            args["_unused"] = [w for w in args.get("_unused") or [] if w.lower() not in negations] or None
            additive = args.get("metric") in ("count", "total_amount")
            if additive and not args.get("group_by") and not args.get("_each") and not args.get("_also"):
                # "won revenue for everyone except Sam": the whole, the part left out, and the difference
                args["_also"] = [{key: value}]
                args["_excluding"] = key
                named.add(value.lower())
                continue
            if value.lower() in named:
                continue
            named.add(value.lower())
            if key in ("owner", "stage", "product", "industry", "region", "account"):
                # "win rate excluding Jordan", "pipeline by product excluding Lumen Starter": left out of the figure
                args.setdefault("exclude", {})[key] = value
                continue
            args.setdefault("_unapplied", []).append(
                f"excluding {value} (a question keeps the values it names and cannot leave one out: ask for the "
                f"others by name, or for the breakdown by {key.replace('_', ' ')})"
            )


_MEASURE = re.compile(
    r"(?P<phrase>(?:\b(?:probability|likelihood|chance)\s+(?:of\s+)?)?"
    r"(?:\b(?:more than|less than|over|under|above|below|greater than|higher than|lower than|at least|at most|"
    r"longer than|within|for|in)\s+)?"
    r"\b(?P<n>\d+(?:\.\d+)?|two|three|four|five|six|seven|eight|nine|ten)\s*"
    r"(?P<unit>days?|weeks?|months?|hours?|percent|%|points?))",
    re.IGNORECASE,
)
"""A number with a unit of time or share ("more than 30 days", "over 20%"): a condition the answer must apply."""


def _unapplied_measures(turn: Turn, args: dict[str, Any]) -> None:
    """Durations and shares the parse did not turn into a filter ("deals in Negotiation for more than 30 days")
    are named, never silently dropped; "in the last 30 days" is the period it set."""
    low = turn.low
    periods = [(p.start, p.end) for p in find_periods(low, turn.today, turn.fy)]
    for match in _MEASURE.finditer(low):
        if any(a <= match.start("n") < b for a, b in periods):
            continue  # "in the next 60 days": the period itself
        before = low[max(0, match.start() - 12) : match.start()]
        if args.get("date_from") and re.search(r"\b(last|past)\s+$", before + " "):
            continue  # "the last 30 days": the period
        bounded = args.get("value_min") is not None or args.get("value_max") is not None
        if bounded and match.group("unit").lower() in ("%", "percent"):
            continue  # "a win rate below 35%": the bound on each group's rate
        args.setdefault("_unapplied", []).append(f'"{match.group("phrase").strip()}"')


_HIGH = r"most|highest|best|biggest|largest|top|greatest|strongest|leading|leader|leaders"
_LOW = r"least|fewest|lowest|worst|smallest|weakest|bottom|poorest"


def _rank(turn: Turn, args: dict[str, Any]) -> None:
    """Superlatives and top-N ("which agent won the most", "top 3 accounts", "worst win rate by office") rank the
    groups by the metric and keep the first few: one for a singular "which X", the N asked for, else five."""
    low = turn.low
    # months and quarters are a time series, ranked only when asked for one ("which month was the best")
    asked = {g for g in ("month", "quarter") if re.search(rf"\b(which|what|best|worst|top|busiest)\s+{g}\b", low)}
    groups = [g for g in args.get("group_by") or [] if g not in ("month", "quarter") or g in asked]
    ranked_text = re.sub(r"\bat (?:least|most)\b", " ", low)  # "at least 25 wins" is a bound, not a ranking
    high, lowest = re.search(rf"\b({_HIGH})\b", ranked_text), re.search(rf"\b({_LOW})\b", ranked_text)
    if not groups or not (high or lowest):
        return
    if lowest and not (high and high.start() > lowest.start()):
        args["sort"] = "asc"
    elif asked:
        args["sort"] = "desc"  # a time series asked to be ranked ("which month had the most")
    if "limit" in args:
        return
    nouns = [w for w in re.findall(r"[a-z]+", low) if w in GROUPINGS and GROUPINGS[w] in groups]
    plural = any(w.endswith(("s", "people")) for w in nouns)
    singular = bool(nouns) and not plural
    if singular or (re.search(r"\bwho\b", low) and not plural):
        args["limit"] = 1
    else:
        args["limit"] = 5


_FILTER_KINDS = ("owner", "team", "region", "product", "account", "industry")
_EACH_KINDS = ("owner", "team", "region", "product", "account", "industry")
"""Filters a question may name several values of ("GTX Pro and MG Special"): asked once per value."""


def _known(vocabulary: Vocabulary, kind: str, value: str) -> bool:
    wanted = value.strip().lower()
    if kind == "owner":
        return wanted in ("me", "my", "i") or "@" in wanted or any(wanted in o.lower() for o in vocabulary.owners)
    if kind == "team":
        return any(wanted in t.lower() for t in (*vocabulary.teams, *vocabulary.owners))
    pool = {
        "region": vocabulary.regions,
        "product": vocabulary.products,
        "account": vocabulary.accounts,
        "industry": vocabulary.industries,
    }[kind]
    return not pool or any(wanted == p.lower() for p in pool)


def _unknown_filter(vocabulary: Vocabulary, kind: str, value: str) -> Clarify:
    known = choices(vocabulary, kind)
    what = {"region": "region or office", "owner": "rep", "industry": "industry or sector"}.get(kind, kind)
    listed = f" The {KIND_NOUNS[kind]} here are: {known}." if known else ""
    return Clarify(
        "filter",
        f'I don\'t know a {what} called "{value}" in this workspace.{listed} Which one did you mean '
        '(or say "all" to leave it out)?',
        filled={"_word": value},
    )


def _workspace_terms(turn: Turn, args: dict[str, Any], also_known: frozenset[str] = frozenset()) -> None:
    """Apply the workspace's own names (owners, teams, offices, products, accounts, industries, its stage names),
    refuse to guess at a filter it does not have, and keep the words nothing used for the answer to name."""
    vocabulary = turn.ctx.vocabulary
    if not vocabulary.owners:
        return  # no workspace vocabulary (a caller without a store): the patterns alone decide
    text = turn.request
    terms = find_terms(text, vocabulary)
    mine = args.get("owner") == "me"
    team_said = re.search(r"\bteams?\b", text, re.I)
    for term in terms:
        said = re.escape(term.said)
        if term.kind == "team" and term.value in vocabulary.regions and not team_said:
            args["region"] = term.value  # "wins from EMEA": the office; the team when the request says team
        elif (
            term.kind in ("owner", "team")
            and term.value in vocabulary.teams
            and (term.kind == "team" or re.search(rf"{said}(?:'s)?\s+team|\bteam\s+(?:of\s+)?{said}", text, re.I))
        ):
            args["team"] = term.value
            if args.get("owner") and args["owner"] != "me" and args["owner"].lower() in term.value.lower():
                args["owner"] = None
        elif term.kind == "owner":
            args["owner"] = term.value
            if args.get("team") and args["team"].lower() in term.value.lower():
                args["team"] = None
        elif term.kind == "stage":
            args["stage"] = term.said
            if args.get("status") is None and args.get("metric") != "stage_conversion":
                args["status"] = "open"
        elif term.kind not in args.get("group_by", []) or args.get(term.kind) is None:
            args[term.kind] = term.value
    named: dict[str, list[str]] = {}
    for term in terms:
        # a name that is an office and a team ("EMEA and Americas") is a team when the request says so
        kind = term.kind
        if kind == "team" and term.value in vocabulary.regions and not re.search(r"\bteams?\b", text, re.I):
            kind = "region"
        if kind in _EACH_KINDS:
            named.setdefault(kind, [])
            if term.value not in named[kind]:
                named[kind].append(term.value)
    against = re.search(r"\b(compared?|versus|vs\.?|against|than|relative to)\b", text, re.I)
    if mine and against and len(named.get("owner", [])) == 1 and "owner" not in (args.get("group_by") or []):
        named["owner"] = ["me", *named["owner"]]  # "how much have I won compared with Sam": me, then Sam
    several = {kind: values for kind, values in named.items() if len(values) > 1}
    if several and args.get("_each"):  # two stages and two products: answer the first kind, name the other
        for kind, values in several.items():
            left = ", ".join(values[1:])
            args.setdefault("_unapplied", []).append(f"the {kind} {left} (answered for {values[0]} only)")
            args[kind] = values[0]
    elif len(several) == 1:  # two products (offices, accounts...) named: one answer each, none dropped
        ((kind, values),) = several.items()
        args[kind] = values[0]
        args["_each"] = {kind: values}
        if kind == "region" and args.get("team") in values:
            args["team"] = None
        if kind == "team" and args.get("region") in values:  # "the EMEA and Americas teams": not office EMEA too
            args["region"] = None
        if kind in (args.get("group_by") or []):  # "win rate by product for A and B only": the named ones, each
            args["group_by"] = [g for g in args["group_by"] if g != kind]
    same = args.get("team") and args.get("region") and str(args["team"]).lower() == str(args["region"]).lower()
    if same and not args.get("_each"):  # "bookings from EMEA": one name, the office or the team, never both
        args["region" if re.search(r"\bteams?\b", text, re.I) else "team"] = None
    other_kinds = {t.said.lower() for t in terms if t.kind not in ("owner", "team")}
    for kind in ("owner", "team"):  # "what did Central win": a pattern took the office for a person
        value = args.get(kind)
        if isinstance(value, str) and value.lower() in other_kinds:
            args[kind] = None
    for kind in _FILTER_KINDS:
        value = args.get(kind)
        if isinstance(value, str) and value and not _known(vocabulary, kind, value):
            raise _unknown_filter(vocabulary, kind, value)
    owner = args.get("owner")
    if isinstance(owner, str) and owner.lower() not in ("me", "my", "i") and "@" not in owner:
        same = [o for o in vocabulary.owners if o.lower() != owner.lower() and owner.lower() in o.lower().split()]
        if len(same) > 1 and owner not in vocabulary.owners:
            raise Clarify("filter", f"Which {owner} do you mean: {', '.join(same)}?", filled={"_word": owner})
    consumed = [(t.start, t.end) for t in terms] + metric_spans(text)
    used = {w for key in (*_FILTER_KINDS, "stage", "period") for w in str(args.get(key) or "").split()}
    used |= {w for source in _lead_sources(turn) for w in source.replace("_", " ").split()}
    unused: list[str] = []
    for word, position in leftovers(text, consumed, used | also_known):
        question = question_for(text, word, position, vocabulary)
        if question is not None:
            named_kind = _next_noun_kind(text, position, word)
            raise Clarify("filter", question, filled={"_word": word, **({} if named_kind else {"_unknown_name": True})})
        unused.append(word)
    if unused:
        args["_unused"] = unused


# --- the scope of a read that is not a pipeline question ----------------------------------------------------

SCOPE_AUDITED = frozenset({"forecast", "bottleneck_analysis", "find_records", "list_tasks"})
"""Reads whose tool takes only some of the filters a request can carry: what it cannot take is named."""

_TOOL_WORDS = {
    "forecast": "forecast forecasts forecasting forecasted projected projection projections project predict predicted "
    "prediction predictions outlook expect expected expecting land landing likely commit range interval chance "
    "probability probabilities odds estimate estimated call upcoming ahead coming",
    "bottleneck_analysis": "bottleneck bottlenecks slow slowest slower slowing slows stuck stall stalls stalled "
    "stalling delay delays delayed hold holds holding held process step steps drag drags dragging long longest "
    "wait waiting waits where why analysis analyse analyze problem problems friction hang hanging spend spent",
    "find_records": "show find list display pull fetch get look lookup see any which records record names",
    "list_tasks": "task tasks to-do to-dos todo todos reminder reminders action items item due overdue follow-ups "
    "follow-up late outstanding pending",
}
WHY_NOT = {
    "forecast": "the forecast covers the open pipeline of everyone you can see, one owner or one team, and splits "
    "by owner or team only",
    "bottleneck_analysis": "the bottleneck analysis covers every deal you can see created since a date, "
    "compared by one segment (size, industry, tenure or owner)",
    "find_records": "a listing filters deals by owner, status, stage, amount, industry, product, region and the "
    "period they were created, closed or expected to close in, leads by owner, status and source, accounts by owner "
    "and industry, and lists records without totals or groups",
    "list_tasks": "the task list filters by owner, status, due date and record only",
}


def _scope_phrase(key: str, value: Any) -> str:
    if key == "group_by":
        return "by " + " and ".join(str(v).replace("_", " ") for v in value)
    if key == "amount_min":
        return f"amounts of at least {fmt_number(float(value))}"
    if key == "amount_max":
        return f"amounts of at most {fmt_number(float(value))}"
    if key in ("date_from", "date_to"):
        return f"{'from' if key == 'date_from' else 'before'} {value}"
    if key == "period":
        return str(value)
    if key == "source":
        return f"lead source {value}"
    return f"{key} {value}"


def _lead_source(turn: Turn) -> str | None:
    """The workspace's own lead source the request names ("from the webinar", "paid ads leads"), as stored."""
    sources = _lead_sources(turn)
    return sources[0] if sources else None


def _lead_sources(turn: Turn) -> list[str]:
    """Every lead source of the workspace the request names, in the order said ("referrals vs webinars")."""
    low = turn.low.replace("_", " ")
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for source in sorted(turn.ctx.vocabulary.lead_sources, key=len, reverse=True):
        said = " ".join(source.replace("_", " ").split()).lower()
        match = re.search(rf"\b{re.escape(said)}s?\b", low) if said else None
        if match and not any(a <= match.start() < b for a, b in taken):
            found.append((match.start(), source))
            taken.append(match.span())
    return [source for _, source in sorted(found)]


def _scope_audit(intent: str, turn: Turn, args: dict[str, Any]) -> list[str]:
    """Read the request as a pipeline question would (every filter, period, amount, grouping and left-over word),
    give ``intent``'s tool what it takes that its own parse missed, and return what the tool cannot apply, so the
    answer names it instead of answering a smaller question. An unknown name is asked about (``Clarify``)."""
    known = frozenset(_TOOL_WORDS.get(intent, "").split())
    if intent == "find_records" and args.get("entity") == "lead":  # the lead sources are the listing's words too
        known |= {w for s in turn.ctx.vocabulary.lead_sources for w in s.replace("_", " ").lower().split()}
        known |= {"source", "sources", "came", "come", "from", "via", "through", "channel"}
    # a record's name (quoted, or the one the listing matches on) is not the request's words
    names = [n.strip() for n in (args.get("query"), args.get("deal_name"), args.get("lead_name")) if isinstance(n, str)]
    request = nm.mask_quoted_names(turn.request)
    scope: dict[str, Any] = {}
    masked: set[str] = set()
    hide: list[str] = []
    while True:
        for name in hide:
            request = re.sub(rf"\b{re.escape(name)}\b", "it", request, flags=re.I)
        probe = Turn(
            turn.raw,
            request,
            turn.request_raw,
            turn.data,
            turn.ctx,
            turn.today,
            turn.fy,
            {**turn.filled, "_metric_ok": True},
        )
        try:
            scope = build_pipeline_question(probe, known)
            break
        except Clarify as clarify:
            if clarify.filled.get("_metric_ok") and "_word" in clarify.filled and len(clarify.filled) == 2:
                return []  # an unsupported figure or record kind: not this tool's concern
            word = str(clarify.filled.get("_word") or "").lower()
            in_name = any(word in n.lower() for n in names)
            # a listing shows what it matched, so a name it does not know is part of the record's name
            unknown_in_listing = intent == "find_records" and bool(clarify.filled.get("_unknown_name"))
            if not word or word in masked or not (in_name or unknown_in_listing):
                raise
            masked.add(word)
            hide = [n for n in names if word in n.lower()] if in_name else [word]
    read = {"oldest", "stalest"} if args.get("longest_in_stage") else set()  # the listing's own order word
    dropped: list[str] = [f'"{word}"' for word in scope.get("_unused") or [] if word.lower() not in read]
    dropped += scope.get("_unapplied") or []
    each = scope.get("_each") or {}
    groups = [g for g in scope.get("group_by") or [] if g not in ("loss_reason",)]
    if not re.search(
        r"\b(?:(?<!owned )(?<!assigned )by|per|each|every|breakdown|broken down|split|month over month|rep-by-rep)\b"
        r"|-wise\b",
        turn.low,
    ):
        groups = []  # "what stage is it in" names a field to show, not a grouping asked for
    if intent == "forecast":
        for key in ("owner", "team"):
            if scope.get(key) and not args.get(key) and scope[key] not in ("me", "my", "i"):
                args[key] = scope[key]
        wrong_groups = [g for g in groups if g not in ("owner", "team")]
        if groups and not args.get("group_by") and not wrong_groups:
            args["group_by"] = groups[0]
        if wrong_groups:
            dropped.append(_scope_phrase("group_by", wrong_groups))
        dropped += [
            _scope_phrase(k, scope[k])
            for k in ("stage", "industry", "product", "region", "account", "source")
            if scope.get(k)
        ]
        dropped += [_scope_phrase(k, scope[k]) for k in ("amount_min", "amount_max") if scope.get(k) is not None]
    elif intent == "bottleneck_analysis":
        segment = args.get("segment")
        if scope.get("owner") and scope["owner"] not in ("me", "my", "i") and segment != "owner":
            dropped.append(_scope_phrase("owner", scope["owner"]))
        for key in ("team", "product", "region", "account", "source"):
            if scope.get(key):
                dropped.append(_scope_phrase(key, scope[key]))
        if scope.get("industry") and segment != "industry":
            dropped.append(_scope_phrase("industry", scope["industry"]))
        if segment != "size":
            dropped += [_scope_phrase(k, scope[k]) for k in ("amount_min", "amount_max") if scope.get(k) is not None]
        covered = {"size": "amount", "industry": "industry", "owner": "owner", "tenure": "owner"}.get(segment or "")
        wrong_groups = [g for g in groups if g not in (covered, "stage") and not (segment is None and g == "owner")]
        if wrong_groups:
            dropped.append(_scope_phrase("group_by", wrong_groups))
        if scope.get("date_to"):
            dropped.append(_scope_phrase("date_to", scope["date_to"]))
    elif intent == "find_records":
        entity = args.get("entity")
        said = " ".join(
            str(scope.get(k) or "") for k in ("owner", "stage", "industry", "product", "region", "account", "source")
        )
        query = str(args.get("query") or "")
        if query and all(
            w.lower().removesuffix("'s") in said.lower()
            or w.lower() in GRAMMAR
            or w.lower() in known
            or w.lower() in _RECORD_NOUNS
            for w in query.split()
        ):
            args["query"] = query = ""  # "Priya's open", "deals in the retail industry": the filters, not a name
        # a record named by its name ("the Acme - Lumen Enterprise deal") is not filtered by the words of the name
        takes = ("industry", "product", "region") if entity == "deal" and not query else ()
        for key in takes:
            if scope.get(key) and not args.get(key):
                args[key] = scope[key]
        if entity == "deal":
            for key in ("amount_min", "amount_max", "amount_currency"):
                if scope.get(key) is not None and args.get(key) is None:
                    args[key] = scope[key]
            if scope.get("account") and not args.get("query"):
                args["query"] = scope["account"]
            if not args.get("owner") and scope.get("owner"):
                args["owner"] = scope["owner"]
            if not args.get("stage") and scope.get("stage"):
                args["stage"] = scope["stage"]
            if scope.get("source"):
                dropped.append(_scope_phrase("source", scope["source"]))
        elif entity in ("lead", "account", "contact", "task"):
            if not args.get("owner") and scope.get("owner"):
                args["owner"] = scope["owner"]
            source = _lead_source(turn) if entity == "lead" else None
            if source and not args.get("source"):
                args["source"] = source  # "which leads came from the webinar": the workspace's own lead sources
            if (
                entity == "lead"
                and scope.get("period")
                and not scope.get("date_from")
                and scope.get("date_field") in (None, "created")
            ):
                args["created"] = scope["period"]  # "new leads this month": the leads created in it
            if entity == "account" and scope.get("industry") and not args.get("industry"):
                args["industry"] = scope["industry"]  # an account's own industry
            dropped += [
                _scope_phrase(k, scope[k])
                for k in ("industry", "product", "region")
                if scope.get(k) and not (k == "industry" and entity == "account")
            ]
            dropped += [_scope_phrase(k, scope[k]) for k in ("amount_min", "amount_max") if scope.get(k) is not None]
        if not args.get("query"):
            args["query"] = None
        if scope.get("team"):
            dropped.append(_scope_phrase("team", scope["team"]))
        if groups:
            dropped.append(_scope_phrase("group_by", groups))
        listed = {str(args[k]) for k in _LISTING_DATES if args.get(k)}
        dropped = [d for d in dropped if not (d.startswith("the period ") and d.removeprefix("the period ") in listed)]
        if (
            entity == "deal"
            and not any(args.get(k) for k in _LISTING_DATES)
            and scope.get("period")
            and not scope.get("date_from")
        ):
            # "won in 2017", "created this month": the period on the date the request means
            field_name = {"closed": "closed", "created": "created"}.get(str(scope.get("date_field") or ""))
            if field_name:
                args[field_name] = scope["period"]
        if not any(args.get(k) for k in ("closing", "closed", "created")):
            dropped += [_scope_phrase(k, scope[k]) for k in ("period", "date_from", "date_to") if scope.get(k)]
        if scope.get("open_on"):  # "open deals in Proposal at the end of last month": the listing is of today
            dropped.append(f"the deals as they stood on {scope['open_on']} (a listing shows them as they are now)")
    elif intent == "list_tasks":
        for key in ("team", "stage", "industry", "product", "region", "account", "source"):
            if scope.get(key):
                dropped.append(_scope_phrase(key, scope[key]))
        dropped += [_scope_phrase(k, scope[k]) for k in ("amount_min", "amount_max") if scope.get(k) is not None]
        if groups:
            dropped.append(_scope_phrase("group_by", groups))
    if each:
        ((kind, values),) = each.items()
        takes_each = {"forecast": ("owner",), "find_records": ("owner", "region", "product", "industry")}
        if kind in takes_each.get(intent, ()) and (intent != "find_records" or args.get("entity") == "deal"):
            args[kind] = values[0]  # "forecast for Sam and Priya": one forecast each
            args["_each"] = each
        else:
            dropped.append(f"one answer per {kind} ({', '.join(map(str, values))})")
    return list(dict.fromkeys(dropped))


# --- bottlenecks, forecast, search -------------------------------------------------------------------------


def build_bottleneck(turn: Turn) -> dict[str, Any]:
    low = turn.low
    segment = None
    if re.search(
        r"\b(deal )?sizes?\b|\b(big|large|small|smaller|larger|bigger) (deals|ones)\b|\benterprise\b|\bamounts?\b", low
    ):
        segment = "size"
    elif re.search(r"\b(industry|industries|sector|sectors|vertical|verticals)\b", low):
        segment = "industry"
    elif re.search(
        r"\b(tenure|new reps|new hires|ramp|ramping|ramped|experience|veteran|seniority|junior|senior)\b", low
    ):
        segment = "tenure"
    elif re.search(r"\b(rep|reps|owner|owners|person|people|salesperson|seller|who)\b", low):
        segment = "owner"
    since = None
    period = find_period(low, turn.today, turn.fy)
    if period:
        since = parse_period(period.text, turn.today, turn.fy).start.isoformat()
    match = re.search(r"\bsince\s+(?P<s>.+?)(?:$|[?,.])", low)
    if match and since is None:
        day = find_day(match.group("s"), turn.today)
        if day:
            start = day.day if day.day <= turn.today else day.day.replace(year=day.day.year - 1)
            since = start.isoformat()
    return {"segment": segment, "since": since}


def build_forecast(turn: Turn) -> dict[str, Any]:
    low = turn.low
    period = find_period(low, turn.today, turn.fy)
    label = period.text if period else "this quarter"
    # a forecast looks ahead: a bare "q1" or "december" that has already passed means the next one
    if period and re.fullmatch(r"\d{4}-(Q[1-4]|\d{2})", label):
        parsed = parse_period(label, turn.today, turn.fy)
        bare = not re.search(r"\d{4}", low[period.start : period.end])
        if bare and parsed.end <= turn.today:
            year, rest = label.split("-", 1)
            label = f"{int(year) + 1}-{rest}"
    args: dict[str, Any] = {"period": label}
    groups = find_groupings(turn.request)
    if "team" in groups:
        args["group_by"] = "team"
    elif "owner" in groups:
        args["group_by"] = "owner"
    owner = _owner(turn)
    # "my forecast" is the asker's own scope, which permissions already apply (a rep's deals, a manager's team)
    args["owner"] = None if owner == "me" else owner
    team = re.search(r"\b(?P<t>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)'s\s+team\b", turn.request)
    if team:
        args["team"] = team.group("t")
        if args["owner"] == args["team"]:
            args["owner"] = None
    return args


_SEARCH_TOPIC = re.compile(
    r"\b(?:about|regarding|re|mention(?:s|ed|ing)?|talk(?:ed|s)? about|brought up|bring up|raised|raise|"
    r"complain(?:ed|ing|s)? about|said about|say about|saying about|ask(?:ed|s|ing)? (?:about|for)|discuss(?:ed)?|"
    r"waiting (?:on|for)|blocked (?:on|by)|worried about|concerned about|interested in|requested|pushing back on|for)\s+"
    r"(?:a |an |the |any |our )?(?P<q>.+?)\s*(?:$|\?|\b(?:in|during|over|since|from|last|this|lately|recently|in the last)\b)",
    re.IGNORECASE,
)
_SEARCH_ACCOUNT = _p(
    rf"\bwhat (?:did|has|have|was|were)\s+(?:the\s+)?(?:folks at\s+|people at\s+|team at\s+)?{_NAME}\s+(?:say|said|saying|mention|mentioned|tell|told|write|wrote|ask|asked|think|feel|complain)",
    rf"\b(?:with|from|at)\s+(?:the\s+)?{_NAME}\s+(?:about|regarding|mention|said|say)\b",
    rf"\b(?:has|did|does|have)\s+(?:the\s+)?{_NAME}\s+(?:ever\s+)?(?:mention|mentioned|said|say|bring up|brought up|raise|raised|complain|ask)",
    rf"\b{_NAME}'s\s+(?:notes|emails|calls|feedback|concerns|objections|comments)\b",
    rf"\b(?:raised|mentioned|said|brought up|voiced)\s+by\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b(?:objections?|concerns?|feedback|pushback|complaints?|questions?)\s+(?:from|by|at)\s+(?:the\s+)?{_NAME}{_END}",
    rf"\b{_NAME}\s+(?:said|mentioned|wrote|told us|asked)\s+(?:about|regarding)\b",
)
_CONCERN_WORDS = re.compile(
    r"\b(?:main |biggest |key )?(concerns?|objections?|feedback|pushback|complaints?|pain points?|risks?)\b", re.I
)
_GENERIC_SUBJECTS = frozenset(
    {"they", "them", "the customer", "customers", "the client", "clients", "anyone", "anybody", "people", "prospects",
     "any customer", "any prospect", "deals", "any deals", "which deals", "accounts", "we", "our customers"}
)  # fmt: skip


def build_search_interactions(turn: Turn) -> dict[str, Any]:
    low = turn.low
    request = turn.request
    quoted = nm.quoted_names(turn.request_raw)
    account, _ = nm.first_pattern_name(request, _SEARCH_ACCOUNT)
    if account and account.lower() in _GENERIC_SUBJECTS:
        account = None
    query = turn.filled.get("query") or (quoted[0] if quoted else None)
    if not query:
        came_up = re.search(r"\b(?:where|when|that)\s+(?P<q>.+?)\s+(?:came|come|comes) up\b", request, re.I)
        match = came_up or _SEARCH_TOPIC.search(request)
        if match:
            query = match.group("q").strip(" ?.!")
            if re.match(r"^(by|from)\b", query, re.I) or (account and query.lower() == account.lower()):
                query = None
    if not query:
        concern = _CONCERN_WORDS.search(request)
        if concern:
            query = concern.group(0).strip()
    if not query:
        leftovers = re.sub(
            r"\b(search|find|look through|dig up|go through|scan|show me|show|any|all|the|our|my|notes?|emails?|calls?|"
            r"interactions?|conversations?|messages?|meetings?|for|in|with|what|did|say|said|which|deals|accounts|"
            r"customers|please|pls)\b",
            " ",
            low,
        )
        query = " ".join(leftovers.split()).strip(" ?.!") or None
    if query and account and query.lower() == account.lower():
        query = None
    if not query:
        raise Clarify("query", "What should I search the notes and emails for?")
    query = (
        re.sub(r"\b(for|from|with|at)\s+" + re.escape(account) + r"\b.*$", "", query, flags=re.I) if account else query
    )
    args: dict[str, Any] = {"query": query.strip() or query, "account": account}
    deal = re.search(r"\b(?:on|in|for)\s+(?:the\s+)?(?P<n>[\w&'. -]+?)\s+deal\b", request)
    if deal and nm.clean_name(deal.group("n")):
        args["deal_name"] = nm.clean_name(deal.group("n"))
        if args["account"] == args["deal_name"]:
            args["account"] = None
    if re.search(
        r"\bmy (notes|calls|call notes|meeting notes|emails|meetings|deals|accounts|customers)\b|\bi (logged|wrote|had)\b",
        low,
    ):
        args["owner"] = "me"
    if re.search(r"\b(emails?|emailed|inbox)\b", low):
        args["channel"] = "email"
    elif re.search(r"\b(calls?|call notes|phone)\b", low):
        args["channel"] = "call"
    elif re.search(r"\b(meetings?|meeting notes|demos?)\b", low):
        args["channel"] = "meeting"
    elif re.search(r"\bslack\b", low):
        args["channel"] = "slack"
    period = find_period(low, turn.today, turn.fy)
    if period:
        parsed = parse_period(period.text, turn.today, turn.fy)
        args["since"], args["until"] = parsed.start.isoformat(), parsed.end.isoformat()
    recent = re.search(r"\b(?:last|past) (\d+|two|three|four|six) (day|week|month)s?\b", low)
    if recent:
        count = int(recent.group(1)) if recent.group(1).isdigit() else _NUMBERS[recent.group(1)]
        span = {"day": 1, "week": 7, "month": 30}[recent.group(2)] * count
        args["since"] = (turn.today - timedelta(days=span)).isoformat()
    elif re.search(r"\b(lately|recently)\b", low):
        args["since"] = (turn.today - timedelta(days=30)).isoformat()
    return args


# --- everyday rep work: fix a mistake, decide what to do next --------------------------------------------------

_TOP_N = re.compile(r"\b(?:top|first|best)\s+(\d{1,2})\b")


def _top_n(turn: Turn) -> dict[str, Any]:
    match = _TOP_N.search(turn.low)
    return {"limit": int(match.group(1))} if match else {}


def build_who_to_call(turn: Turn) -> dict[str, Any]:
    return _top_n(turn)


def build_hot_leads(turn: Turn) -> dict[str, Any]:
    return _top_n(turn)


_IDLE_SPAN = re.compile(
    r"\b(?:in|for|since|over)\s+(?:the\s+(?:last|past)\s+)?(?P<n>" + "|".join(NUMBER_WORDS) + r"|\d{1,4})?"
    r"\s*(?P<unit>days?|weeks?|fortnight|months?|quarter|year)\b"
)
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "quarter": 91, "year": 365}


def _idle_days(low: str) -> int | None:
    """ "not touched in a month" → 30, "no activity for two weeks" → 14, "in 45 days" → 45; None without a span."""
    match = _IDLE_SPAN.search(low)
    if match is None:
        return None
    said = match.group("n") or "a"
    count = int(said) if said.isdigit() else NUMBER_WORDS[said]
    return max(1, min(3650, count * _UNIT_DAYS[match.group("unit").rstrip("s")]))


def build_stalled_deals(turn: Turn) -> dict[str, Any]:
    owner = _owner(turn)
    return {"owner": "me" if owner == "me" else owner, "idle_days": _idle_days(turn.low), **_top_n(turn)}


_ACCOUNT_NAME = _p(
    rf"\b(?:at|for|in|from|with)\s+(?:the\s+)?{_NAME}{_END}",
)


def build_account_contacts(turn: Turn) -> dict[str, Any]:
    terms = [t for t in find_terms(turn.request, turn.ctx.vocabulary) if t.kind == "account"]
    if terms:
        return {"account": terms[0].value}
    quoted = nm.quoted_names(turn.request_raw)
    if quoted:
        return {"account": quoted[0]}
    if turn.filled.get("account"):
        return {"account": str(turn.filled["account"])}
    name, _ = nm.first_pattern_name(turn.request, _ACCOUNT_NAME)
    capitalised = nm.capitalised_names(turn.request)
    account = name or (capitalised[0] if capitalised else None)
    if not account:
        raise Clarify("account", "Which account's contacts do you want?")
    return {"account": account}


_EXPERIMENT_SUBJECT = re.compile(
    r"\b(?:is|are|was|has|have|did|does)\s+(?P<x>(?:the|our|my|that|this)\s+[\w '&/-]{1,60}?)\s+"
    r"(?:been\s+)?(?:working|worked|work|helping|helped|help|paying|paid|making|made|doing|moving|effective|improv\w*)\b"
    r"|\b(?:experiments?|tests?)\s+(?:on|for|about|of|called|named)\s+(?P<y>[^?.!]+)",
    re.I,
)


def build_experiment_status(turn: Turn) -> dict[str, Any]:
    """The experiment named ("is the new proposal rule working?" → "the new proposal rule"; the tool matches it to
    an experiment's name, rule or change), or none: every running experiment."""
    quoted = nm.quoted_names(turn.request_raw)
    if quoted:
        return {"experiment": quoted[0]}
    match = _EXPERIMENT_SUBJECT.search(turn.request)
    subject = (match.group("x") or match.group("y")).strip() if match else None
    if subject and re.fullmatch(r"(?:the|our|my|this|that)\s+(?:experiments?|tests?|changes?)", subject, re.I):
        subject = None
    return {"experiment": subject}


_REASON = re.compile(r"\b(?:because|since|as|reason:?|due to)\s+(?P<r>.+)$|(?P<r2>(?!))|,\s*(?P<r3>.+)$", re.I)


_REOPEN_NAME = _p(
    rf"\b(?:reopen|re-open|revive|un-?lose)\s+(?:the\s+)?(?:deal\s+)?{_NAME}(?:\s+(?:deal|opp))?(?=\s*(?:,|\s[-–—:]|\bbecause\b|\bsince\b|\bas\b|\bto\b|$))",
    rf"\b(?:marked|closed|set)\s+(?:the\s+)?{_NAME}\s+(?:as\s+)?(?:lost|won)\b",
)


def build_reopen_deal(turn: Turn) -> dict[str, Any]:
    record = _record(turn, "deal", _REOPEN_NAME, "Which deal should I reopen?")
    args = _ref_args(record, allow=("deal",))
    reason = turn.filled.get("reason")
    if not reason:
        match = _REASON.search(re.sub(r'"[^"]*"', " ", turn.request_raw))
        reason = (match.group("r") or match.group("r2") or match.group("r3")).strip(" .!") if match else None
        if reason and (record.name and reason.lower() == record.name.lower()):
            reason = None
    if not reason and re.search(r"\bby mistake|\bby accident|\bwrongly|\bin error\b", turn.low):
        reason = "closed by mistake"
    if not reason:
        raise Clarify(
            "reason", "Why should it be reopened? (The reason goes in the audit log.)", filled=_remember(record)
        )
    stages = [m.stage for m in find_stages(turn.low, turn.ctx.vocabulary.stages) if m.stage not in ("Won", "Lost")]
    return {**args, "reason": str(reason)[:500], "to_stage": stages[0] if stages else None}


def build_undo(turn: Turn) -> dict[str, Any]:
    return {}


_EDIT_FIELDS: tuple[tuple[str, str], ...] = (
    (r"\b(amount|value|deal size|size|worth)\b", "amount"),
    (r"\b(close date|closing date|expected close|close-date|expected to close|closes)\b", "expected_close_date"),
    (r"\b(owner|reassign|hand (it )?over|hand off|transfer|give)\b", "owner"),
    (r"\b(e-?mail|email address)\b", "email"),
    (r"\b(phone|number|mobile|cell)\b", "phone"),
    (r"\b(title|job title|role|position)\b", "title"),
    (r"\b(product)\b", "product"),
    (r"\b(rename|name)\b", "name"),
)


def build_edit_record(turn: Turn) -> dict[str, Any]:
    low = turn.low
    kind = "contact" if re.search(r"\bcontact\b", low) else "lead" if re.search(r"\blead\b", low) else None
    fields = [name for pattern, name in _EDIT_FIELDS if re.search(pattern, low)]
    if not fields:
        raise Clarify(
            "body", "What should I change: the amount, the close date, the owner, an email, a phone, a title?"
        )
    field_name = fields[0]
    if kind is None:
        kind = "lead" if field_name in ("email", "phone", "title") else "deal"
    value_text = re.split(r"\b(?:to|is now|is|=|should be|as)\s+", turn.request_raw, maxsplit=1)
    value = value_text[1].strip(" .!?") if len(value_text) > 1 else None
    target = re.sub(
        r"^.*?\b(?:of|on|for)\s+", "", re.split(r"\s+(?:to|is now|is|=|should be)\s+", turn.request_raw)[0], count=1
    )
    args: dict[str, Any] = {"record_type": kind}
    if field_name == "amount":
        amount = first_amount(value or turn.request)
        if amount is None and value and re.fullmatch(r"\d[\d,]*(?:\.\d+)?", value.strip()):
            amount = float(value.strip().replace(",", ""))  # "set the amount of deal #363 to 4200"
        if amount is None:
            raise Clarify("amount", "What's the new amount?")
        args["amount"] = amount
    elif field_name == "expected_close_date":
        day = find_day(value or turn.request, turn.today)
        if day is None:
            raise Clarify("due_date", "What's the new close date?")
        args["expected_close_date"] = day.day.isoformat()
    elif field_name == "owner":
        email = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", turn.request_raw)
        owners = [t.value for t in find_terms(turn.request, turn.ctx.vocabulary) if t.kind == "owner"]
        new_owner = email.group(0) if email else (owners[-1] if owners else (value or None))
        if not new_owner:
            raise Clarify("name", "Who should own it?")
        args["owner"] = new_owner
        target = re.split(
            r"\s+to\s+",
            re.sub(r"^\s*(?:reassign|give|transfer|hand (?:it )?over|hand off)\s+", "", turn.request_raw, flags=re.I),
        )[0]
    elif field_name == "email":
        email = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", value or "")
        if not email:
            raise Clarify("body", "What's the new email address?")
        args["email"] = email.group(0)
    elif value:
        args[field_name] = value[:300]
    else:
        raise Clarify("body", f"What should the {field_name.replace('_', ' ')} be?")
    quoted = nm.quoted_names(turn.request_raw)
    name = (
        quoted[0]
        if quoted
        else nm.clean_name(
            re.sub(
                r"^\s*(?:please\s+)?(?:change|update|set|edit|correct|fix|rename)\s+(?:the\s+)?", "", target, flags=re.I
            ),
            whole=True,
        )
    )
    name = (
        re.sub(
            r"(?:'s)?\s+(?:amount|value|close date|closing date|expected close|email|phone|title|product|owner|name)$",
            "",
            name or "",
            flags=re.I,
        ).strip()
        or None
    )
    if name and re.fullmatch(r"(it|that|this|her|him|them|the deal|the lead|this deal|that deal)", name, re.I):
        name = None
    by_id = re.fullmatch(r"(?:(?:deal|lead|contact)\s*)?#?\s*(\d+)", name or "", re.I)
    if by_id:  # "set the amount of deal #363 to 4200"
        args["record_id"] = int(by_id.group(1))
    elif name:
        known = turn.ctx.known_names().get(name.lower())
        args |= {"record_id": known.id} if known and known.id else {"record_name": name}
    else:
        last = turn.ctx.last(kind) or turn.ctx.last()
        if last is None:
            raise Clarify("record", f"Which {kind} should I change?")
        args["record_type"] = last.kind if last.kind in ("deal", "lead") else kind
        args |= {"record_id": last.id} if last.id else {"record_name": last.name}
    return args


BUILDERS: dict[str, Callable[[Turn], dict[str, Any]]] = {
    "edit_record": build_edit_record,
    "reopen_deal": build_reopen_deal,
    "undo_last_change": build_undo,
    "stalled_deals": build_stalled_deals,
    "who_to_call": build_who_to_call,
    "hot_leads": build_hot_leads,
    "account_contacts": build_account_contacts,
    "experiment_status": build_experiment_status,
    "create_lead": build_create_lead,
    "find_records": build_find_records,
    "score_lead": build_score_lead,
    "qualify_lead": build_qualify_lead,
    "move_deal": build_move_deal,
    "log_interaction": build_log_interaction,
    "create_task": build_create_task,
    "list_tasks": build_list_tasks,
    "draft_follow_up": build_draft_follow_up,
    "send_follow_up": build_send_follow_up,
    "edit_draft": build_edit_draft,
    "pipeline_question": build_pipeline_question,
    "bottleneck_analysis": build_bottleneck,
    "forecast": build_forecast,
    "search_interactions": build_search_interactions,
}
assert set(BUILDERS) == set(TOOL_ARGS), "every tool needs a builder"
_ = (ACTION_INTENTS, resolve_day)  # re-exported helpers used by tests
