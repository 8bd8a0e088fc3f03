"""Chat model resolution, in one place: "offline" or "openai:<model>" becomes a chat model; nothing else builds one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from app.settings import Settings


class ModelUnavailable(RuntimeError):
    """The requested model cannot be built here; the message says what to install or configure."""


def resolve_model(spec: str | None = None, settings: Settings | None = None) -> BaseChatModel:
    """Build the chat model named by ``spec`` (default: ``settings.model``)."""
    from app.settings import get_settings

    settings = settings or get_settings()
    spec = (spec or settings.model).strip()
    if spec == "offline":
        try:
            from agent.offline import OfflineChatModel  # type: ignore[attr-defined,unused-ignore]
        except ImportError as exc:
            raise ModelUnavailable(
                "the offline model is not available in this build (agent.offline.OfflineChatModel is missing); "
                "use --model openai:<model> with SALESGRAPH_OPENAI_BASE_URL / SALESGRAPH_OPENAI_API_KEY"
            ) from exc
        model: BaseChatModel = OfflineChatModel()
        return model
    if spec.startswith("openai:"):
        name = spec.removeprefix("openai:").strip()
        if not name:
            raise ModelUnavailable("name the model after 'openai:', e.g. openai:gpt-4o-mini")
        return _openai_model(name, settings)
    raise ModelUnavailable(f"unknown model {spec!r}: use 'offline' or 'openai:<model>'")


def _openai_model(name: str, settings: Settings) -> BaseChatModel:
    from pydantic import SecretStr

    from agent.openai_chat import RepairingChatOpenAI

    key = settings.openai_api_key
    if key is None:
        if not settings.openai_base_url:
            raise ModelUnavailable(
                "openai models need SALESGRAPH_OPENAI_API_KEY (or SALESGRAPH_OPENAI_BASE_URL for a local "
                "OpenAI-compatible server such as vLLM, Ollama or LM Studio)"
            )
        # Local OpenAI-compatible servers usually ignore the key, but the client insists on one.
        key = SecretStr("not-needed")
    return RepairingChatOpenAI(
        model=name,
        base_url=settings.openai_base_url,
        api_key=key,
        temperature=0,
        streaming=True,
        max_retries=2,
        timeout=120,
        max_tokens=settings.openai_max_tokens,
        compact_tools=settings.openai_compact_tools,
    )
