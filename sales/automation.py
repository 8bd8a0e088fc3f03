"""Automation rules as data: when an event happens, if the record matches, then do these actions.

A rules file (YAML, ``salesgraph rules set FILE``) holds ``rules``, the nurture ``sequences`` and their
``templates``, and the ``escalation`` settings. It is checked all at once, every problem named by its place in the
file, and stored as an ``automation_rule_sets`` row with a receipt (the newest row is in force).

``process_outbox`` reads the ``domain_events`` outbox. For each event and each rule whose ``when`` and ``if``
match, it inserts a ``rule_firings`` row (unique per rule and event) and performs the rule's actions **in the same
transaction**: a crash before the commit leaves neither, a crash after it leaves both, so an event processed again
never fires a rule twice. Each firing writes a ``fire_rule`` receipt to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from sales import events as ev
from sales.errors import InvalidInput, PermissionDenied
from sales.permissions import SYSTEM, Actor
from sales.receipts import write_receipt
from store.db import session_scope
from store.models import (
    Account,
    AutomationRuleSet,
    Deal,
    DomainEvent,
    Interaction,
    Lead,
    Notification,
    OutboundMessage,
    Role,
    RuleFiring,
    Task,
    TaskStatus,
    User,
)
from store.types import utcnow

TRIGGERS: Final = {
    "lead_created": ev.LEAD_CREATED,
    "score_band_changed": ev.SCORE_BAND_CHANGED,
    "deal_entered_stage": ev.DEAL_ENTERED_STAGE,
    "deal_stalled": ev.DEAL_STALLED,
    "deal_escalated": ev.DEAL_ESCALATED,
    "no_reply": ev.NO_REPLY,
    "reply_received": ev.REPLY_RECEIVED,
    "task_overdue": ev.TASK_OVERDUE,
    "email_bounced": ev.EMAIL_BOUNCED,
}
ACTIONS: Final = (
    "create_task",
    "draft_follow_up",
    "notify_owner",
    "escalate_to_manager",
    "enrol_in_sequence",
    "review_queue",
)
FILTERS: Final = {
    "segment": "deal size band (small, mid-market, enterprise) or the account's size band",
    "owner": "the owner's email (or a list)",
    "source": "the lead's source (or a list)",
    "industry": "the lead's or account's industry (or a list)",
    "region": "the lead's or deal's region (or a list)",
    "stage": "the deal's stage (or a list); for deal_entered_stage, the stage entered",
    "score_band": "the lead's score band: hot, warm, cold (or a list)",
    "amount_min": "the deal's amount is at least this",
    "amount_max": "the deal's amount is at most this",
    "score_min": "the lead's score (0-1) is at least this",
    "score_max": "the lead's score (0-1) is at most this",
}
PLACEHOLDERS: Final = ("first_name", "name", "company", "record_name", "sender_name", "last_topic")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
DEFAULT_MANAGER_AFTER_DAYS: Final = 3
ACTION_TEXT_KEYS: Final = {
    "create_task": {"title", "due_in_days"},
    "draft_follow_up": {"template"},
    "notify_owner": {"text"},
    "escalate_to_manager": {"text"},
    "enrol_in_sequence": {"sequence"},
    "review_queue": {"reason"},
}


class RulesError(InvalidInput):
    """A rules file with problems; ``problems`` maps each place in the file to what is wrong there."""


@dataclass(frozen=True)
class Template:
    name: str
    subject: str
    body: str

    @property
    def digest(self) -> str:
        """What a standing approval binds to: the exact text approved."""
        return hashlib.sha256(f"{self.subject}\n\n{self.body}".encode()).hexdigest()


@dataclass(frozen=True)
class SequenceStep:
    day: int
    template: str


@dataclass(frozen=True)
class Sequence:
    name: str
    steps: tuple[SequenceStep, ...]
    stop_on: tuple[str, ...] = ("reply", "stage_change", "opt_out", "bounce")


@dataclass(frozen=True)
class Rule:
    name: str
    when: str
    days: int | None
    conditions: dict[str, Any]
    actions: tuple[tuple[str, dict[str, Any]], ...]
    enabled: bool = True


@dataclass(frozen=True)
class Escalation:
    notify_owner: bool = True
    manager_after_days: int = DEFAULT_MANAGER_AFTER_DAYS


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    sequences: dict[str, Sequence] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    escalation: Escalation = Escalation()
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


EMPTY: Final = RuleSet()


# -- parsing and checking -------------------------------------------------------------------------------------


def _names(value: Any) -> list[str] | None:
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v) for v in value]
    return None


def _int(value: Any, where: str, problems: dict[str, str], *, low: int = 0) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        problems[where] = f"must be a whole number of at least {low}, not {value!r}"
        return None
    return value


def _check_text(text: Any, where: str, problems: dict[str, str]) -> str:
    if not isinstance(text, str) or not text.strip():
        problems[where] = "must be non-empty text"
        return ""
    unknown = sorted(set(_PLACEHOLDER.findall(text)) - set(PLACEHOLDERS))
    if unknown:
        problems[where] = f"unknown placeholder(s) {', '.join(unknown)}; use {', '.join(PLACEHOLDERS)}"
    return text


def parse_rules(data: Any, source: str | None = None) -> RuleSet:
    """Check a whole rules document; raise ``RulesError`` naming every problem, else return the rule set."""
    problems: dict[str, str] = {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError({"(file)": "must be a mapping with rules:, sequences:, templates: and escalation:"})
    for key in sorted(set(data) - {"rules", "sequences", "templates", "escalation"}):
        problems[str(key)] = "unknown section; the sections are rules, sequences, templates, escalation"

    templates: dict[str, Template] = {}
    raw_templates = data.get("templates") or {}
    if not isinstance(raw_templates, dict):
        problems["templates"] = "must map template names to {subject, body}"
        raw_templates = {}
    for name, spec in raw_templates.items():
        where = f"templates.{name}"
        if not isinstance(spec, dict):
            problems[where] = "must have subject: and body:"
            continue
        for key in sorted(set(spec) - {"subject", "body"}):
            problems[f"{where}.{key}"] = "unknown key; a template has subject and body"
        subject = _check_text(spec.get("subject"), f"{where}.subject", problems)
        body = _check_text(spec.get("body"), f"{where}.body", problems)
        if len(str(name)) > 100:
            problems[where] = "a template name has at most 100 characters"
        templates[str(name)] = Template(str(name), subject, body)

    sequences: dict[str, Sequence] = {}
    raw_sequences = data.get("sequences") or {}
    if not isinstance(raw_sequences, dict):
        problems["sequences"] = "must map sequence names to {steps: [...]}"
        raw_sequences = {}
    for name, spec in raw_sequences.items():
        where = f"sequences.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list) or not spec["steps"]:
            problems[where] = "must have steps: a list of {day: N, template: NAME}"
            continue
        for key in sorted(set(spec) - {"steps", "stop_on"}):
            problems[f"{where}.{key}"] = "unknown key; a sequence has steps and stop_on"
        stop_on = tuple(_names(spec.get("stop_on", ["reply", "stage_change", "opt_out", "bounce"])) or [])
        for reason in stop_on:
            if reason not in ("reply", "stage_change", "opt_out", "bounce"):
                problems[f"{where}.stop_on"] = f"{reason!r}: use reply, stage_change, opt_out, bounce"
        for needed in ("reply", "opt_out", "bounce"):
            if needed not in stop_on:
                problems[f"{where}.stop_on"] = f"a sequence always stops on {needed}; keep it in stop_on"
        steps: list[SequenceStep] = []
        last_day = -1
        for i, step in enumerate(spec["steps"]):
            at = f"{where}.steps[{i}]"
            if not isinstance(step, dict):
                problems[at] = "must be {day: N, template: NAME}"
                continue
            day = _int(step.get("day"), f"{at}.day", problems)
            template = step.get("template")
            if not isinstance(template, str) or template not in templates:
                known = ", ".join(sorted(templates)) or "none are defined"
                problems[f"{at}.template"] = f"{template!r} is not a template under templates: ({known})"
            if day is not None:
                if day <= last_day:
                    problems[f"{at}.day"] = f"day {day} must come after the previous step's day {last_day}"
                last_day = day
                steps.append(SequenceStep(day, str(template)))
        if len(str(name)) > 100:
            problems[where] = "a sequence name has at most 100 characters"
        sequences[str(name)] = Sequence(str(name), tuple(steps), stop_on)

    rules: list[Rule] = []
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        problems["rules"] = "must be a list of {name, when, if, then}"
        raw_rules = []
    seen: set[str] = set()
    for i, spec in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(spec, dict):
            problems[where] = "must be {name, when, if, then}"
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            problems[f"{where}.name"] = "every rule needs a name (at most 100 characters)"
            name = f"rule {i}"
        elif name in seen:
            problems[f"{where}.name"] = f"{name!r} is used by an earlier rule; names must be unique"
        seen.add(name)
        where = f"rules[{i}] ({name})"
        for key in sorted(set(spec) - {"name", "when", "if", "then", "enabled"}):
            problems[f"{where}.{key}"] = "unknown key; a rule has name, when, if, then, enabled"
        when_spec = spec.get("when")
        days = None
        if isinstance(when_spec, dict):
            days = _int(when_spec.get("days"), f"{where}.when.days", problems, low=1)
            when_spec = when_spec.get("event")
        if not isinstance(when_spec, str) or when_spec not in TRIGGERS:
            problems[f"{where}.when"] = f"{when_spec!r} is not a trigger; use one of {', '.join(TRIGGERS)}"
            when_spec = ""
        elif when_spec == "no_reply" and days is None:
            problems[f"{where}.when"] = "no_reply needs a number of days: when: {event: no_reply, days: 5}"
        conditions = spec.get("if") or {}
        if not isinstance(conditions, dict):
            problems[f"{where}.if"] = "must map filters to values"
            conditions = {}
        for key, value in conditions.items():
            if key not in FILTERS:
                problems[f"{where}.if.{key}"] = f"not a filter; use one of {', '.join(FILTERS)}"
            elif key.endswith(("_min", "_max")):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    problems[f"{where}.if.{key}"] = f"must be a number, not {value!r}"
            elif _names(value) is None:
                problems[f"{where}.if.{key}"] = "must be a value or a list of values"
        actions: list[tuple[str, dict[str, Any]]] = []
        then = spec.get("then")
        if not isinstance(then, list) or not then:
            problems[f"{where}.then"] = f"must be a list of actions: {', '.join(ACTIONS)}"
            then = []
        for j, item in enumerate(then):
            at = f"{where}.then[{j}]"
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                problems[at] = f"must be one action: {', '.join(ACTIONS)}"
                continue
            ((action, args),) = item.items()
            args = args or {}
            if action not in ACTIONS:
                problems[at] = f"{action!r} is not an action; use one of {', '.join(ACTIONS)}"
                continue
            if not isinstance(args, dict):
                problems[at] = "the action's settings must be a mapping"
                continue
            for key in sorted(set(args) - ACTION_TEXT_KEYS[action]):
                problems[f"{at}.{key}"] = (
                    f"unknown setting; {action} takes {', '.join(sorted(ACTION_TEXT_KEYS[action]))}"
                )
            if action == "enrol_in_sequence" and args.get("sequence") not in sequences:
                known = ", ".join(sorted(sequences)) or "none are defined"
                problems[f"{at}.sequence"] = f"{args.get('sequence')!r} is not a sequence under sequences: ({known})"
            if action == "draft_follow_up" and args.get("template") not in templates:
                known = ", ".join(sorted(templates)) or "none are defined"
                problems[f"{at}.template"] = f"{args.get('template')!r} is not a template under templates: ({known})"
            if action == "create_task":
                _check_text(args.get("title"), f"{at}.title", problems)
                if "due_in_days" in args:
                    _int(args["due_in_days"], f"{at}.due_in_days", problems)
            for key in ("text", "reason"):
                if key in args:
                    _check_text(args[key], f"{at}.{key}", problems)
            actions.append((action, dict(args)))
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            problems[f"{where}.enabled"] = "must be true or false"
            enabled = True
        rules.append(Rule(str(name), TRIGGERS.get(when_spec, ""), days, dict(conditions), tuple(actions), enabled))

    escalation = Escalation()
    raw_escalation = data.get("escalation") or {}
    if not isinstance(raw_escalation, dict):
        problems["escalation"] = "must be {notify_owner: true, manager_after_days: N}"
    else:
        for key in sorted(set(raw_escalation) - {"notify_owner", "manager_after_days"}):
            problems[f"escalation.{key}"] = "unknown key; escalation has notify_owner and manager_after_days"
        notify = raw_escalation.get("notify_owner", True)
        if not isinstance(notify, bool):
            problems["escalation.notify_owner"] = "must be true or false"
            notify = True
        after = _int(
            raw_escalation.get("manager_after_days", DEFAULT_MANAGER_AFTER_DAYS),
            "escalation.manager_after_days",
            problems,
            low=1,
        )
        escalation = Escalation(notify, after or DEFAULT_MANAGER_AFTER_DAYS)
    if problems:
        raise RulesError(problems)
    return RuleSet(tuple(rules), sequences, templates, escalation, source, data)


def read_rules_file(path: Path) -> RuleSet:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError({"(file)": f"cannot read {path}: {exc.strerror or exc}"}) from exc
    except yaml.YAMLError as exc:
        raise RulesError({"(file)": f"{path} is not valid YAML: {exc}"}) from exc
    return parse_rules(data, str(path))


def current_rule_set(session: Session) -> RuleSet:
    """The rules in force: the newest stored rule set, or none."""
    row = session.exec(select(AutomationRuleSet).order_by(col(AutomationRuleSet.id).desc())).first()
    if row is None:
        return EMPTY
    return parse_rules(row.config, row.source)


@dataclass(frozen=True)
class SetResult:
    rule_set: RuleSet
    row_id: int | None
    receipt_id: int | None
    changed: bool


def set_rule_set(session: Session, actor: Actor, rule_set: RuleSet, *, dry_run: bool = False) -> SetResult:
    """Store ``rule_set`` as the rules in force (managers and admins), with a receipt; unchanged text is a no-op."""
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise PermissionDenied("only a manager or an admin may change the automation rules")
    current = session.exec(select(AutomationRuleSet).order_by(col(AutomationRuleSet.id).desc())).first()
    canonical = json.loads(json.dumps(rule_set.raw, default=str))
    if current is not None and current.config == canonical:
        return SetResult(rule_set, current.id, current.receipt_id, False)
    if dry_run:
        return SetResult(rule_set, None, None, True)
    row = AutomationRuleSet(config=canonical, source=rule_set.source, set_by_id=actor.user_id)
    session.add(row)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "set_rules",
        "automation_rule_set",
        row.id,
        before={"rule_set_id": current.id} if current is not None else None,
        after={
            "rules": [r.name for r in rule_set.rules],
            "sequences": sorted(rule_set.sequences),
            "templates": sorted(rule_set.templates),
            "source": rule_set.source,
        },
    )
    row.receipt_id = receipt
    session.add(row)
    return SetResult(rule_set, row.id, receipt, True)


def set_rule_enabled(session: Session, actor: Actor, name: str, enabled: bool) -> SetResult:
    """Switch one rule on or off (a new rule set row, with a receipt)."""
    current = current_rule_set(session)
    raw = json.loads(json.dumps(current.raw))
    for spec in raw.get("rules") or []:
        if isinstance(spec, dict) and spec.get("name") == name:
            spec["enabled"] = enabled
            break
    else:
        known = ", ".join(r.name for r in current.rules) or "there are no rules"
        raise InvalidInput({"rule": f"no rule called {name!r} ({known})"})
    return set_rule_set(session, actor, parse_rules(raw, current.source))


# -- facts and matching ---------------------------------------------------------------------------------------


@dataclass
class Facts:
    """What the rule filters look at, for the record an event is about."""

    lead: Lead | None = None
    deal: Deal | None = None
    account: Account | None = None
    owner: User | None = None
    values: dict[str, Any] = field(default_factory=dict)


def facts_for(session: Session, event: DomainEvent) -> Facts:
    from sales.segments import deal_size_band

    facts = Facts()
    payload = event.payload or {}
    if event.record_type == "lead" and event.record_id is not None:
        facts.lead = session.get(Lead, event.record_id)
    elif event.record_type == "deal" and event.record_id is not None:
        facts.deal = session.get(Deal, event.record_id)
    elif event.record_type == "task" and event.record_id is not None:
        task = session.get(Task, event.record_id)
        if task is not None:
            facts.deal = session.get(Deal, task.deal_id) if task.deal_id else None
            facts.lead = session.get(Lead, task.lead_id) if task.lead_id else None
    if facts.deal is None and payload.get("deal_id"):
        facts.deal = session.get(Deal, int(payload["deal_id"]))
    if facts.lead is None and payload.get("lead_id"):
        facts.lead = session.get(Lead, int(payload["lead_id"]))
    if facts.deal is not None and facts.lead is None and facts.deal.lead_id:
        facts.lead = session.get(Lead, facts.deal.lead_id)
    account_id = (facts.deal.account_id if facts.deal else None) or (facts.lead.account_id if facts.lead else None)
    facts.account = session.get(Account, account_id) if account_id else None
    owner_id = facts.deal.owner_id if facts.deal else (facts.lead.owner_id if facts.lead else None)
    facts.owner = session.get(User, owner_id) if owner_id else None
    lead, deal, account = facts.lead, facts.deal, facts.account
    facts.values = {
        "owner": facts.owner.email if facts.owner else None,
        "source": lead.source if lead else None,
        "industry": (lead.industry if lead and lead.industry else None) or (account.industry if account else None),
        "region": (lead.region if lead and lead.region else None) or (account.region if account else None),
        "stage": payload.get("to_stage") or (deal.stage if deal else None),
        "score_band": payload.get("to_band") or (lead.score_band if lead else None),
        "score": lead.score if lead else None,
        "amount": float(deal.amount) if deal is not None and deal.amount is not None else None,
        "segment": [
            s
            for s in (
                deal_size_band(deal.amount) if deal is not None else None,
                account.size_band if account else None,
            )
            if s
        ],
    }
    return facts


def matches(rule: Rule, event: DomainEvent, facts: Facts) -> bool:
    if not rule.enabled or rule.when != event.kind:
        return False
    if rule.days is not None and (event.payload or {}).get("days") != rule.days:
        return False
    for key, wanted in rule.conditions.items():
        if key.endswith(("_min", "_max")):
            actual = facts.values.get(key[:-4])
            if actual is None:
                return False
            if key.endswith("_min") and float(actual) < float(wanted):
                return False
            if key.endswith("_max") and float(actual) > float(wanted):
                return False
            continue
        options = {v.lower() for v in _names(wanted) or []}
        actual = facts.values.get(key)
        values = actual if isinstance(actual, list) else [actual]
        if not any(v is not None and str(v).lower() in options for v in values):
            return False
    return True


# -- actions --------------------------------------------------------------------------------------------------


def fill(text: str, facts: Facts, extra: dict[str, str] | None = None) -> str:
    """A template's placeholders filled from the record; customer text is inserted as plain text."""
    person = facts.lead.name if facts.lead else (facts.deal.name if facts.deal else "")
    values = {
        "name": person,
        "first_name": (person or "there").split()[0],
        "company": (facts.lead.company if facts.lead and facts.lead.company else None)
        or (facts.account.name if facts.account else "your team"),
        "record_name": facts.deal.name if facts.deal else (facts.lead.name if facts.lead else ""),
        "sender_name": facts.owner.name if facts.owner else "the team",
        "last_topic": "our last conversation",
        **(extra or {}),
    }
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), text)


