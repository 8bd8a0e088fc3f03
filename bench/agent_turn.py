"""One chat turn end to end: our graph on the demo company against a bare LangGraph ReAct loop doing the same steps.

    python -m bench.agent_turn [--repeat 30]

Ours: ``agent.turns.run_turn`` with the offline model on a freshly seeded demo store (SQLite) and the workspace
checkpointer, asking the tour's manager questions (model → pipeline_question tool with permission, vocabulary and
SQL → answer; a new thread each time). The baseline: a bare LangGraph ``StateGraph`` (MessagesState, a model node,
``ToolNode``, ``tools_condition``, the in-memory checkpointer) whose scripted model calls one tool that returns a
constant and then answers: what any LangGraph agent pays per turn before doing any work. Prints JSON and writes
bench/results/agent_turn.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.memory_common import write_result


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(samples),
    }


def bare_langgraph(repeat: int) -> dict[str, float]:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    @tool
    def pipeline(metric: str) -> str:
        """A constant pipeline figure."""
        return '{"rows": [{"key": "a", "value": 1}]}'

    class Scripted(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    def script() -> Any:
        while True:
            yield AIMessage("", tool_calls=[{"name": "pipeline", "args": {"metric": "count"}, "id": "c1"}])
            yield AIMessage("Here are the figures.")

    model = Scripted(messages=script())

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode([pipeline]))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    builder.add_edge("tools", "model")
    graph = builder.compile(checkpointer=InMemorySaver())
    samples = []
    for i in range(repeat + 1):
        t = time.perf_counter()
        graph.invoke(
            {"messages": [HumanMessage("total open amount by owner")]}, {"configurable": {"thread_id": f"b{i}"}}
        )
        if i:  # the first turn warms imports and compilation
            samples.append(time.perf_counter() - t)
    return _stats(samples)


def ours(repeat: int) -> dict[str, Any]:
    import os

    from agent.context import Context
    from agent.turns import new_thread_id, open_agent, run_turn
    from app.services import build_services
    from app.settings import Settings
    from bots.tour import MANAGER_QUESTIONS
    from sales.demo import DEMO_MANAGER_EMAIL, seed_demo
    from sales.permissions import load_actor
    from store.db import session_scope

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SALESGRAPH_HOME"] = tmp
        services = build_services(Settings(home_dir=Path(tmp)))
        with session_scope(services.engine) as s:
            seed_demo(s, seed=7)
        with session_scope(services.engine) as s:
            manager = load_actor(s, DEMO_MANAGER_EMAIL)
        ctx = Context(actor=manager, services=services, company="the demo company")
        per_question: dict[str, list[float]] = {q: [] for q in MANAGER_QUESTIONS}
        with open_agent(services, "offline") as graph:
            run_turn(graph, ctx, new_thread_id("bench"), text=MANAGER_QUESTIONS[0])  # warm up
            for _ in range(repeat):
                for question in MANAGER_QUESTIONS:
                    t = time.perf_counter()
                    outcome = run_turn(graph, ctx, new_thread_id("bench"), text=question)
                    per_question[question].append(time.perf_counter() - t)
                    assert outcome.answer, question
        services.engine.dispose()
    every = [x for samples in per_question.values() for x in samples]
    return {"all": _stats(every), "per_question": {q: _stats(v) for q, v in per_question.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    result = {
        "benchmark": "agent_turn",
        "repeat": args.repeat,
        "bare_langgraph_one_tool_turn": bare_langgraph(args.repeat * 3),
        "ours_demo_manager_questions": ours(args.repeat),
    }
    write_result("agent_turn", result)


SUITE = [{"label": "demo", "args": ["--repeat", "10"], "timeout_s": 600}]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [
        {
            "figure": "one chat turn with one tool call, p50",
            "ours": result["ours_demo_manager_questions"]["all"]["p50_ms"],
            "baseline": result["bare_langgraph_one_tool_turn"]["p50_ms"],
            "baseline_name": "bare LangGraph ReAct loop, constant tool",
            "unit": "ms",
        }
    ]


if __name__ == "__main__":
    main()
