"""The ``salesgraph`` command line. Sub-commands live in ``bots/commands``; each imports what it needs lazily."""

from __future__ import annotations

import typer

from bots.commands import analyze as analyze_cmd
from bots.commands import approvals as approvals_cmd
from bots.commands import briefings as briefings_cmd
from bots.commands import chat as chat_cmd
from bots.commands import db as db_cmd
from bots.commands import evals as evals_cmd
from bots.commands import eventlog as eventlog_cmd
from bots.commands import experiments as experiments_cmd
from bots.commands import export as export_cmd
from bots.commands import fix as fix_cmd
from bots.commands import forecast as forecast_cmd
from bots.commands import importing as importing_cmd
from bots.commands import inbox as inbox_cmd
from bots.commands import mcp as mcp_cmd
from bots.commands import memory as memory_cmd
from bots.commands import model as model_cmd
from bots.commands import overview, records
from bots.commands import privacy as privacy_cmd
from bots.commands import rules as rules_cmd
from bots.commands import seed as seed_cmd
from bots.commands import slack as slack_cmd
from bots.commands import stages as stages_cmd
from bots.commands import sync as sync_cmd
from bots.commands import tokens as tokens_cmd

app = typer.Typer(
    name="salesgraph",
    help=(
        "salesgraph: a self-hosted sales assistant.\n\n"
        "Start with `salesgraph demo` for a seeded workspace and a tour. Data lives in $SALESGRAPH_HOME "
        "(default ~/.salesgraph, SQLite) unless SALESGRAPH_DATABASE_URL points at PostgreSQL."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(importing_cmd.app, name="import")
importing_cmd.app.command("eventlog")(eventlog_cmd.import_eventlog)
importing_cmd.app.command("replies")(inbox_cmd.import_replies)
app.add_typer(inbox_cmd.app, name="inbox")
app.add_typer(analyze_cmd.app, name="analyze")
app.command("export")(export_cmd.export_cmd)
app.command("eval")(evals_cmd.eval_cmd)
app.add_typer(records.leads, name="leads")
app.add_typer(records.deals, name="deals")
app.add_typer(records.tasks, name="tasks")
app.add_typer(records.users, name="users")
app.add_typer(overview.audit, name="audit")
app.command("pipeline")(overview.pipeline_cmd)
app.command("demo")(overview.demo_cmd)
app.command("seed")(seed_cmd.seed_cmd)
app.command("chat")(chat_cmd.chat_cmd)
app.command("ask")(chat_cmd.ask_cmd)
app.add_typer(approvals_cmd.app, name="approvals")
app.add_typer(memory_cmd.app, name="memory")
app.add_typer(privacy_cmd.contacts, name="contacts")
app.add_typer(model_cmd.app, name="model")
app.command("forecast")(forecast_cmd.forecast_cmd)
app.add_typer(briefings_cmd.app, name="briefings")
app.add_typer(slack_cmd.app, name="slack")
app.add_typer(stages_cmd.app, name="stages")
app.add_typer(rules_cmd.app, name="rules")
app.add_typer(experiments_cmd.app, name="experiments")
app.add_typer(sync_cmd.app, name="sync")
app.add_typer(mcp_cmd.app, name="mcp")
app.add_typer(tokens_cmd.app, name="tokens")
records.deals.command("edit")(fix_cmd.deals_edit)
records.deals.command("reopen")(fix_cmd.deals_reopen)
records.leads.command("edit")(fix_cmd.leads_edit)
privacy_cmd.contacts.command("edit")(fix_cmd.contacts_edit)
app.command("undo")(fix_cmd.undo_cmd)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
