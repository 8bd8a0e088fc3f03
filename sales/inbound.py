"""Inbound email: replies, out-of-office answers and bounces, matched to the record they are about and logged once.

One function, ``record_email``, takes the raw bytes of a message (from the IMAP poller in ``connectors.imap`` or a
file given to ``salesgraph import replies``) and in the caller's transaction:

- skips it when its Message-ID was recorded before (``inbound_emails.message_id`` is unique), so a re-poll, a
  re-import or a crash mid-batch never logs a message twice; a message without a Message-ID is keyed by a hash of
  its bytes;
- classifies it: a **bounce** (a delivery-status report, RFC 3464, or a mail from mailer-daemon/postmaster), an
  **auto-reply** (``Auto-Submitted`` other than ``no``, RFC 3834, or ``X-Autoreply``/``X-Autorespond``), else a
  **reply**;
- matches it to a record: first by ``In-Reply-To``/``References`` against the Message-IDs of the emails we sent
  (``outbound_messages.provider_message_id``), then by the sender's address (a contact, a lead);
- a reply is logged as an inbound email interaction (``sales.interactions.log_interaction``, receipt), which
  emits the ``reply_received`` domain event in the same transaction, so automation stops the record's sequences;
  an auto-reply is kept and receipted but is not a reply (no interaction, no event); a bounce records an
  ``email_bounced`` event per failed recipient (which stops their sequences) and marks the email we sent failed;
- a sender it cannot match is kept (with the text) as ``unmatched`` and reported, never dropped.

Email text is customer data: it is stored and shown, never followed as instructions.
"""

from __future__ import annotations

import hashlib
import html
import mailbox
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Final, Literal

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sales import events as ev
from sales.interactions import InteractionInput, body_digest, log_interaction
from sales.permissions import SYSTEM, Actor
from sales.receipts import write_receipt
from store.db import session_scope
from store.models import (
    Contact,
    Deal,
    DomainEvent,
    InboundEmail,
    Lead,
    LeadStatus,
    MessageStatus,
    OutboundMessage,
)
from store.types import utcnow

Kind = Literal["reply", "auto_reply", "bounce", "unmatched"]
KINDS: Final = ("reply", "auto_reply", "bounce", "unmatched")
BOUNCE_SENDERS: Final = ("mailer-daemon", "postmaster")
AUTOREPLY_HEADERS: Final = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
MAX_BODY: Final = 100_000
_MSGID = re.compile(r"<[^<>\s]+>")
_QUOTE_INTRO = re.compile(r"^\s*(On .{5,200} wrote:|-{2,}\s*Original Message\s*-{2,})\s*$", re.IGNORECASE)


class InboundError(ValueError):
    """A file given to ``salesgraph import replies`` that is not a mailbox or a folder of .eml files."""


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    from_address: str | None
    subject: str | None
    sent_at: datetime | None
    thread_ids: tuple[str, ...]
    """Message-IDs this one answers: In-Reply-To first, then References newest first."""
    kind: Literal["reply", "auto_reply", "bounce"]
    body: str
    bounced: tuple[str, ...] = ()
    """For a bounce: the recipients whose delivery failed."""
    bounced_message_ids: tuple[str, ...] = ()
    """For a bounce: the Message-ID of the email that bounced (from the returned headers)."""


def _addresses(value: str | None) -> list[str]:
    return [addr.strip().lower() for _, addr in getaddresses([value or ""]) if "@" in addr]


def _ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _text_of(message: Message) -> str:
    if isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            content = part.get_content() if isinstance(part, EmailMessage) else str(part.get_payload())
            if part.get_content_subtype() == "html":
                content = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style).*?</\1>", "", content)))
            return str(content)
    payload = message.get_payload(decode=True)
    return payload.decode(errors="replace") if isinstance(payload, bytes) else ""


def reply_text(body: str) -> str:
    """The new text of a reply: the quoted earlier message below it (``On ... wrote:``, ``>`` lines) cut off."""
    lines = body.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        if _QUOTE_INTRO.match(line):
            break
        kept.append(line)
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    text = "\n".join(kept).strip()
    return text or body.strip()


