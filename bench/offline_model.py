"""How long one turn of the offline chat model takes, against LangChain's own scripted fake model.

    python -m bench.offline_model [--repeat 5]

Runs every phrasing of the offline model's test corpus (tuned + held-out, about 390 requests over 14 tools) as a
fresh one-message conversation through ``invoke`` (the same path the graph uses), ``--repeat`` times, plus the
answer turn for a tool result. Reports the cold start (imports + ``warm_up``), per-turn latency
percentiles, throughput and peak Python allocations (tracemalloc). The baseline is ``GenericFakeChatModel``
replaying a fixed message through the same ``invoke`` machinery: the framework cost any chat model pays. Target:
a turn in milliseconds. Prints JSON and writes bench/results/offline_model.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from datetime import date
from typing import Any

from bench.memory_common import write_result

TODAY = date(2026, 11, 23)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    start = time.perf_counter()
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from agent.offline import OfflineChatModel

    model = OfflineChatModel(today=TODAY)
    model.warm_up()  # spell-check dictionary, dateparser, phonenumbers
    cold_s = time.perf_counter() - start

    from tests.unit.test_offline_corpus import ALL_CASES
    from tests.unit.test_offline_heldout import HELD_OUT

    texts = [text for cases in ALL_CASES.values() for text, _, _ in cases] + [text for text, _, _ in HELD_OUT]
    answer_turn = [
        HumanMessage("move Acme to negotiation"),
        AIMessage("", tool_calls=[{"name": "move_deal", "args": {}, "id": "c1", "type": "tool_call"}]),
        ToolMessage(
            '{"kind": "move_deal", "receipt_id": 345, "deal_id": 7, "deal_name": "Acme", '
            '"from_stage": "Proposal", "to_stage": "Negotiation"}',
            tool_call_id="c1",
        ),
    ]

    tracemalloc.start()
    turns: list[float] = []
    answers: list[float] = []
    for _ in range(options.repeat):
        for text in texts:
            t0 = time.perf_counter()
            model.invoke([HumanMessage(text)])
            turns.append(time.perf_counter() - t0)
        for _ in range(50):
            t0 = time.perf_counter()
            model.invoke(answer_turn)
            answers.append(time.perf_counter() - t0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    baseline: list[float] = []
    for _ in range(options.repeat):
        for text in texts:
            fake = GenericFakeChatModel(messages=iter([AIMessage("ok")]))
            t0 = time.perf_counter()
            fake.invoke([HumanMessage(text)])
            baseline.append(time.perf_counter() - t0)

    result: dict[str, Any] = {
        "benchmark": "offline_model",
        "requests": len(texts),
        "repeat": options.repeat,
        "cold_first_turn_s": round(cold_s, 3),
        "request_turn": _percentiles(turns) | {"mean_ms": round(statistics.mean(turns) * 1000, 3)},
        "answer_turn": _percentiles(answers) | {"mean_ms": round(statistics.mean(answers) * 1000, 3)},
        "turns_per_s": round(len(turns) / sum(turns), 1),
        "baseline_generic_fake_chat_model": _percentiles(baseline)
        | {"mean_ms": round(statistics.mean(baseline) * 1000, 3)},
        "peak_traced_alloc_mb": round(peak / 1e6, 2),
    }
    write_result("offline_model", result)


SUITE = [{"label": "", "args": ["--repeat", "3"], "timeout_s": 600}]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [
        {
            "figure": "offline model, one request turn, p50",
            "ours": result["request_turn"]["p50_ms"],
            "baseline": result["baseline_generic_fake_chat_model"]["p50_ms"],
            "baseline_name": "LangChain GenericFakeChatModel",
            "unit": "ms",
        }
    ]


if __name__ == "__main__":
    main()
