"""The one approval mechanism: ``interrupt()`` with a typed ``ApprovalRequest``, resumed with an ``ApprovalDecision``.

The approval node takes the first guarded call the tools node prepared, waits for a decision from someone allowed
to make it (anyone else is refused and the request stays pending), then carries it out or reports the rejection
as the tool's error. Side effects happen only after the decision, and the domain functions act at most once per
approval row, so a node that re-runs from its start after a restart does nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from langchain_core.messages import ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.context import Context
from agent.state import AgentState
from sales.approvals import ApprovalClosed, decide_approval, expire_if_overdue, get_approval
from sales.errors import InvalidInput, SalesError
from sales.permissions import SYSTEM, load_actor
from store.db import session_scope
from store.models import Approval, ApprovalStatus, User
from tools.base import ApprovalTicket, describe_error, run_configurable
from tools.guarded import HALVES

log = logging.getLogger(__name__)


class ApprovalRequest(BaseModel):
    """What the graph hands the front door when it stops for a decision (the ``interrupt()`` value)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["approval_request"] = "approval_request"
    approval_id: int
    action: str = Field(description="send_follow_up or qualify_lead")
    arguments: dict[str, Any]
    summary: str
    preview: str | None = None
    requested_by: str
    approvers: list[str] = Field(description="Who may decide (admins may too).")
    expires_at: datetime
    thread_id: str | None = None
    tool_call_id: str
    editable: list[str] = Field(default_factory=list, description="Arguments an 'edit' decision may change.")
    refusal: str | None = Field(
        default=None, description="Why the previous answer to this request was not accepted (it stays pending)."
    )
    # The same request in Agent Inbox's ``HumanInterrupt`` shape, so a team can decide it there too.
    action_request: dict[str, Any] = Field(default_factory=dict, description="Agent Inbox: {action, args}.")
    config: dict[str, bool] = Field(default_factory=dict, description="Agent Inbox: allow_accept/edit/respond/ignore.")
    description: str | None = Field(default=None, description="Agent Inbox: the markdown shown with the request.")


class HumanResponse(BaseModel):
    """Agent Inbox's answer to a ``HumanInterrupt``: accept, edit (args = {action, args}), response (text), ignore.

    It names no decider: the decider is the run's authenticated user (``langgraph_auth_user_id`` in the run's
    config, set by the LangGraph server's auth), and the domain still checks they may decide."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["accept", "edit", "response", "ignore"]
    args: dict[str, Any] | str | None = None


class ApprovalDecision(BaseModel):
    """What the front door resumes with: ``Command(resume=ApprovalDecision(...).model_dump())``."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "edit", "reject"]
    decided_by: str = Field(description="Email of the person deciding; the domain checks they may.")
    arguments: dict[str, Any] | None = Field(default=None, description="Changed arguments, for 'edit'.")
    reason: str | None = Field(default=None, description="Why, for 'reject' (returned to the model).")