def manager_of(session: Session, user: User | None) -> User | None:
    if user is None or user.manager_id is None:
        return None
    manager = session.get(User, user.manager_id)
    return manager if manager is not None and manager.active else None


def notify(
    session: Session,
    user: User,
    kind: str,
    text: str,
    *,
    record_type: str | None,
    record_id: int | None,
    event_id: int | None,
) -> Notification:
    note = Notification(
        user_id=user.id or 0,
        kind=kind,
        text=text[:4000],
        record_type=record_type,
        record_id=record_id,
        event_id=event_id,
    )
    session.add(note)
    session.flush()
    # The person is told by Slack DM (bots.notify, from the scheduler); the receipt says who and about what.
    note.receipt_id = write_receipt(
        session,
        SYSTEM,
        "notify_user",
        "notification",
        note.id,
        after={"user_id": note.user_id, "kind": kind, "record_type": record_type, "record_id": record_id,
               "event_id": event_id},
    )  # fmt: skip
    session.add(note)
    return note


def _record(facts: Facts) -> tuple[str | None, int | None, str]:
    if facts.deal is not None:
        return "deal", facts.deal.id, f"deal #{facts.deal.id} ({facts.deal.name})"
    if facts.lead is not None:
        return "lead", facts.lead.id, f"lead #{facts.lead.id} ({facts.lead.name})"
    return None, None, "the record"


