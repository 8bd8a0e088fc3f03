"""Semantic, keyword and hybrid search over interactions, permission-filtered, for the agent's tool and the CLI.

Hybrid ranking fuses the vector scores (meaning) with the database's keyword scores (exact names, numbers):
each leg's scores are min-max normalised over its candidates and combined convexly (weight 0.5). Two steps
on top, tuned on the labelled demo set and checked on a held-out set written before (evals/retrieval): a rerank
gives every keyword-only candidate its exact vector similarity (best chunk, from its stored vectors) instead of
0, and the keyword leg is weighted by its confidence, its best BM25 score over ``BM25_CONFIDENT``, so a query
that shares only common words with many notes ("customer worried about price and budget" and 1,075 notes naming
a price or a budget) is ranked by meaning, while a rare exact name still wins. Labelled set recall@5/MRR
0.653/0.629 → 0.668/0.633; held-out 0.575/0.487 → 0.634/0.580 (its first run is kept in
heldout_results.json). Convex fusion beat reciprocal rank fusion (0.607/0.549) because a rare exact name gives
the keyword leg one confident, far-ahead score that rank fusion flattens; ``fusion="rrf"`` keeps it as an
alternative. Permission is enforced twice: the vector leg only returns hits from the actor's owners' collections or that pass the SQL ``keep`` check (owners
and every other filter), and every hit of both legs is re-checked against SQL (which also drops rows deleted
since the last sync), so the index can lag but never leak or show a deleted note. Snippets come from the SQL text, never the index copy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, func, select

from memory.chunking import CHUNK_WORDS, chunk_interaction
from memory.index import FANOUT_MAX, InteractionIndex, Keep, VectorHit, chunk_id
from memory.keyword import keyword_search, query_terms
from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor, user_by_email
from store.models import Account, Channel, Deal, Interaction, Lead

log = logging.getLogger(__name__)

SearchMode = Literal["vector", "keyword", "hybrid"]
MODES: tuple[str, ...] = ("vector", "keyword", "hybrid")
RRF_K = 60  # the constant from Cormack et al.'s reciprocal rank fusion; damps the weight of the very top ranks
VECTOR_WEIGHT = 0.5  # convex fusion: share of the (normalised) vector score; the rest is the keyword score
# SQLite BM25 at which the keyword leg is fully trusted (see keyword_confidence); picked on the labelled set
# (evals/retrieval, 8 to 20 all within 0.02 recall@5), checked on the held-out set.
BM25_CONFIDENT = 10.0
Fusion = Literal["convex", "rrf"]
SNIPPET_CHARS = 240
MAX_LIMIT = 50
# Up to this many SQL candidates, the vector leg scores them exactly from their stored vectors instead of
# asking the ANN index with a metadata filter (fetching 1,000 vectors costs less than a filtered Chroma query).
PREFILTER_MAX = 1000
KEEP_BATCH = 5000  # ids per SQL query of the keep check (well under SQLite's bound-parameter limit)


class InteractionHit(BaseModel):
    """One search result: which interaction, on which record, when, the matching text and how well it matched."""

    model_config = ConfigDict(frozen=True)

    interaction_id: int
    score: float  # hybrid: fused score 0..1 (or RRF); vector: cosine similarity; keyword: the database's text rank
    snippet: str
    record: str  # e.g. "deal #12 Harborview Labs – Platform"
    record_type: str  # deal / lead / contact / account
    record_id: int | None
    account: str | None
    date: date
    occurred_at: datetime
    channel: str
    direction: str
    subject: str | None
    owner_id: int | None
    sentiment: float | None
    matched_by: tuple[str, ...]  # "vector" and/or "keyword"


def _as_datetime(value: date | datetime | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput({"since/until": "give a time zone, or a plain date"})
        return value.astimezone(UTC)
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


def _resolve_account(session: Session, account: int | str | None) -> int | None:
    if account is None:
        return None
    if isinstance(account, int) or str(account).isdigit():
        found = session.get(Account, int(account))
        if found is None:
            raise NotFound(f"there is no account #{account}")
        return int(account)
    name = str(account).strip()
    exact = session.exec(select(Account).where(func.lower(Account.name) == name.lower())).first()
    if exact is not None:
        return exact.id
    like = session.exec(
        select(Account).where(func.lower(Account.name).contains(name.lower())).order_by(col(Account.name)).limit(6)
    ).all()
    if len(like) == 1:
        return like[0].id
    if not like:
        raise NotFound(f"no account named like {name!r}")
    names = ", ".join(a.name for a in like[:5])
    raise InvalidInput({"account": f"{name!r} matches several accounts ({names}); give the full name or the id"})


def _resolve_owner(session: Session, owner: int | str | None) -> int | None:
    if owner is None:
        return None
    if isinstance(owner, int) or str(owner).isdigit():
        return int(owner)
    user = user_by_email(session, str(owner))
    if user is None:
        raise NotFound(f"no user with email {owner!r}")
    return user.id


def _snippet(row: Interaction, terms: list[str], chunk_number: int | None) -> str:
    body = " ".join(row.body.split())
    lowered = body.lower()
    positions = [lowered.find(term) for term in terms]
    hits = [p for p in positions if p >= 0]
    if hits:
        start = max(0, min(hits) - SNIPPET_CHARS // 3)
    elif chunk_number:
        chunks = chunk_interaction(row.subject, row.body)
        piece = chunks[min(chunk_number, len(chunks) - 1)]
        start = len(" ".join(row.body[: piece.start].split()))
    else:
        start = 0
    text = body[start : start + SNIPPET_CHARS]
    return ("…" if start > 0 else "") + text + ("…" if start + SNIPPET_CHARS < len(body) else "")


def search_interactions(
    session: Session,
    actor: Actor,
    index: InteractionIndex | None,
    query: str,
    *,
    account: int | str | None = None,
    deal_id: int | None = None,
    owner: int | str | None = None,
    channel: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    limit: int = 5,
    mode: SearchMode = "hybrid",
    fusion: Fusion = "convex",
) -> list[InteractionHit]:
    """The interactions that best answer ``query`` among those ``actor`` may see, best first.

    ``account`` is an id or a name, ``owner`` a user id or email; ``since``/``until`` are inclusive (dates
    cover the whole day, UTC). ``index`` may be None only for ``mode="keyword"``.
    """
    problems: dict[str, str] = {}
    if not query or not query.strip():
        problems["query"] = "say what to look for"
    if fusion not in ("convex", "rrf"):
        problems["fusion"] = "must be convex or rrf"
    if mode not in MODES:
        problems["mode"] = f"must be one of {', '.join(MODES)}"
    if not 1 <= limit <= MAX_LIMIT:
        problems["limit"] = f"must be between 1 and {MAX_LIMIT}"
    channels = [c.value for c in Channel]
    if channel is not None and channel.lower() not in channels:
        problems["channel"] = f"must be one of {', '.join(channels)}"
    start_at = _as_datetime(since, end=False)
    end_at = _as_datetime(until, end=True)
    if start_at and end_at and start_at > end_at:
        problems["since/until"] = "since is after until"
    if mode != "keyword" and index is None:
        problems["mode"] = f"{mode} search needs the vector index"
    if problems:
        raise InvalidInput(problems)
    channel = channel.lower() if channel else None

    account_id = _resolve_account(session, account)
    owner_id = _resolve_owner(session, owner)
    owners: frozenset[int] | None = actor.visible_owner_ids
    if owner_id is not None:
        if not actor.can_see_owner(owner_id):
            raise PermissionDenied(f"{actor.email} cannot see the records of user #{owner_id}")
        owners = frozenset({owner_id})

    filters: list[Any] = []
    if owners is not None:
        filters.append(col(Interaction.user_id).in_(sorted(owners)))
    if account_id is not None:
        filters.append(col(Interaction.account_id) == account_id)
    if deal_id is not None:
        filters.append(col(Interaction.deal_id) == deal_id)
    if channel is not None:
        filters.append(col(Interaction.channel) == channel)
    if start_at is not None:
        filters.append(col(Interaction.occurred_at) >= start_at)
    if end_at is not None:
        filters.append(col(Interaction.occurred_at) <= end_at)

    pool = max(limit * 4, 20)
    rankings: dict[str, list[int]] = {}
    vector_scores: dict[int, float] = {}
    best_chunk: dict[int, int] = {}
    keyword_scores: dict[int, float] = {}

    if mode in ("vector", "hybrid"):
        assert index is not None
        vector = index.embed_query(query)
        narrowing = account_id is not None or deal_id is not None or channel is not None or start_at or end_at
        # A channel alone keeps about a fifth of a team's or everyone's notes: far more than PREFILTER_MAX at any
        # size where speed matters, so the SQL pre-filter would only count past its limit (5-7 ms at 100,000).
        few_rows = (
            account_id is not None
            or deal_id is not None
            or bool(start_at or end_at)
            or (owners is not None and len(owners) <= FANOUT_MAX)
        )
        hits = _prefiltered_vector_hits(session, index, vector, filters, pool) if narrowing and few_rows else None
        if hits is None:
            # Owners' own collections hold only their notes: with no other filter nothing needs checking.
            unchecked = not narrowing and (owners is None or len(owners) <= FANOUT_MAX)
            hits = index.query(vector, owners=owners, n=pool, keep=None if unchecked else sql_keep(session, filters))
        rankings["vector"] = [h.interaction_id for h in hits]
        vector_scores = {h.interaction_id: 1.0 - h.distance for h in hits}
        best_chunk = {h.interaction_id: h.chunk for h in hits}

    if mode in ("keyword", "hybrid"):
        found = keyword_search(session, query, filters, limit=pool)
        rankings["keyword"] = [iid for iid, _ in found]
        keyword_scores = dict(found)

    matched: dict[int, list[str]] = {}
    for leg, ranked in rankings.items():
        for iid in ranked:
            matched.setdefault(iid, []).append(leg)
    if fusion == "rrf":
        fused = rrf_fuse(list(rankings.values()))
    else:
        if mode == "hybrid" and index is not None:
            # Rerank: every candidate of either leg gets its exact similarity (best chunk), so a keyword-only hit
            # is judged on its meaning too instead of scoring 0 in the vector leg.
            missing = [iid for iid in keyword_scores if iid not in vector_scores]
            for hit in _exact_vector_hits(session, index, vector, missing):
                vector_scores[hit.interaction_id] = 1.0 - hit.distance
                best_chunk.setdefault(hit.interaction_id, hit.chunk)
        confidence = keyword_confidence(session, keyword_scores)
        fused = convex_fuse(vector_scores, keyword_scores, VECTOR_WEIGHT, keyword_scale=confidence)
    if mode == "vector":
        scores = vector_scores
    elif mode == "keyword":
        scores = keyword_scores
    else:
        scores = fused
    ordered = sorted(scores, key=lambda iid: (-scores[iid], iid))
    if not ordered:
        return []

    # The second permission check, and the freshness check: only rows SQL has and the actor may see survive.
    rows = {
        row.id: row
        for row in session.exec(select(Interaction).where(col(Interaction.id).in_(ordered[: pool * 2]), *filters)).all()
    }
    kept = [iid for iid in ordered if iid in rows][:limit]
    dropped = len([iid for iid in ordered[: pool * 2] if iid not in rows])
    if dropped:
        log.info("search: %d index hits dropped by the SQL re-check (deleted, re-owned or filtered)", dropped)
    labels = _record_labels(session, [rows[iid] for iid in kept])
    terms = query_terms(query)
    results = []
    for iid in kept:
        row = rows[iid]
        record_type, record_id, record, account_name = labels[iid]
        results.append(
            InteractionHit(
                interaction_id=iid,
                score=round(scores[iid], 6),
                snippet=_snippet(row, terms, best_chunk.get(iid)),
                record=record,
                record_type=record_type,
                record_id=record_id,
                account=account_name,
                date=row.occurred_at.date(),
                occurred_at=row.occurred_at,
                channel=row.channel,
                direction=row.direction,
                subject=row.subject,
                owner_id=row.user_id,
                sentiment=row.sentiment,
                matched_by=tuple(matched.get(iid, [])),
            )
        )
    return results


def sql_keep(session: Session, filters: list[Any]) -> Keep:
    """The index's ``keep`` check: which candidate interactions pass ``filters`` (owners included), asked of SQL."""

    def keep(ids: Sequence[int]) -> set[int]:
        passing: set[int] = set()
        for start in range(0, len(ids), KEEP_BATCH):
            part = list(ids[start : start + KEEP_BATCH])
            rows = session.exec(select(Interaction.id).where(col(Interaction.id).in_(part), *filters)).all()
            passing.update(iid for iid in rows if iid is not None)
        return passing

    return keep