def _description(ticket: ApprovalTicket) -> str:
    approvers = ", ".join(ticket.approvers) or "an admin"
    text = (
        f"**{ticket.summary}**\n\nRequested by {ticket.requested_by}; may be decided by {approvers} (not by "
        f"the requester through a program). Approval #{ticket.approval_id}, expires {ticket.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    if ticket.preview:
        text += "\n\n---\n\n" + ticket.preview
    return text


def _request_for(ticket: ApprovalTicket, tool_call_id: str, thread_id: str | None) -> ApprovalRequest:
    from sales.approvals import EDITABLE_ARGUMENTS

    editable = EDITABLE_ARGUMENTS.get(ticket.action, frozenset())
    return ApprovalRequest(
        action_request={"action": ticket.action, "args": ticket.arguments},
        config={"allow_accept": True, "allow_edit": bool(editable), "allow_respond": True, "allow_ignore": True},
        description=_description(ticket),
        approval_id=ticket.approval_id,
        action=ticket.action,
        arguments=ticket.arguments,
        summary=ticket.summary,
        preview=ticket.preview,
        requested_by=ticket.requested_by,
        approvers=ticket.approvers,
        expires_at=ticket.expires_at,
        thread_id=thread_id,
        tool_call_id=tool_call_id,
        editable=sorted(EDITABLE_ARGUMENTS.get(ticket.action, ())),
    )


def _settled(ctx: Context, approval_id: int) -> Approval | None:
    """The row once it is decided or expired (expiring it now if its time is up); None while still open."""
    with session_scope(ctx.engine) as s:
        expire_if_overdue(s, SYSTEM, approval_id)
        row = get_approval(s, approval_id)
        return row if row.status != ApprovalStatus.PENDING else None


def wait_for_decision(ctx: Context, request: ApprovalRequest) -> Approval:
    """Interrupt until an allowed person decides (or the request expires); returns the settled approval row.

    A decision may also be recorded outside the graph first (``salesgraph approvals approve``, a Slack button);
    the row is then already settled when the thread resumes, and is used as it is.
    """
    refusal: str | None = None
    while True:
        settled = _settled(ctx, request.approval_id)
        if settled is not None:
            return settled
        answer = interrupt(request.model_copy(update={"refusal": refusal}).model_dump(mode="json"))
        try:
            decision = parse_decision(answer, request)
        except ValidationError as exc:
            refusal = f"not a decision ({describe_error(exc).error}); answer approve, edit or reject"
            continue
        except SalesError as exc:
            refusal = str(exc)
            continue
        try:
            with session_scope(ctx.engine) as s:
                decider = load_actor(s, decision.decided_by)
                result = decide_approval(
                    s,
                    decider,
                    request.approval_id,
                    decision.decision,
                    arguments=decision.arguments,
                    reason=decision.reason,
                    policy=ctx.approval_policy,
                )
                return result.approval
        except ApprovalClosed:
            continue
        except SalesError as exc:
            # Refused (not an approver, bad edit): nothing changed, the request stays pending and is asked again.
            refusal = describe_error(exc).error
            log.info("approval #%s: decision refused: %s", request.approval_id, refusal)


def _run_user() -> str | None:
    """The authenticated user of this run, as a LangGraph server (``langgraph dev``, Agent Inbox) sets it."""
    user = run_configurable().get("langgraph_auth_user_id")
    return str(user) if user else None


def parse_decision(answer: Any, request: ApprovalRequest) -> ApprovalDecision:
    """Our own ``ApprovalDecision``, or Agent Inbox's ``HumanResponse`` (alone or as its one-item list)."""
    from sales.errors import PermissionDenied

    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if not (isinstance(answer, dict) and answer.get("type") in ("accept", "edit", "response", "ignore")):
        return ApprovalDecision.model_validate(answer)
    response = HumanResponse.model_validate(answer)
    decider = _run_user()
    if decider is None:
        raise PermissionDenied(
            "an Agent Inbox answer names nobody; the run must be authenticated (langgraph.json auth with a "
            "salesgraph API token) so the decider is known"
        )
    if response.type == "accept":
        return ApprovalDecision(decision="approve", decided_by=decider)
    if response.type == "edit":
        edited = response.args.get("args") if isinstance(response.args, dict) else None
        if not isinstance(edited, dict):
            raise InvalidInput({"args": "an edit answer carries {action, args} with the changed arguments"})
        changed = {k: v for k, v in edited.items() if request.arguments.get(k) != v}
        return ApprovalDecision(decision="edit", decided_by=decider, arguments=changed)
    if response.type == "response":
        text = response.args if isinstance(response.args, str) else ""
        return ApprovalDecision(decision="reject", decided_by=decider, reason=text.strip() or "answered in Agent Inbox")
    return ApprovalDecision(decision="reject", decided_by=decider, reason="ignored in Agent Inbox")


def _decider(ctx: Context, approval: Approval) -> str:
    with session_scope(ctx.engine) as s:
        user = s.get(User, approval.decided_by_id) if approval.decided_by_id else None
        return user.email if user else "the system"


def approval_node(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Decide and carry out the first pending guarded call; its ToolMessage answers the model's call."""
    from tools.base import current_thread_id

    pending = list(state.get("approvals") or [])
    if not pending:
        return {}
    ctx = runtime.context
    first = pending[0]
    ticket = ApprovalTicket.model_validate(first["ticket"])
    call_id = first["tool_call_id"]
    approval = wait_for_decision(ctx, _request_for(ticket, call_id, current_thread_id()))
    halves = HALVES[ticket.action]
    try:
        if approval.status == ApprovalStatus.APPROVED:
            result = halves.execute(ctx, ticket)
            message = ToolMessage(result.model_dump_json(), tool_call_id=call_id, name=ticket.action)
        elif approval.status == ApprovalStatus.EXPIRED:
            message = ToolMessage(
                f"approval #{approval.id} expired before anyone decided ({approval.reason}); nothing was done. "
                "Ask again if it is still wanted.",
                tool_call_id=call_id,
                name=ticket.action,
                status="error",
                artifact={"error": "expired", "kind": "expired", "approval_id": approval.id},
            )
        else:
            reason = approval.reason or "no reason given"
            halves.reject(ctx, ticket, reason)
            message = ToolMessage(
                f"rejected by {_decider(ctx, approval)}: {reason}. Nothing was done (approval #{approval.id}).",
                tool_call_id=call_id,
                name=ticket.action,
                status="error",
                artifact={"error": reason, "kind": "rejected", "approval_id": approval.id},
            )
    except SalesError as exc:
        failure = describe_error(exc)
        message = ToolMessage(
            failure.error, tool_call_id=call_id, name=ticket.action, status="error", artifact=failure.model_dump()
        )
    return {"messages": [message], "approvals": pending[1:]}
