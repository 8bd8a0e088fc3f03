"""``salesgraph rules``: the workspace's automation rules, sequences and templates, shown and (by managers) set;
standing approvals of templates; opt-outs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from sales.automation import RuleSet

app = typer.Typer(
    help=(
        "Automation: rules that act on events (a lead created, a deal stalled, no reply in N days, a reply...), "
        "nurture sequences whose emails wait for approval, and stalled-deal escalation. The scheduler "
        "(`salesgraph briefings serve`) runs them every 5 minutes; each rule fires once per event, with a receipt.\n\n"
        "A rules file is YAML with four sections (templates, sequences, rules, escalation):\n\n"
        "    templates:\n"
        '      nurture-1: {subject: "Ideas for {{company}}", body: "Hi {{first_name}}, ...\\n\\n{{sender_name}}"}\n'
        "    sequences:\n"
        "      nurture: {steps: [{day: 2, template: nurture-1}]}\n"
        "    rules:\n"
        "      - name: new-web-leads-nurture\n"
        "        when: lead_created          # or {event: no_reply, days: 5}\n"
        "        if: {source: [web]}\n"
        "        then:\n"
        "          - enrol_in_sequence: {sequence: nurture}\n"
        '          - create_task: {title: "Call {{name}}", due_in_days: 1}\n'
        "    escalation: {notify_owner: true, manager_after_days: 3}\n\n"
        "Start from the rules in force: `salesgraph rules show --yaml > rules.yaml`, edit, then "
        '`salesgraph rules set rules.yaml --dry-run`. The README\'s "Automation" section lists every trigger, '
        "filter and action."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _rule_set_json(rule_set: RuleSet) -> dict[str, Any]:
    return {
        "source": rule_set.source,
        "rules": [
            {
                "name": r.name,
                "when": r.when,
                "days": r.days,
                "if": r.conditions,
                "then": [{name: args} for name, args in r.actions],
                "enabled": r.enabled,
            }
            for r in rule_set.rules
        ],
        "sequences": {
            name: {
                "steps": [{"day": st.day, "template": st.template} for st in seq.steps],
                "stop_on": list(seq.stop_on),
            }
            for name, seq in rule_set.sequences.items()
        },
        "templates": {name: {"subject": t.subject, "body": t.body} for name, t in rule_set.templates.items()},
        "escalation": {
            "notify_owner": rule_set.escalation.notify_owner,
            "manager_after_days": rule_set.escalation.manager_after_days,
        },
    }


def _shown(value: Any) -> str:
    return " or ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def _problems_or_fail(file: Path, problems: dict[str, str]) -> None:
    from bots.common import fail

    lines = "\n".join(f"  - {where}: {problem}" for where, problem in problems.items())
    fail(f"{file}: nothing changed:\n{lines}")


@app.command("show")
def show_cmd(
    json_out: JsonOption = False,
    yaml_out: Annotated[bool, typer.Option("--yaml", help="Print the rules as a rules file, ready to edit.")] = False,
) -> None:
    """The rules in force (trigger, filters, actions, on or off), the sequences and templates, the escalation
    timing, and the standing approvals of templates.

    Examples:

        salesgraph rules show

        salesgraph rules show --yaml > rules.yaml
    """
    from rich.table import Table
    from sqlmodel import col, select

    from bots.common import console, session
    from bots.render import emit_json, print_table, when
    from sales.automation import current_rule_set
    from store.models import StandingApproval

    with session(read_only=True) as s:
        rule_set = current_rule_set(s)
        standing = s.exec(
            select(StandingApproval)
            .where(col(StandingApproval.revoked_at).is_(None))
            .order_by(col(StandingApproval.id))
        ).all()
    if yaml_out:
        import yaml

        typer.echo(yaml.safe_dump(rule_set.raw or {}, sort_keys=False, allow_unicode=True), nl=False)
        return
    data = _rule_set_json(rule_set)
    data["standing_approvals"] = [
        {"id": a.id, "template": a.template, "granted_at": a.granted_at, "note": a.note} for a in standing
    ]
    if json_out:
        emit_json(data)
        return
    out = console()
    if not rule_set.rules and not rule_set.sequences:
        out.print("No automation rules are set (a manager sets them with `salesgraph rules set FILE`).")
        return
    out.print(f"Rules from {rule_set.source or 'the store'}:", highlight=False)
    table = Table(title="Rules")
    for column in ("rule", "when", "if", "then", "on"):
        table.add_column(column)
    for rule in data["rules"]:
        trigger = rule["when"] + (f" ({rule['days']} d)" if rule["days"] else "")
        table.add_row(
            rule["name"],
            trigger,
            ", ".join(f"{k}={_shown(v)}" for k, v in rule["if"].items()) or "any",
            ", ".join(next(iter(a)) for a in rule["then"]),
            "yes" if rule["enabled"] else "no",
        )
    print_table(table, out)
    for name, seq in data["sequences"].items():
        steps = ", ".join(f"day {st['day']}: {st['template']}" for st in seq["steps"])
        out.print(f"Sequence {name}: {steps}; stops on {', '.join(seq['stop_on'])}.", highlight=False)
    esc = data["escalation"]
    owner = "the owner is notified once, then " if esc["notify_owner"] else ""
    out.print(f"Stalled deals: {owner}the manager after {esc['manager_after_days']} more days.", highlight=False)
    if standing:
        for a in standing:
            out.print(
                f"Standing approval #{a.id}: template {a.template} (since {when(a.granted_at)}).", highlight=False
            )
    else:
        out.print("No standing approvals: every sequence email waits for a person.")


@app.command("set")
def set_cmd(
    file: Annotated[Path, typer.Argument(help="The rules file (YAML); see `salesgraph rules --help`.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file; change nothing.")] = False,
    as_: AsOption = None,
) -> None:
    """Make FILE the workspace's automation rules (managers and admins), with an audit receipt.

    Every problem in the file is listed at once, each by its place (`rules[0] (hot-leads).when: ...`). Setting
    the rules already in force changes nothing.

    Examples:

        salesgraph rules set rules.yaml --dry-run --as maria.chen@demo.example

        salesgraph rules set rules.yaml --as maria.chen@demo.example
    """
    from bots.common import console, friendly_errors, resolve_actor, services
    from sales.automation import RulesError, read_rules_file, set_rule_set
    from store.db import session_scope

    with friendly_errors():
        try:
            rule_set = read_rules_file(file)
            with session_scope(services().engine) as s:
                result = set_rule_set(s, resolve_actor(s, as_), rule_set, dry_run=dry_run)
        except RulesError as exc:
            _problems_or_fail(file, exc.problems)
    names = ", ".join(r.name for r in rule_set.rules) or "no rules"
    if not result.changed:
        console().print(f"Unchanged: {file} holds the rules already in force ({names}).", highlight=False)
    elif dry_run:
        console().print(f"Dry run: {file} is valid ({names}); nothing changed.", highlight=False)
    else:
        console().print(f"Rules set from {file}: {names}; receipt {result.receipt_id}.", highlight=False)


def _switch(name: str, enabled: bool, as_: str | None) -> None:
    from bots.common import console, friendly_errors, resolve_actor, services
    from sales.automation import set_rule_enabled
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine) as s:
        result = set_rule_enabled(s, resolve_actor(s, as_), name, enabled)
    state = "on" if enabled else "off"
    if not result.changed:
        console().print(f"Rule {name} was already {state}; nothing changed.", highlight=False)
    else:
        console().print(f"Rule {name} is {state}; receipt {result.receipt_id}.", highlight=False)


@app.command("enable")
def enable_cmd(name: Annotated[str, typer.Argument(help="The rule's name.")], as_: AsOption = None) -> None:
    """Switch a rule on (managers and admins; receipt)."""
    _switch(name, True, as_)


@app.command("disable")
def disable_cmd(name: Annotated[str, typer.Argument(help="The rule's name.")], as_: AsOption = None) -> None:
    """Switch a rule off without deleting it (managers and admins; receipt)."""
    _switch(name, False, as_)


@app.command("approve-template")
def approve_template_cmd(
    template: Annotated[str, typer.Argument(help="The template's name in the rules in force.")],
    note: Annotated[str | None, typer.Option("--note", help="Why; kept with the approval.")] = None,
    as_: AsOption = None,
) -> None:
    """Give a standing approval of a template's exact text (managers and admins; receipt): sequence emails drafted
    from it are sent without waiting for a person. Editing the template, or a draft, needs a new approval.

    Example:

        salesgraph rules approve-template nurture-2 --note "reviewed with legal" --as maria.chen@demo.example
    """
    from bots.common import console, friendly_errors, resolve_actor, services
    from sales.automation import current_rule_set
    from sales.sequences import grant_standing_approval
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine) as s:
        row = grant_standing_approval(s, resolve_actor(s, as_), current_rule_set(s), template, note=note)
        row_id, receipt = row.id, row.receipt_id
    console().print(f"Standing approval #{row_id} of template {template}; receipt {receipt}.", highlight=False)


@app.command("revoke-approval")
def revoke_approval_cmd(
    standing_id: Annotated[int, typer.Argument(help="The standing approval's id (`salesgraph rules show`).")],
    as_: AsOption = None,
) -> None:
    """Revoke a standing approval (managers and admins; receipt): later sequence emails wait for a person again."""
    from bots.common import console, friendly_errors, resolve_actor, services
    from sales.sequences import revoke_standing_approval
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine) as s:
        receipt = revoke_standing_approval(s, resolve_actor(s, as_), standing_id)
    console().print(f"Standing approval #{standing_id} revoked; receipt {receipt}.", highlight=False)


@app.command("opt-out")
def opt_out_cmd(
    address: Annotated[str, typer.Argument(help="The email address never to write to again.")],
    reason: Annotated[str | None, typer.Option("--reason", help="What they said, e.g. 'asked by phone'.")] = None,
    as_: AsOption = None,
) -> None:
    """Record that an address must never be emailed again (receipt). Every send path checks it, and its
    sequences stop.

    Example:

        salesgraph rules opt-out dana@example.com --reason "asked by phone" --as sam.rivera@demo.example
    """
    from bots.common import console, friendly_errors, resolve_actor, services
    from sales.outbound import record_opt_out
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine) as s:
        result = record_opt_out(s, resolve_actor(s, as_), address, reason=reason)
        email = result.opt_out.email
    if not result.created:
        console().print(f"{email} had already opted out; nothing changed.", highlight=False)
    else:
        console().print(f"{email} opted out: never emailed again; receipt {result.receipt_id}.", highlight=False)


@app.command("notifications")
def notifications_cmd(
    status: Annotated[
        str | None,
        typer.Option("--status", help="pending, sending, delivered, failed or unknown (default: all)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    as_: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """What automation told people (stalled deals, escalations, rules' notices) and whether each reached their Slack
    DM: delivered (channel and ts), pending (with the next attempt), failed or unknown (with the reason). Reps see
    their own, managers their team's.

    Example:

        salesgraph rules notifications --status failed --as maria.chen@demo.example
    """
    from rich.table import Table

    from bots.common import fail, resolve_actor, session
    from bots.notify import DELIVERED, FAILED, PENDING, SENDING, UNKNOWN, list_notifications
    from bots.render import emit_json, print_table

    if status is not None and status not in (PENDING, SENDING, DELIVERED, FAILED, UNKNOWN):
        fail(f"--status {status!r}: use pending, sending, delivered, failed or unknown")
    with session(read_only=True) as s:
        rows = list_notifications(s, resolve_actor(s, as_), status=status, limit=limit)
        data = [
            {"id": n.id, "created_at": n.created_at, "to": u.email, "kind": n.kind, "status": n.status,
             "text": n.text, "record": f"{n.record_type} #{n.record_id}" if n.record_type else None,
             "slack_channel": n.slack_channel, "slack_ts": n.slack_ts, "attempts": n.attempts,
             "next_attempt_at": n.next_attempt_at, "error": n.error, "receipt_id": n.receipt_id}
            for n, u in rows
        ]  # fmt: skip
    if as_json:
        emit_json(data)
        return
    if not data:
        print("No notifications" + (f" with status {status}" if status else "") + ".")
        return
    table = Table("#", "created (UTC)", "to", "kind", "status", "text", "Slack / why not", title="Notifications")
    for d in data:
        where = f"{d['slack_channel']} ts {d['slack_ts']}" if d["slack_ts"] else (d["error"] or "")
        if d["status"] == PENDING and d["next_attempt_at"]:
            where = f"next try {d['next_attempt_at']:%Y-%m-%d %H:%M}; {where}"
        table.add_row(str(d["id"]), f"{d['created_at']:%Y-%m-%d %H:%M}", str(d["to"]), str(d["kind"]),
                      str(d["status"]), str(d["text"]), str(where))  # fmt: skip
    print_table(table)


@app.command("run")
def run_cmd() -> None:
    """Run the automation once now, as the scheduler does every 5 minutes: time-based events (overdue tasks, no
    reply, stalled deals), the rules on new events, and due sequence steps. Safe to repeat: nothing fires twice.

    Example:

        salesgraph rules run
    """
    from bots.common import console, friendly_errors, services
    from sales.automation import tick
    from sales.outbound import delivery_from_settings

    svc = services()
    with friendly_errors():
        report = tick(svc.engine, delivery_from_settings(svc.settings))
    console().print(f"Automation ran: {report.describe()}.", highlight=False)
