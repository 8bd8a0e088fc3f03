"""The offline chat model: deterministic intents and slots, clarifying questions, answers from tool results.

Light to import (LangChain core, pydantic, regexes); no network, no API key, no ML libraries.
"""

from agent.offline.model import OfflineChatModel

__all__ = ["OfflineChatModel"]
