"""Reading replies from a mailbox over IMAP (stdlib ``imaplib``): new messages since a stored UID cursor, each
recorded by ``sales.inbound.record_email`` together with its cursor step in one transaction.

The cursor (``connector_states``, connector ``imap``) holds the folder's UIDVALIDITY and the last UID recorded. A
message and the cursor moving past it commit together, so a crash before the commit leaves neither (the message is
read again next time) and one after leaves both. A cursor that is lost, or a server that changes UIDVALIDITY (the
folder was rebuilt and its UIDs mean something else), makes the poller read the first-poll window (the last
``first_poll_days``) again; the unique Message-ID in ``inbound_emails`` makes that log nothing twice. Messages are fetched with ``BODY.PEEK[]`` on a
read-only ``EXAMINE``, so polling never marks mail as read for the people who use the mailbox.

The password is a ``SecretStr`` until the ``LOGIN`` itself and is never logged; imaplib's own debug output
(which would print the LOGIN line) stays off.
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr
from sqlmodel import Session, select

from sales.errors import SalesError
from sales.inbound import InboundReport, record_email
from store.db import session_scope
from store.models import ConnectorState
from store.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CONNECTOR = "imap"
FETCH_BATCH = 50
_UID = re.compile(rb"\bUID (\d+)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ImapError(SalesError):
    """The mailbox could not be read: the message says what failed and which setting to check."""


class ImapNotConfigured(ImapError):
    """No IMAP server is configured; the message says which settings to set."""


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: SecretStr
    folder: str = "INBOX"
    security: Literal["ssl", "starttls", "none"] = "ssl"
    timeout: float = 30.0
    first_poll_days: int = 14
    """Without a cursor (the first poll, or the folder renumbered), read only mail from the last N days (0: all)."""
    ssl_context: ssl.SSLContext | None = None
    """For tests against a server with its own certificate; default: the system's trust store."""

    @property
    def mailbox(self) -> str:
        """How the mailbox is named in the store and in reports (never with the password)."""
        return f"imap:{self.username}@{self.host}:{self.port}/{self.folder}"

    @property
    def stream(self) -> str:
        """The cursor's key in ``connector_states`` (at most 64 characters)."""
        name = f"{self.username}@{self.host}:{self.port}/{self.folder}"
        return name if len(name) <= 64 else name[:47] + "#" + hashlib.sha256(name.encode()).hexdigest()[:16]


def imap_configured(settings: Any) -> bool:
    return bool(settings.imap_host)


def imap_from_settings(settings: Any) -> ImapConfig:
    """The mailbox in ``app.settings.Settings`` (``SALESGRAPH_IMAP_*``); raises ``ImapNotConfigured`` naming what
    is missing."""
    missing = [
        name
        for name, value in (
            ("SALESGRAPH_IMAP_HOST", settings.imap_host),
            ("SALESGRAPH_IMAP_USERNAME", settings.imap_username),
            ("SALESGRAPH_IMAP_PASSWORD", settings.imap_password),
        )
        if not value
    ]
    if missing:
        raise ImapNotConfigured(f"IMAP is not configured: set {', '.join(missing)} (and SALESGRAPH_IMAP_SECURITY, "
                                "SALESGRAPH_IMAP_PORT, SALESGRAPH_IMAP_FOLDER if not ssl/993/INBOX)")  # fmt: skip
    security = settings.imap_security
    port = settings.imap_port or (993 if security == "ssl" else 143)
    return ImapConfig(settings.imap_host, port, settings.imap_username, settings.imap_password,
                      settings.imap_folder, security, first_poll_days=settings.imap_first_poll_days)  # fmt: skip


def _check(what: str, config: ImapConfig, typ: str, data: Any) -> Any:
    if typ != "OK":
        said = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")[:300]
        raise ImapError(f"IMAP {what} on {config.host}:{config.port} failed: the server said {said!r}")
    return data


