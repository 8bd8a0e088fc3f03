"""Index build and search latency at 100,000 interactions: our sharded layout against plain filtered Chroma.

Builds a store (SQLite by default) with 40 users in 4 teams, 400 accounts, 4,000 deals and ``--n`` interactions
written from the demo templates, then runs ``memory.indexer.sync`` (chunking, sentiment, Chroma writes to the
owner collections and the all-collection, SQL bookkeeping) and measures search latency per scenario.

Embedding 100,000 texts on this 2-core machine takes far longer than everything else (see bench.memory_embed),
so by default the build uses *pool vectors*: ``--pool`` real MiniLM embeddings of demo texts, each interaction's
vector being a pool vector (chosen by a hash of its text) plus a small seeded perturbation (cosine about 0.9 to
the pool vector). The JSON reports the build time without embedding and projects the full time from the
measured throughput; ``--real-embeddings`` embeds everything for real instead. Query vectors are always real.

    python -m bench.memory_index [--n 100000] [--pool 2000] [--queries 200] [--real-embeddings]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.memory_common import RESULTS, percentiles, write_result
from bench.memory_texts import make_texts

QUERIES = [
    "what did they say about pricing?",
    "which deals mention a competitor?",
    "security review and SOC 2 report",
    "legal redlines on liability",
    "budget approval from the CFO",
    "discount request",
    "champion left the company",
    "procurement vendor questionnaire",
    "data residency in the EU",
    "integration with Salesforce",
    "they signed the contract",
    "deal lost to a competitor on price",
    "schedule a demo next week",
    "pilot success criteria",
    "renewal at risk",
    "Brightmetrics",
    "DataHarbor cheaper",
    "verbal commit",
    "SSO with Okta",
    "forecast accuracy problems",
]


class PoolEmbedder:
    """Real MiniLM vectors for a pool of texts; any other text gets a pool vector perturbed by its own hash."""

    def __init__(self, pool: np.ndarray, model_id: str) -> None:
        self.pool = pool
        self._model_id = model_id
        self.seconds = 0.0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return int(self.pool.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(h)
            v = self.pool[h % len(self.pool)] + rng.standard_normal(self.dimension).astype(np.float32) * 0.025
            out[i] = v / np.linalg.norm(v)
        self.seconds += time.perf_counter() - t0
        return out


class TimedEmbedder:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.inner.embed(texts)
        self.seconds += time.perf_counter() - t0
        return np.asarray(out)


def populate(engine: Any, n: int) -> dict[str, Any]:
    from sqlalchemy import insert

    from store.db import session_scope
    from store.models import Account, Deal, Interaction, Role, User

    now = datetime(2026, 11, 1, tzinfo=UTC)
    teams: dict[int, list[int]] = {}
    reps: list[int] = []
    with session_scope(engine) as s:
        admin = User(name="Admin", email="admin@bench.example", role=Role.ADMIN)
        s.add(admin)
        s.flush()
        for t in range(4):
            manager = User(name=f"Manager {t}", email=f"m{t}@bench.example", role=Role.MANAGER, team=f"T{t}")
            s.add(manager)
            s.flush()
            assert manager.id is not None
            teams[manager.id] = []
            for r in range(9):
                rep = User(name=f"Rep {t}.{r}", email=f"r{t}.{r}@bench.example", role=Role.REP, manager_id=manager.id)
                s.add(rep)
                s.flush()
                assert rep.id is not None
                teams[manager.id].append(rep.id)
                reps.append(rep.id)
        accounts = [Account(name=f"Account {i}", owner_id=reps[i % len(reps)]) for i in range(400)]
        s.add_all(accounts)
        s.flush()
        deals = [
            Deal(
                name=f"Deal {i}",
                account_id=accounts[i % 400].id,
                owner_id=accounts[i % 400].owner_id or 0,
                stage="Discovery",
            )
            for i in range(4000)
        ]
        s.add_all(deals)
        s.flush()
        deal_rows = [(d.id, d.account_id, d.owner_id) for d in deals]
    texts = make_texts(n, seed=7)
    t0 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i, (channel, subject, body) in enumerate(texts):
        deal_id, account_id, owner_id = deal_rows[i % len(deal_rows)]
        occurred = now - timedelta(minutes=(i * 5) % (365 * 24 * 60))
        batch.append(
            {
                "deal_id": deal_id,
                "account_id": account_id,
                "user_id": owner_id,
                "channel": channel,
                "direction": "internal",
                "subject": subject,
                "body": body,
                "occurred_at": occurred,
                "created_at": occurred,
                "updated_at": occurred,
            }
        )
        if len(batch) == 5000:
            with session_scope(engine) as s:
                s.execute(insert(Interaction), batch)
            batch = []
    if batch:
        with session_scope(engine) as s:
            s.execute(insert(Interaction), batch)
    return {"teams": teams, "reps": reps, "sql_insert_seconds": round(time.perf_counter() - t0, 1)}


def recover_world(engine: Any) -> dict[str, Any]:
    from sqlmodel import Session, col, select

    from store.models import Role, User

    with Session(engine) as s:
        users = s.exec(select(User).order_by(col(User.id))).all()
    teams: dict[int, list[int]] = {u.id: [] for u in users if u.role == Role.MANAGER and u.id is not None}
    reps = []
    for u in users:
        if u.role == Role.REP and u.id is not None and u.manager_id in teams:
            teams[u.manager_id].append(u.id)
            reps.append(u.id)
    return {"teams": teams, "reps": reps, "sql_insert_seconds": None}


def main() -> None:
    parser = argparse.ArgumentParser(description="memory index build and search latency at scale")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--real-embeddings", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="reuse a folder a previous run built (skips populate and build)"
    )
    args = parser.parse_args()

    from sqlmodel import Session, col

    from memory.config import MemorySettings
    from memory.embeddings import MiniLMOnnxEmbedder
    from memory.index import InteractionIndex, open_chroma_client
    from memory.indexer import sync
    from memory.search import search_interactions, sql_keep
    from sales.permissions import actor_for_user
    from store.db import make_engine, session_scope, upgrade
    from store.models import Interaction, User

    reuse = args.workdir is not None and (args.workdir / "bench.db").exists()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sg-bench-memory-"))
    print(f"working in {work}", flush=True)
    engine = make_engine(args.database_url or f"sqlite:///{work / 'bench.db'}")
    upgrade(engine)
    world = recover_world(engine) if reuse else populate(engine, args.n)
    real = MiniLMOnnxEmbedder()

    embedder: Any
    if args.real_embeddings:
        embedder = TimedEmbedder(real)
    else:
        cache = RESULTS / f"memory_pool_{args.pool}.npy"
        if cache.exists():
            pool = np.load(cache)
        else:
            pool = real.embed([f"{s}\n{b}" if s else b for _, s, b in make_texts(args.pool, seed=3)])
            RESULTS.mkdir(parents=True, exist_ok=True)
            np.save(cache, pool)
        embedder = PoolEmbedder(pool, real.model_id)
    index = InteractionIndex(open_chroma_client(MemorySettings(home_dir=work)), embedder)

    t0 = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"  indexed {done}/{total} ({time.perf_counter() - t0:.0f}s)", flush=True)

    report = sync(engine, index, progress=progress)
    build_seconds = time.perf_counter() - t0
    embed_seconds = embedder.seconds
    previous = RESULTS / "memory_index.json"
    build_info: dict[str, Any]
    if reuse and previous.exists():
        # The index was built by an earlier run in this folder: keep that run's build numbers.
        old = json.loads(previous.read_text())
        build_info = {k: old[k] for k in old if k.startswith(("sql_insert", "sync_", "index_interactions", "chunks"))}
        build_info["reused_build_from_previous_run"] = True
        # What an incremental sync costs when nothing changed: the reconcile pass over every index entry.
        build_info["noop_sync_seconds"] = round(build_seconds, 1)
        build_info["noop_sync_indexed"] = report.indexed
    else:
        build_info = {
            "sql_insert_seconds": world["sql_insert_seconds"],
            "chunks": report.chunks,
            "sync_seconds_total": round(build_seconds, 1),
            "sync_seconds_embedding": round(embed_seconds, 1),
            "sync_seconds_without_embedding": round(build_seconds - embed_seconds, 1),
            "index_interactions_per_s_without_embedding": round(args.n / max(build_seconds - embed_seconds, 1e-9), 1),
        }

    # Query vectors are real; the index routes them by owner exactly as search_interactions does.
    query_vectors = real.embed(QUERIES)
    rng = np.random.default_rng(0)
    teams: dict[int, list[int]] = world["teams"]
    reps: list[int] = world["reps"]
    manager_id = next(iter(teams))
    team = frozenset([manager_id, *teams[manager_id]])
    since = datetime(2026, 8, 1, tzinfo=UTC).timestamp()
    all_name = index.shard_name(None)
    plain = index.client.get_collection(all_name)

    def run(fn: Any) -> dict[str, float]:
        latencies = []
        for i in range(args.queries):
            v = query_vectors[i % len(query_vectors)][None, :]
            rep = reps[int(rng.integers(len(reps)))]
            t = time.perf_counter()
            fn(v, rep)
            latencies.append((time.perf_counter() - t) * 1000)
        return percentiles(latencies)

    scenarios: dict[str, dict[str, float]] = {}
    # The raw index with the keep check search_interactions builds: SQL over the candidate ids.
    keep_session = Session(engine)
    team_ids = sorted(team)

    def keep_for(*clauses: Any) -> Any:
        return sql_keep(keep_session, list(clauses))

    since_dt = datetime.fromtimestamp(since, UTC)
    scenarios["unfiltered_admin"] = run(lambda v, rep: index.query(v, owners=None, n=20))
    scenarios["rep_own_notes"] = run(lambda v, rep: index.query(v, owners=frozenset({rep}), n=20))
    scenarios["manager_team_10_owners"] = run(
        lambda v, rep: index.query(v, owners=team, n=20, keep=keep_for(col(Interaction.user_id).in_(team_ids)))
    )
    scenarios["rep_channel_email_since"] = run(
        lambda v, rep: index.query(
            v,
            owners=frozenset({rep}),
            n=20,
            keep=keep_for(
                col(Interaction.user_id) == rep,
                col(Interaction.channel) == "email",
                col(Interaction.occurred_at) >= since_dt,
            ),
        )
    )
    scenarios["admin_channel_call"] = run(
        lambda v, rep: index.query(v, owners=None, n=20, keep=keep_for(col(Interaction.channel) == "call"))
    )
    scenarios["manager_channel_call"] = run(
        lambda v, rep: index.query(
            v,
            owners=team,
            n=20,
            keep=keep_for(col(Interaction.user_id).in_(team_ids), col(Interaction.channel) == "call"),
        )
    )
    # Baseline: one collection with Chroma's own metadata filter (what a plain setup would do).
    scenarios["baseline_chroma_unfiltered"] = run(lambda v, rep: plain.query(query_embeddings=v, n_results=40))
    scenarios["baseline_chroma_where_rep"] = run(
        lambda v, rep: plain.query(query_embeddings=v, n_results=60, where={"owner_id": rep})
    )
    scenarios["baseline_chroma_where_team"] = run(
        lambda v, rep: plain.query(query_embeddings=v, n_results=60, where={"owner_id": {"$in": sorted(team)}})
    )
    scenarios["baseline_chroma_where_channel"] = run(
        lambda v, rep: plain.query(query_embeddings=v, n_results=60, where={"channel": "call"})
    )
    keep_session.close()

    # End to end through search_interactions: vector leg (with SQL pre-filtering where filters apply), SQL keyword
    # leg, fusion and the SQL re-check. Query vectors are precomputed (embedding one query is measured separately
    # in bench.memory_embed) so the numbers are the search itself.
    index.embedder = real
    cached = {q: query_vectors[i][None, :] for i, q in enumerate(QUERIES)}
    index.embed_query = lambda text: cached[text]  # type: ignore[method-assign]
    end_to_end: dict[str, dict[str, float]] = {}
    with session_scope(engine) as s:
        admin = actor_for_user(s, s.get(User, 1))  # type: ignore[arg-type]
        rep_actor = actor_for_user(s, s.get(User, reps[0]))  # type: ignore[arg-type]
        manager = actor_for_user(s, s.get(User, manager_id))  # type: ignore[arg-type]
        for name, actor in (("admin", admin), ("rep", rep_actor), ("manager", manager)):
            for mode in ("vector", "keyword", "hybrid"):
                latencies = []
                for i in range(min(args.queries, 60)):
                    t = time.perf_counter()
                    search_interactions(s, actor, index, QUERIES[i % len(QUERIES)], mode=mode, limit=5)
                    latencies.append((time.perf_counter() - t) * 1000)
                end_to_end[f"{name}_{mode}"] = percentiles(latencies)
        aug_1 = datetime(2026, 8, 1, tzinfo=UTC)
        filtered: dict[str, tuple[Any, dict[str, Any]]] = {
            "rep_vector_channel_email_since_aug": (rep_actor, {"channel": "email", "since": aug_1}),
            "manager_vector_channel_call": (manager, {"channel": "call"}),
            "manager_hybrid_channel_call": (manager, {"channel": "call", "mode": "hybrid"}),
            "admin_vector_account": (admin, {"account": 17}),
            "admin_vector_channel_call_since_aug": (admin, {"channel": "call", "since": aug_1}),
            "rep_hybrid_channel_email_since_aug": (rep_actor, {"channel": "email", "since": aug_1, "mode": "hybrid"}),
            "admin_hybrid_account": (admin, {"account": 17, "mode": "hybrid"}),
        }
        for name, (actor, options) in filtered.items():
            options = {"mode": "vector", **options}
            latencies = []
            for i in range(min(args.queries, 60)):
                t = time.perf_counter()
                search_interactions(s, actor, index, QUERIES[i % len(QUERIES)], limit=5, **options)
                latencies.append((time.perf_counter() - t) * 1000)
            end_to_end[name] = percentiles(latencies)
        # Throughput of real embedding on this machine now, for the projected full build time.
        t = time.perf_counter()
        real.embed([c for _, _, c in make_texts(200, seed=11)])
        real_rate = 200 / (time.perf_counter() - t)

    write_result(
        "memory_index",
        {
            "benchmark": "memory_index",
            "interactions": args.n,
            "embeddings": "real MiniLM"
            if args.real_embeddings
            else f"pool of {args.pool} real MiniLM vectors, perturbed",
            **build_info,
            "measured_embedding_texts_per_s": round(real_rate, 1),
            "projected_full_build_seconds": round(
                float(build_info["sync_seconds_without_embedding"]) + int(build_info["chunks"]) / real_rate, 0
            ),
            "vector_query_latency": scenarios,
            "search_interactions_latency": end_to_end,
            "collections": len(index.collection_names()),
        },
    )


# make bench: growth from 10,000 to 100,000 interactions (the 100k run is what the team-search target is about).
SUITE = [
    {"label": "10k", "args": ["--n", "10000", "--queries", "100"], "timeout_s": 600},
    {"label": "100k", "args": ["--n", "100000", "--queries", "200"], "timeout_s": 1200},
]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    raw = result["vector_query_latency"]
    ours = result["search_interactions_latency"]

    def p50(table: dict[str, Any], key: str) -> float | None:
        value = table.get(key, {}).get("p50_ms")
        return float(value) if value is not None else None

    rows = [
        (
            "admin search, vector, p50",
            p50(ours, "admin_vector"),
            p50(raw, "baseline_chroma_unfiltered"),
            "raw Chroma query",
        ),
        (
            "rep search, vector, p50",
            p50(ours, "rep_vector"),
            p50(raw, "baseline_chroma_where_rep"),
            "Chroma where owner",
        ),
        (
            "manager team search, hybrid, p50",
            p50(ours, "manager_hybrid"),
            p50(raw, "baseline_chroma_where_team"),
            "Chroma where owner $in team",
        ),
        (
            "manager team search, vector + channel, p50",
            p50(ours, "manager_vector_channel_call"),
            p50(raw, "baseline_chroma_where_channel"),
            "Chroma where channel",
        ),
        (
            "manager team search, hybrid + channel, p50",
            p50(ours, "manager_hybrid_channel_call"),
            p50(raw, "baseline_chroma_where_channel"),
            "Chroma where channel",
        ),
    ]
    out = [{"figure": f, "ours": o, "baseline": b, "baseline_name": n, "unit": "ms"} for f, o, b, n in rows]
    if "sync_seconds_without_embedding" in result:
        out.append(
            {
                "figure": "index build without embedding",
                "ours": result["sync_seconds_without_embedding"],
                "unit": "s",
                "baseline_name": f"embedding would add {result['sync_seconds_embedding']} s (pool vectors)",
            }
        )
    out.append({"figure": "peak memory (build + search)", "ours": result.get("peak_rss_mb"), "unit": "MB"})
    return out


if __name__ == "__main__":
    main()
