"""Shared builders for the agent, tool and approval tests: a small team and a lead (no tests in this module)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from sales.permissions import Actor, actor_for_user
from store.db import session_scope
from store.models import Lead, Role, User


@dataclass(frozen=True)
class Team:
    admin: Actor
    manager: Actor
    rep: Actor
    other_manager: Actor
    other_rep: Actor
    lead_id: int


def seed_team(engine: Engine) -> Team:
    """Mia manages Rita; Otto manages Olga; Ada is the admin. Rita owns one new lead (Dana at Acme)."""
    with session_scope(engine) as s:
        admin = User(name="Ada Admin", email="ada@example.com", role=Role.ADMIN)
        mia = User(name="Mia Manager", email="mia@example.com", role=Role.MANAGER, team="East")
        otto = User(name="Otto Manager", email="otto@example.com", role=Role.MANAGER, team="West")
        s.add_all([admin, mia, otto])
        s.flush()
        rita = User(name="Rita Rep", email="rita@example.com", role=Role.REP, manager_id=mia.id, team="East")
        olga = User(name="Olga Rep", email="olga@example.com", role=Role.REP, manager_id=otto.id, team="West")
        s.add_all([rita, olga])
        s.flush()
        lead = Lead(name="Dana Fox", email="dana@acme.example", company="Acme Corp", owner_id=rita.id, region="East")
        s.add(lead)
        s.flush()
        assert lead.id is not None
        return Team(
            admin=actor_for_user(s, admin),
            manager=actor_for_user(s, mia),
            rep=actor_for_user(s, rita),
            other_manager=actor_for_user(s, otto),
            other_rep=actor_for_user(s, olga),
            lead_id=lead.id,
        )


# --- a scripted chat model and a graph harness -------------------------------------------------------------

import json  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

from prompts.loader import unfence  # noqa: E402

Step = AIMessage | Callable[[list[BaseMessage]], AIMessage]


def call(tool: str, /, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": tool, "args": args, "id": f"call_{tool}", "type": "tool_call"}])


def last_result(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The JSON of the latest successful tool result (``{}`` when the latest was an error)."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            text = unfence(str(message.content))  # the model sees tool results inside a data fence
            return json.loads(text) if message.status != "error" else {"error": text}
    return {}


def answer_with_receipt(messages: list[BaseMessage]) -> AIMessage:
    result = last_result(messages)
    if "error" in result:
        return AIMessage(content=f"That did not happen: {result['error']}")
    return AIMessage(content=f"Done ({result.get('kind')}), receipt #{result.get('receipt_id')}.")


class ScriptedChatModel(BaseChatModel):
    """Answers with ``steps[n]`` where n counts the AI messages already in the conversation.

    Counting from the conversation (not an internal cursor) makes the script survive a process restart:
    a resumed thread picks up at the right step. Supports ``bind_tools`` like a real chat model.
    """

    steps: list[Any]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        n = sum(isinstance(m, AIMessage) for m in messages)
        step = self.steps[n] if n < len(self.steps) else AIMessage(content="(script finished)")
        message = step(messages) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=message)])


def services_for(engine: Engine, home: Path, **settings: Any) -> Any:
    from app.services import Services
    from app.settings import Settings

    return Services(settings=Settings(home=home, _env_file=None, **settings), engine=engine)  # type: ignore[call-arg]
