"""Keeping the index in step with the store: incremental sync, full reindex and status.

The SQL row is the source of truth. ``sync`` is a reconcile pass: it compares what the index holds
(interaction ids per collection; with ``verify`` also each chunk's text version) with the ``interactions`` table,
removes entries whose row was deleted, edited or moved to another owner, and embeds every row that is new, edited (``indexed_at`` NULL) or
missing from the index (say, after the index folder was lost). Each batch is written to Chroma first and only
then marked ``indexed_at`` in SQL (no transaction is open while embedding), guarded by ``updated_at``, so an edit that lands mid-sync is never marked
indexed with its old text, and a crash leaves rows to redo rather than rows wrongly marked done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from memory.chunking import chunk_interaction
from memory.index import NO_OWNER, ChunkRecord, InteractionIndex, chunk_id
from memory.sentiment import interaction_sentiment
from sales.permissions import SYSTEM, Actor
from sales.receipts import write_receipt
from store.db import session_scope
from store.models import Interaction
from store.types import utcnow

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)
EMBED_STEP = 64  # texts embedded between two progress reports
BATCH = 1024  # Chroma writes have a large fixed cost per call: few large batches beat many small ones


def version_of(row: Interaction) -> str:
    """The text version an index entry was built from: the row's ``updated_at`` (edits always move it)."""
    return row.updated_at.isoformat()


def chunk_metadata(row: Interaction, number: int, sentiment: float) -> dict[str, str | int | float]:
    assert row.id is not None
    meta: dict[str, str | int | float] = {
        "interaction_id": row.id,
        "chunk": number,
        "owner_id": row.user_id if row.user_id is not None else NO_OWNER,
        "channel": row.channel,
        "direction": row.direction,
        "occurred_at": row.occurred_at.timestamp(),
        "sentiment": sentiment,
        "version": version_of(row),
    }
    for key, value in (
        ("account_id", row.account_id),
        ("deal_id", row.deal_id),
        ("lead_id", row.lead_id),
        ("contact_id", row.contact_id),
    ):
        if value is not None:  # Chroma metadata holds no nulls; a missing key never equals a filter value
            meta[key] = value
    return meta


@dataclass(frozen=True)
class SyncReport:
    indexed: int  # interactions embedded and written
    chunks: int
    removed: int  # interactions removed from the index (deleted, edited or re-owned)
    already_current: int
    receipt: int | None  # audit event id, when anything changed

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed)


@dataclass(frozen=True)
class IndexStatus:
    interactions: int
    pending: int  # rows the index does not reflect yet (new or edited since the last sync)
    indexed_chunks: int
    collections: int
    model_id: str
    location: str


def _expected(session: Session) -> dict[int, tuple[int, str, bool]]:
    """Every interaction in SQL: id → (owner, text version, marked indexed)."""
    rows = session.exec(
        select(Interaction.id, Interaction.user_id, Interaction.updated_at, Interaction.indexed_at)
    ).all()
    return {
        int(iid): (owner if owner is not None else NO_OWNER, updated.isoformat(), indexed is not None)
        for iid, owner, updated, indexed in rows
        if iid is not None
    }


def _shifted(progress: Progress | None, offset: int, total: int) -> Progress | None:
    """A batch's own (done, of) progress reported as the whole run's (offset + done, total)."""
    if progress is None:
        return None

    def report(done: int, _of: int) -> None:
        progress(offset + done, total)

    return report


def _mark_indexed(engine: Engine, done: Sequence[tuple[int, datetime, float]]) -> None:
    """Mark rows indexed (with their sentiment), guarded by ``updated_at``: an edit committed meanwhile stays pending.

    Core executemany, not ORM updates, which would re-evaluate every loaded object per statement.
    """
    if not done:
        return
    now = utcnow()
    with session_scope(engine) as session:
        table: Any = Interaction.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("iid"), table.c.updated_at == bindparam("seen"))
            .values(indexed_at=bindparam("now"), sentiment=bindparam("score")),
            [{"iid": iid, "seen": seen, "now": now, "score": score} for iid, seen, score in done],
        )


