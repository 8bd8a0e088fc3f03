"""The Chroma index of interaction chunks: one collection per record owner plus one for everything.

Every search is permission-filtered by owner, and most add filters (channel, dates, account, deal). Chroma's
own metadata-filtered search is slow on a large collection (90–125 ms at 100,000 chunks here), and so is
asking it for metadata at all: ids and distances for 1,000 nearest chunks take about 5 ms, the same with
metadata about 40 ms. So a query never asks Chroma for metadata (a chunk id is ``"<interaction>:<chunk>"``)
and never filters inside Chroma. A rep's search runs on their own collection; an admin's or a manager's on
the everything-collection, over-fetching nearest ids until enough pass ``keep``, one SQL query per round over
the candidate ids (``memory.search`` checks owners and every other filter there). Filters that leave few
candidates are pre-filtered in SQL instead and scored exactly from their stored vectors (``score_chunks``).

Embedded by default (PersistentClient under ``$SALESGRAPH_HOME/chroma``); a Chroma server through HttpClient
when ``SALESGRAPH_CHROMA_URL`` is set. Telemetry is always off. The index stores vectors and metadata only, no
copy of the text: snippets are cut from the SQL row, and a forgotten contact's words are gone with their rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from memory.embeddings import Embedder, Vectors

if TYPE_CHECKING:
    from memory.config import MemorySettings

log = logging.getLogger(__name__)

NO_OWNER = -1  # Chroma metadata cannot hold None; interactions without an owner are visible to admins only
ALL_SHARD = "all"
# Up to this many owners, their own collections are searched; above it (a manager's team), the everything-
# collection with the caller's ``keep`` check, which costs the same whatever the team's size.
FANOUT_MAX = 3
# First over-fetch when results are checked by ``keep``: ids and distances for 400 chunks cost about 2 ms at
# 100,000 and fill a page for any filter passing a tenth of them.
FIRST_FETCH = 400
# Candidate interaction ids in, the ones passing every filter of the search (owners included) out.
Keep = Callable[[Sequence[int]], Collection[int]]
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")


class IndexUnavailable(RuntimeError):
    """The Chroma index cannot be opened or used; the message says why and what to do."""


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk to store: its text, vector and metadata (see ``chunk_metadata``)."""

    chunk_id: str
    interaction_id: int
    owner_id: int
    text: str
    metadata: dict[str, str | int | float]


@dataclass(frozen=True)
class VectorHit:
    interaction_id: int
    chunk: int
    distance: float  # cosine distance: 1 - similarity


@dataclass
class Inventory:
    """What the index holds: per collection, interaction id → (owner id, version) and the chunk ids."""

    entries: dict[str, dict[int, tuple[int, str]]] = field(default_factory=dict)
    chunk_ids: dict[str, dict[int, list[str]]] = field(default_factory=dict)

    def interaction_ids(self) -> set[int]:
        ids: set[int] = set()
        for per_collection in self.entries.values():
            ids.update(per_collection)
        return ids


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="memory-shards")
    return _POOL


def chunk_id(interaction_id: int, number: int) -> str:
    return f"{interaction_id}:{number}"


def parse_chunk_id(value: str) -> tuple[int, int]:
    """``"123:0"`` → (123, 0): a hit's interaction and chunk, read from its id without fetching metadata."""
    iid, _, number = value.partition(":")
    return int(iid), int(number or 0)