def perform(
    session: Session, rule_set: RuleSet, rule: Rule, event: DomainEvent, facts: Facts, now: datetime
) -> list[dict[str, Any]]:
    """Do the rule's actions in the caller's transaction; each returns what it did (ids)."""
    from sales import sequences
    from sales.tasks import TaskInput, create_task

    record_type, record_id, label = _record(facts)
    done: list[dict[str, Any]] = []
    for action, args in rule.actions:
        if action == "create_task":
            if facts.owner is None:
                done.append({"action": action, "skipped": "the record has no owner"})
                continue
            due = (now + timedelta(days=int(args.get("due_in_days", 0)))).date()
            task, receipt = create_task(
                session,
                SYSTEM,
                TaskInput(
                    title=fill(str(args["title"]), facts)[:500],
                    due_date=due,
                    owner_id=facts.owner.id,
                    deal_id=facts.deal.id if facts.deal else None,
                    lead_id=facts.lead.id if facts.lead and not facts.deal else None,
                ),
            )
            task.kind = "automation"
            session.add(task)
            done.append({"action": action, "task_id": task.id, "receipt_id": receipt})
        elif action in ("notify_owner", "escalate_to_manager"):
            target = facts.owner if action == "notify_owner" else manager_of(session, facts.owner)
            if target is None:
                done.append({"action": action, "skipped": "no one to notify (no owner or no manager)"})
                continue
            default = f"Rule '{rule.name}': {event.kind.replace('_', ' ')} on {label}"
            text = fill(str(args.get("text") or default), facts)
            note = notify(
                session, target, action, text, record_type=record_type, record_id=record_id, event_id=event.id
            )
            done.append({"action": action, "notification_id": note.id, "user_id": target.id})
        elif action == "review_queue":
            reviewer = manager_of(session, facts.owner) or facts.owner
            if reviewer is None:
                done.append({"action": action, "skipped": "the record has no owner"})
                continue
            reason = fill(str(args.get("reason") or f"unusual record flagged by rule '{rule.name}'"), facts)
            task, receipt = create_task(
                session,
                SYSTEM,
                TaskInput(
                    title=f"Review {label}: {reason}"[:500],
                    due_date=now.date(),
                    owner_id=reviewer.id,
                    deal_id=facts.deal.id if facts.deal else None,
                    lead_id=facts.lead.id if facts.lead and not facts.deal else None,
                ),
            )
            task.kind = "review"
            session.add(task)
            done.append({"action": action, "task_id": task.id, "receipt_id": receipt})
        elif action == "enrol_in_sequence":
            enrolment = sequences.enrol(session, rule_set, str(args["sequence"]), facts, now, reason=rule.name)
            done.append(
                {"action": action, "enrolment_id": enrolment.id if enrolment else None}
                | ({} if enrolment else {"skipped": "no email address, opted out, or already enrolled"})
            )
        elif action == "draft_follow_up":
            message_id, approval_id = sequences.draft_for_approval(
                session, rule_set.templates[str(args["template"])], facts
            )
            done.append({"action": action, "message_id": message_id, "approval_id": approval_id})
    return done


