"""Who may see and change what: reps their own records, managers their team's, admins everything.

Every domain function takes an ``Actor`` and asks these helpers; nothing here trusts a prompt or a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from sales.errors import NotFound, PermissionDenied
from store.models import Role, User


@dataclass(frozen=True)
class Actor:
    """The person a request runs as, with the owner ids they may see (``None`` = everyone)."""

    user_id: int | None
    email: str
    name: str
    role: str
    visible_owner_ids: frozenset[int] | None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)

    def can_see_owner(self, owner_id: int | None) -> bool:
        if self.visible_owner_ids is None:
            return True
        return owner_id is not None and owner_id in self.visible_owner_ids

    def owner_filter(self, column: Any) -> ColumnElement[bool] | None:
        """A WHERE clause restricting ``column`` (an owner id column) to what this actor may see."""
        if self.visible_owner_ids is None:
            return None
        return col(column).in_(sorted(self.visible_owner_ids))


SYSTEM = Actor(user_id=None, email="system", name="salesgraph", role=Role.ADMIN, visible_owner_ids=None)


def team_member_ids(session: Session, manager_id: int) -> set[int]:
    """The manager and everyone reporting to them, directly or through other managers."""
    ids = {manager_id}
    frontier = [manager_id]
    while frontier:
        reports = session.exec(select(User.id).where(col(User.manager_id).in_(frontier))).all()
        frontier = [r for r in reports if r is not None and r not in ids]
        ids.update(frontier)
    return ids


def actor_for_user(session: Session, user: User) -> Actor:
    assert user.id is not None
    if user.role == Role.ADMIN:
        visible: frozenset[int] | None = None
    elif user.role == Role.MANAGER:
        visible = frozenset(team_member_ids(session, user.id))
    else:
        visible = frozenset({user.id})
    return Actor(user_id=user.id, email=user.email, name=user.name, role=user.role, visible_owner_ids=visible)


def user_by_slack_id(session: Session, slack_user_id: str) -> User | None:
    """The user an admin linked to this Slack user id (``users add --slack-id``), or None."""
    return session.exec(select(User).where(col(User.slack_user_id) == slack_user_id.strip())).first()


def user_by_email(session: Session, email: str) -> User | None:
    """The user with this email (emails are stored lower-case), or None."""
    return session.exec(select(User).where(col(User.email) == email.strip().lower())).first()


def load_actor(session: Session, email: str) -> Actor:
    user = user_by_email(session, email)
    if user is None:
        raise NotFound(f"no user with email {email!r}; list users with `salesgraph users list`")
    if not user.active:
        raise PermissionDenied(f"{email} is deactivated")
    return actor_for_user(session, user)


def ensure_can_see(actor: Actor, owner_id: int | None, what: str) -> None:
    if not actor.can_see_owner(owner_id):
        # Same wording as a missing record would be a leak-free choice, but reps need to know why.
        raise PermissionDenied(f"{what} belongs to another team; {actor.email} cannot see or change it")


def ensure_can_change(actor: Actor, owner_id: int | None, what: str) -> None:
    ensure_can_see(actor, owner_id, what)


def assignable_owner_id(session: Session, actor: Actor, email: str, record: str) -> int:
    """The id of the active user ``email`` names, if the actor may give them a ``record`` (a lead, a deal)."""
    from sales.errors import InvalidInput

    user = user_by_email(session, email)
    if user is None or not user.active:
        raise InvalidInput({"owner": f"no active user with email {email!r}"})
    assert user.id is not None
    ensure_can_see(actor, user.id, f"assigning {record} to {user.email}")
    return user.id
