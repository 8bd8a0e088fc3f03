"""Small builders for test data; they write rows directly, as an admin tool would."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from sales.permissions import Actor, actor_for_user
from store.models import Role, User


def make_user(
    session: Session,
    name: str,
    *,
    role: str = Role.REP,
    manager: User | None = None,
    region: str | None = None,
    started_at: date | None = None,
) -> User:
    email = name.lower().replace(" ", ".") + "@test.example"
    user = User(
        name=name,
        email=email,
        role=role,
        manager_id=manager.id if manager else None,
        region=region,
        started_at=started_at,
    )
    session.add(user)
    session.flush()
    return user


def actor(session: Session, user: User) -> Actor:
    return actor_for_user(session, user)


def small_org(session: Session) -> dict[str, User]:
    """An admin, two managers with two reps each (East and West)."""
    admin = make_user(session, "Ada Admin", role=Role.ADMIN)
    east = make_user(session, "Erin East", role=Role.MANAGER, region="East")
    west = make_user(session, "Walt West", role=Role.MANAGER, region="West")
    org = {
        "admin": admin,
        "east_mgr": east,
        "west_mgr": west,
        "east_rep1": make_user(session, "Eli One", manager=east, region="East"),
        "east_rep2": make_user(session, "Eva Two", manager=east, region="East"),
        "west_rep1": make_user(session, "Will One", manager=west, region="West"),
        "west_rep2": make_user(session, "Wendy Two", manager=west, region="West"),
    }
    session.commit()
    return org