def _delivery_status(message: Message) -> tuple[list[str], list[str]]:
    """Failed recipients and the original Message-ID from a DSN's parts (RFC 3464)."""
    failed: list[str] = []
    original: list[str] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            # The payload is a list of header blocks: the per-message one, then one per recipient.
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                action = str(block.get("Action", "")).strip().lower()
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
                if "@" in address and action == "failed":
                    failed.append(address)
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            if ctype == "message/rfc822":
                inner = part.get_payload()
                headers = inner[0] if isinstance(inner, list) and inner else None
                if isinstance(headers, Message):
                    original += _ids(str(headers.get("Message-ID", "")))
            else:
                text = part.get_payload(decode=True)
                parsed = BytesParser(policy=policy.default).parsebytes(text if isinstance(text, bytes) else b"")
                original += _ids(str(parsed.get("Message-ID", "")))
    return failed, original


def parse_email(raw: bytes) -> ParsedEmail:
    """Read what matching needs from a raw RFC 5322 message; never raises on a malformed header."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    ids = _ids(str(message.get("Message-ID", "")))
    message_id = ids[0] if ids else f"<sha256.{hashlib.sha256(raw).hexdigest()}@salesgraph.local>"
    sender = _addresses(str(message.get("From", "")))
    from_address = sender[0] if sender else None
    subject = str(message.get("Subject", "")).strip()[:500] or None
    sent_at: datetime | None = None
    try:
        date = parsedate_to_datetime(str(message.get("Date", "")))
        sent_at = date if date.tzinfo is not None else date.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        sent_at = None
    thread = _ids(str(message.get("In-Reply-To", ""))) + list(reversed(_ids(str(message.get("References", "")))))
    thread_ids = tuple(dict.fromkeys(thread))
    body = _text_of(message)[:MAX_BODY]
    is_report = message.get_content_type() == "multipart/report" and (
        str(message.get_param("report-type", "", header="content-type")).lower() == "delivery-status"
    )
    local = (from_address or "").split("@", 1)[0]
    if is_report or local in BOUNCE_SENDERS:
        failed, original = _delivery_status(message)
        if not failed and not is_report:
            # A mailer-daemon's plain-text bounce: the addresses it names that we wrote to are matched later.
            failed = [a.lower() for a in re.findall(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", body)]
        return ParsedEmail(message_id, from_address, subject, sent_at, thread_ids, "bounce", body,
                           tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(original)))  # fmt: skip
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if (auto and auto != "no") or any(message.get(h) for h in AUTOREPLY_HEADERS):
        return ParsedEmail(message_id, from_address, subject, sent_at, thread_ids, "auto_reply", body)
    return ParsedEmail(message_id, from_address, subject, sent_at, thread_ids, "reply", body)


# -- matching -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    contact_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None
    outbound_message_id: int | None = None
    matched_by: str | None = None

    @property
    def found(self) -> bool:
        return any(v is not None for v in (self.contact_id, self.lead_id, self.deal_id))


def _by_thread(session: Session, ids: tuple[str, ...]) -> Match | None:
    if not ids:
        return None
    sent = session.exec(
        select(OutboundMessage)
        .where(col(OutboundMessage.provider_message_id).in_(ids))
        .order_by(col(OutboundMessage.id).desc())
    ).first()
    if sent is None:
        return None
    lead_id = sent.lead_id
    if lead_id is None and sent.deal_id is not None and (deal := session.get(Deal, sent.deal_id)) is not None:
        lead_id = deal.lead_id
    return Match(sent.contact_id, lead_id, sent.deal_id, sent.id, "thread")


def _open_deal_for(session: Session, lead: Lead | None, contact: Contact | None) -> int | None:
    from sales.stages import workspace_machine

    closed = set(workspace_machine(session).closed_stages)
    stmt = select(Deal).order_by(col(Deal.updated_at).desc(), col(Deal.id).desc())
    if lead is not None and lead.id is not None:
        for deal in session.exec(stmt.where(Deal.lead_id == lead.id)).all():
            if deal.stage not in closed:
                return deal.id
    if contact is not None and contact.account_id is not None:
        open_deals = [d for d in session.exec(stmt.where(Deal.account_id == contact.account_id)).all()
                      if d.stage not in closed]  # fmt: skip
        if len(open_deals) == 1:  # several open deals on the account: the reply is logged on the contact only
            return open_deals[0].id
    return None


def _by_address(session: Session, address: str | None) -> Match | None:
    if not address:
        return None
    contact = session.exec(
        select(Contact).where(func.lower(Contact.email) == address).order_by(col(Contact.id))
    ).first()
    leads = session.exec(
        select(Lead).where(func.lower(Lead.email) == address).order_by(col(Lead.updated_at).desc(), col(Lead.id).desc())
    ).all()
    lead = next((x for x in leads if x.status != LeadStatus.DISQUALIFIED), leads[0] if leads else None)
    if contact is None and lead is not None and lead.contact_id is not None:
        contact = session.get(Contact, lead.contact_id)
    if contact is None and lead is None:
        return None
    deal_id = _open_deal_for(session, lead, contact)
    return Match(contact.id if contact else None, lead.id if lead else None, deal_id, None, "from")


def match_email(session: Session, parsed: ParsedEmail) -> Match:
    """The record the email is about: the thread it answers, else its sender's address; ``Match()`` if neither."""
    if parsed.kind == "bounce":
        found = _by_thread(session, parsed.bounced_message_ids + parsed.thread_ids)
        if found is not None:
            return found
        for address in parsed.bounced:
            found = _by_address(session, address)
            if found is not None:
                return found
        return Match()
    return _by_thread(session, parsed.thread_ids) or _by_address(session, parsed.from_address) or Match()


