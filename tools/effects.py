"""What each tool does to the world, stated once: read only, changes existing records, safe to repeat, reaches
outside salesgraph. Front doors that describe tools to other programs (the MCP server's tool annotations) read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Effect:
    read_only: bool
    """Changes nothing (no row, no receipt)."""
    destructive: bool = False
    """May change or remove what is already there (False: only adds new rows). Meaningful when not read only."""
    idempotent: bool = False
    """Calling it again with the same arguments has no further effect."""
    open_world: bool = False
    """Reaches beyond the workspace's store (sends email to a customer)."""
    needs_approval: bool = False
    """Only requests the action; it happens after an authorised person approves it."""


READ = Effect(read_only=True, idempotent=True)

TOOL_EFFECTS: dict[str, Effect] = {
    "find_records": READ,
    "list_tasks": READ,
    "pipeline_question": READ,
    "bottleneck_analysis": READ,
    "forecast": READ,
    "search_interactions": READ,
    "stalled_deals": READ,
    "who_to_call": READ,
    "hot_leads": READ,
    "account_contacts": READ,
    # Stores the score it computed (with a receipt); the same lead scores the same again.
    "score_lead": Effect(read_only=False, idempotent=True),
    # Takes an experiment's planned look once its sample reached it (receipt); asking again adds nothing.
    "experiment_status": Effect(read_only=False, idempotent=True),
    "create_lead": Effect(read_only=False),
    "log_interaction": Effect(read_only=False),
    "create_task": Effect(read_only=False),
    "draft_follow_up": Effect(read_only=False),
    "edit_draft": Effect(read_only=False, destructive=True, idempotent=True),
    "move_deal": Effect(read_only=False, destructive=True, idempotent=True),
    "edit_record": Effect(read_only=False, destructive=True, idempotent=True),
    "reopen_deal": Effect(read_only=False, destructive=True, idempotent=True),
    "undo_last_change": Effect(read_only=False, destructive=True),
    # Converts the lead into a deal once approved; each call over MCP is a request of its own.
    "qualify_lead": Effect(read_only=False, destructive=True, needs_approval=True),
    # An email cannot be unsent.
    "send_follow_up": Effect(read_only=False, destructive=True, open_world=True, needs_approval=True),
}
