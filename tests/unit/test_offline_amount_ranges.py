"""Amount ranges in pipeline questions become amount_min and amount_max, lower bound first."""

from __future__ import annotations

from datetime import date

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import StructuredTool

from agent.offline import OfflineChatModel
from tools.schemas import PipelineQuestionArgs

TOOL = StructuredTool.from_function(
    lambda **_: "{}", name="pipeline_question", description="Ask the pipeline.", args_schema=PipelineQuestionArgs
)


@pytest.mark.parametrize(
    ("question", "low", "high"),
    [
        ("How many open deals between $10,000 and $50,000 do we have?", 10_000, 50_000),
        ("total amount of won deals from 5k to 20k by owner", 5_000, 20_000),
        ("how many open deals between 50k and 10k?", 10_000, 50_000),
        ("how many open deals over $100k", 100_000, None),
    ],
)
def test_amount_range(question: str, low: float | None, high: float | None) -> None:
    reply = OfflineChatModel(today=date(2026, 11, 23)).bind_tools([TOOL]).invoke([HumanMessage(question)])
    args = reply.tool_calls[0]["args"]  # type: ignore[attr-defined]
    assert (args.get("amount_min"), args.get("amount_max")) == (low, high)


@pytest.mark.parametrize(
    ("question", "currency"),
    [
        ("how many open deals over $100k", "USD"),
        ("how many open deals over €50k?", "EUR"),
        ("how many open deals are over 50,000 euros?", "EUR"),
        ("how many open deals between ¥1m and ¥5m", "JPY"),
        ("total amount of won deals under GBP 20k", "GBP"),
        ("how many open deals over 100k", None),  # unmarked: the tool decides (the book's one currency, else USD)
        ("how many enterprise deals are open", None),
    ],
)
def test_amount_threshold_currency(question: str, currency: str | None) -> None:
    reply = OfflineChatModel(today=date(2026, 11, 23)).bind_tools([TOOL]).invoke([HumanMessage(question)])
    args = reply.tool_calls[0]["args"]  # type: ignore[attr-defined]
    assert args.get("amount_currency") == currency
    assert args.get("amount_min") is not None or args.get("amount_max") is not None
