"""The typed run Context: who is asking and the services their tools use, passed to the graph at invoke time.

Tools read it through LangGraph's runtime (``get_runtime``), never through graph state or globals, so a tool
always acts as the person the front door authenticated, whatever the model says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from sales.approvals import QUALIFY_LEAD, SEND_FOLLOW_UP, ApprovalPolicy, ApproverRule

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from app.services import Services
    from app.settings import Settings
    from sales.permissions import Actor


class ApprovalSettings(BaseSettings):
    """Who decides guarded actions: ``SALESGRAPH_APPROVAL_SEND``, ``_QUALIFY`` (owner_or_manager | manager)
    and ``SALESGRAPH_APPROVAL_ADMINS_DECIDE``."""

    model_config = SettingsConfigDict(env_prefix="SALESGRAPH_APPROVAL_", env_file=".env", extra="ignore")

    send: ApproverRule = "owner_or_manager"
    qualify: ApproverRule = "manager"
    admins_decide: bool = True

    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(
            rules=((SEND_FOLLOW_UP, self.send), (QUALIFY_LEAD, self.qualify)), admins_decide=self.admins_decide
        )


def approval_policy_from_env() -> ApprovalPolicy:
    return ApprovalSettings().policy()


@dataclass
class Context:
    actor: Actor
    services: Services
    approval_policy: ApprovalPolicy = field(default_factory=approval_policy_from_env)
    today_override: date | None = None
    """Pin "today" (tests, replayed evals); None means the real date."""
    company: str = "your company"
    _index: Any = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def today(self) -> date:
        from store.types import utcnow

        return self.today_override or utcnow().date()

    def vector_index(self) -> Any:
        """The interaction index, opened on first use (Chroma is heavy) and shared through the services."""
        if self._index is None:
            cached = self.services.extras.get("vector_index")
            if cached is None:
                from memory.config import MemorySettings
                from memory.index import InteractionIndex

                cached = InteractionIndex.from_settings(MemorySettings.from_app(self.settings))
                self.services.extras["vector_index"] = cached
            self._index = cached
        return self._index
