"""The memory index against real back ends: SQLite and PostgreSQL stores × embedded Chroma and a `chroma run` server.

The same suite runs on every combination: index and SQL stay consistent after create, edit and delete; a
reindex restores a lost index; a rep never sees another team's notes; forgetting a contact removes both the SQL
rows and the index entries.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from memory.index import InteractionIndex
from memory.indexer import reindex, sync
from memory.privacy import forget_contact
from memory.search import search_interactions
from sales.errors import PermissionDenied
from sales.interactions import InteractionInput, delete_interaction, log_interaction, update_interaction
from store.db import session_scope
from store.models import AuditEvent, Contact, Interaction
from tests.unit.test_memory_world import NOTES, World, build_world, make_index

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.exists():
        pytest.skip(f"the chroma CLI is not installed next to {sys.executable}")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = (path / "server.log").open("w")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path / "data"), "--port", str(port), "--host", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: {(path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Three setups, not the full matrix: the embedded index on both stores, the Chroma server on the SQLite store.
pytestmark = pytest.mark.parametrize(
    ("engine", "index"),
    [("sqlite", "embedded"), ("postgresql", "embedded"), ("sqlite", "server")],
    ids=["sqlite-embedded", "postgresql-embedded", "sqlite-server"],
    indirect=True,
)


@pytest.fixture
def index(request: pytest.FixtureRequest, tmp_path: Path) -> InteractionIndex:
    # A fresh collection prefix per test keeps tests apart on the shared server.
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "server":
        return make_index(tmp_path, chroma_url=request.getfixturevalue("chroma_server"), prefix=prefix)
    return make_index(tmp_path, prefix=prefix)


@pytest.fixture
def world(engine: Engine, index: InteractionIndex) -> World:
    return build_world(engine, index)


def _index_ids(index: InteractionIndex) -> dict[str, set[int]]:
    return {name: set(entries) for name, entries in index.inventory().entries.items()}


def _assert_consistent(world: World) -> None:
    """Every SQL row is in the all-collection and its owner's collection, marked indexed; nothing else is."""
    with Session(world.engine) as s:
        rows = s.exec(select(Interaction)).all()
    inventory = world.index.inventory()
    all_name = world.index.shard_name(None)
    sql_ids = {r.id for r in rows}
    assert set(inventory.entries.get(all_name, {})) == sql_ids
    for row in rows:
        assert row.indexed_at is not None, f"interaction {row.id} not marked indexed"
        assert row.sentiment is not None
        assert row.id in inventory.entries[world.index.shard_name(row.user_id)]
        owner, version = inventory.entries[all_name][row.id]
        assert (owner, version) == (row.user_id, row.updated_at.isoformat())
    for name, entries in inventory.entries.items():
        assert set(entries) <= sql_ids, f"{name} holds deleted interactions"


def test_index_follows_create_edit_and_delete(world: World) -> None:
    first = sync(world.engine, world.index)
    assert (first.indexed, first.removed) == (len(NOTES), 0)
    assert first.receipt is not None
    _assert_consistent(world)
    assert sync(world.engine, world.index).changed is False

    rep = world.actor("r1")
    with session_scope(world.engine) as s:
        created, _ = log_interaction(
            s,
            rep,
            InteractionInput(
                deal_id=world.deals["acme"], channel="call", body="They asked about Kubernetes on-prem deployment."
            ),
        )
    with session_scope(world.engine) as s:
        update_interaction(s, rep, world.interactions[0], body="Acme now wants a three-year term with annual billing.")
    with session_scope(world.engine) as s:
        delete_interaction(s, rep, world.interactions[1])

    report = sync(world.engine, world.index)
    assert report.indexed == 2  # the new note and the edited one
    assert report.removed == 1
    _assert_consistent(world)

    with session_scope(world.engine) as s:
        edited = search_interactions(s, rep, world.index, "three-year term annual billing", mode="vector", limit=1)
        assert edited[0].interaction_id == world.interactions[0]
        assert "three-year" in edited[0].snippet
        old_text = search_interactions(s, rep, world.index, "Zentrix discount", mode="hybrid", limit=5)
        assert "Zentrix" not in " ".join(h.snippet for h in old_text)
        deleted = search_interactions(s, rep, world.index, "SOC 2 penetration test", mode="vector", limit=5)
        assert world.interactions[1] not in [h.interaction_id for h in deleted]
        found = search_interactions(s, rep, world.index, "kubernetes", mode="hybrid", limit=1)
        assert found[0].interaction_id == created.id


