"""Inbound replies (issue 14) read by our poller through the real ``imaplib`` over TCP from a loopback IMAP4rev1
server (tests/imap_server.py), with sequence emails really sent over SMTP to a loopback server, on SQLite and
PostgreSQL:

- a reply (matched by In-Reply-To to the email we sent) stops the sequence, with its interaction and receipt;
- polling again, a lost cursor, or a rebuilt folder (new UIDVALIDITY) logs nothing twice;
- a crash between storing a message and moving the cursor duplicates nothing;
- a bounce (a delivery-status report) stops the sequence; an out-of-office is kept but is not a reply;
- an unknown sender is kept and reported; the password never appears in logs or errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import func, select

import connectors.imap as imap
from connectors.imap import ImapConfig, ImapError, poll
from sales.approvals import decide_approval
from sales.automation import tick
from sales.inbound import import_messages
from store.db import session_scope
from store.models import (
    Approval,
    AuditEvent,
    ConnectorState,
    DomainEvent,
    InboundEmail,
    Interaction,
    OutboundMessage,
    SequenceEnrolment,
)
from store.types import utcnow
from tests.imap_server import ImapServer
from tests.integration.test_automation import _set_rules, _smtp, _web_lead
from tests.integration.test_smtp_send import Inbox, smtp_server  # noqa: F401  (the loopback SMTP fixture)
from tests.unit.test_agent_support import Team, seed_team

PASSWORD = "imap-pa55-9f3c"


@pytest.fixture
def mailbox() -> Iterator[ImapServer]:
    with ImapServer(user="sales@ours.example", password=PASSWORD) as server:
        yield server


def _config(server: ImapServer, password: str = PASSWORD) -> ImapConfig:
    return ImapConfig("127.0.0.1", server.port, "sales@ours.example", SecretStr(password), security="none")


def _email(
    sender: str,
    subject: str,
    body: str,
    *,
    message_id: str,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "rita@example.com"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return bytes(mail)


def _bounce(recipient: str, original_id: str) -> bytes:
    """A delivery-status notification as Postfix sends one (RFC 3464)."""
    return (
        "From: MAILER-DAEMON@mx.beta.example (Mail Delivery System)\r\n"
        "To: rita@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(utcnow())}\r\n"
        "Message-ID: <bounce-1@mx.beta.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BB"\r\n'
        "\r\n"
        "--BB\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to <{recipient}>.\r\n"
        "--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.beta.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--BB\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: rita@example.com\r\nTo: {recipient}\r\nSubject: Ideas for Beta Ltd\r\nMessage-ID: {original_id}\r\n"
        "--BB--\r\n"
    ).encode()


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with session_scope(engine, read_only=True) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def _sent_sequence_email(engine: Engine, team: Team, port: int) -> tuple[int, str]:
    """Lee's web lead is enrolled, step 1 approved by Mia and really sent: (lead id, its Message-ID header)."""
    _set_rules(engine, team)
    lead_id = _web_lead(engine, team)
    now = utcnow()
    tick(engine, _smtp(port), now=now)
    with session_scope(engine, read_only=True) as s:
        waiting = s.exec(select(Approval).where(Approval.status == "pending")).one()
    with session_scope(engine) as s:
        decide_approval(s, team.manager, waiting.id or 0, "approve")
    tick(engine, _smtp(port), now=now)
    with session_scope(engine, read_only=True) as s:
        sent = s.exec(select(OutboundMessage).where(OutboundMessage.status == "sent")).one()
        assert sent.provider_message_id
        return lead_id, sent.provider_message_id


