"""Argument schemas of the agent's tools: the contract between the chat models and the tools.

Every chat model (the offline one and any OpenAI-compatible one) produces tool calls with exactly these
arguments; each tool validates them with its model before doing anything. Dates are ISO strings (YYYY-MM-DD)
or periods ("2026-Q3", "last quarter", see ``sales.periods``); "me" as an owner means the person asking.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sales.query_terms import DateField, DealStatus, GroupBy, Metric

Entity = Literal["lead", "deal", "account", "contact", "task"]
ChannelName = Literal["email", "call", "meeting", "note", "slack"]
FollowUpKind = Literal["check_in", "recap", "proposal_nudge", "meeting_request"]


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LeadRef(ToolArgs):
    lead_id: int | None = Field(default=None, description="The lead's id, when known.")
    lead_name: str | None = Field(
        default=None, description="The lead's person or company name, when the id is not known."
    )

    @model_validator(mode="after")
    def _one_reference(self) -> LeadRef:
        if self.lead_id is None and not self.lead_name:
            raise ValueError("name the lead: give lead_id or lead_name")
        return self


class DealRef(ToolArgs):
    deal_id: int | None = Field(default=None, description="The deal's id, when known.")
    deal_name: str | None = Field(
        default=None, description="The deal's or its account's name, when the id is not known."
    )

    @model_validator(mode="after")
    def _one_reference(self) -> DealRef:
        if self.deal_id is None and not self.deal_name:
            raise ValueError("name the deal: give deal_id or deal_name")
        return self


class CreateLeadArgs(ToolArgs):
    name: str = Field(description="The person's full name.")
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    title: str | None = Field(default=None, description="Job title.")
    source: str | None = Field(
        default=None, description="Where the lead came from: web, referral, event, outbound, partner..."
    )
    industry: str | None = None
    region: str | None = None


class FindRecordsArgs(ToolArgs):
    entity: Entity
    query: str | None = Field(
        default=None, description="Text contained in the record's name (or company/account name)."
    )
    owner: str | None = Field(default=None, description="'me', or the owner's email or name.")
    stage: str | None = Field(default=None, description="Deals only: stage name.")
    status: str | None = Field(
        default=None, description="Leads: new/working/qualified/disqualified; deals: open/won/lost; tasks: open/done."
    )
    closing: str | None = Field(
        default=None, description="Deals only: expected to close in this period ('this month', '2026-Q4')."
    )
    limit: int = Field(default=10, ge=1, le=100, description="At most this many, newest first (1: the latest).")
    largest_first: bool = Field(
        default=False, description="Deals only: the biggest amounts first ('the largest open deals')."
    )
    longest_in_stage: bool = Field(
        default=False,
        description="Deals only: the longest in their current stage first ('sitting in Proposal the longest'); "
        "each shows its days in that stage.",
    )
    amount_min: float | None = Field(default=None, description="Deals only: amount at least this ('over 50k').")
    amount_max: float | None = Field(default=None, description="Deals only: amount at most this ('under 10k').")
    amount_currency: str | None = Field(
        default=None, description="Deals only: the currency of amount_min/amount_max (ISO code); only deals in it."
    )
    industry: str | None = Field(default=None, description="Deals: their account's industry; accounts: their own.")
    product: str | None = Field(default=None, description="Deals only: the product.")
    region: str | None = Field(default=None, description="Deals only: region or office, as the workspace names it.")
    closed: str | None = Field(
        default=None, description="Deals only: won or lost in this period ('2017', 'last quarter')."
    )
    created: str | None = Field(default=None, description="Deals and leads: created in this period ('this month').")
    source: str | None = Field(
        default=None, description="Leads only: where the lead came from, as the workspace records it ('webinar')."
    )


class ScoreLeadArgs(LeadRef):
    pass


class QualifyLeadArgs(LeadRef):
    amount: float | None = Field(default=None, ge=0, description="Expected deal amount, if known.")
    note: str | None = Field(default=None, description="Why the lead is qualified.")


class MoveDealArgs(DealRef):
    to_stage: str = Field(description="Target stage, e.g. Qualified, Discovery, Proposal, Negotiation, Won, Lost.")
    amount: float | None = Field(
        default=None, ge=0, description="Required when moving to Won if the deal has no amount."
    )
    loss_reason: str | None = Field(default=None, description="Required when moving to Lost.")


class LogInteractionArgs(ToolArgs):
    deal_id: int | None = None
    deal_name: str | None = None
    lead_id: int | None = None
    lead_name: str | None = None
    channel: ChannelName = "note"
    direction: Literal["inbound", "outbound", "internal"] | None = None
    subject: str | None = None
    body: str = Field(description="What happened, in the user's words.")
    occurred_at: str | None = Field(default=None, description="ISO date or datetime; default now.")

    @model_validator(mode="after")
    def _one_record(self) -> LogInteractionArgs:
        if not any((self.deal_id, self.deal_name, self.lead_id, self.lead_name)):
            raise ValueError("say which deal or lead this interaction belongs to")
        return self


class CreateTaskArgs(ToolArgs):
    title: str
    due_date: str | None = Field(default=None, description="ISO date (YYYY-MM-DD).")
    deal_id: int | None = None
    deal_name: str | None = None
    lead_id: int | None = None
    lead_name: str | None = None
    owner: str | None = Field(default=None, description="'me' (default) or a teammate's email or name.")


class ListTasksArgs(ToolArgs):
    owner: str | None = Field(
        default="me", description="'me', a teammate's email or name, or 'team' for everyone visible."
    )
    status: Literal["open", "done", "all"] = "open"
    due_before: str | None = Field(default=None, description="ISO date; tasks due before this day (exclusive).")
    due_after: str | None = Field(default=None, description="ISO date; tasks due on or after this day.")
    deal_name: str | None = None
    lead_name: str | None = None


class DraftFollowUpArgs(ToolArgs):
    deal_id: int | None = None
    deal_name: str | None = None
    lead_id: int | None = None
    lead_name: str | None = None
    to: str | None = Field(default=None, description="Recipient email; default the record's main contact.")
    purpose: str | None = Field(
        default=None, description="What the email should achieve, e.g. 'send the proposal', 'book a demo'."
    )
    subject: str | None = Field(default=None, description="Your own subject line; default one built from purpose.")
    body: str | None = Field(
        default=None, description="Your own email text; default a short template built from purpose and the record."
    )
    template: FollowUpKind | None = Field(
        default=None,
        description="Which kind of follow-up: recap, check_in, proposal_nudge or meeting_request; default chosen "
        "from purpose's words (check_in when none fits).",
    )

    @model_validator(mode="after")
    def _one_record(self) -> DraftFollowUpArgs:
        if not any((self.deal_id, self.deal_name, self.lead_id, self.lead_name)):
            raise ValueError("say which deal or lead the follow-up is for")
        return self


class SendFollowUpArgs(ToolArgs):
    message_id: int = Field(description="The draft's id, from draft_follow_up.")


class EditDraftArgs(ToolArgs):
    message_id: int = Field(description="The draft's id, from draft_follow_up (a draft not sent yet).")
    subject: str | None = Field(default=None, description="The new subject line.")
    body: str | None = Field(default=None, description="The whole new email text.")
    tone: Literal["formal", "friendly"] | None = Field(default=None, description="Rewrite the text in this tone.")
    length: Literal["shorter"] | None = Field(
        default=None, description="'shorter': keep the greeting, the opening sentence, the ask and the sign-off."
    )

    @model_validator(mode="after")
    def _one_change(self) -> EditDraftArgs:
        if not any((self.subject, self.body, self.tone, self.length)):
            raise ValueError("say what to change: subject, body, tone or length")
        return self


class PipelineQuestionArgs(ToolArgs):
    metric: Metric = Field(
        description="Deal metrics: count, total_amount, avg_amount / median_amount, win_rate, avg_cycle_days / median_cycle_days "
        "(created to closed), stage_conversion. Funnel metrics over leads created in the period: funnel_conversion "
        "(lead → qualified → deal → each stage → won), lead_to_deal, time_to_first_touch (days to the first call, "
        "meeting or outbound email), first_reply_rate (first outbound email answered), reply_interest_rate (a reply "
        "followed by qualification, a deal or a positive tone); revenue_per_closer_hour (won revenue / the owners' "
        "logged selling hours, by owner or team). Funnel metrics take owner, team, period, region and industry "
        "filters and group by owner, team, region, industry, month or quarter."
    )
    group_by: list[GroupBy] = Field(default_factory=list)
    status: DealStatus = Field(
        default="all", description="Which deals count: open, won, lost, closed (won+lost) or all."
    )
    owner: str | None = Field(default=None, description="'me', or an owner's email or name.")
    team: str | None = Field(default=None, description="A manager's email or name, or a team's name: its deals.")
    stage: str | None = Field(default=None, description="A stage, ours or the workspace's own name for it.")
    industry: str | None = None
    product: str | None = None
    region: str | None = Field(default=None, description="A region or office, as the workspace names it.")
    account: str | None = Field(default=None, description="An account (customer company) name.")
    source: str | None = Field(
        default=None, description="Where the deal's lead came from, as the workspace records it ('webinar')."
    )
    date_field: DateField = Field(default="created", description="Which date the period filters on.")
    period: str | None = Field(
        default=None, description="A period: '2026-Q3', 'last quarter', '2026-11', 'this year'..."
    )
    date_from: str | None = Field(default=None, description="ISO date, inclusive (instead of period).")
    date_to: str | None = Field(default=None, description="ISO date, exclusive (instead of period).")
    to_stage: str | None = Field(
        default=None,
        description="stage_conversion only: the stage the deals must reach ('Proposal to Won': stage Proposal, "
        "to_stage Won); default: any stage further along.",
    )
    open_on: str | None = Field(
        default=None,
        description="ISO date: the open pipeline as it stood at the end of that day (deals created by then and not "
        "yet closed, at today's amounts); status open, no stage. For 'pipeline compared with last month'.",
    )
    amount_min: float | None = None
    amount_max: float | None = None
    amount_currency: str | None = Field(
        default=None,
        description="ISO code the amount_min/amount_max threshold is in (e.g. EUR for '€50k'); default: the "
        "deals' one currency, else USD. Deals in other currencies are left out (no exchange rates).",
    )
    exclude: dict[Literal["owner", "stage", "product", "industry", "region", "account"], str] | None = Field(
        default=None,
        description="Values left out of the figure: {'owner': 'Jordan Blake'} for 'win rate excluding Jordan', "
        "{'product': 'Lumen Starter'} for 'pipeline by product excluding Lumen Starter'.",
    )
    value_min: float | None = Field(
        default=None,
        description="With group_by: only the groups whose figure is at least this ('which reps won more than 200k': "
        "total_amount by owner, value_min 200000; 'products with over 500 deals': count, 501; rates as fractions). "
        "Without: the figure and whether it is within the bound ('did I win more than 500k'). Not amount_min, "
        "which filters single deals by their amount.",
    )
    value_max: float | None = Field(
        default=None, description="Like value_min: only the groups (or the figure) at most this."
    )
    limit: int = Field(default=50, ge=1, le=500, description="At most this many groups (top N).")
    sort: Literal["desc", "asc"] | None = Field(
        default=None,
        description="Groups ranked by the metric: desc = highest first (most, best), asc = lowest. Default: "
        "highest first, but months and quarters in time order unless a sort is given ('which month was best').",
    )


class BottleneckArgs(ToolArgs):
    segment: Literal["size", "industry", "tenure", "owner"] | None = None
    since: str | None = Field(default=None, description="ISO date or period start: only deals created since then.")


class ForecastArgs(ToolArgs):
    period: str = Field(default="this quarter", description="'this quarter', '2026-Q4', 'next month', '2026-12'...")
    group_by: Literal["owner", "team"] | None = None
    owner: str | None = None
    team: str | None = None


class SearchInteractionsArgs(ToolArgs):
    query: str
    account: str | None = None
    deal_name: str | None = None
    owner: str | None = None
    channel: ChannelName | None = None
    since: str | None = Field(default=None, description="ISO date, inclusive.")
    until: str | None = Field(default=None, description="ISO date, exclusive.")
    limit: int = Field(default=5, ge=1, le=50)


class EditRecordArgs(ToolArgs):
    record_type: Literal["deal", "lead", "contact"]
    record_id: int | None = Field(default=None, description="The record's id, when known.")
    record_name: str | None = Field(default=None, description="The record's name, when the id is not known.")
    name: str | None = None
    amount: float | None = Field(default=None, ge=0, description="Deals: the new amount.")
    expected_close_date: str | None = Field(default=None, description="Deals: ISO date (YYYY-MM-DD).")
    owner: str | None = Field(default=None, description="Deals and leads: the new owner's email (managers only).")
    product: str | None = Field(default=None, description="Deals only.")
    email: str | None = Field(default=None, description="Leads and contacts.")
    phone: str | None = Field(default=None, description="Leads and contacts.")
    title: str | None = Field(default=None, description="Leads and contacts: job title.")
    company: str | None = Field(default=None, description="Leads only.")
    source: str | None = Field(default=None, description="Leads only.")
    industry: str | None = Field(default=None, description="Leads only.")
    region: str | None = Field(default=None, description="Leads only.")

    @model_validator(mode="after")
    def _one_reference(self) -> EditRecordArgs:
        if self.record_id is None and not self.record_name:
            raise ValueError("give record_id or record_name")
        return self

    def changes(self) -> dict[str, object]:
        """The fields to change: every field given other than the reference."""
        skip = {"record_type", "record_id", "record_name"}
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if k not in skip}


class ReopenDealArgs(DealRef):
    reason: str = Field(description="Why the closed deal is reopened (kept in the audit log).")
    to_stage: str | None = Field(default=None, description="Open stage to reopen into; default: where it closed from.")


class UndoArgs(ToolArgs):
    pass


class StalledDealsArgs(ToolArgs):
    owner: str | None = Field(default=None, description="'me' for only your own; default: all you may see.")
    idle_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Instead of each stage's stall limit: open deals with no stage change or interaction for at "
        "least this many days ('not touched in a month': 30).",
    )
    limit: int = Field(default=10, ge=1, le=100)


class WhoToCallArgs(ToolArgs):
    limit: int = Field(default=5, ge=1, le=25)


class HotLeadsArgs(ToolArgs):
    limit: int = Field(default=5, ge=1, le=50)


class AccountContactsArgs(ToolArgs):
    account: str = Field(description="The account (company) name.")


class ExperimentStatusArgs(ToolArgs):
    experiment: str | None = Field(
        default=None,
        description="The experiment's name, or the rule or change it measures ('the new proposal rule'); "
        "empty: every running experiment.",
    )


TOOL_ARGS: dict[str, type[ToolArgs]] = {
    "create_lead": CreateLeadArgs,
    "find_records": FindRecordsArgs,
    "score_lead": ScoreLeadArgs,
    "qualify_lead": QualifyLeadArgs,
    "move_deal": MoveDealArgs,
    "log_interaction": LogInteractionArgs,
    "create_task": CreateTaskArgs,
    "list_tasks": ListTasksArgs,
    "draft_follow_up": DraftFollowUpArgs,
    "send_follow_up": SendFollowUpArgs,
    "edit_draft": EditDraftArgs,
    "pipeline_question": PipelineQuestionArgs,
    "bottleneck_analysis": BottleneckArgs,
    "forecast": ForecastArgs,
    "search_interactions": SearchInteractionsArgs,
    "edit_record": EditRecordArgs,
    "reopen_deal": ReopenDealArgs,
    "undo_last_change": UndoArgs,
    "stalled_deals": StalledDealsArgs,
    "who_to_call": WhoToCallArgs,
    "hot_leads": HotLeadsArgs,
    "account_contacts": AccountContactsArgs,
    "experiment_status": ExperimentStatusArgs,
}
"""Tool name → argument model. The tool names are part of the contract too (evals refer to them)."""
