"""The demo tour end to end on the seeded demo company with the offline model: every step really happens."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import select

from store.db import session_scope
from store.models import Approval, AuditEvent, Deal, Lead, OutboundMessage
from tests.unit.test_agent_support import services_for


def test_tour_captures_qualifies_drafts_sends_to_outbox_and_answers_pipeline_questions(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    pytest.importorskip("agent.offline", reason="the tour runs on the offline model")
    from bots.tour import EDITED_BODY, MANAGER_QUESTIONS, run_tour
    from sales.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL, seed_demo

    with session_scope(sqlite_engine) as s:
        seeded = seed_demo(s)
    out = Console(file=io.StringIO(), width=120)
    report = run_tour(out, services_for(sqlite_engine, tmp_path))
    text = out.file.getvalue()  # type: ignore[attr-defined]

    with session_scope(sqlite_engine) as s:
        lead = s.exec(select(Lead).where(Lead.email == "nora.quinn@bluefin-logistics.example")).one()
        assert lead.status == "qualified" and lead.company == "Bluefin Logistics"
        deal = s.exec(select(Deal).where(Deal.lead_id == lead.id)).one()
        assert deal.stage == "Qualified" and float(deal.amount or 0) == 45000
        message = s.exec(select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).one()
        assert message.status == "queued" and message.channel == "outbox" and message.sent_at is None
        assert message.body == EDITED_BODY.format(rep="Sam Rivera")
        approvals = s.exec(select(Approval).order_by(Approval.id)).all()  # type: ignore[arg-type]
        assert [(a.action, a.status, a.decision) for a in approvals] == [
            ("qualify_lead", "approved", "approve"),
            ("send_follow_up", "approved", "edit"),
            ("send_follow_up", "pending", None),  # the demo's nurture sequence's first email, drafted by a rule
        ]
        # The automation ran once at the end: one rule fired, its sequence email waits, stalled deals' owners told.
        done = report.automation
        assert done is not None and [f[0] for f in done.firings] == ["nurture-new-web-leads"]
        assert [w[0] for w in done.waiting] == [approvals[2].id]
        assert sorted(d[0] for d in done.notified) == sorted(seeded.stalled_deal_ids)
        assert all(s.get(AuditEvent, d[5]) is not None for d in done.notified)
        flat = " ".join(text.split())  # the console wraps long lines
        assert f"waiting for approval #{approvals[2].id}" in flat and "rule 'nurture-new-web-leads' fired" in flat
        # Every receipt the answers quote is a real audit event.
        quoted = [int(n) for n in re.findall(r"receipt #(\d+)", text)]
        assert quoted and all(s.get(AuditEvent, r) is not None for r in quoted)
    assert [d[1:] for d in report.decisions] == [("approve", DEMO_MANAGER_EMAIL), ("edit", DEMO_REP_EMAIL)]
    assert "NOT delivered" in text
    manager_turns = report.turns[-len(MANAGER_QUESTIONS) :]
    assert [t.tool_calls[0].name for t in manager_turns] == ["pipeline_question"] * 3
    assert all(t.answer and t.tool_calls[0].error is None for t in manager_turns)