# -- the outbox -----------------------------------------------------------------------------------------------


@dataclass
class OutboxReport:
    events: int = 0
    firings: list[tuple[str, int, int]] = field(default_factory=list)
    """(rule, event id, receipt id) of each rule fired in this run."""
    already_fired: int = 0
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.events} events, {len(self.firings)} rule firings"
        if self.already_fired:
            text += f", {self.already_fired} already fired earlier (not repeated)"
        if self.errors:
            text += f", {len(self.errors)} errors: " + "; ".join(self.errors[:3])
        return text


def fire(session: Session, rule_set: RuleSet, rule: Rule, event: DomainEvent, now: datetime) -> int | None:
    """Fire ``rule`` for ``event`` in the caller's transaction, once: None when it fired before."""
    assert event.id is not None
    exists = select(RuleFiring.id).where(RuleFiring.rule == rule.name, RuleFiring.event_id == event.id)
    if session.exec(exists).first() is not None:
        return None
    firing = RuleFiring(rule=rule.name, event_id=event.id, action=",".join(a for a, _ in rule.actions))
    session.add(firing)
    session.flush()  # a concurrent firing of the same (rule, event) fails here, before any action
    facts = facts_for(session, event)
    done = perform(session, rule_set, rule, event, facts, now)
    receipt = write_receipt(
        session,
        SYSTEM,
        "fire_rule",
        "rule_firing",
        firing.id,
        after={"rule": rule.name, "event_id": event.id, "event": event.kind, "actions": done},
    )
    firing.result = {"actions": done}
    firing.receipt_id = receipt
    session.add(firing)
    return receipt