def index_rows(
    index: InteractionIndex, rows: Sequence[Interaction], *, progress: Progress | None = None
) -> tuple[list[tuple[int, datetime, float]], int]:
    """Chunk, score and embed ``rows`` and write them to the index; returns (id, updated_at, sentiment) and chunks.

    ``progress`` gets (rows embedded, rows) after every embedding sub-batch, so a bar moves from the start."""
    records: list[ChunkRecord] = []
    done: list[tuple[int, datetime, float]] = []
    for row in rows:
        assert row.id is not None
        sentiment = interaction_sentiment(row.subject, row.body)
        for chunk in chunk_interaction(row.subject, row.body):
            records.append(
                ChunkRecord(
                    chunk_id=chunk_id(row.id, chunk.number),
                    interaction_id=row.id,
                    owner_id=row.user_id if row.user_id is not None else NO_OWNER,
                    text=chunk.text,
                    metadata=chunk_metadata(row, chunk.number, sentiment),
                )
            )
        done.append((row.id, row.updated_at, sentiment))
    if records:
        texts = [r.text for r in records]
        step = EMBED_STEP if progress else len(texts)
        # Similar lengths side by side (little padding), as the embedder itself does within one call.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), index.embedder.dimension), dtype=np.float32)
        for start in range(0, len(order), step):
            part = order[start : start + step]
            vectors[part] = index.embedder.embed([texts[i] for i in part])
            if progress:
                # chunks, not rows, are embedded: report the share of rows whose chunks are done
                progress(min(len(rows), round(len(rows) * (start + len(part)) / len(texts))), len(rows))
        index.upsert(records, vectors)
    return done, len(records)


def index_interactions(
    engine: Engine, index: InteractionIndex, interaction_ids: Sequence[int], *, actor: Actor = SYSTEM
) -> SyncReport:
    """Index these interactions now (just written or edited): old chunks out, new chunks in, rows marked indexed.

    What ``sync`` would do for these rows alone, without reading the whole index; ids whose row is gone are
    removed from the index. One audit event when anything changed."""
    wanted = sorted(set(interaction_ids))
    if not wanted:
        return SyncReport(0, 0, 0, 0, None)
    with session_scope(engine) as session:
        rows = list(session.exec(select(Interaction).where(col(Interaction.id).in_(wanted))).all())
    # An edit may shorten the text (fewer chunks) or change the owner (another collection): start clean.
    removed = index.delete_interactions(wanted)
    done, written = index_rows(index, rows)
    _mark_indexed(engine, done)
    gone = len(wanted) - len(rows)
    receipt = None
    with session_scope(engine) as session:
        receipt = write_receipt(
            session,
            actor,
            action="memory_sync",
            record_type="memory_index",
            record_id=index.prefix,
            after={
                "indexed": len(done),
                "chunks": written,
                "removed": gone,
                "model_id": index.embedder.model_id,
                "interaction_ids": wanted[:50],
                "on_write": True,
            },
        )
    log.debug("memory: indexed %d interactions on write (%d chunks, %d old chunks out)", len(done), written, removed)
    return SyncReport(len(done), written, gone, 0, receipt)


