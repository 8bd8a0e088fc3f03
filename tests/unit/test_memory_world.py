"""A small two-team workspace with interactions on distinct topics, shared by the memory tests (and its own check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from memory.config import MemorySettings
from memory.embeddings import MiniLMOnnxEmbedder
from memory.index import InteractionIndex, open_chroma_client
from sales.interactions import InteractionInput, log_interaction
from sales.permissions import Actor, actor_for_user
from store.db import session_scope
from store.models import Account, Contact, Deal, Interaction, Role, User

BASE = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
_EMBEDDER: MiniLMOnnxEmbedder | None = None

NOTES: list[tuple[str, str, str, str, int]] = [
    # (deal key, channel, subject, body, days after BASE)
    (
        "acme",
        "email",
        "Pricing",
        "Acme asked whether we can match the 15% discount that Competitor Zentrix offered.",
        0,
    ),
    ("acme", "call", "Security review", "Their CISO wants our SOC 2 Type II report and a penetration test summary.", 3),
    ("acme", "meeting", "Champion", "Great meeting, the champion loved the forecasting demo and wants a pilot.", 7),
    ("initech", "note", "Legal", "Legal sent redlines on the limitation of liability clause in the MSA.", 2),
    ("initech", "email", "Budget", "The CFO needs budget approval before the end of the quarter.", 9),
    ("globex", "email", "Competitor", "Globex is also evaluating Zentrix and Clari; they like Zentrix pricing.", 1),
    (
        "globex",
        "call",
        "Data residency",
        "EU data residency is a hard requirement for their data protection officer.",
        5,
    ),
]


@dataclass
class World:
    engine: Engine
    index: InteractionIndex
    users: dict[str, int]
    deals: dict[str, int]
    contacts: dict[str, int]
    interactions: list[int]  # in NOTES order

    def actor(self, key: str) -> Actor:
        with Session(self.engine) as s:
            user = s.get(User, self.users[key])
            assert user is not None
            return actor_for_user(s, user)


def embedder() -> MiniLMOnnxEmbedder:
    global _EMBEDDER
    if _EMBEDDER is None:
        _EMBEDDER = MiniLMOnnxEmbedder()
    return _EMBEDDER


def make_index(tmp_path: Path, chroma_url: str | None = None, prefix: str = "sg") -> InteractionIndex:
    settings = MemorySettings(home_dir=tmp_path, chroma_url=chroma_url)
    return InteractionIndex(open_chroma_client(settings), embedder(), prefix=prefix)


def build_world(engine: Engine, index: InteractionIndex) -> World:
    users: dict[str, int] = {}
    deals: dict[str, int] = {}
    contacts: dict[str, int] = {}
    with session_scope(engine) as s:

        def add(obj: Any) -> Any:
            s.add(obj)
            s.flush()
            return obj

        admin = add(User(name="Ada Admin", email="ada@ex.example", role=Role.ADMIN))
        m1 = add(User(name="Mona Manager", email="mona@ex.example", role=Role.MANAGER, team="Americas"))
        m2 = add(User(name="Emil Manager", email="emil@ex.example", role=Role.MANAGER, team="EMEA"))
        r1 = add(User(name="Rita Rep", email="rita@ex.example", role=Role.REP, manager_id=m1.id))
        r2 = add(User(name="Ravi Rep", email="ravi@ex.example", role=Role.REP, manager_id=m1.id))
        r3 = add(User(name="Erik Rep", email="erik@ex.example", role=Role.REP, manager_id=m2.id))
        users.update(admin=admin.id, m1=m1.id, m2=m2.id, r1=r1.id, r2=r2.id, r3=r3.id)
        for key, owner, name in (("acme", r1, "Acme Corp"), ("initech", r2, "Initech"), ("globex", r3, "Globex")):
            account = add(Account(name=name, owner_id=owner.id))
            contact = add(
                Contact(account_id=account.id, name=f"{name} Buyer", email=f"buyer@{key}.example", owner_id=owner.id)
            )
            deal = add(
                Deal(
                    name=f"{name} platform", account_id=account.id, owner_id=owner.id, stage="Prospecting", amount=1000
                )
            )
            deals[key] = deal.id
            contacts[key] = contact.id
    ids = []
    for key, channel, subject, body, days in NOTES:
        owner_key = {"acme": "r1", "initech": "r2", "globex": "r3"}[key]
        world_actor = World(engine, index, users, deals, contacts, []).actor(owner_key)
        with session_scope(engine) as s:
            row, _ = log_interaction(
                s,
                world_actor,
                InteractionInput(
                    deal_id=deals[key],
                    contact_id=contacts[key],
                    channel=channel,
                    subject=subject,
                    body=body,
                    occurred_at=BASE + timedelta(days=days),
                ),
            )
            ids.append(row.id)
    return World(engine, index, users, deals, contacts, ids)


def test_world_has_two_teams_and_every_note(sqlite_engine: Engine, tmp_path: Path) -> None:
    world = build_world(sqlite_engine, make_index(tmp_path))
    with Session(sqlite_engine) as s:
        rows = s.exec(select(Interaction)).all()
    assert len(rows) == len(NOTES)
    assert all(r.indexed_at is None for r in rows)
    assert world.actor("m1").visible_owner_ids == frozenset({world.users["m1"], world.users["r1"], world.users["r2"]})
