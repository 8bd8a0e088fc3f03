"""Result models of the agent's tools: what a tool hands back to the chat model, as JSON.

Convention shared with every chat model (offline and OpenAI-compatible): a successful tool call's ToolMessage
content is ``Result.model_dump_json()`` of the tool's model below; a failed call is a ToolMessage with
``status="error"`` whose content is a sentence a user can act on (see ``ToolFailure``). Results of state changes
carry ``receipt_id``, the id of the audit event written in the same transaction; answers quote it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="The tool's name; lets a model tell results apart without the call.")


class ActionResult(ToolResult):
    """A result of a state change: always cites the audit receipt."""

    receipt_id: int = Field(description="Id of the audit event written for this change.")


class ToolFailure(BaseModel):
    """The content of an error ToolMessage, when a model wants it structured (``ToolMessage.artifact``)."""

    error: str
    kind: Literal["invalid_arguments", "not_found", "permission_denied", "rejected", "expired", "unavailable", "error"]
    fields: dict[str, str] = Field(default_factory=dict)


class CreateLeadResult(ActionResult):
    kind: Literal["create_lead"] = "create_lead"
    lead_id: int
    name: str
    company: str | None = None
    email: str | None = None
    owner_email: str | None = None
    status: str
    created: bool = Field(description="False when an existing lead was merged/updated instead.")
    duplicate_of: int | None = None
    assignment: str | None = Field(default=None, description="How the owner was chosen.")
    task_id: int | None = Field(default=None, description="The first-contact task the playbook created.")


class RecordSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    type: Literal["lead", "deal", "account", "contact", "task"]
    name: str
    owner_email: str | None = None
    company: str | None = None
    stage: str | None = None
    status: str | None = None
    amount: float | None = None
    currency: str | None = None
    email: str | None = None
    due_date: str | None = None
    score: float | None = None
    days_in_stage: float | None = Field(default=None, description="Deals listed longest in stage first only.")


class FindRecordsResult(ToolResult):
    kind: Literal["find_records"] = "find_records"
    entity: str
    records: list[RecordSummary]
    total: int = Field(description="How many matched (records may be truncated to the limit).")


class ScoreFactor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str
    effect: float = Field(description="Signed contribution to the score (positive raises it).")
    description: str | None = None


class ScoreLeadResult(ToolResult):
    kind: Literal["score_lead"] = "score_lead"
    lead_id: int
    name: str
    score: float = Field(description="0-100: the estimated chance, in percent, that the lead converts.")
    band: str | None = Field(default=None, description="hot / warm / cold")
    factors: list[ScoreFactor] = Field(default_factory=list)
    model_version: str | None = None
    receipt_id: int | None = Field(default=None, description="Set when the score was stored on the lead.")
    summary: str | None = Field(default=None, description="The score explained in a sentence.")
    next_action: str | None = None
    rule_based: bool | None = Field(default=None, description="True when too few outcomes exist to train a model.")


class QualifyLeadResult(ActionResult):
    kind: Literal["qualify_lead"] = "qualify_lead"
    lead_id: int
    lead_name: str
    deal_id: int
    deal_name: str
    stage: str
    amount: float | None = None
    task_ids: list[int] = Field(default_factory=list)
    approval_id: int
    approved_by: str


class MoveDealResult(ActionResult):
    kind: Literal["move_deal"] = "move_deal"
    deal_id: int
    deal_name: str
    from_stage: str
    to_stage: str
    amount: float | None = None
    currency: str | None = None
    task_ids: list[int] = Field(default_factory=list)


class LogInteractionResult(ActionResult):
    kind: Literal["log_interaction"] = "log_interaction"
    interaction_id: int
    record_type: Literal["deal", "lead"]
    record_id: int
    record_name: str
    channel: str
    occurred_at: str


class TaskSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    title: str
    due_date: str | None = None
    status: str
    owner_email: str | None = None
    deal_id: int | None = None
    lead_id: int | None = None
    overdue: bool = False


class CreateTaskResult(ActionResult):
    kind: Literal["create_task"] = "create_task"
    task: TaskSummary


class ListTasksResult(ToolResult):
    kind: Literal["list_tasks"] = "list_tasks"
    tasks: list[TaskSummary]
    total: int


class DraftFollowUpResult(ActionResult):
    kind: Literal["draft_follow_up"] = "draft_follow_up"
    message_id: int
    to: str
    subject: str
    body: str
    status: str
    record_type: Literal["deal", "lead"]
    record_id: int


class SendFollowUpResult(ActionResult):
    kind: Literal["send_follow_up"] = "send_follow_up"
    message_id: int
    to: str
    subject: str
    status: Literal["sent", "queued", "failed"]
    delivered: bool = Field(description="True only when an SMTP server accepted the message.")
    channel: Literal["smtp", "outbox"]
    approval_id: int
    approved_by: str
    edited: bool = Field(default=False, description="True when the approver changed the draft.")
    note: str = Field(description="What happened, in words, e.g. 'recorded in the outbox, not delivered'.")


class EditDraftResult(ActionResult):
    kind: Literal["edit_draft"] = "edit_draft"
    message_id: int
    to: str
    subject: str
    body: str
    status: str
    changed: list[str] = Field(description="What changed: subject, body, tone, length.")
    withdrawn_approval_id: int | None = Field(
        default=None, description="A send request the edit withdrew: ask again to send the edited text."
    )


class PipelineRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: dict[str, str | None] = Field(default_factory=dict)
    value: float | None
    deals: int = Field(description="How many records the value is computed over (see the result's counted).")
    currency: str | None = Field(default=None, description="Amount metrics: the ISO currency of value.")


class PipelineQuestionResult(ToolResult):
    kind: Literal["pipeline_question"] = "pipeline_question"
    computed: str = Field(
        default="",
        description="What was computed, in words (metric, deals, period, filters, grouping); state it in the answer.",
    )
    metric: str
    unit: Literal["deals", "currency", "ratio", "days"]
    group_by: list[str] = Field(default_factory=list)
    filters: dict[str, Any] = Field(default_factory=dict, description="The filters applied, resolved.")
    rows: list[PipelineRow] = Field(description="Amount metrics in several currencies: a row per group and currency.")
    total: PipelineRow = Field(
        description="The metric over all matching deals, ungrouped; for amounts in several currencies its value "
        "is null (amounts are never added across currencies): see amounts_by_currency."
    )
    truncated: bool = False
    currency: str | None = Field(default=None, description="Amount metrics: the one currency of every amount.")
    amounts_by_currency: list[PipelineRow] = Field(
        default_factory=list, description="Amount metrics: the total per currency (one entry when there is one)."
    )
    not_compared: dict[str, int] = Field(
        default_factory=dict,
        description="With an amount filter: deals per other currency left out because the threshold is in "
        "filters.amount_currency and amounts in different currencies cannot be compared; say so in the answer.",
    )
    counted: str = Field(
        default="deals", description="What the rows' counts count: deals, or leads, leads emailed, won deals..."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What the figure leaves out, or why it is not available; state them in the answer.",
    )


class BottleneckResult(ToolResult):
    kind: Literal["bottleneck_analysis"] = "bottleneck_analysis"
    segment: str | None = None
    summary: str
    findings: list[dict[str, Any]] = Field(default_factory=list)


class CurrencyForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str
    expected: float
    low: float | None = None
    high: float | None = None
    open_deals: int = 0


class ForecastResult(ToolResult):
    kind: Literal["forecast"] = "forecast"
    period: str
    currency: str | None = Field(default=None, description="The one currency of every amount; null when several.")
    expected: float | None = Field(
        description="Probability-weighted amount expected to close in the period; null when the deals are in "
        "several currencies (never added across them): see by_currency."
    )
    low: float | None = None
    high: float | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)
    method: str | None = None
    by_currency: list[CurrencyForecast] = Field(
        default_factory=list, description="The forecast per currency (one entry when there is one)."
    )
    chosen: str | None = Field(
        default=None,
        description="Whose numbers expected/low/high are: blend, simulation or run rate (the one with the lowest "
        "backtest WAPE); say which in the answer, with why.",
    )
    why: str | None = Field(default=None, description="Why that method: its backtest WAPE against the others.")
    beside: dict[str, dict[str, float | None]] = Field(
        default_factory=dict,
        description="One currency: every forecaster's expected/low/high (simulation, run rate, blend).",
    )


class InteractionHit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interaction_id: int
    occurred_at: str
    channel: str
    subject: str | None = None
    snippet: str
    deal_name: str | None = None
    account_name: str | None = None
    score: float | None = None


class SearchInteractionsResult(ToolResult):
    kind: Literal["search_interactions"] = "search_interactions"
    query: str
    hits: list[InteractionHit]
    mode: str | None = Field(default=None, description="How the search matched; says so when meaning search was off.")
    index_note: str | None = Field(
        default=None,
        description="Set when the vector index is empty or behind the store: how many notes it misses and the "
        "command that catches it up.",
    )


RESULT_MODELS: dict[str, type[ToolResult]] = {
    "create_lead": CreateLeadResult,
    "find_records": FindRecordsResult,
    "score_lead": ScoreLeadResult,
    "qualify_lead": QualifyLeadResult,
    "move_deal": MoveDealResult,
    "log_interaction": LogInteractionResult,
    "create_task": CreateTaskResult,
    "list_tasks": ListTasksResult,
    "draft_follow_up": DraftFollowUpResult,
    "send_follow_up": SendFollowUpResult,
    "edit_draft": EditDraftResult,
    "pipeline_question": PipelineQuestionResult,
    "bottleneck_analysis": BottleneckResult,
    "forecast": ForecastResult,
    "search_interactions": SearchInteractionsResult,
}
"""Tool name → result model; the same names as ``tools.schemas.TOOL_ARGS``."""


class EditRecordResult(ActionResult):
    kind: Literal["edit_record"] = "edit_record"
    record_type: Literal["deal", "lead", "contact"]
    record_id: int
    name: str
    changed: dict[str, list[Any]] = Field(description="field → [before, after]")


class ReopenDealResult(ActionResult):
    kind: Literal["reopen_deal"] = "reopen_deal"
    deal_id: int
    deal_name: str
    from_stage: str
    to_stage: str
    reason: str


class UndoResult(ActionResult):
    kind: Literal["undo_last_change"] = "undo_last_change"
    undone_receipt_id: int
    undone_action: str
    record_type: str
    record_id: int
    name: str
    restored: dict[str, Any]


class StalledDealRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: int
    name: str
    owner_email: str | None = None
    stage: str
    days_idle: int
    limit_days: int
    reason: str


class StalledDealsResult(ToolResult):
    kind: Literal["stalled_deals"] = "stalled_deals"
    deals: list[StalledDealRow]
    total: int
    idle_days: int | None = None
    """The one limit asked for ("not touched in a month"), or None: each stage's own stall limit."""


class CallTargetRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: int
    name: str
    owner: str
    stage: str
    p_win: float
    amount: float
    amount_imputed: bool
    currency: str
    days_idle: int
    tasks_due: list[str]
    priority: float
    reason: str


class WhoToCallResult(ToolResult):
    kind: Literal["who_to_call"] = "who_to_call"
    ranking: str = Field(description="How the list is ranked, in words.")
    deals: list[CallTargetRow]


class HotLeadRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: int
    name: str
    company: str | None = None
    owner: str
    score: float
    band: str | None = None
    status: str


class HotLeadsResult(ToolResult):
    kind: Literal["hot_leads"] = "hot_leads"
    leads: list[HotLeadRow]
    unscored: int = Field(default=0, description="Open leads you may see that still have no score.")
    scored_now: int = Field(default=0, description="Open leads that had no score and were scored for this answer.")
    receipt_id: int | None = Field(default=None, description="The audit event of that scoring, when there was one.")


class AccountContactsResult(ToolResult):
    kind: Literal["account_contacts"] = "account_contacts"
    account_id: int
    account: str
    contacts: list[dict[str, str | None]]


class ExperimentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_id: int
    name: str
    change: str
    status: str = Field(description="running, concluded or stopped.")
    design: str
    metric: str = Field(description="What is measured, in words.")
    control_cases: int
    treatment_cases: int
    needed_per_arm: int
    information: float = Field(description="Share of the planned information gathered so far (0-1).")
    enough_data: bool
    estimate: str | None = Field(default=None, description="The estimate and its interval, in words.")
    p_value: float | None = Field(default=None, description="Unadjusted; the decision uses the look's boundary.")
    boundary: float | None = Field(default=None, description="|z| the look needed (alpha-spending).")
    probability_better: float | None = Field(default=None, description="Beta-binomial P(change better).")
    concluded: bool
    verdict: str = Field(description="The answer in one sentence, including 'not enough data yet'.")
    look: int | None = None
    receipt_id: int | None = Field(default=None, description="When this call took a due planned look.")


class ExperimentStatusResult(ToolResult):
    kind: Literal["experiment_status"] = "experiment_status"
    query: str | None = None
    experiments: list[ExperimentAnswer]
    note: str | None = Field(default=None, description="Why nothing matched, and what exists.")


RESULT_MODELS.update(
    {
        "experiment_status": ExperimentStatusResult,
        "edit_record": EditRecordResult,
        "reopen_deal": ReopenDealResult,
        "undo_last_change": UndoResult,
        "stalled_deals": StalledDealsResult,
        "who_to_call": WhoToCallResult,
        "hot_leads": HotLeadsResult,
        "account_contacts": AccountContactsResult,
    }
)