def process_outbox(engine: Engine, *, now: datetime | None = None, limit: int = 500) -> OutboxReport:
    """Fire the rules for every unprocessed event, one transaction per (event, rule), then mark the event done."""
    from sales import sequences
    from sales.experiments import held_back

    now = now or utcnow()
    report = OutboxReport()
    with session_scope(engine, read_only=True) as s:
        rule_set = current_rule_set(s)
        pending = [(e.id, e.kind) for e in ev.pending_events(s, limit)]
    for event_id, _kind in pending:
        assert event_id is not None
        report.events += 1
        failed = False
        # Built-in reactions first: a reply, a stage change, a bounce or an opt-out stops the record's sequences.
        with session_scope(engine) as s:
            event = s.get(DomainEvent, event_id)
            assert event is not None
            sequences.stop_for_event(s, event, now)
        for rule in rule_set.rules:
            try:
                with session_scope(engine) as s:
                    event = s.get(DomainEvent, event_id)
                    assert event is not None
                    facts = facts_for(s, event)
                    # a rule under a running random experiment acts only on its treatment arm
                    if not matches(rule, event, facts) or held_back(s, rule.name, facts, now=now):
                        continue
                    receipt = fire(s, rule_set, rule, event, now)
                    if receipt is None:
                        report.already_fired += 1
                    else:
                        report.firings.append((rule.name, event_id, receipt))
            except IntegrityError:
                report.already_fired += 1  # another process fired it between our check and our insert
            except Exception as exc:  # one broken action must not stop the others; the event stays pending
                failed = True
                report.errors.append(f"rule {rule.name!r} on event #{event_id}: {type(exc).__name__}: {exc}")
        if not failed:
            with session_scope(engine) as s:
                event = s.get(DomainEvent, event_id)
                assert event is not None
                event.processed_at = utcnow()
                s.add(event)
    return report


