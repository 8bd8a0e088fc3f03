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
    from sales.demo import DemoAutomation
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
    automation: DemoAutomation | None = None
    """What the automation pass at the end did (a rule fired, a sequence email waiting, stalled deals' owners)."""


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
    report.automation = show_automation(out, services, manager.email)
    out.print(
        "\n[dim]The follow-up went to the outbox (recorded, not delivered): set SALESGRAPH_SEND_CHANNEL=smtp and "
        "the SALESGRAPH_SMTP_* settings to deliver. Try it yourself: salesgraph chat --as "
        f"{rep.email}[/]",
        highlight=False,
    )
    return report


def show_automation(out: Console, services: Services, manager_email: str) -> DemoAutomation:
    """Run the automation once, as the scheduler does every 5 minutes, and show what fired, with receipts."""
    from sales.demo import DEMO_RULES_FILE, DEMO_WEB_LEAD, run_demo_automation
    from sales.outbound import delivery_from_settings

    out.rule("[bold]Automation: rules, sequences, stalled deals[/]")
    done = run_demo_automation(services.engine, delivery_from_settings(services.settings))
    rules = f"receipt #{done.rules_receipt_id}" if done.rules_receipt_id else "unchanged"
    out.print(f"The manager set the automation rules from {DEMO_RULES_FILE.name} ({rules}); a web lead arrived: "
              f"{DEMO_WEB_LEAD['name']} ({DEMO_WEB_LEAD['company']}), lead #{done.lead_id}, "
              f"receipt #{done.lead_receipt_id}.", highlight=False)  # fmt: skip
    out.print("[bold]The automation ran once[/] (`salesgraph briefings serve` runs it every 5 minutes):")
    for rule, event_id, receipt in done.firings:
        out.print(f"  rule '{rule}' fired on event #{event_id}: receipt #{receipt}", highlight=False)
    for approval_id, message_id, to, subject in done.waiting:
        out.print(f"  sequence email #{message_id} to {to}, “{subject}”, drafted and waiting for approval "
                  f"#{approval_id}: salesgraph approvals list --as {manager_email}", highlight=False)  # fmt: skip
    shown = done.notified[:3]
    for deal_id, name, stage, owner, note_id, note_receipt in shown:
        out.print(f"  stalled deal #{deal_id} ({name}, {stage}): {owner} notified once, notification #{note_id}, "
                  f"receipt #{note_receipt}", highlight=False)  # fmt: skip
    if len(done.notified) > len(shown):
        out.print(f"  … and {len(done.notified) - len(shown)} more stalled deals' owners notified "
                  f"(salesgraph deals stalled --as {manager_email})", highlight=False)  # fmt: skip
    out.print("[dim]Notifications go to each person's Slack DM when SALESGRAPH_SLACK_BOT_TOKEN is set; the manager "
              "is told if a deal is still stalled 3 days later. Each rule fires once per event, however often it "
              "runs.[/]", highlight=False)  # fmt: skip
    return done