def test_a_reply_read_over_imap_stops_the_sequence(
    engine: Engine,
    mailbox: ImapServer,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp_server
    team = seed_team(engine)
    lead_id, sent_id = _sent_sequence_email(engine, team, port)
    assert len(inbox.messages) == 1
    # A colleague answers from another address: the thread, not the sender, says which record it is.
    mailbox.deliver(_email("Pat Lee <pat@beta.example>", "Re: Ideas for Beta Ltd",
                           "Yes, let's talk.\n\nOn Mon, Rita wrote:\n> A few ideas", message_id="<r1@beta.example>",
                           in_reply_to=sent_id))  # fmt: skip

    report = poll(engine, _config(mailbox))
    assert report.count("reply") == 1 and report.errors == []
    for day in (0, 3, 10, 30):
        tick(engine, _smtp(port), now=utcnow() + timedelta(days=day))

    with session_scope(engine, read_only=True) as s:
        enrolment = s.exec(select(SequenceEnrolment)).one()
        assert enrolment.status == "stopped" and "replied" in (enrolment.stop_reason or "")
        row = s.exec(select(InboundEmail)).one()
        assert (row.kind, row.matched_by, row.lead_id) == ("reply", "thread", lead_id)
        interaction = s.get(Interaction, row.interaction_id)
        assert interaction is not None and interaction.direction == "inbound" and interaction.lead_id == lead_id
        assert interaction.body == "Yes, let's talk."  # the quoted earlier message is cut off
        event = s.get(DomainEvent, row.event_id)
        assert event is not None and event.kind == "reply_received" and event.processed_at is not None
        receipt = s.get(AuditEvent, row.receipt_id)
        assert receipt is not None and receipt.action == "receive_reply"
    assert _count(engine, OutboundMessage) == 1  # step 2 was never drafted
    assert len(inbox.messages) == 1
    # Polling never marks the mailbox's mail as read: read-only EXAMINE and BODY.PEEK.
    assert mailbox.commands("EXAMINE") and not mailbox.commands("SELECT")
    assert all("BODY.PEEK[]" in c for c in mailbox.commands("UID FETCH"))


def test_polling_again_a_lost_cursor_or_a_rebuilt_folder_logs_nothing_twice(
    engine: Engine, mailbox: ImapServer
) -> None:
    team = seed_team(engine)  # Dana Fox (dana@acme.example) is Rita's lead
    for i in range(3):
        mailbox.deliver(_email("Dana Fox <dana@acme.example>", f"Question {i}", f"Question {i}?",
                               message_id=f"<q{i}@acme.example>"))  # fmt: skip
    first = poll(engine, _config(mailbox))
    assert first.count("reply") == 3
    assert poll(engine, _config(mailbox)).outcomes == []  # the cursor: nothing new is even fetched
    assert mailbox.commands("UID SEARCH")[-1] == "UID SEARCH UID 4:*"

    mailbox.deliver(_email("Dana Fox <dana@acme.example>", "One more", "One more.", message_id="<q3@acme.example>"))
    assert poll(engine, _config(mailbox)).count("reply") == 1

    with session_scope(engine) as s:  # the cursor is lost
        for state in s.exec(select(ConnectorState)).all():
            s.delete(state)
    again = poll(engine, _config(mailbox))
    assert len(again.outcomes) == 4 and again.duplicates == 4
    mailbox.rebuild(uidvalidity=99)  # the server renumbered the folder
    rebuilt = poll(engine, _config(mailbox))
    assert len(rebuilt.outcomes) == 4 and rebuilt.duplicates == 4

    assert _count(engine, InboundEmail) == 4
    assert _count(engine, Interaction, Interaction.lead_id == team.lead_id) == 4
    assert _count(engine, DomainEvent, DomainEvent.kind == "reply_received") == 4
    with session_scope(engine, read_only=True) as s:
        cursor = s.exec(select(ConnectorState).where(ConnectorState.connector == "imap")).one()
        assert cursor.state["uidvalidity"] == 99 and cursor.state["last_uid"] == 8


def test_a_crash_between_storing_and_the_cursor_update_duplicates_nothing(
    engine: Engine, mailbox: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_team(engine)
    for i in range(3):
        mailbox.deliver(_email("dana@acme.example", f"Re: {i}", f"Answer {i}", message_id=f"<a{i}@acme.example>"))
    real = imap.advance_cursor
    calls = {"n": 0}

    def crash_on_second(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the process died here")
        real(*args)

    monkeypatch.setattr(imap, "advance_cursor", crash_on_second)
    crashed = poll(engine, _config(mailbox))
    assert crashed.count("reply") == 1 and len(crashed.errors) == 1  # the 2nd rolled back with its cursor step
    assert _count(engine, InboundEmail) == 1
    monkeypatch.setattr(imap, "advance_cursor", real)

    resumed = poll(engine, _config(mailbox))
    assert [o.message_id for o in resumed.outcomes] == ["<a1@acme.example>", "<a2@acme.example>"]
    assert _count(engine, InboundEmail) == 3 and _count(engine, Interaction) == 3
    assert _count(engine, DomainEvent, DomainEvent.kind == "reply_received") == 3


def test_a_bounce_stops_the_sequence_and_an_out_of_office_is_not_a_reply(
    engine: Engine,
    mailbox: ImapServer,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp_server
    team = seed_team(engine)
    _, sent_id = _sent_sequence_email(engine, team, port)
    mailbox.deliver(_email("Lee Park <lee@beta.example>", "Out of office", "I am away until Monday.",
                           message_id="<ooo@beta.example>", in_reply_to=sent_id,
                           headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}))  # fmt: skip
    report = poll(engine, _config(mailbox))
    assert report.count("auto_reply") == 1
    tick(engine, _smtp(port))
    with session_scope(engine, read_only=True) as s:
        assert s.exec(select(SequenceEnrolment)).one().status == "active"  # not a reply: the sequence goes on
    assert _count(engine, Interaction) == 0 and _count(engine, DomainEvent, DomainEvent.kind == "reply_received") == 0
    with session_scope(engine, read_only=True) as s:
        ooo = s.exec(select(InboundEmail)).one()
        assert ooo.kind == "auto_reply" and ooo.body and "away until Monday" in ooo.body and ooo.receipt_id

    mailbox.deliver(_bounce("lee@beta.example", sent_id))
    assert poll(engine, _config(mailbox)).count("bounce") == 1
    for day in (0, 3, 10):
        tick(engine, _smtp(port), now=utcnow() + timedelta(days=day))
    with session_scope(engine, read_only=True) as s:
        enrolment = s.exec(select(SequenceEnrolment)).one()
        assert enrolment.status == "stopped" and "bounced" in (enrolment.stop_reason or "")
        bounced = s.exec(select(DomainEvent).where(DomainEvent.kind == "email_bounced")).one()
        assert bounced.payload["email"] == "lee@beta.example"
        sent = s.exec(select(OutboundMessage).where(OutboundMessage.provider_message_id == sent_id)).one()
        assert sent.status == "failed" and (sent.error or "").startswith("bounced")
    assert _count(engine, OutboundMessage) == 1 and len(inbox.messages) == 1


def test_unknown_senders_are_kept_and_reported_and_files_import_the_same_way(
    engine: Engine, mailbox: ImapServer, tmp_path: Path
) -> None:
    team = seed_team(engine)
    mailbox.deliver(_email("Stranger <who@nowhere.example>", "Hello", "Who are you?", message_id="<s1@nowhere>"))
    report = poll(engine, _config(mailbox))
    assert [(o.kind, o.from_address) for o in report.unmatched] == [("unmatched", "who@nowhere.example")]
    with session_scope(engine, read_only=True) as s:
        kept = s.exec(select(InboundEmail)).one()
        assert kept.kind == "unmatched" and kept.body == "Who are you?" and kept.interaction_id is None

    folder = tmp_path / "replies"
    folder.mkdir()
    (folder / "1.eml").write_bytes(_email("dana@acme.example", "Re: pricing", "Send it over.", message_id="<f1@x>"))
    (folder / "2.eml").write_bytes(_email("Stranger <who@nowhere.example>", "Hello", "Who?", message_id="<s1@nowhere>"))
    imported = import_messages(engine, folder)
    assert imported.count("reply") == 1 and imported.duplicates == 1  # the stranger's was read over IMAP already
    assert _count(engine, Interaction, Interaction.lead_id == team.lead_id) == 1


def test_the_password_never_appears_in_logs_or_errors(
    engine: Engine, mailbox: ImapServer, caplog: pytest.LogCaptureFixture
) -> None:
    seed_team(engine)
    mailbox.deliver(_email("dana@acme.example", "Re: hi", "Hi back", message_id="<p1@acme.example>"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ImapError) as refused:
        poll(engine, _config(mailbox, password="wrong-" + PASSWORD))
    assert "refused the login" in str(refused.value) and "SALESGRAPH_IMAP_PASSWORD" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    config = _config(mailbox)
    assert PASSWORD not in repr(config) and PASSWORD not in config.mailbox
    assert poll(engine, config).count("reply") == 1
    assert caplog.records, "the poller logs what it did"
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text


def test_the_cli_imports_an_mbox_polls_the_mailbox_and_lists_unknown_senders(tmp_path: Path) -> None:
    import mailbox as mboxlib
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    home = tmp_path / "home"
    with ImapServer(user="sales@ours.example", password=PASSWORD) as server:
        env = {**os.environ, "SALESGRAPH_HOME": str(home), "COLUMNS": "200", "SALESGRAPH_IMAP_HOST": "127.0.0.1",
               "SALESGRAPH_IMAP_PORT": str(server.port), "SALESGRAPH_IMAP_SECURITY": "none",
               "SALESGRAPH_IMAP_USERNAME": "sales@ours.example", "SALESGRAPH_IMAP_PASSWORD": PASSWORD}  # fmt: skip
        env.pop("SALESGRAPH_DATABASE_URL", None)

        def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True,
                                  env=env, cwd=repo, timeout=120)  # fmt: skip
            assert done.returncode == code, done.stderr
            assert PASSWORD not in done.stdout + done.stderr
            return done

        run("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
        run("users", "add", "--name", "Rob Rep", "--email", "rob@x.example", "--as", "ada@x.example")
        run("leads", "create", "--name", "Dana Fox", "--email", "dana@acme.example", "--as", "rob@x.example")

        box_path = tmp_path / "replies.mbox"
        box = mboxlib.mbox(str(box_path))
        box.add(_email("Dana Fox <dana@acme.example>", "Re: pricing", "Send the quote.", message_id="<m1@acme>"))
        box.add(_email("Stranger <who@nowhere.example>", "Hello", "Who are you?", message_id="<m2@nowhere>"))
        box.flush()
        box.close()
        first = run("import", "replies", str(box_path))
        assert "2 messages: 1 replies logged" in first.stdout and "1 from unknown senders (kept)" in first.stdout
        assert "reply from dana@acme.example “Re: pricing” on lead #1: receipt #" in first.stdout
        assert "unknown sender who@nowhere.example “Hello”: kept as inbound email #2" in first.stdout
        assert "2 seen before (not logged again)" in run("import", "replies", str(box_path)).stdout
        bad = tmp_path / "notes.txt"
        bad.write_text("not mail")
        assert "is not an mbox file" in run("import", "replies", str(bad), code=1).stderr

        server.deliver(_email("dana@acme.example", "Re: quote", "Looks good.", message_id="<m3@acme>"))
        server.deliver(_email("Stranger <who@nowhere.example>", "Hello", "Who are you?", message_id="<m2@nowhere>"))
        polled = run("inbox", "poll", "--once")
        assert "2 messages: 1 replies logged" in polled.stdout and "1 seen before" in polled.stdout
        assert "1 seen before" not in run("inbox", "poll", "--once").stdout  # nothing new: 0 messages
        wrong = {**env, "SALESGRAPH_IMAP_PASSWORD": "nope"}
        refused = subprocess.run([sys.executable, "-m", "bots.cli", "inbox", "poll", "--once"], capture_output=True,
                                 text=True, env=wrong, cwd=repo, timeout=120)  # fmt: skip
        assert refused.returncode == 1 and "refused the login of sales@ours.example" in refused.stderr
        assert "Traceback" not in refused.stderr

        listed = run("inbox", "list", "--kind", "unmatched", "--as", "ada@x.example")
        assert "who@nowhere.example" in listed.stdout and "dana@acme.example" not in listed.stdout
        assert "who@nowhere.example" not in run("inbox", "list", "--as", "rob@x.example").stdout  # a rep: own only


def test_forgetting_a_person_removes_the_mail_we_read_from_them(engine: Engine) -> None:
    from memory.privacy import forget_contact
    from sales.inbound import record_email
    from store.models import Contact

    team = seed_team(engine)
    with session_scope(engine) as s:
        s.add(Contact(name="Kim Lo", email="kim@acme.example", owner_id=team.rep.user_id))
    with session_scope(engine) as s:
        away = record_email(s, _email("Kim Lo <kim@acme.example>", "Away", "Back on Monday.", message_id="<k1@acme>",
                                      headers={"Auto-Submitted": "auto-replied"}), "file:test")  # fmt: skip
        stranger = record_email(s, _email("zed@nowhere.example", "Hi", "Hello?", message_id="<z1@nowhere>"), "file:t")
    assert (away.kind, stranger.kind) == ("auto_reply", "unmatched")
    with session_scope(engine) as s:  # the contact row goes, and the email pointing at it with it
        assert forget_contact(s, team.admin, "kim@acme.example", None).inbound_emails_deleted == 1
    with session_scope(engine) as s:  # someone known only by the mail they sent can be forgotten too
        assert forget_contact(s, team.admin, "ZED@nowhere.example", None).inbound_emails_deleted == 1
    assert _count(engine, InboundEmail) == 0


def _tls_contexts(tmp_path: Path) -> tuple[Any, Any]:
    """A server context with a certificate for 127.0.0.1 made now, and a client context trusting only it."""
    import datetime as dt
    import ipaddress
    import ssl

    pytest.importorskip("cryptography", reason="makes the test certificate")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_the_poller_speaks_imaps_and_starttls(sqlite_engine: Engine, tmp_path: Path, security: str) -> None:
    server_tls, client_tls = _tls_contexts(tmp_path)
    seed_team(sqlite_engine)
    with ImapServer(user="sales@ours.example", password=PASSWORD, tls=server_tls,
                    implicit_tls=security == "ssl") as server:  # fmt: skip
        server.deliver(_email("dana@acme.example", "Re: hi", "Hi back", message_id="<t1@acme.example>"))
        config = ImapConfig("127.0.0.1", server.port, "sales@ours.example", SecretStr(PASSWORD),
                            security=security, ssl_context=client_tls)  # type: ignore[arg-type]  # fmt: skip
        assert poll(sqlite_engine, config).count("reply") == 1
        assert server.state.logins == 1  # on STARTTLS, a LOGIN before the upgrade would have been refused
        untrusted = ImapConfig("127.0.0.1", server.port, "sales@ours.example", SecretStr(PASSWORD),
                               security=security)  # type: ignore[arg-type]  # fmt: skip
        with pytest.raises(ImapError, match="could not connect"):
            poll(sqlite_engine, untrusted)  # the system's trust store does not know the test certificate


def test_an_old_reply_imported_later_does_not_stop_a_newer_sequence(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    _set_rules(engine, team)
    _web_lead(engine, team)  # Lee is enrolled now
    tick(engine, _smtp(1))  # step 1 drafted (waiting for approval; nothing is sent)
    old = EmailMessage()
    old["From"], old["Subject"], old["Message-ID"] = "lee@beta.example", "Re: last year's offer", "<old@beta>"
    old["Date"] = format_datetime(utcnow() - timedelta(days=40))
    old.set_content("Not now, thanks.")
    (tmp_path / "old.eml").write_bytes(bytes(old))
    assert import_messages(engine, tmp_path / "old.eml").count("reply") == 1
    tick(engine, _smtp(1))
    with session_scope(engine, read_only=True) as s:
        assert s.exec(select(SequenceEnrolment)).one().status == "active"
        interaction = s.exec(select(Interaction)).one()
        assert interaction.occurred_at < utcnow() - timedelta(days=39)


def test_the_first_poll_reads_only_recent_mail(engine: Engine, mailbox: ImapServer) -> None:
    seed_team(engine)  # Dana is a lead: all her mail would match
    old_day = (utcnow() - timedelta(days=30)).date()
    mailbox.deliver(
        _email("dana@acme.example", "Re: 2025 renewal", "Old thread.", message_id="<o1@acme>"), arrived=old_day
    )
    mailbox.deliver(_email("dana@acme.example", "Re: this week", "New thread.", message_id="<n1@acme>"))
    first = poll(engine, _config(mailbox))  # default: the last 14 days
    assert [o.message_id for o in first.outcomes] == ["<n1@acme>"]
    assert mailbox.commands("UID SEARCH")[0].startswith("UID SEARCH SINCE ")
    assert poll(engine, _config(mailbox)).outcomes == []  # the old one lies behind the cursor for good
    assert _count(engine, InboundEmail) == 1