def test_search_hides_deleted_rows_even_before_sync(world: World) -> None:
    sync(world.engine, world.index)
    rep = world.actor("r1")
    with session_scope(world.engine) as s:
        delete_interaction(s, rep, world.interactions[1])
    with session_scope(world.engine) as s:
        hits = search_interactions(s, rep, world.index, "SOC 2 report penetration test", mode="vector", limit=5)
    assert world.interactions[1] not in [h.interaction_id for h in hits]


def test_verify_catches_an_index_restored_from_an_older_copy(world: World) -> None:
    """A fast sync trusts SQL's indexed mark; --verify compares stored text versions and re-embeds stale chunks."""
    sync(world.engine, world.index)
    stale = world.interactions[2]
    collection = world.index.client.get_collection(world.index.shard_name(None))
    got = collection.get(ids=[f"{stale}:0"], include=["metadatas", "embeddings"])
    old = {**got["metadatas"][0], "version": "2020-01-01T00:00:00+00:00"}  # as if restored from an old backup
    collection.upsert(ids=got["ids"], embeddings=got["embeddings"], metadatas=[old])
    assert sync(world.engine, world.index).indexed == 0
    report = sync(world.engine, world.index, verify=True)
    assert report.indexed == 1
    _assert_consistent(world)


def test_reindex_restores_a_deleted_index(world: World, tmp_path: Path) -> None:
    sync(world.engine, world.index)
    # Lose the index: the whole folder for the embedded client, every collection on the server.
    if (tmp_path / "chroma").exists():
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()  # as if a new process opened the folder
        shutil.rmtree(tmp_path / "chroma")
        world.index = make_index(tmp_path, prefix=world.index.base_prefix)
    else:
        world.index.drop_all()
    assert world.index.count() == 0
    report = reindex(world.engine, world.index)
    assert report.indexed == len(NOTES)
    _assert_consistent(world)
    admin = world.actor("admin")
    with session_scope(world.engine) as s:
        hits = search_interactions(s, admin, world.index, "EU data residency", mode="vector", limit=1)
    assert hits[0].interaction_id == world.interactions[6]


def test_sync_alone_catches_up_a_lost_index(world: World) -> None:
    sync(world.engine, world.index)
    world.index.drop_all()
    report = sync(world.engine, world.index)  # SQL says "indexed" but the index is empty: redo, never trust
    assert report.indexed == len(NOTES)
    _assert_consistent(world)


