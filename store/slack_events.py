"""Slack events taken exactly once: a row per event in ``slack_event_receipts``, claimed before its turn runs.

The claim is an INSERT in its own transaction; the primary key (``event_id``) and the unique ``client_msg_id``
make a second claim of the same event fail in the database, whichever process or restart tries it. Rows older
than ``KEEP`` are pruned as new ones arrive (Slack redelivers within minutes, not days).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from store.db import session_scope
from store.models import SlackEventReceipt
from store.types import utcnow

KEEP = timedelta(days=3)


def claim_slack_event(engine: Engine, event_id: str, *, client_msg_id: str | None = None, kind: str = "") -> bool:
    """True the first time this event (or another event for the same message) is claimed, False after."""
    if not event_id:
        raise ValueError("a Slack event without an event_id cannot be claimed")
    try:
        with session_scope(engine) as s:
            s.add(
                SlackEventReceipt(
                    event_id=event_id[:64], client_msg_id=(client_msg_id or None) and client_msg_id[:64], kind=kind[:40]
                )
            )
            s.flush()
    except IntegrityError:
        return False
    with session_scope(engine) as s:
        s.execute(delete(SlackEventReceipt).where(col(SlackEventReceipt.received_at) < utcnow() - KEEP))
    return True