# -- recording ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundOutcome:
    kind: Kind
    message_id: str
    inbound_email_id: int | None
    duplicate: bool = False
    interaction_id: int | None = None
    receipt_id: int | None = None
    event_ids: tuple[int, ...] = ()
    from_address: str | None = None
    subject: str | None = None
    record: str = ""
    """What it was logged against, for a report line: ``deal #3``, ``lead #7``, ``contact #2``."""


def _label(match: Match) -> str:
    if match.deal_id is not None:
        return f"deal #{match.deal_id}"
    if match.lead_id is not None:
        return f"lead #{match.lead_id}"
    if match.contact_id is not None:
        return f"contact #{match.contact_id}"
    return ""


def _bounce(session: Session, parsed: ParsedEmail, match: Match, row: InboundEmail) -> list[int]:
    """Mark the email we sent as bounced and emit one ``email_bounced`` per failed recipient we wrote to."""
    recipients = list(parsed.bounced)
    sent = session.get(OutboundMessage, match.outbound_message_id) if match.outbound_message_id else None
    if sent is not None:
        recipients = [sent.to_address.lower()]  # the returned headers name our email: its recipient bounced
        if sent.status != MessageStatus.FAILED:
            before = {"status": sent.status, "error": sent.error}
            sent.status = MessageStatus.FAILED
            sent.error = f"bounced: {parsed.subject or 'delivery failed'}"[:1000]
            session.add(sent)
            session.flush()
            write_receipt(session, SYSTEM, "record_bounce", "outbound_message", sent.id, before=before,
                          after={"status": sent.status, "error": sent.error, "inbound_email_id": row.id})  # fmt: skip
    else:
        written = set(
            session.exec(
                select(func.lower(OutboundMessage.to_address)).where(
                    func.lower(OutboundMessage.to_address).in_(recipients)
                )
            ).all()
        )
        # Only addresses we emailed: a plain-text bounce names other addresses too (the server's, the sender's).
        recipients = [r for r in recipients if r in written]
    events: list[int] = []
    for address in recipients:
        event = ev.emit(
            session,
            ev.EMAIL_BOUNCED,
            "inbound_email",
            row.id,
            {"email": address, "message_id": sent.id if sent else None, "inbound_email_id": row.id},
            dedupe_key=f"bounce:{row.message_id}:{address}"[:300],
        )
        if event is not None:
            session.flush()
            events.append(event.id or 0)
    return events


