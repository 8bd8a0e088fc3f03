"""Shared builders for the agent, tool and approval tests: a small team and a lead (no tests in this module)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from sales.permissions import Actor, actor_for_user
from store.db import session_scope
from store.models import Lead, Role, User


@dataclass(frozen=True)
class Team:
    admin: Actor
    manager: Actor
    rep: Actor
    other_manager: Actor
    other_rep: Actor
    lead_id: int


def seed_team(engine: Engine) -> Team:
    """Mia manages Rita; Otto manages Olga; Ada is the admin. Rita owns one new lead (Dana at Acme)."""
    with session_scope(engine) as s:
        admin = User(name="Ada Admin", email="ada@example.com", role=Role.ADMIN)
        mia = User(name="Mia Manager", email="mia@example.com", role=Role.MANAGER, team="East")
        otto = User(name="Otto Manager", email="otto@example.com", role=Role.MANAGER, team="West")
        s.add_all([admin, mia, otto])
        s.flush()
        rita = User(name="Rita Rep", email="rita@example.com", role=Role.REP, manager_id=mia.id, team="East")
        olga = User(name="Olga Rep", email="olga@example.com", role=Role.REP, manager_id=otto.id, team="West")
        s.add_all([rita, olga])
        s.flush()
        lead = Lead(name="Dana Fox", email="dana@acme.example", company="Acme Corp", owner_id=rita.id, region="East")
        s.add(lead)
        s.flush()
        assert lead.id is not None
        return Team(
            admin=actor_for_user(s, admin),
            manager=actor_for_user(s, mia),
            rep=actor_for_user(s, rita),
            other_manager=actor_for_user(s, otto),
            other_rep=actor_for_user(s, olga),
            lead_id=lead.id,
        )