def _exact_vector_hits(session: Session, index: InteractionIndex, vector: Any, ids: Sequence[int]) -> list[VectorHit]:
    """Exact similarity of ``vector`` to each of these interactions (its best chunk), from their stored vectors."""
    if not ids:
        return []
    rows = session.exec(select(Interaction).where(col(Interaction.id).in_(list(ids)))).all()
    chunk_ids = [
        chunk_id(row.id, c.number)
        for row in rows
        if row.id is not None
        for c in chunk_interaction(row.subject, row.body)
    ]
    return index.score_chunks(vector, chunk_ids, len(ids))


def _prefiltered_vector_hits(
    session: Session, index: InteractionIndex, vector: Any, filters: list[Any], pool: int
) -> list[VectorHit] | None:
    """Exact vector hits among the SQL rows matching ``filters``, or None when there are too many of them."""
    rows = session.exec(
        select(Interaction.id, func.length(Interaction.body)).where(*filters).limit(PREFILTER_MAX + 1)
    ).all()
    if len(rows) > PREFILTER_MAX:
        return None
    chunk_ids = [chunk_id(iid, 0) for iid, _ in rows if iid is not None]
    # Only a body of more than CHUNK_WORDS words has more than one chunk; that needs at least 2·CHUNK_WORDS chars.
    long_ids = [iid for iid, length in rows if iid is not None and length is not None and length >= 2 * CHUNK_WORDS]
    if long_ids:
        for row in session.exec(select(Interaction).where(col(Interaction.id).in_(long_ids))).all():
            assert row.id is not None
            chunk_ids += [chunk_id(row.id, c.number) for c in chunk_interaction(row.subject, row.body)[1:]]
    return index.score_chunks(vector, chunk_ids, pool)


