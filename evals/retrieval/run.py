"""Retrieval quality of memory search on the demo data: recall@5 and MRR for vector, keyword and hybrid (convex fusion, and rank fusion for comparison).

    python -m evals.retrieval.run [--home DIR] [--seed 7] [--anchor 2026-11-23]

With ``--home`` it uses that workspace (seeded with ``salesgraph seed --demo`` and synced with
``salesgraph memory sync``); otherwise it seeds a temporary one and indexes it (several minutes on 2 cores,
embedding ~5,600 interactions). Writes the labelled set to ``evals/retrieval/queries.yaml`` and the scores to
``evals/retrieval/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from evals.retrieval.labels import build_queries

HERE = Path(__file__).resolve().parent
# (name, mode, fusion): hybrid is the default convex fusion; hybrid_rrf the rank-fusion alternative
VARIANTS = (
    ("vector", "vector", "convex"),
    ("keyword", "keyword", "convex"),
    ("hybrid", "hybrid", "convex"),
    ("hybrid_rrf", "hybrid", "rrf"),
)
K = 5
MRR_DEPTH = 10


def score(ranked: list[int], relevant: frozenset[int]) -> tuple[float, float]:
    """(recall@K, reciprocal rank within MRR_DEPTH) of one ranked result list."""
    recall = len(set(ranked[:K]) & relevant) / len(relevant)
    rr = 0.0
    for position, iid in enumerate(ranked[:MRR_DEPTH], start=1):
        if iid in relevant:
            rr = 1.0 / position
            break
    return recall, rr


def evaluate(
    engine: Any,
    index: Any,
    queries: Sequence[Any],
    *,
    variants: tuple[tuple[str, str, str], ...] = VARIANTS,
    bucket: Callable[[Any], str] = lambda q: str(q.kind),
    scorer: Callable[[list[int], frozenset[int]], tuple[float, float]] = score,
) -> dict[str, Any]:
    """Every query through each (name, mode, fusion) variant as the workspace's admin: mean recall@5 and MRR per
    ``bucket`` of queries and overall, each query's own scores, and the mean time per query.

    ``queries`` need ``qid``, ``query``, ``account_id`` and ``relevant``; the held-out set passes its own bucket
    (scope) and scorer.
    """
    from sqlmodel import Session, col, select

    from memory.search import search_interactions
    from sales.permissions import actor_for_user
    from store.models import Role, User

    with Session(engine) as s:
        admin_user = s.exec(select(User).where(User.role == Role.ADMIN).order_by(col(User.id))).first()
        assert admin_user is not None, "the workspace has no admin: seed the demo first"
        admin = actor_for_user(s, admin_user)
    results: dict[str, Any] = {}
    per_query: dict[str, dict[str, Any]] = {q.qid: {} for q in queries}
    for name, mode, fusion in variants:
        totals: dict[str, dict[str, float]] = {}
        started = time.perf_counter()
        with Session(engine) as s:
            for q in queries:
                hits = search_interactions(
                    s,
                    admin,
                    index,
                    q.query,
                    account=q.account_id,
                    limit=MRR_DEPTH,
                    mode=mode,  # type: ignore[arg-type]
                    fusion=fusion,  # type: ignore[arg-type]
                )
                recall, rr = scorer([h.interaction_id for h in hits], q.relevant)
                per_query[q.qid][name] = {"recall@5": round(recall, 3), "rr": round(rr, 3)}
                for group in (bucket(q), "all"):
                    agg = totals.setdefault(group, {"n": 0, "recall@5": 0.0, "mrr": 0.0})
                    agg["n"] += 1
                    agg["recall@5"] += recall
                    agg["mrr"] += rr
        seconds = time.perf_counter() - started
        results[name] = {
            group: {"n": int(v["n"]), "recall@5": round(v["recall@5"] / v["n"], 3), "mrr": round(v["mrr"] / v["n"], 3)}
            for group, v in totals.items()
        }
        results[name]["mean_query_ms"] = round(seconds / len(queries) * 1000, 1)
    return {"scores": results, "per_query": per_query}


def main() -> None:
    parser = argparse.ArgumentParser(description="memory retrieval eval on the demo data")
    parser.add_argument("--home", type=Path, default=None, help="an existing seeded and synced workspace")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--anchor", default="2026-11-23")
    args = parser.parse_args()

    from sqlmodel import Session, select

    from memory.config import MemorySettings
    from memory.index import InteractionIndex
    from memory.indexer import sync
    from store.db import make_engine, session_scope, upgrade
    from store.models import Interaction

    home = args.home or Path(tempfile.mkdtemp(prefix="sg-eval-retrieval-"))
    engine = make_engine(f"sqlite:///{home / 'salesgraph.db'}")
    upgrade(engine)
    with Session(engine) as s:
        empty = s.exec(select(Interaction.id).limit(1)).first() is None
    if empty:
        from sales.demo import seed_demo

        with session_scope(engine) as s:
            seed_demo(s, seed=args.seed, anchor=date.fromisoformat(args.anchor))
    index = InteractionIndex.from_settings(MemorySettings(home_dir=home))
    t0 = time.perf_counter()
    report = sync(engine, index)
    sync_seconds = time.perf_counter() - t0

    with Session(engine) as s:
        rows = [(r.id, r.account_id, r.body) for r in s.exec(select(Interaction)).all() if r.id is not None]
    queries = build_queries(rows, seed=args.seed)
    (HERE / "queries.yaml").write_text(
        "# Labelled retrieval queries, generated by evals/retrieval/labels.py from the demo data\n"
        f"# (seed {args.seed}, anchor {args.anchor}); interaction ids refer to that workspace.\n"
        + yaml.safe_dump(
            [
                {
                    "id": q.qid,
                    "kind": q.kind,
                    "query": q.query,
                    "account_id": q.account_id,
                    "topic": q.topic,
                    "relevant": sorted(q.relevant),
                }
                for q in queries
            ],
            sort_keys=False,
            width=120,
        )
    )
    outcome = evaluate(engine, index, queries)
    summary = {
        "eval": "memory_retrieval",
        "demo": {"seed": args.seed, "anchor": args.anchor, "interactions": len(rows)},
        "queries": {
            "total": len(queries),
            "account": sum(q.kind == "account" for q in queries),
            "needle": sum(q.kind == "needle" for q in queries),
        },
        "metrics": {"recall_at": K, "mrr_depth": MRR_DEPTH},
        "embedding_model": index.embedder.model_id,
        "sync": {"indexed_now": report.indexed, "seconds": round(sync_seconds, 1)},
        "scores": outcome["scores"],
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    (HERE / "results.json").write_text(json.dumps({**summary, "per_query": outcome["per_query"]}, indent=1) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