def open_chroma_client(settings: MemorySettings) -> Any:
    """A Chroma client for the configured index: HttpClient for a server URL, else the on-disk PersistentClient."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        parts = urlsplit(settings.chroma_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IndexUnavailable(f"SALESGRAPH_CHROMA_URL={settings.chroma_url!r} is not an http(s)://host:port URL")
        ssl = parts.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=parts.hostname, port=parts.port or (443 if ssl else 8000), ssl=ssl, settings=chroma_settings
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError variants here
            raise IndexUnavailable(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    path = settings.chroma_path
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class InteractionIndex:
    """Interaction chunks in Chroma for one embedding model (collections are named after the model)."""

    def __init__(self, client: Any, embedder: Embedder, *, prefix: str = "sg") -> None:
        self.client = client
        self.embedder = embedder
        model = _NAME_UNSAFE.sub("-", embedder.model_id).strip("-.")
        self.base_prefix = prefix
        self.prefix = f"{prefix}-{model}"
        self._collections: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: MemorySettings, embedder: Embedder | None = None) -> InteractionIndex:
        from memory.embeddings import embedder_from_settings

        return cls(open_chroma_client(settings), embedder or embedder_from_settings(settings))

    # -- collections ---------------------------------------------------------------------------------

    def shard_name(self, owner_id: int | None) -> str:
        if owner_id is None:
            return f"{self.prefix}-{ALL_SHARD}"
        return f"{self.prefix}-o{'none' if owner_id == NO_OWNER else owner_id}"

    def _collection(self, name: str, *, create: bool) -> Any | None:
        if name in self._collections:
            return self._collections[name]
        if create:
            collection = self.client.get_or_create_collection(
                name,
                embedding_function=None,  # never Chroma's default embedder: it downloads a model at run time
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"model_id": self.embedder.model_id, "dimension": self.embedder.dimension},
            )
        else:
            try:
                collection = self.client.get_collection(name, embedding_function=None)
            except Exception:  # chromadb raises NotFoundError (or ValueError in older servers)
                return None
        stored = (collection.metadata or {}).get("dimension")
        if stored is not None and int(stored) != self.embedder.dimension:
            raise IndexUnavailable(
                f"collection {name} holds {stored}-dimensional vectors but {self.embedder.model_id} makes "
                f"{self.embedder.dimension}: run `salesgraph memory reindex`"
            )
        self._collections[name] = collection
        return collection

    def collection_names(self) -> list[str]:
        names = []
        for item in self.client.list_collections():
            name = item if isinstance(item, str) else item.name
            if name.startswith(f"{self.prefix}-"):
                names.append(name)
        return sorted(names)

    def drop_all(self) -> int:
        """Delete every collection of this model (``reindex`` then rebuilds them from SQL)."""
        names = self.collection_names()
        for name in names:
            self.client.delete_collection(name)
        self._collections.clear()
        return len(names)

    def count(self) -> int:
        collection = self._collection(self.shard_name(None), create=False)
        return 0 if collection is None else int(collection.count())

    # -- writes --------------------------------------------------------------------------------------

    def upsert(self, records: Sequence[ChunkRecord], vectors: Vectors) -> None:
        """Store chunks in their owner's collection and in the everything-collection."""
        if not records:
            return
        by_owner: dict[int, list[int]] = {}
        for position, record in enumerate(records):
            by_owner.setdefault(record.owner_id, []).append(position)
        targets: list[tuple[str, list[int]]] = [(self.shard_name(None), list(range(len(records))))]
        targets += [(self.shard_name(owner), positions) for owner, positions in by_owner.items()]
        for name, positions in targets:
            collection = self._collection(name, create=True)
            assert collection is not None
            collection.upsert(
                ids=[records[p].chunk_id for p in positions],
                embeddings=vectors[positions],
                metadatas=[records[p].metadata for p in positions],
            )

    def delete_chunks(self, chunk_ids_by_collection: dict[str, list[str]]) -> int:
        deleted = 0
        for name, ids in chunk_ids_by_collection.items():
            collection = self._collection(name, create=False)
            if collection is None or not ids:
                continue
            for start in range(0, len(ids), 5000):
                collection.delete(ids=ids[start : start + 5000])
            deleted += len(ids)
        return deleted

    def delete_interactions(self, interaction_ids: Iterable[int]) -> int:
        """Remove every chunk of these interactions from every collection; returns the chunks removed."""
        wanted = sorted(set(interaction_ids))
        if not wanted:
            return 0
        removed = 0
        for name in self.collection_names():
            collection = self._collection(name, create=False)
            if collection is None:
                continue
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                found = collection.get(where={"interaction_id": {"$in": part}}, include=[])
                if found["ids"]:
                    collection.delete(ids=found["ids"])
                    removed += len(found["ids"])
        return removed

    # -- reads ---------------------------------------------------------------------------------------

    def inventory(self, *, versions: bool = True, page: int = 5000) -> Inventory:
        """Every chunk in every collection of this model, by interaction (the reconcile pass compares it with SQL).

        With ``versions`` each entry carries its owner and text version from the chunk metadata; without, only
        ids are read (about 50 times faster: Chroma's metadata reads cost ~8 s per 100,000 chunks) and an entry's
        owner comes from its collection's name (``NO_OWNER`` in the everything-collection), its version is "".
        """
        inventory = Inventory()
        for name in self.collection_names():
            collection = self._collection(name, create=False)
            if collection is None:
                continue
            entries: dict[int, tuple[int, str]] = {}
            chunk_ids: dict[int, list[str]] = {}
            if versions:
                offset = 0
                while True:
                    got = collection.get(include=["metadatas"], limit=page, offset=offset)
                    ids = got["ids"]
                    if not ids:
                        break
                    for cid, meta in zip(ids, got["metadatas"] or [], strict=True):
                        iid = int(meta["interaction_id"])
                        entries[iid] = (int(meta.get("owner_id", NO_OWNER)), str(meta.get("version", "")))
                        chunk_ids.setdefault(iid, []).append(cid)
                    offset += len(ids)
                    if len(ids) < page:
                        break
            else:
                owner = self.shard_owner(name)
                for cid in collection.get(include=[])["ids"]:
                    iid, _ = parse_chunk_id(cid)
                    entries[iid] = (owner, "")
                    chunk_ids.setdefault(iid, []).append(cid)
            inventory.entries[name] = entries
            inventory.chunk_ids[name] = chunk_ids
        return inventory

    def shard_owner(self, name: str) -> int:
        """The owner whose collection ``name`` is (``NO_OWNER`` for the everything- and the no-owner collection)."""
        suffix = name.removeprefix(f"{self.prefix}-o")
        return int(suffix) if suffix != name and suffix.isdigit() else NO_OWNER

    def embed_query(self, text: str) -> Vectors:
        return self.embedder.embed([text])

    def query(
        self,
        vector: Vectors,
        *,
        owners: frozenset[int] | None,
        n: int = 20,
        keep: Keep | None = None,
    ) -> list[VectorHit]:
        """The ``n`` interactions nearest to ``vector`` (best chunk each) among ``owners``' (None = everyone's).

        ``keep`` takes candidate interaction ids and returns those that pass every filter of the search, the
        owner restriction included (``memory.search`` asks SQL). With it, a search over more than ``FANOUT_MAX``
        owners runs on the everything-collection, over-fetching until ``n`` pass; without it, on each owner's
        collection. Either way the answer is exact for the index: every chunk not fetched is farther than the
        ones returned.
        """
        if owners is None:
            targets = [self.shard_name(None)]
        elif not owners:
            return []
        elif len(owners) <= FANOUT_MAX or keep is None:
            targets = [self.shard_name(owner) for owner in sorted(owners)]
        else:
            targets = [self.shard_name(None)]
        collections = [c for c in (self._collection(name, create=False) for name in targets) if c is not None]
        if len(collections) > 1 and keep is None:
            # Chroma's native code releases the GIL: several owners' collections are searched side by side. Not
            # with ``keep``: it queries the caller's database session, which must stay on one thread.
            per_collection = list(_pool().map(lambda c: self._query_collection(c, vector, n, keep), collections))
        else:
            per_collection = [self._query_collection(c, vector, n, keep) for c in collections]
        best: dict[int, VectorHit] = {}
        for hits in per_collection:
            for hit in hits:
                current = best.get(hit.interaction_id)
                if current is None or hit.distance < current.distance:
                    best[hit.interaction_id] = hit
        return sorted(best.values(), key=lambda h: h.distance)[:n]

    def _query_collection(self, collection: Any, vector: Vectors, n: int, keep: Keep | None) -> list[VectorHit]:
        """Nearest chunks of one collection, ids and distances only (asking Chroma for metadata costs ten times
        more at a few hundred results); with ``keep``, over-fetched until ``n`` interactions pass or none is left."""
        # Chunks, not interactions, come back: ask for more so long notes do not crowd out others.
        fetch = n * 2 if keep is None else max(FIRST_FETCH, n * 4)
        verdict: dict[int, bool] = {}
        while True:
            result = collection.query(query_embeddings=vector, n_results=fetch, include=["distances"])
            hits = self._hits(result)
            exhausted = len(hits) < fetch  # Chroma returns everything it has when asked for more
            if keep is None:
                return hits
            unseen = list(dict.fromkeys(h.interaction_id for h in hits if h.interaction_id not in verdict))
            if unseen:
                passing = set(keep(unseen))
                verdict.update((iid, iid in passing) for iid in unseen)
            passed = [h for h in hits if verdict[h.interaction_id]]
            found = len({h.interaction_id for h in passed})
            if found >= n or exhausted:
                return passed
            # Grow from the pass rate seen so far (1.5x margin), at least doubling; ends at the whole collection.
            rate = max(found, 1) / len(hits)
            fetch = max(fetch * 2, int(n / rate * 1.5))

    def score_chunks(self, vector: Vectors, chunk_ids: Sequence[str], n: int) -> list[VectorHit]:
        """Exact nearest interactions among the given chunks (pre-filtered in SQL): their stored vectors, one dot
        product each. Chunks missing from the index (not synced yet) are skipped."""
        collection = self._collection(self.shard_name(None), create=False)
        if collection is None or not chunk_ids:
            return []
        got = collection.get(ids=list(chunk_ids), include=["embeddings"])
        if not got["ids"]:
            return []
        embeddings = np.asarray(got["embeddings"], dtype=np.float32)
        similarities = embeddings @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best: dict[int, VectorHit] = {}
        for cid, similarity in zip(got["ids"], similarities, strict=True):
            iid, number = parse_chunk_id(cid)
            hit = VectorHit(iid, number, 1.0 - float(similarity))
            current = best.get(iid)
            if current is None or hit.distance < current.distance:
                best[iid] = hit
        return sorted(best.values(), key=lambda h: h.distance)[:n]

    @staticmethod
    def _hits(result: Any) -> list[VectorHit]:
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else [0.0] * len(ids)
        hits = []
        for cid, distance in zip(ids, distances, strict=True):
            iid, number = parse_chunk_id(cid)
            hits.append(VectorHit(iid, number, float(distance)))
        return hits


def as_vectors(rows: Sequence[Sequence[float]]) -> Vectors:
    return np.asarray(rows, dtype=np.float32)