def _replied_at(session: Session, parsed: ParsedEmail, match: Match) -> datetime | None:
    """When they replied: the email's Date, but never before the email of ours it answers (their clock may be
    behind ours) nor in the future; None (now) without a usable Date."""
    at = parsed.sent_at
    if at is None or at > utcnow():
        return None
    answered = session.get(OutboundMessage, match.outbound_message_id) if match.outbound_message_id else None
    if answered is not None and answered.sent_at is not None and answered.sent_at > at:
        return answered.sent_at
    return at


def record_email(session: Session, raw: bytes, mailbox_name: str) -> InboundOutcome:
    """Store one inbound email, matched and logged, in the caller's transaction (see the module docstring)."""
    parsed = parse_email(raw)
    existing = session.exec(select(InboundEmail).where(InboundEmail.message_id == parsed.message_id)).first()
    if existing is not None:
        return InboundOutcome(existing.kind, parsed.message_id, existing.id, duplicate=True,  # type: ignore[arg-type]
                              interaction_id=existing.interaction_id, receipt_id=existing.receipt_id,
                              from_address=existing.from_address, subject=existing.subject)  # fmt: skip
    match = match_email(session, parsed)
    kind: Kind = parsed.kind if match.found or parsed.kind == "bounce" else "unmatched"
    if parsed.kind == "bounce" and not match.found and not parsed.bounced:
        kind = "unmatched"
    text = reply_text(parsed.body) if parsed.kind == "reply" else parsed.body.strip()
    row = InboundEmail(
        message_id=parsed.message_id,
        mailbox=mailbox_name[:200],
        from_address=(parsed.from_address or "")[:320] or None,
        subject=parsed.subject,
        kind=kind,
        matched_by=match.matched_by,
        contact_id=match.contact_id,
        lead_id=match.lead_id,
        deal_id=match.deal_id,
        outbound_message_id=match.outbound_message_id,
        sent_at=parsed.sent_at,
        # Matched replies keep their text in the interaction; the rest keep it here, so nothing is lost.
        body=None if kind == "reply" else text[:MAX_BODY],
    )
    session.add(row)
    session.flush()
    events: list[int] = []
    if kind == "reply":
        interaction, _ = log_interaction(
            session,
            SYSTEM,
            InteractionInput(
                deal_id=match.deal_id,
                lead_id=match.lead_id,
                contact_id=match.contact_id,
                channel="email",
                direction="inbound",
                subject=parsed.subject,
                body=text or "(no text)",
                occurred_at=_replied_at(session, parsed, match),
            ),
        )
        row.interaction_id = interaction.id
        session.flush()  # the reply_received event log_interaction emitted
        reply = session.exec(
            select(DomainEvent.id).where(
                DomainEvent.kind == ev.REPLY_RECEIVED,
                DomainEvent.record_type == "interaction",
                DomainEvent.record_id == interaction.id,
            )
        ).first()
        events = [reply] if reply is not None else []
    elif kind == "bounce":
        events = _bounce(session, parsed, match, row)
    row.event_id = events[0] if events else None
    row.receipt_id = write_receipt(
        session,
        SYSTEM,
        {"reply": "receive_reply", "auto_reply": "receive_auto_reply", "bounce": "receive_bounce"}.get(
            kind, "keep_unmatched_email"
        ),
        "inbound_email",
        row.id,
        after={
            "kind": kind,
            "matched_by": match.matched_by,
            "contact_id": match.contact_id,
            "lead_id": match.lead_id,
            "deal_id": match.deal_id,
            "outbound_message_id": match.outbound_message_id,
            "interaction_id": row.interaction_id,
            "event_ids": events,
            "mailbox": row.mailbox,
            **body_digest(text),
        },
    )
    session.add(row)
    return InboundOutcome(kind, parsed.message_id, row.id, False, row.interaction_id, row.receipt_id, tuple(events),
                          row.from_address, row.subject, _label(match))  # fmt: skip