def connect(config: ImapConfig) -> imaplib.IMAP4:
    """An authenticated connection with the folder selected read-only."""
    try:
        client: imaplib.IMAP4
        if config.security == "ssl":
            context = config.ssl_context or ssl.create_default_context()
            client = imaplib.IMAP4_SSL(config.host, config.port, ssl_context=context, timeout=config.timeout)
        else:
            client = imaplib.IMAP4(config.host, config.port, timeout=config.timeout)
            if config.security == "starttls":
                client.starttls(ssl_context=config.ssl_context or ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(
            f"could not connect to the IMAP server {config.host}:{config.port} ({config.security}): {exc}; "
            "check SALESGRAPH_IMAP_HOST, SALESGRAPH_IMAP_PORT and SALESGRAPH_IMAP_SECURITY"
        ) from None
    try:
        client.login(config.username, config.password.get_secret_value())
    except imaplib.IMAP4.error as exc:
        # imaplib's error carries the server's answer, never what we sent.
        _close(client)
        raise ImapError(
            f"the IMAP server {config.host}:{config.port} refused the login of {config.username}: {exc}; "
            "check SALESGRAPH_IMAP_USERNAME and SALESGRAPH_IMAP_PASSWORD"
        ) from None
    try:
        _check(f"EXAMINE {config.folder}", config, *client.select(_quoted(config.folder), readonly=True))
    except ImapError:
        _close(client)
        raise
    return client


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _close(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        client.logout()


def load_cursor(session: Session, config: ImapConfig) -> ConnectorState:
    state = session.exec(
        select(ConnectorState).where(ConnectorState.connector == CONNECTOR, ConnectorState.stream == config.stream)
    ).first()
    return state or ConnectorState(connector=CONNECTOR, stream=config.stream, state={})


def advance_cursor(session: Session, config: ImapConfig, uidvalidity: int, uid: int) -> None:
    """Move the cursor past ``uid`` in the caller's transaction (the one that recorded the message)."""
    state = load_cursor(session, config)
    state.state = {"uidvalidity": uidvalidity, "last_uid": uid}
    state.updated_at = utcnow()
    session.add(state)


def _uidvalidity(client: imaplib.IMAP4, config: ImapConfig) -> int:
    _, data = client.response("UIDVALIDITY")
    try:
        return int(data[0])
    except (TypeError, ValueError, IndexError):
        raise ImapError(f"the IMAP server {config.host}:{config.port} did not say the folder's UIDVALIDITY") from None


def _fetch(client: imaplib.IMAP4, config: ImapConfig, uids: list[int]) -> dict[int, bytes]:
    data = _check("UID FETCH", config, *client.uid("FETCH", ",".join(map(str, uids)), "(UID FLAGS BODY.PEEK[])"))
    messages: dict[int, bytes] = {}
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and (found := _UID.search(item[0])):
            messages[int(found.group(1))] = item[1]
    return messages


def poll(
    engine: Engine, config: ImapConfig, *, limit: int | None = None, progress: Callable[[int, int], None] | None = None
) -> InboundReport:
    """Record every message that arrived since the cursor (oldest first); returns what each became."""
    report = InboundReport()
    client = connect(config)
    try:
        uidvalidity = _uidvalidity(client, config)
        with session_scope(engine, read_only=True) as s:
            cursor = dict(load_cursor(s, config).state or {})
        last = int(cursor.get("last_uid", 0)) if cursor.get("uidvalidity") == uidvalidity else 0
        if cursor and cursor.get("uidvalidity") != uidvalidity:
            log.warning("IMAP %s: UIDVALIDITY changed (%s -> %s); reading recent mail again (nothing is logged twice)",
                        config.mailbox, cursor.get("uidvalidity"), uidvalidity)  # fmt: skip
        if last == 0 and config.first_poll_days > 0:
            # A mailbox's years of old mail are not replies to log: the first poll starts from recent mail.
            day = (utcnow() - timedelta(days=config.first_poll_days)).date()
            since = f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"  # RFC 3501 date, English months
            found = _check("UID SEARCH", config, *client.uid("SEARCH", "SINCE", since))
        else:
            found = _check("UID SEARCH", config, *client.uid("SEARCH", "UID", f"{last + 1}:*"))
        # "N:*" always includes the highest UID, even when it is below N: keep only the new ones.
        uids = sorted(int(u) for u in b" ".join(found).split() if int(u) > last)
        if limit is not None:
            uids = uids[:limit]
        if progress is not None:
            progress(0, len(uids))
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            raws = _fetch(client, config, batch)
            for done, uid in enumerate(batch, start=start + 1):
                raw = raws.get(uid)
                if raw is None:  # expunged between SEARCH and FETCH
                    with session_scope(engine) as s:
                        advance_cursor(s, config, uidvalidity, uid)
                    continue
                try:
                    with session_scope(engine) as s:
                        outcome = record_email(s, raw, config.mailbox)
                        advance_cursor(s, config, uidvalidity, uid)
                    report.outcomes.append(outcome)  # committed, with the cursor past it
                except Exception as exc:
                    # Stop here: the cursor stays before this message, so the next poll tries it again.
                    report.errors.append(f"UID {uid}: {type(exc).__name__}: {exc}")
                    log.error("IMAP %s: UID %d not recorded: %s", config.mailbox, uid, exc)
                    return report
                if progress is not None:
                    progress(done, len(uids))
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(
            f"reading {config.mailbox} failed: {exc}; the next poll starts where this one stopped"
        ) from None
    finally:
        _close(client)
    log.info("IMAP %s: %s", config.mailbox, report.describe())
    return report


__all__ = [
    "ImapConfig",
    "ImapError",
    "ImapNotConfigured",
    "advance_cursor",
    "connect",
    "imap_configured",
    "imap_from_settings",
    "load_cursor",
    "poll",
]