def min_max(scores: dict[int, float]) -> dict[int, float]:
    """Scores rescaled to 0..1 over this candidate list (a single candidate, or all equal, gets 1.0)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high <= low:
        return dict.fromkeys(scores, 1.0)
    return {iid: (value - low) / (high - low) for iid, value in scores.items()}


def keyword_confidence(session: Session, keyword: dict[int, float]) -> float:
    """How much to trust the keyword leg for this query, 0..1: its best BM25 score over ``BM25_CONFIDENT``.

    Min-max normalisation gives the keyword leg's best hit 1.0 even when it only shares a common word with the
    query ("price", "budget": BM25 about 6 on the demo), and then it outranks notes that mean what was asked. A
    rare name or number scores far higher (about 19) and keeps its full weight. SQLite's BM25 only: PostgreSQL's
    ``ts_rank_cd`` has another scale, so there the keyword leg keeps full weight (1.0), as before."""
    if not keyword:
        return 0.0
    if session.get_bind().dialect.name != "sqlite":
        return 1.0
    return min(1.0, max(keyword.values()) / BM25_CONFIDENT)


def convex_fuse(
    vector: dict[int, float], keyword: dict[int, float], vector_weight: float, *, keyword_scale: float = 1.0
) -> dict[int, float]:
    """``w·vector + (1−w)·s·keyword`` on min-max normalised scores (``s`` = ``keyword_scale``, the keyword leg's
    confidence); a candidate missing from a leg scores 0 there."""
    nv, nk = min_max(vector), min_max(keyword)
    kw = (1 - vector_weight) * keyword_scale
    return {iid: vector_weight * nv.get(iid, 0.0) + kw * nk.get(iid, 0.0) for iid in nv.keys() | nk.keys()}


def rrf_fuse(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion: the sum of 1/(k + rank) over the rankings that contain the candidate."""
    fused: dict[int, float] = {}
    for ranked in rankings:
        for rank, iid in enumerate(ranked, start=1):
            fused[iid] = fused.get(iid, 0.0) + 1.0 / (k + rank)
    return fused