@pytest.mark.parametrize("fanout", [3, 1], ids=["owner-collections", "everything-collection"])
def test_a_rep_never_sees_another_teams_notes(world: World, fanout: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # fanout 1 sends the manager's search (3 owners) to the everything-collection, checked by SQL per candidate
    monkeypatch.setattr("memory.index.FANOUT_MAX", fanout)
    sync(world.engine, world.index)
    other_team = {world.interactions[i] for i, note in enumerate(NOTES) if note[0] == "globex"}
    own_team = {world.interactions[i] for i, note in enumerate(NOTES) if note[0] in ("acme", "initech")}
    queries = ["Zentrix pricing", "EU data residency", "competitor", "what did Globex say", "data protection officer"]
    rep, manager, erik = world.actor("r1"), world.actor("m1"), world.actor("r3")
    with session_scope(world.engine) as s:
        for mode in ("vector", "keyword", "hybrid"):
            for query in queries:
                for actor in (rep, manager):
                    hits = search_interactions(s, actor, world.index, query, mode=mode, limit=10)  # type: ignore[arg-type]
                    ids = {h.interaction_id for h in hits}
                    assert not ids & other_team, f"{actor.email} saw another team's note for {query!r} ({mode})"
                    assert ids <= own_team
            # The other team's own rep does find their note, so the query itself is not the reason.
            hits = search_interactions(s, erik, world.index, "EU data residency", mode=mode, limit=3)  # type: ignore[arg-type]
            assert world.interactions[6] in {h.interaction_id for h in hits}
        with pytest.raises(PermissionDenied):
            search_interactions(s, rep, world.index, "pricing", owner=world.users["r3"])


def test_filters_by_account_deal_channel_and_dates(world: World) -> None:
    sync(world.engine, world.index)
    admin = world.actor("admin")
    with session_scope(world.engine) as s:
        by_account = search_interactions(s, admin, world.index, "pricing", account="acme corp", limit=10)
        assert {h.account for h in by_account} == {"Acme Corp"}
        by_deal = search_interactions(s, admin, world.index, "pricing", deal_id=world.deals["globex"], limit=10)
        assert {h.record_id for h in by_deal} == {world.deals["globex"]}
        calls = search_interactions(s, admin, world.index, "requirements", channel="call", limit=10)
        assert calls and {h.channel for h in calls} == {"call"}
        from datetime import date

        window = search_interactions(
            s, admin, world.index, "meeting", since=date(2026, 9, 2), until=date(2026, 9, 4), limit=10
        )
        assert window and all(date(2026, 9, 2) <= h.date <= date(2026, 9, 4) for h in window)


def test_keyword_leg_finds_exact_names_hybrid_keeps_them(world: World) -> None:
    sync(world.engine, world.index)
    admin = world.actor("admin")
    with session_scope(world.engine) as s:
        keyword = search_interactions(s, admin, world.index, "Zentrix", mode="keyword", limit=5)
        hybrid = search_interactions(s, admin, world.index, "Zentrix", mode="hybrid", limit=2)
    zentrix = {world.interactions[0], world.interactions[5]}
    assert {h.interaction_id for h in keyword} == zentrix
    assert {h.interaction_id for h in hybrid} == zentrix
    assert all("keyword" in h.matched_by for h in hybrid)


def test_forgetting_a_contact_removes_sql_rows_and_index_entries(world: World) -> None:
    sync(world.engine, world.index)
    acme_notes = {world.interactions[i] for i, note in enumerate(NOTES) if note[0] == "acme"}
    admin = world.actor("admin")
    with session_scope(world.engine) as s:
        report = forget_contact(s, admin, "Buyer@Acme.example", world.index)
    assert report.interactions_deleted == len(acme_notes)
    assert report.contacts_deleted == 1
    assert report.index_chunks_deleted == 2 * len(acme_notes)  # the owner's collection and the all-collection
    with Session(world.engine) as s:
        assert s.exec(select(Interaction).where(Interaction.contact_id == world.contacts["acme"])).all() == []
        assert s.get(Contact, world.contacts["acme"]) is None
        event = s.get(AuditEvent, report.receipt)
        assert event is not None and event.action == "forget_contact"
        assert "acme" not in str(event.after).lower()  # the audit keeps a hash, not the address
    for name, ids in _index_ids(world.index).items():
        assert not ids & acme_notes, f"{name} still holds the forgotten contact's notes"
    assert sync(world.engine, world.index).changed is False  # nothing left to reconcile
    _assert_consistent(world)


def test_forgetting_needs_an_admin_and_changes_nothing_otherwise(world: World) -> None:
    sync(world.engine, world.index)
    manager = world.actor("m1")
    with pytest.raises(PermissionDenied), session_scope(world.engine) as s:
        forget_contact(s, manager, "buyer@acme.example", world.index)
    with Session(world.engine) as s:
        assert len(s.exec(select(Interaction)).all()) == len(NOTES)
    assert len(world.index.inventory().entries[world.index.shard_name(None)]) == len(NOTES)
