"""`salesgraph rules` as a manager drives it (real processes): a bad file is refused naming its place, a rep may
not set rules, a manager's rules fire once on a new lead however often the automation runs, standing approvals
and opt-outs leave receipts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.integration.test_cli_records import cli  # noqa: F401  (the real-process fixture)

RULES = """\
templates:
  nurture-1: {subject: "Ideas for {{company}}", body: "Hi {{first_name}},\\n\\nA few ideas.\\n\\n{{sender_name}}"}
sequences:
  nurture: {steps: [{day: 2, template: nurture-1}]}
rules:
  - name: web-leads
    when: lead_created
    if: {source: [web]}
    then:
      - enrol_in_sequence: {sequence: nurture}
      - create_task: {title: "Call {{name}} at {{company}}", due_in_days: 1}
"""


def _count(home: Path, sql: str) -> int:
    with sqlite3.connect(home / "salesgraph.db") as db:
        return int(db.execute(sql).fetchone()[0])


def test_rules_set_fire_once_and_refusals(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    cli(
        "users",
        "add",
        "--name",
        "Mia Manager",
        "--email",
        "mia@x.example",
        "--role",
        "manager",
        "--as",
        "ada@x.example",
    )
    cli("users", "add", "--name", "Rob Rep", "--email", "rob@x.example", "--manager", "mia@x.example", "--as", "ada@x.example")  # fmt: skip
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("when: lead_created", "when: lead_creatd"))

    refused = cli("rules", "set", str(bad), "--as", "mia@x.example", ok=False)
    assert refused.returncode == 1 and "rules[0] (web-leads).when: 'lead_creatd' is not a trigger" in refused.stderr
    refused = cli("rules", "set", str(rules), "--as", "rob@x.example", ok=False)
    assert refused.returncode == 1 and "only a manager or an admin" in refused.stderr
    assert _count(cli.home, "SELECT count(*) FROM automation_rule_sets") == 0

    assert "nothing changed" in cli("rules", "set", str(rules), "--dry-run", "--as", "mia@x.example").stdout
    assert _count(cli.home, "SELECT count(*) FROM automation_rule_sets") == 0
    assert "receipt" in cli("rules", "set", str(rules), "--as", "mia@x.example").stdout
    assert "Unchanged" in cli("rules", "set", str(rules), "--as", "mia@x.example").stdout
    assert "web-leads" in cli("rules", "show").stdout

    cli("leads", "create", "--name", "Nia Patel", "--email", "nia@patel.example", "--company", "Patel Works",
        "--source", "web", "--as", "rob@x.example")  # fmt: skip
    cli("leads", "create", "--name", "Olu Ade", "--email", "olu@ade.example", "--company", "Ade Ltd",
        "--source", "referral", "--as", "rob@x.example")  # fmt: skip
    assert "1 rule firings" in cli("rules", "run").stdout
    for _ in range(2):
        assert "0 rule firings" in cli("rules", "run").stdout
    assert _count(cli.home, "SELECT count(*) FROM rule_firings") == 1
    assert _count(cli.home, "SELECT count(*) FROM tasks WHERE title = 'Call Nia Patel at Patel Works'") == 1
    assert _count(cli.home, "SELECT count(*) FROM sequence_enrolments") == 1
    assert _count(cli.home, "SELECT count(*) FROM audit_events WHERE action = 'fire_rule'") == 1

    assert "receipt" in cli("rules", "disable", "web-leads", "--as", "mia@x.example").stdout
    assert "receipt" in cli("rules", "approve-template", "nurture-1", "--as", "mia@x.example").stdout
    assert "Standing approval #1" in cli("rules", "show").stdout
    refused = cli("rules", "approve-template", "nurture-1", "--as", "rob@x.example", ok=False)
    assert refused.returncode == 1 and "only a manager" in refused.stderr
    assert "never emailed again" in cli("rules", "opt-out", "NIA@patel.example", "--as", "rob@x.example").stdout
    assert "already opted out" in cli("rules", "opt-out", "nia@patel.example", "--as", "rob@x.example").stdout
    assert _count(cli.home, "SELECT count(*) FROM opt_outs WHERE email = 'nia@patel.example'") == 1