def _record_labels(session: Session, rows: list[Interaction]) -> dict[int, tuple[str, int | None, str, str | None]]:
    deal_ids = {r.deal_id for r in rows if r.deal_id is not None}
    lead_ids = {r.lead_id for r in rows if r.lead_id is not None}
    account_ids = {r.account_id for r in rows if r.account_id is not None}
    deals = {d.id: d for d in session.exec(select(Deal).where(col(Deal.id).in_(deal_ids))).all()} if deal_ids else {}
    leads = {x.id: x for x in session.exec(select(Lead).where(col(Lead.id).in_(lead_ids))).all()} if lead_ids else {}
    accounts = (
        {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(account_ids))).all()}
        if account_ids
        else {}
    )
    labels: dict[int, tuple[str, int | None, str, str | None]] = {}
    for row in rows:
        assert row.id is not None
        account = accounts.get(row.account_id) if row.account_id is not None else None
        account_name = account.name if account else None
        label: tuple[str, int | None, str]
        if row.deal_id is not None and row.deal_id in deals:
            label = ("deal", row.deal_id, f"deal #{row.deal_id} {deals[row.deal_id].name}")
        elif row.lead_id is not None and row.lead_id in leads:
            lead = leads[row.lead_id]
            label = (
                "lead",
                row.lead_id,
                f"lead #{row.lead_id} {lead.name}" + (f" ({lead.company})" if lead.company else ""),
            )
        elif row.contact_id is not None:
            label = ("contact", row.contact_id, f"contact #{row.contact_id}")
        elif account is not None:
            label = ("account", account.id, f"account #{account.id} {account.name}")
        else:
            label = ("interaction", row.id, f"interaction #{row.id}")
        labels[row.id] = (*label, account_name)
    return labels
