"""Personal API tokens: how a program (an MCP client, a script) proves which user it acts for.

A token is 32 random bytes, shown once when it is made; the store keeps only its SHA-256 (a random token needs no
slow hash: there is nothing to guess) and a short prefix to recognise it by. A token acts as its user with that
user's permissions. Making and revoking one writes a receipt; the token itself never reaches the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor, actor_for_user, user_by_email
from sales.receipts import snapshot, write_receipt
from store.models import ApiToken, User
from store.types import utcnow

TOKEN_PREFIX = "sgt_"  # noqa: S105 (marks a salesgraph token; not a secret)
TOKEN_FIELDS = ("user_id", "name", "prefix", "expires_at", "revoked_at")


class TokenRefused(PermissionDenied):
    """The token is unknown, revoked or expired, or its user is deactivated. The message never echoes it."""


@dataclass(frozen=True)
class CreatedToken:
    token: str
    """The token itself: shown to the user once, never stored."""
    row: ApiToken
    receipt_id: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def _owner(session: Session, actor: Actor, email: str | None) -> User:
    """The user a token is for: the actor, or (admins only) someone else."""
    target = email or actor.email
    user = user_by_email(session, target)
    if user is None:
        raise NotFound(f"no user with email {target!r}; list users with `salesgraph users list`")
    if user.id != actor.user_id and not actor.is_admin:
        raise PermissionDenied(f"{actor.email} may manage only their own tokens; an admin manages anyone's")
    return user


def create_token(
    session: Session,
    actor: Actor,
    *,
    name: str,
    for_email: str | None = None,
    expires_in_days: int | None = None,
    now: datetime | None = None,
) -> CreatedToken:
    """Make a token for the actor (or, as an admin, for ``for_email``); returns it once with its receipt."""
    name = name.strip()
    if not name:
        raise InvalidInput({"name": "say what the token is for, e.g. 'claude desktop'"})
    if len(name) > 100:
        raise InvalidInput({"name": "at most 100 characters"})
    if expires_in_days is not None and expires_in_days <= 0:
        raise InvalidInput({"expires_in_days": "must be a positive number of days"})
    user = _owner(session, actor, for_email)
    if not user.active:
        raise PermissionDenied(f"{user.email} is deactivated; a token for them would be refused")
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert user.id is not None
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        created_by_id=actor.user_id,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    session.flush()
    receipt = write_receipt(session, actor, "create_api_token", "api_token", row.id, after=snapshot(row, TOKEN_FIELDS))
    return CreatedToken(token=token, row=row, receipt_id=receipt)


def list_tokens(session: Session, actor: Actor, *, for_email: str | None = None) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones too, marked by ``revoked_at``)."""
    user = _owner(session, actor, for_email)
    return list(
        session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.id).desc())).all()
    )


def revoke_token(session: Session, actor: Actor, token_id: int, now: datetime | None = None) -> int:
    """Revoke one token (its owner or an admin); it is refused from the next request on. Returns the receipt."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"there is no API token #{token_id}; see `salesgraph tokens list`")
    if row.user_id != actor.user_id and not actor.is_admin:
        raise PermissionDenied(f"token #{token_id} belongs to someone else; only they or an admin may revoke it")
    if row.revoked_at is not None:
        raise InvalidInput({"token": f"token #{token_id} was already revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC"})
    before = snapshot(row, TOKEN_FIELDS)
    row.revoked_at = now or utcnow()
    session.add(row)
    session.flush()
    return write_receipt(
        session, actor, "revoke_api_token", "api_token", row.id, before=before, after=snapshot(row, TOKEN_FIELDS)
    )


def authenticate(session: Session, token: str | None, now: datetime | None = None) -> Actor:
    """The user a token acts for, as an ``Actor`` with their permissions; ``TokenRefused`` otherwise."""
    if not token or not token.strip():
        raise TokenRefused("no API token given; create one with `salesgraph tokens create --as EMAIL`")
    now = now or utcnow()
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None:
        raise TokenRefused("that API token is not recognised; create one with `salesgraph tokens create`")
    if row.revoked_at is not None:
        raise TokenRefused(f"API token #{row.id} ({row.name}) was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise TokenRefused(f"API token #{row.id} ({row.name}) expired on {row.expires_at:%Y-%m-%d}")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise TokenRefused(f"API token #{row.id} belongs to a deactivated user")
    # Not a state change anyone audits: when a token was last used, so unused ones can be found and revoked.
    row.last_used_at = now
    session.add(row)
    return actor_for_user(session, user)
