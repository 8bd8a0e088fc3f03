"""How to fuse the vector and keyword legs: RRF (with keyword weights) against convex score combinations.

Fetches each leg's top 40 once per labelled query (same filters as search_interactions), then scores the
fusion variants offline. Exploratory: the default (convex, weight 0.5) was fixed a priori, not picked from this
sweep, so the sweep shows sensitivity rather than a tuned optimum.

    python -m evals.retrieval.fusion_sweep --home DIR   (a seeded and synced demo workspace)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.retrieval.labels import build_queries


def main() -> None:
    parser = argparse.ArgumentParser(description="fusion variants on the labelled demo queries")
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    from sqlmodel import Session, col, select

    from memory.config import MemorySettings
    from memory.index import InteractionIndex
    from memory.keyword import keyword_search
    from memory.search import convex_fuse, rrf_fuse, sql_keep
    from store.db import make_engine
    from store.models import Interaction

    engine = make_engine(f"sqlite:///{args.home / 'salesgraph.db'}")
    index = InteractionIndex.from_settings(MemorySettings(home_dir=args.home))
    with Session(engine) as s:
        rows = [(r.id, r.account_id, r.body) for r in s.exec(select(Interaction)).all() if r.id is not None]
    queries = build_queries(rows)
    legs = []
    with Session(engine) as s:
        for q in queries:
            filters = [] if q.account_id is None else [col(Interaction.account_id) == q.account_id]
            keep = sql_keep(s, filters) if filters else None
            vector = {
                h.interaction_id: 1 - h.distance
                for h in index.query(index.embed_query(q.query), owners=None, keep=keep, n=40)
            }
            keyword = dict(keyword_search(s, q.query, filters, limit=40))
            legs.append((vector, keyword))

    def evaluate(fuse: object) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for q, (vector, keyword) in zip(queries, legs, strict=True):
            scores = fuse(vector, keyword)  # type: ignore[operator]
            ranked = sorted(scores, key=lambda i: -scores[i])
            recall = len(set(ranked[:5]) & q.relevant) / len(q.relevant)
            rr = next((1 / p for p, i in enumerate(ranked[:10], 1) if i in q.relevant), 0.0)
            for bucket in (q.kind, "all"):
                agg = out.setdefault(bucket, [0, 0.0, 0.0])
                agg[0] += 1
                agg[1] += recall
                agg[2] += rr
        return {b: [round(v[1] / v[0], 3), round(v[2] / v[0], 3)] for b, v in out.items()}

    def rrf_weighted(weight: float) -> object:
        def fuse(vector: dict[int, float], keyword: dict[int, float]) -> dict[int, float]:
            v = rrf_fuse([sorted(vector, key=lambda i: -vector[i])])
            k = rrf_fuse([sorted(keyword, key=lambda i: -keyword[i])])
            return {i: v.get(i, 0.0) + weight * k.get(i, 0.0) for i in v.keys() | k.keys()}

        return fuse

    def convex(weight: float) -> object:
        def fuse(vector: dict[int, float], keyword: dict[int, float]) -> dict[int, float]:
            return convex_fuse(vector, keyword, weight)

        return fuse

    variants: dict[str, object] = {
        "vector": lambda v, k: v,
        "keyword": lambda v, k: k,
        **{f"rrf_keyword_weight_{w}": rrf_weighted(w) for w in (1.0, 2.0, 3.0)},
        **{f"convex_vector_weight_{a}": convex(a) for a in (0.3, 0.5, 0.7)},
    }
    result = {name: evaluate(fuse) for name, fuse in variants.items()}
    print(json.dumps({"metric": "[recall@5, MRR@10] per query kind", "variants": result}, indent=1))


if __name__ == "__main__":
    main()