@dataclass
class InboundReport:
    """What one poll or import did, message by message."""

    outcomes: list[InboundOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind and not o.duplicate)

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o.duplicate)

    @property
    def unmatched(self) -> list[InboundOutcome]:
        return [o for o in self.outcomes if o.kind == "unmatched" and not o.duplicate]

    def describe(self) -> str:
        text = (
            f"{len(self.outcomes)} messages: {self.count('reply')} replies logged, {self.count('auto_reply')} "
            f"auto-replies (not counted as replies), {self.count('bounce')} bounces, {len(self.unmatched)} from "
            f"unknown senders (kept), {self.duplicates} seen before (not logged again)"
        )
        if self.errors:
            text += f"; {len(self.errors)} errors: " + "; ".join(self.errors[:3])
        return text


def read_messages(path: Path) -> tuple[int, Iterator[tuple[str, bytes]]]:
    """How many messages an mbox file, a single .eml file or a folder of .eml files holds, and the raw messages
    with a name for each; raises ``InboundError`` for anything else."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml" and p.is_file())
        if not files:
            raise InboundError(f"{path} has no .eml files; give a folder of .eml files or an .mbox file")
        return len(files), ((file.name, file.read_bytes()) for file in files)
    if not path.is_file():
        raise InboundError(f"{path} does not exist; give an .mbox file or a folder of .eml files")
    if path.suffix.lower() == ".eml":
        return 1, iter([(path.name, path.read_bytes())])
    with path.open("rb") as handle:
        head = handle.read(5)
    if head != b"From ":
        raise InboundError(
            f"{path} is not an mbox file (it does not start with a 'From ' line); give an .mbox file, an .eml file "
            "or a folder of .eml files"
        )
    box = mailbox.mbox(str(path), create=False)
    keys = list(box.iterkeys())

    def messages() -> Iterator[tuple[str, bytes]]:
        try:
            for key in keys:
                yield f"{path.name}#{key}", box.get_bytes(key)
        finally:
            box.close()

    return len(keys), messages()


def import_messages(engine: Engine, path: Path, *, progress: Callable[[int, int], None] | None = None) -> InboundReport:
    """``salesgraph import replies``: each message of the file(s) recorded in its own transaction, by the same
    matching as the IMAP poller; ``progress(done, total)`` after each."""
    report = InboundReport()
    mailbox_name = f"file:{path.name}"
    total, messages = read_messages(path)
    for done, (name, raw) in enumerate(messages, start=1):
        try:
            with session_scope(engine) as s:
                outcome = record_email(s, raw, mailbox_name)
            report.outcomes.append(outcome)
        except Exception as exc:  # one broken message must not stop the others; nothing of it was stored
            report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        if progress is not None:
            progress(done, total)
    return report


def list_inbound(session: Session, actor: Actor, *, kind: str | None = None, limit: int = 50) -> list[InboundEmail]:
    """Inbound emails newest first: those on records the actor may see, and unknown senders' for a manager."""
    from sqlalchemy import false, or_

    stmt = select(InboundEmail).order_by(col(InboundEmail.id).desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(InboundEmail.kind == kind)
    if actor.visible_owner_ids is not None:
        owners = sorted(actor.visible_owner_ids)
        stmt = (
            stmt.outerjoin(Deal, col(Deal.id) == col(InboundEmail.deal_id))
            .outerjoin(Lead, col(Lead.id) == col(InboundEmail.lead_id))
            .outerjoin(Contact, col(Contact.id) == col(InboundEmail.contact_id))
            .where(
                or_(
                    col(Deal.owner_id).in_(owners),
                    col(Lead.owner_id).in_(owners),
                    col(Contact.owner_id).in_(owners),
                    col(InboundEmail.kind) == "unmatched" if actor.is_manager else false(),
                )
            )
        )
    return list(session.exec(stmt).all())


__all__ = [
    "InboundError",
    "InboundOutcome",
    "InboundReport",
    "Match",
    "ParsedEmail",
    "import_messages",
    "list_inbound",
    "match_email",
    "parse_email",
    "read_messages",
    "record_email",
    "reply_text",
]
