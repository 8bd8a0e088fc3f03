"""The front door for a LangGraph server (``langgraph dev``, LangGraph Studio, Agent Inbox): langgraph.json names
``graph`` and ``auth`` here.

A LangGraph server hands a run only JSON, while our tools need a typed Context holding the store and the person
asking. So the server's graph is a thin outer graph: its one node turns the run's authenticated user (set by
``auth`` from a salesgraph API token, ``salesgraph tokens create``) into a Context and runs the salesgraph graph
as a subgraph with it. Interrupts (approvals, with Agent Inbox's HumanInterrupt shape) surface through the outer
graph, and a HumanResponse resumes them, decided as the user who answers; the server's own checkpointer keeps
the threads.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, NotRequired

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from app.services import Services

_GUARD = threading.Lock()
_SERVICES: dict[str, Any] = {}


def _services() -> Services:
    """The workspace's services, built once per server process from SALESGRAPH_* settings."""
    from app.services import build_services
    from app.settings import Settings

    with _GUARD:
        if "services" not in _SERVICES:
            _SERVICES["services"] = build_services(Settings())
        return _SERVICES["services"]  # type: ignore[no-any-return]


def run_user(config: RunnableConfig) -> str:
    """The email the server authenticated for this run; refused when the run is anonymous."""
    from sales.errors import PermissionDenied

    user = (config.get("configurable") or {}).get("langgraph_auth_user_id")
    if not user:
        raise PermissionDenied(
            "this run has no authenticated user: langgraph.json's auth (bots/langgraph_server.py:auth) reads a "
            "salesgraph API token from the Authorization header (`salesgraph tokens create --as EMAIL`)"
        )
    return str(user)


def build_server_graph(
    services: Services, model: BaseChatModel | str | None = None, checkpointer: BaseCheckpointSaver[str] | None = None
) -> Any:
    """The outer graph: one node that runs the salesgraph graph as the person whose conversation it is.

    The thread belongs to whoever started it (``asked_by``): tools always act as them, as in Slack and the CLI.
    Someone else may only resume it, answering an approval it waits on (Agent Inbox), and the approval node
    checks that they may decide it; a new message from someone else in that thread is refused.
    ``checkpointer`` is for tests; under a LangGraph server it is None and the server supplies its own.
    """
    from langgraph.graph import END, START, StateGraph

    from agent.context import Context
    from agent.graph import build_graph
    from agent.models import resolve_model
    from agent.state import AgentState
    from sales.errors import PermissionDenied
    from sales.permissions import load_actor
    from store.db import session_scope

    class ServerState(AgentState):
        asked_by: NotRequired[str]

    chat_model = model if model is not None and not isinstance(model, str) else resolve_model(model, services.settings)
    inner = build_graph(chat_model)  # a subgraph: it checkpoints in the outer graph's checkpointer

    def conversation(state: ServerState, config: RunnableConfig) -> dict[str, Any]:
        """A new message: the thread is its first writer's, and only they write in it (a resume skips this)."""
        user = run_user(config)
        asker = state.get("asked_by") or user
        if user != asker:
            raise PermissionDenied(
                f"this conversation is {asker}'s; you may answer an approval it waits on, not write in it"
            )
        return {"asked_by": asker}

    def salesgraph(state: ServerState, config: RunnableConfig) -> dict[str, Any]:
        run_user(config)  # an anonymous resume is refused too
        with session_scope(services.engine, read_only=True) as s:
            actor = load_actor(s, state["asked_by"])
        payload: Any = {k: v for k, v in state.items() if k != "asked_by"}
        result: dict[str, Any] = inner.invoke(payload, config, context=Context(actor=actor, services=services))
        return result

    builder = StateGraph(ServerState)
    builder.add_node("conversation", conversation)
    builder.add_node("salesgraph", salesgraph)
    builder.add_edge(START, "conversation")
    builder.add_edge("conversation", "salesgraph")
    builder.add_edge("salesgraph", END)
    return builder.compile(checkpointer=checkpointer, name="salesgraph")


async def graph(config: RunnableConfig) -> Any:
    """The graph factory langgraph.json points at (the server calls it for each run, on its event loop, so the
    synchronous store and model are set up in a worker thread, once per process)."""
    import asyncio

    return await asyncio.to_thread(_graph)


def _graph() -> Any:
    with _GUARD:
        built = _SERVICES.get("graph")
    if built is None:
        built = build_server_graph(_services())
        with _GUARD:
            _SERVICES["graph"] = built
    return built


def _make_auth() -> Any:
    """LangGraph server auth: a ``Bearer`` salesgraph API token becomes the run's user (its email), so tools act
    with that user's permissions and an Agent Inbox answer is decided by them."""
    try:
        from langgraph_sdk import Auth
    except ImportError:  # only a LangGraph server (langgraph-cli[inmem]) needs it
        return None

    auth = Auth()

    def check(token: str | None) -> str:
        from sales.api_tokens import authenticate as check_token
        from store.db import session_scope

        with session_scope(_services().engine) as s:
            return check_token(s, token).email

    @auth.authenticate
    async def authenticate(authorization: str | None) -> dict[str, Any]:
        import asyncio

        from sales.errors import SalesError

        token = (authorization or "").removeprefix("Bearer ").strip() or None
        try:
            email = await asyncio.to_thread(check, token)  # the store is synchronous; keep the server's loop free
        except SalesError as exc:
            raise Auth.exceptions.HTTPException(status_code=401, detail=str(exc)) from None
        return {"identity": email, "display_name": email, "is_authenticated": True}

    return auth


auth = _make_auth()