def sync(
    engine: Engine,
    index: InteractionIndex,
    *,
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
    batch: int = BATCH,
    verify: bool = False,
) -> SyncReport:
    """Bring the index in line with SQL (see the module docstring) and record one audit event if anything changed.

    By default the index is read by ids only: a row marked indexed was written with its current text (edits clear
    the mark, and the mark is set only after Chroma has the chunks), so comparing text versions is needed only if
    the index itself was tampered with or restored from an older copy. ``verify`` compares every chunk's stored
    text version with SQL too (about 8 s more per 100,000 chunks)."""
    with session_scope(engine) as session:
        expected = _expected(session)
    inventory = index.inventory(versions=verify)

    # Anything in the index that SQL no longer vouches for goes: deleted rows, old text versions, old owners.
    stale_chunks: dict[str, list[str]] = {}
    removed_ids: set[int] = set()
    for name, entries in inventory.entries.items():
        for iid, (_owner, version) in entries.items():
            want = expected.get(iid)
            wrong_shard = not name.endswith("-all") and want is not None and name != index.shard_name(want[0])
            outdated = bool(version) and want is not None and want[1] != version
            if want is None or outdated or not want[2] or wrong_shard:
                stale_chunks.setdefault(name, []).extend(inventory.chunk_ids[name][iid])
                removed_ids.add(iid)
    index.delete_chunks(stale_chunks)

    # Everything SQL has that the index does not fully hold (both its owner's collection and the all-collection).
    all_name = index.shard_name(None)
    present: dict[int, int] = {}
    for entries in inventory.entries.values():
        for iid in entries:
            if iid not in removed_ids:
                present[iid] = present.get(iid, 0) + 1
    todo = sorted(
        iid
        for iid, (owner, _version, marked) in expected.items()
        if not marked
        or present.get(iid, 0) < 2
        or iid not in inventory.entries.get(all_name, {})
        or iid not in inventory.entries.get(index.shard_name(owner), {})
    )
    already_current = len(expected) - len(todo)
    gone = {iid for iid in removed_ids if iid not in expected}

    indexed = chunks = 0
    if progress:
        progress(0, len(todo))
    for start in range(0, len(todo), batch):
        ids = todo[start : start + batch]
        # No transaction is held while embedding (minutes on a slow CPU): SQLite would block every other writer.
        with session_scope(engine) as session:
            rows = session.exec(select(Interaction).where(col(Interaction.id).in_(ids))).all()
        done, written = index_rows(index, rows, progress=_shifted(progress, start, len(todo)))
        _mark_indexed(engine, done)
        indexed += len(done)
        chunks += written
        if progress:
            progress(min(start + batch, len(todo)), len(todo))

    receipt = None
    if indexed or gone:
        with session_scope(engine) as session:
            receipt_id = write_receipt(
                session,
                actor,
                action="memory_sync",
                record_type="memory_index",
                record_id=index.prefix,
                after={"indexed": indexed, "chunks": chunks, "removed": len(gone), "model_id": index.embedder.model_id},
            )
            receipt = receipt_id
    log.info("memory sync: %d indexed (%d chunks), %d removed, %d current", indexed, chunks, len(gone), already_current)
    return SyncReport(indexed, chunks, len(gone), already_current, receipt)


def reindex(
    engine: Engine, index: InteractionIndex, *, actor: Actor = SYSTEM, progress: Progress | None = None
) -> SyncReport:  # a fresh index holds nothing to verify
    """Drop this model's collections and rebuild them from SQL (works on an empty or deleted index folder too)."""
    index.drop_all()
    return sync(engine, index, actor=actor, progress=progress)


def pending_count(session: Session) -> tuple[int, int]:
    """(interactions the index does not reflect yet, interactions in the store): two SQL counts, no index access."""
    total = session.exec(select(func.count()).select_from(Interaction)).one()
    pending = session.exec(
        select(func.count()).select_from(Interaction).where(col(Interaction.indexed_at).is_(None))
    ).one()
    return int(pending), int(total)


def status(session: Session, index: InteractionIndex, location: str) -> IndexStatus:
    total = session.exec(select(func.count()).select_from(Interaction)).one()
    pending = session.exec(
        select(func.count()).select_from(Interaction).where(col(Interaction.indexed_at).is_(None))
    ).one()
    return IndexStatus(
        interactions=int(total),
        pending=int(pending),
        indexed_chunks=index.count(),
        collections=len(index.collection_names()),
        model_id=index.embedder.model_id,
        location=location,
    )
