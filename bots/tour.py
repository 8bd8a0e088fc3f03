"""The scripted tour ``salesgraph demo`` runs on the demo company: a rep and a manager talk to the assistant.

A rep captures a lead from a pasted email signature, asks for its score, asks to qualify it (the manager
approves), asks for a follow-up draft, edits and approves it, and it goes to the outbox; then the manager asks
three pipeline questions. Every step goes through the real graph, tools, approvals and store with the offline
model, so what the tour prints is what the product does.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agent.turns import TurnOutcome
    from app.services import Services
    from sales.permissions import Actor

SIGNATURE_REQUEST = """Add this lead, from the signature in her email:

Nora Quinn
Head of Operations | Bluefin Logistics
nora.quinn@bluefin-logistics.example
+1 (415) 555-0199"""

REP_STEPS = (
    SIGNATURE_REQUEST,
    "What's the score for Nora Quinn?",
    "Please qualify Nora Quinn, expected deal size around 45k",
    "Draft a follow-up email to Nora Quinn to book a demo",
    "Send that follow-up",
)
EDITED_BODY = """Hi Nora,

Thanks again for your time. I'd love to show you how Bluefin's operations team could use us:
would Thursday at 10:00 work for a 30-minute demo?

Best regards,
{rep}
"""
MANAGER_QUESTIONS = (
    "What's the total amount of open deals by owner?",
    "What is our win rate by quarter?",
    "What's the average deal size by industry for won deals?",
)


@dataclass
class TourReport:
    """What the tour did, for tests and the closing summary."""

    turns: list[TurnOutcome] = field(default_factory=list)
    decisions: list[tuple[int, str, str]] = field(default_factory=list)
    """(approval id, decision, decided by)."""


def _say(out: Console, who: Actor, text: str) -> None:
    out.print(f"\n[bold green]{who.name} ({who.role})>[/] {text}", highlight=False)


def run_tour(out: Console, services: Services, *, model: Any = None) -> TourReport:
    """Play the tour on the demo company in ``services``' store; returns what happened."""
    from agent.approval import ApprovalDecision
    from agent.context import Context
    from agent.models import ModelUnavailable
    from agent.turns import decide, new_thread_id, open_agent, run_turn
    from bots.commands.chat import render_outcome, render_request
    from sales.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL
    from sales.permissions import load_actor
    from store.db import session_scope

    report = TourReport()
    with session_scope(services.engine) as s:
        rep = load_actor(s, DEMO_REP_EMAIL)
        manager = load_actor(s, DEMO_MANAGER_EMAIL)

    def context(actor: Actor) -> Context:
        return Context(actor=actor, services=services, company="the demo company")

    out.rule("[bold]The assistant tour[/]")
    with ExitStack() as stack:
        try:
            graph = stack.enter_context(open_agent(services, model or "offline"))
        except ModelUnavailable as exc:
            out.print(f"[yellow]The tour needs the offline model: {exc}[/]")
            return report
        thread = new_thread_id("tour-rep")
        for step in REP_STEPS:
            _say(out, rep, step)
            outcome = run_turn(graph, context(rep), thread, text=step)
            report.turns.append(outcome)
            render_outcome(out, outcome, show_requests=False)
            while outcome.interrupts:
                request = outcome.interrupts[0]
                render_request(out, request)
                if request["action"] == "qualify_lead":
                    decision = ApprovalDecision(decision="approve", decided_by=manager.email)
                    out.print(f"[bold magenta]{manager.name} approves[/] approval #{request['approval_id']}.")
                else:
                    body = EDITED_BODY.format(rep=rep.name)
                    decision = ApprovalDecision(decision="edit", decided_by=rep.email, arguments={"body": body})
                    out.print(
                        f"[bold magenta]{rep.name} edits the draft and approves it[/] "
                        f"(approval #{request['approval_id']}):",
                        highlight=False,
                    )
                    out.print(body, style="dim", highlight=False)
                result = decide(graph, services, int(request["approval_id"]), decision, context_factory=context)
                report.decisions.append((result.approval_id, decision.decision, decision.decided_by))
                if result.turn is None:
                    break
                outcome = result.turn
                report.turns.append(outcome)
                render_outcome(out, outcome, show_requests=False)
        thread = new_thread_id("tour-manager")
        for question in MANAGER_QUESTIONS:
            _say(out, manager, question)
            outcome = run_turn(graph, context(manager), thread, text=question)
            report.turns.append(outcome)
            render_outcome(out, outcome)
    out.print(
        "\n[dim]The follow-up went to the outbox (recorded, not delivered): set SALESGRAPH_SEND_CHANNEL=smtp and "
        "the SALESGRAPH_SMTP_* settings to deliver. Try it yourself: salesgraph chat --as "
        f"{rep.email}[/]",
        highlight=False,
    )
    return report