# -- time-based events ----------------------------------------------------------------------------------------


def scan_time_events(session: Session, rule_set: RuleSet, now: datetime) -> int:
    """Emit the events that the passing of time causes: tasks overdue and emails with no reply after N days.

    Each has a dedupe key, so scanning again emits nothing new. Stalled deals are ``sales.escalation``'s.
    """
    emitted = 0
    today = now.date()
    if any(r.when == ev.TASK_OVERDUE for r in rule_set.rules):
        overdue = session.exec(
            select(Task).where(
                Task.status == TaskStatus.OPEN, col(Task.due_date).is_not(None), col(Task.due_date) < today
            )
        ).all()
        for task in overdue:
            payload = {"due_date": str(task.due_date), "deal_id": task.deal_id, "lead_id": task.lead_id}
            key = f"task_overdue:{task.id}:{task.due_date}"
            if ev.emit(session, ev.TASK_OVERDUE, "task", task.id, payload, dedupe_key=key, at=now) is not None:
                emitted += 1
    for days in sorted({r.days for r in rule_set.rules if r.when == ev.NO_REPLY and r.days}):
        cutoff = now - timedelta(days=days)
        sent = session.exec(
            select(OutboundMessage).where(
                col(OutboundMessage.status).in_(("sent", "queued")), col(OutboundMessage.sent_at) <= cutoff
            )
        ).all()
        for message in sent:
            if message.sent_at is None:
                continue
            replied = select(Interaction.id).where(
                Interaction.direction == "inbound", col(Interaction.occurred_at) >= message.sent_at
            )
            if message.deal_id is not None:
                replied = replied.where(Interaction.deal_id == message.deal_id)
            elif message.lead_id is not None:
                replied = replied.where(Interaction.lead_id == message.lead_id)
            if session.exec(replied).first() is not None:
                continue
            record_type, record_id = ("deal", message.deal_id) if message.deal_id else ("lead", message.lead_id)
            payload = {"days": days, "message_id": message.id}
            key = f"no_reply:{message.id}:{days}"
            if ev.emit(session, ev.NO_REPLY, record_type, record_id, payload, dedupe_key=key, at=now) is not None:
                emitted += 1
    return emitted


