"""What an MCP call does, without the protocol: authenticate the token, run the tool as its user, hand guarded
calls to the agent's approval mechanism, and report or decide approvals.

A read or write tool runs exactly as the agent's tools node would run it (the same spec, the same permission
checks, the same receipts). A guarded tool (send a follow-up, qualify a lead) goes through the graph itself: the
call is placed in a fresh ``mcp-…`` thread as the agent's tool call, the tools node stores the pending approval
and the approval node stops for a decision. The MCP client gets the pending request back and nothing happens on
its say-so; an approver deciding it (``salesgraph approvals approve``, Slack, or ``review_approval`` from their
own MCP client) resumes that thread and the action is carried out there, once.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from sales.errors import NotFound, PermissionDenied, SalesError

if TYPE_CHECKING:
    from agent.context import Context
    from app.services import Services
    from sales.permissions import Actor
    from store.models import Approval


class McpRefusal(Exception):
    """A call the MCP client gets back as an error result: one sentence it can act on."""


def _refusal(exc: BaseException) -> McpRefusal:
    from tools.base import describe_error

    return McpRefusal(describe_error(exc).error)


class McpGateway:
    """One per server process: the services, and the agent graph (opened on the first guarded call)."""

    def __init__(self, services: Services, model: str | None = None) -> None:
        self.services = services
        self.model = model
        self._stack = ExitStack()
        self._graph: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._stack.close()
        self._graph = None

    def graph(self) -> Any:
        with self._lock:
            if self._graph is None:
                from agent.turns import open_agent

                self._graph = self._stack.enter_context(open_agent(self.services, self.model))
            return self._graph

    # -- who is calling --------------------------------------------------------------------------------------

    def actor(self, token: str | None) -> Actor:
        """The token's user, checked on every call (a token revoked mid-session is refused from then on)."""
        from sales.api_tokens import authenticate
        from store.db import session_scope

        with session_scope(self.services.engine) as s:
            return authenticate(s, token)

    def context(self, actor: Actor) -> Context:
        from agent.context import Context

        return Context(actor=actor, services=self.services)

    # -- tools -----------------------------------------------------------------------------------------------

    def call_tool(self, token: str | None, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        from tools.registry import SPECS

        actor = self.actor(token)
        spec = SPECS.get(name)
        if spec is None:
            raise McpRefusal(f"there is no tool called {name!r}")
        try:
            args = spec.args.model_validate({k: v for k, v in arguments.items() if v is not None})
        except ValidationError as exc:
            raise _refusal(exc) from exc
        if spec.guarded:
            return self._request_approval(actor, name, args.model_dump(exclude_none=True))
        try:
            result = spec.run(self.context(actor), args)
        except (SalesError, LookupError) as exc:
            raise _refusal(exc) from exc
        return dict(result.model_dump(mode="json"))

    def _request_approval(self, actor: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

        from agent.turns import new_thread_id

        graph = self.graph()
        thread = new_thread_id("mcp")
        call_id = f"mcp_{uuid.uuid4().hex[:12]}"
        config = {"configurable": {"thread_id": thread}}
        asked = HumanMessage(f"{actor.email} asked through MCP: {name} {json.dumps(arguments, sort_keys=True)}")
        call = AIMessage("", tool_calls=[{"name": name, "args": arguments, "id": call_id, "type": "tool_call"}])
        # As if the agent had made the call: the tools node runs it as the token's user and the approval node
        # stops for a decision. Nothing runs the model before an approver decides.
        graph.update_state(config, {"messages": [asked, call]}, as_node="agent")
        graph.invoke(None, config, context=self.context(actor), interrupt_before=["agent"])
        state = graph.get_state(config)
        for pending in state.interrupts:
            if isinstance(pending.value, dict) and pending.value.get("type") == "approval_request":
                return pending_approval(pending.value, admins_decide=self.context(actor).approval_policy.admins_decide)
        for message in state.values.get("messages", []):
            if isinstance(message, ToolMessage) and message.tool_call_id == call_id:
                raise McpRefusal(str(message.content))
        raise McpRefusal(f"{name} did not ask for approval and gave no answer; nothing was done")

    # -- approvals -------------------------------------------------------------------------------------------

    def _visible(self, actor: Actor, approval_id: int) -> None:
        from sales.approvals import get_approval, list_approvals
        from store.db import session_scope

        with session_scope(self.services.engine, read_only=True) as s:
            get_approval(s, approval_id)
            if approval_id not in {a.id for a in list_approvals(s, actor, status=None, limit=1_000_000)}:
                raise PermissionDenied(
                    f"approval #{approval_id} is not one you asked for, may decide or can see through your team"
                )

    def approval_status(self, token: str | None, approval_id: int) -> dict[str, Any]:
        from bots.commands.approvals import approval_json
        from sales.approvals import expire_if_overdue, get_approval
        from sales.permissions import SYSTEM
        from store.db import session_scope

        actor = self.actor(token)
        try:
            self._visible(actor, approval_id)
            with session_scope(self.services.engine) as s:
                expire_if_overdue(s, SYSTEM, approval_id)
                row = get_approval(s, approval_id)
                data: dict[str, Any] = json.loads(json.dumps(approval_json(s, row), default=str))
                thread, action = row.thread_id, row.action
        except SalesError as exc:
            raise _refusal(exc) from exc
        outcome = self._outcome(thread, action) if thread else None
        if outcome is not None:
            data["outcome"] = outcome
        return data

    def _outcome(self, thread: str, action: str) -> dict[str, Any] | None:
        """What carrying out (or refusing) the action returned in its thread, once decided."""
        from langchain_core.messages import ToolMessage

        state = self.graph().get_state({"configurable": {"thread_id": thread}})
        for message in reversed(state.values.get("messages", [])):
            if isinstance(message, ToolMessage) and message.name == action:
                if message.status == "error":
                    return {"error": str(message.content)}
                try:
                    return {"result": json.loads(str(message.content))}
                except json.JSONDecodeError:
                    return {"result": str(message.content)}
        return None

    def review_request(self, token: str | None, approval_id: int) -> tuple[Actor, Approval]:
        """The pending request an approver is about to decide through MCP, after every check that it may.

        Never the requester's own request: over MCP the caller is a program holding the requester's token,
        and a program must not approve what it asked for (in the CLI or Slack a person decides)."""
        from sales.approvals import approver_emails, expire_if_overdue, get_approval, may_decide
        from sales.permissions import SYSTEM
        from store.db import session_scope
        from store.models import ApprovalStatus

        actor = self.actor(token)
        try:
            self._visible(actor, approval_id)
            with session_scope(self.services.engine) as s:
                expire_if_overdue(s, SYSTEM, approval_id)
                row = get_approval(s, approval_id)
                if row.status != ApprovalStatus.PENDING:
                    raise McpRefusal(f"approval #{approval_id} is already {row.status}; nothing to decide")
                if row.requested_by_id is not None and row.requested_by_id == actor.user_id:
                    raise PermissionDenied(
                        f"approval #{approval_id} is your own request; someone else who may approve it must decide "
                        f"it ({', '.join(approver_emails(s, row)) or 'an admin'}), in Slack or with "
                        f"`salesgraph approvals approve {approval_id}`"
                    )
                if not may_decide(actor, row, self.context(actor).approval_policy):
                    raise PermissionDenied(
                        f"{actor.email} may not decide approval #{approval_id}; it stays pending for "
                        f"{', '.join(approver_emails(s, row)) or 'an admin'}"
                    )
                s.expunge(row)
                return actor, row
        except SalesError as exc:
            raise _refusal(exc) from exc

    def decide(
        self, token: str | None, approval_id: int, decision: Literal["approve", "reject"], reason: str | None
    ) -> dict[str, Any]:
        """Record an approver's decision made through MCP (after ``review_request``) and resume the thread."""
        from agent.approval import ApprovalDecision
        from agent.turns import decide

        actor, _ = self.review_request(token, approval_id)
        try:
            outcome = decide(
                self.graph(),
                self.services,
                approval_id,
                ApprovalDecision(decision=decision, decided_by=actor.email, reason=reason),
                context_factory=self.context,
            )
        except NotFound as exc:
            raise _refusal(exc) from exc
        except SalesError as exc:
            raise _refusal(exc) from exc
        return self.approval_status(token, approval_id) | {"decided": outcome.status}


def pending_approval(request: dict[str, Any], *, admins_decide: bool = True) -> dict[str, Any]:
    """What a guarded MCP call returns: the pending request, who may decide it and how."""
    approval_id = request["approval_id"]
    approvers = list(request.get("approvers") or [])
    return {
        "status": "pending_approval",
        "approval_id": approval_id,
        "action": request["action"],
        "what": request["summary"],
        "arguments": request["arguments"],
        "preview": request.get("preview"),
        "requested_by": request["requested_by"],
        "who_may_approve": approvers or ["an admin"],
        "admins_may_approve": admins_decide,
        "expires_at": request["expires_at"],
        "thread_id": request.get("thread_id"),
        "next": (
            f"Nothing has been done. An approver other than you decides approval #{approval_id} in Slack, with "
            f"`salesgraph approvals approve {approval_id} --as EMAIL`, or from their own MCP client with "
            f"review_approval; then it is carried out. Check it with approval_status({approval_id})."
        ),
    }
