"""Users: creating them, and resolving what people type ("me", an email, a first name) to one user."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor, user_by_email
from sales.receipts import snapshot, write_receipt
from sales.validation import normalize_email
from store.models import Role, User

USER_FIELDS = ("name", "email", "role", "manager_id", "team", "region", "started_at", "slack_user_id", "active")


class UserInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str
    role: str = Role.REP
    manager_email: str | None = None
    team: str | None = None
    region: str | None = None
    started_at: date | None = None
    slack_user_id: str | None = None


def create_user(session: Session, actor: Actor, data: UserInput) -> tuple[User, int]:
    if not actor.is_admin:
        raise PermissionDenied("only an admin can add users")
    problems: dict[str, str] = {}
    email = ""
    try:
        email = normalize_email(data.email)
    except ValueError as exc:
        problems["email"] = str(exc)
    if data.role not in (Role.REP, Role.MANAGER, Role.ADMIN):
        problems["role"] = "use rep, manager or admin"
    if email and user_by_email(session, email) is not None:
        problems["email"] = f"{email} already exists"
    manager_id = None
    if data.manager_email:
        manager = user_by_email(session, data.manager_email)
        if manager is None:
            problems["manager_email"] = f"no user with email {data.manager_email!r}"
        else:
            manager_id = manager.id
    if problems:
        raise InvalidInput(problems)
    user = User(
        name=data.name,
        email=email,
        role=data.role,
        manager_id=manager_id,
        team=data.team,
        region=data.region,
        started_at=data.started_at,
        slack_user_id=data.slack_user_id,
    )
    session.add(user)
    session.flush()
    return user, write_receipt(session, actor, "create_user", "user", user.id, after=snapshot(user, USER_FIELDS))


def find_user(session: Session, actor: Actor, text: str) -> User:
    """Resolve "me", an email, a full name or a unique first name/fragment to one user the actor may see."""
    wanted = text.strip()
    if wanted.lower() in ("me", "my", "myself", "i"):
        if actor.user_id is None:
            raise NotFound("you are not a user of this workspace; pass --as EMAIL")
        user = session.get(User, actor.user_id)
        assert user is not None
        return user
    if "@" in wanted:
        by_email = user_by_email(session, wanted)
        if by_email is None:
            raise NotFound(f"no user with email {wanted!r}")
        return by_email
    lowered = wanted.lower()
    exact = session.exec(select(User).where(func.lower(User.name) == lowered)).all()
    candidates = list(exact) or list(session.exec(select(User).where(func.lower(User.name).like(f"%{lowered}%"))).all())
    visible = [u for u in candidates if actor.can_see_owner(u.id)] or candidates
    if not visible:
        raise NotFound(f"nobody called {wanted!r} works here")
    if len(visible) > 1:
        names = ", ".join(f"{u.name} <{u.email}>" for u in visible[:6])
        raise InvalidInput({"owner": f"{wanted!r} could be {names}; say which"})
    return visible[0]


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.role), col(User.name))).all())
