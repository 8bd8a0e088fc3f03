"""What every tool shares: the run context read from LangGraph's runtime, record lookup by id or name, errors.

A tool acts only as the Context's actor. Nothing here reads the actor from the model's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from sales.errors import InvalidInput, NotFound, PermissionDenied, SalesError
from sales.permissions import Actor
from tools.results import ToolFailure, ToolResult
from tools.schemas import ToolArgs

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from sqlalchemy.engine import Engine

    from app.settings import Settings
    from sales.approvals import ApprovalPolicy


class RunContext(Protocol):
    """The part of ``agent.context.Context`` tools rely on (tools sit below the agent and do not import it)."""

    actor: Actor
    approval_policy: ApprovalPolicy

    @property
    def engine(self) -> Engine: ...

    @property
    def settings(self) -> Settings: ...

    def today(self) -> date: ...

    def vector_index(self) -> Any: ...


class ToolUnavailable(SalesError):
    """The capability behind a tool is not installed or not configured; the message names what is missing."""


class ApprovalTicket(BaseModel):
    """What a guarded tool hands the approval node: a stored, pending request and what it would do."""

    model_config = ConfigDict(extra="forbid")

    approval_id: int
    action: str
    arguments: dict[str, Any]
    record_type: str
    record_id: int
    summary: str = Field(description="One line: what happens if approved.")
    requested_by: str
    approvers: list[str] = Field(description="Emails of the people who may decide (admins may too).")
    expires_at: datetime
    preview: str | None = Field(default=None, description="The text to review, e.g. the email body.")


def current_context() -> RunContext:
    """The Context the graph was invoked with; tools get the actor only from here."""
    from langgraph.runtime import get_runtime

    context = get_runtime().context
    if context is None or not hasattr(context, "actor"):
        raise RuntimeError("tools run inside the salesgraph graph, invoked with a Context (context=Context(...))")
    return context


def run_configurable() -> dict[str, Any]:
    """The running graph's ``configurable`` (thread id, a LangGraph server's authenticated user); empty outside
    a run."""
    from langgraph.config import get_config

    try:
        return dict(get_config().get("configurable", {}))
    except RuntimeError:
        return {}


def current_thread_id() -> str | None:
    thread = run_configurable().get("thread_id")
    return str(thread) if thread is not None else None


def describe_error(exc: BaseException) -> ToolFailure:
    """Turn a refusal into the sentence the model (and the user) sees in the error ToolMessage."""
    if isinstance(exc, ValidationError):
        fields = {
            ".".join(str(p) for p in err["loc"]) or "arguments": err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        }
        text = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return ToolFailure(error=f"invalid arguments: {text}", kind="invalid_arguments", fields=fields)
    if isinstance(exc, InvalidInput):
        return ToolFailure(error=f"invalid input: {exc}", kind="invalid_arguments", fields=exc.problems)
    if isinstance(exc, NotFound):
        return ToolFailure(error=str(exc), kind="not_found")
    if isinstance(exc, PermissionDenied):
        return ToolFailure(error=f"not allowed: {exc}", kind="permission_denied")
    if isinstance(exc, ToolUnavailable):
        return ToolFailure(error=str(exc), kind="unavailable")
    return ToolFailure(error=str(exc) or type(exc).__name__, kind="error")


def resolve_id(
    session: Session,
    actor: Actor,
    kind: str,
    record_id: int | None,
    name: str | None,
    finder: Callable[..., list[Any]],
    label: Callable[[Any], str],
) -> int:
    """An id given, or the one visible record whose name matches; several matches ask the user to choose."""
    if record_id is not None:
        return record_id
    if not name:
        raise InvalidInput({kind: f"name the {kind}: give its id or its name"})
    matches = finder(session, actor, query=name, limit=6)
    if not matches:
        raise NotFound(f"no {kind} you can see matches {name!r}")
    exact = [m for m in matches if label(m).lower() == name.strip().lower()]
    if len(exact) == 1:
        return int(exact[0].id)
    if len(matches) > 1:
        options = "; ".join(f"#{m.id} {label(m)}" for m in matches[:5])
        raise InvalidInput({kind: f"{name!r} matches several: {options}. Say which (by id)."})
    return int(matches[0].id)


A = TypeVar("A", bound=ToolArgs)


@dataclass(frozen=True)
class ToolSpec:
    """One operation: its argument model and the function that runs it as the context's actor."""

    name: str
    args: type[ToolArgs]
    run: Callable[[RunContext, Any], ToolResult | ApprovalTicket]
    guarded: bool = False


def as_langchain_tool(spec: ToolSpec) -> BaseTool:
    """Wrap a spec as a LangChain tool: schema from ``tools.schemas``, description from ``prompts/tools``."""
    from langchain_core.tools import StructuredTool

    from prompts.loader import load

    def _invoke(**kwargs: Any) -> ToolResult | ApprovalTicket:
        # Validate again with defaults applied: LangChain passes only the keys the model sent.
        arguments = spec.args.model_validate(kwargs)
        return spec.run(current_context(), arguments)

    return StructuredTool.from_function(
        func=_invoke,
        name=spec.name,
        description=load(f"tools/{spec.name}"),
        args_schema=spec.args,
    )