@dataclass
class TickReport:
    time_events: int
    escalation: str
    outbox: OutboxReport
    sequences: str
    experiments: str = ""

    def describe(self) -> str:
        return (
            f"{self.time_events} time-based events; escalation: {self.escalation}; outbox: {self.outbox.describe()}; "
            f"sequences: {self.sequences}; experiments: {self.experiments or 'none'}"
        )


def tick(engine: Engine, delivery: Any, *, now: datetime | None = None) -> TickReport:
    """One automation pass, as the scheduler runs it: time-based events, stalled-deal escalation, the outbox (rules
    and sequence stops), then due sequence steps and approved sequence sends. Safe to repeat at any point."""
    from sales.escalation import run_escalations
    from sales.experiments import run_due_looks
    from sales.sequences import advance_due

    now = now or utcnow()
    with session_scope(engine) as s:
        emitted = scan_time_events(s, current_rule_set(s), now)
    escalation = run_escalations(engine, now=now)
    outbox = process_outbox(engine, now=now)
    sequences = advance_due(engine, delivery, now=now)
    looks = run_due_looks(engine, now=now)  # an experiment's planned look once its sample reached it
    return TickReport(emitted, escalation.describe(), outbox, sequences.describe(), looks.describe())


__all__ = [
    "ACTIONS",
    "FILTERS",
    "TRIGGERS",
    "OutboxReport",
    "Rule",
    "RuleSet",
    "RulesError",
    "Sequence",
    "Template",
    "current_rule_set",
    "fire",
    "matches",
    "parse_rules",
    "process_outbox",
    "read_rules_file",
    "scan_time_events",
    "set_rule_enabled",
    "set_rule_set",
    "tick",
]
