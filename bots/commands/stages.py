"""``salesgraph stages``: the workspace's deal stages, shown and (by admins) set from a stage file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from sales.stages import StageConfigurationInfo, StageMachine

app = typer.Typer(
    help=(
        "The workspace's deal stages: their names in order, which one is won and which lost, each open stage's "
        "default win probability and stall limit, and whether a deal may skip stages going forward.\n\n"
        "Until an admin sets them, a workspace has the built-in pipeline: Prospecting, Qualified, Discovery, "
        "Proposal, Negotiation, then Won or Lost, one stage forward at a time, one back, Lost from any open stage. "
        "`salesgraph import maven` applies Maven's own (Prospecting, Engaging, Won, Lost).\n\n"
        "A stage file is YAML (JSON works too):\n\n"
        "    description: Our pipeline\n"
        "    stages:\n"
        "      - {name: Prospecting, probability: 0.1, stall_limit_days: 21}\n"
        "      - {name: Qualified, probability: 0.25, stall_limit_days: 30}\n"
        "      - {name: Proposal, probability: 0.6, stall_limit_days: 30}\n"
        "      - {name: Won, kind: won}\n"
        "      - {name: Lost, kind: lost}\n"
        "    allow_step_back: true   # one stage back (default: true)\n"
        "    allow_skip: true        # jump forward over stages (default: false)\n"
        "    max_skip: 1             # at most 1 stage jumped (default: any)\n\n"
        "Start from the one in force: `salesgraph stages show --yaml > stages.yaml`, edit it, then "
        '`salesgraph stages set stages.yaml`. The README\'s "Deal stages" section has the details.'
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _skip_rule(machine: StageMachine) -> str:
    if not machine.allow_skip:
        return "one stage forward at a time"
    if machine.max_skip is None:
        return "forward to any later stage (skipping allowed)"
    return f"forward skipping at most {machine.max_skip} stage{'s' if machine.max_skip != 1 else ''}"


def _as_json(info: StageConfigurationInfo) -> dict[str, Any]:
    machine = info.machine
    kinds = {machine.won_stage: "won", machine.lost_stage: "lost"}
    return {
        "configured": info.configured,
        "description": info.description,
        "source": info.source,
        "set_by": info.set_by,
        "set_at": info.set_at,
        "receipt_id": info.receipt_id,
        "stages": [
            {
                "name": stage,
                "kind": kinds.get(stage, "open"),
                "probability": machine.probability(stage),
                "stall_limit_days": machine.stall_limit(stage),
                "moves_to": machine.allowed_moves(stage),
            }
            for stage in machine.stages
        ],
        "allow_step_back": machine.allow_step_back,
        "allow_skip": machine.allow_skip,
        "max_skip": machine.max_skip,
    }


@app.command("show")
def show_cmd(
    json_out: JsonOption = False,
    yaml_out: Annotated[
        bool, typer.Option("--yaml", help="Print the configuration as a stage file, ready to edit and `set`.")
    ] = False,
) -> None:
    """The deal stages in force: each stage with its kind, default win probability, stall limit and the moves a
    deal in it may make, and where the configuration came from (who set it, when, its receipt).

    Examples:

        salesgraph stages show

        salesgraph stages show --yaml > stages.yaml
    """
    from rich.table import Table

    from bots.common import console, session
    from bots.render import emit_json, print_table, when
    from sales.stages import machine_to_config, stage_configuration

    with session(read_only=True) as s:
        info = stage_configuration(s)
    machine = info.machine
    if json_out:
        emit_json(_as_json(info))
        return
    if yaml_out:
        import yaml

        text = yaml.safe_dump(machine_to_config(machine, info.description), sort_keys=False, allow_unicode=True)
        typer.echo(text, nl=False)
        return
    out = console()
    if info.configured:
        origin = f" from {info.source}" if info.source else ""
        by = f" by {info.set_by}" if info.set_by else ""
        receipt = f" (receipt {info.receipt_id})" if info.receipt_id else ""
        out.print(f"{info.description or 'Deal stages'}: set{origin}{by} on {when(info.set_at)}{receipt}.")
    else:
        out.print("The built-in pipeline (no stages configured; an admin changes them with `salesgraph stages set`).")
    table = Table(title="Deal stages, in order")
    for column in ("stage", "kind", "probability", "stall limit", "can move to"):
        table.add_column(column)
    kinds = {machine.won_stage: "won", machine.lost_stage: "lost"}
    for stage in machine.stages:
        probability = machine.probability(stage)
        limit = machine.stall_limit(stage)
        table.add_row(
            stage,
            kinds.get(stage, "open"),
            f"{probability:.0%}" if probability is not None else "—",
            f"{limit} d" if limit is not None else "—",
            ", ".join(machine.allowed_moves(stage)) or "nothing (final)",
        )
    print_table(table, out)
    back = "one stage back, " if machine.allow_step_back else "never back, "
    out.print(f"Moves: {_skip_rule(machine)}, {back}{machine.lost_stage} from any open stage.", highlight=False)


@app.command("set")
def set_cmd(
    file: Annotated[Path, typer.Argument(help="The stage file (YAML or JSON); see `salesgraph stages --help`.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file against the store; change nothing.")] = (
        False
    ),
    as_: AsOption = None,
) -> None:
    """Make FILE the workspace's deal stages (admins only), with an audit receipt.

    Every problem in the file is listed at once (a name twice, no won or no lost stage, a probability outside 0..1,
    a stall limit that is not a whole number of days, ...). A file that leaves out a stage where deals still sit is
    refused, naming them: move those deals first, or keep the stage. Setting the stages already in force changes
    nothing.

    Examples:

        salesgraph stages set mappings/maven/stages.yaml --dry-run

        salesgraph stages set stages.yaml

        salesgraph stages set mappings/default/stages.yaml   (back to the built-in pipeline)
    """
    from bots.common import console, fail, friendly_errors, resolve_actor, services
    from sales.errors import InvalidInput
    from sales.stages import load_stage_file, set_stage_configuration
    from store.db import session_scope

    with friendly_errors():  # a permission refusal or an unready store: one red line
        try:
            machine, description = load_stage_file(file)
            with session_scope(services().engine) as s:
                result = set_stage_configuration(
                    s, resolve_actor(s, as_), machine, description=description, source=str(file), dry_run=dry_run
                )
        except InvalidInput as exc:
            lines = "\n".join(f"  - {where}: {problem}" for where, problem in exc.problems.items())
            fail(f"{file}: nothing changed:\n{lines}")
    order = " → ".join(machine.open_stages) + f" → {machine.won_stage} / {machine.lost_stage}"
    if not result.changed:
        console().print(f"Unchanged: {file} declares the stages already in force ({order}).", highlight=False)
    elif dry_run:
        console().print(f"Dry run: {file} is valid and would set the stages to {order}; nothing changed.")
    else:
        console().print(f"Deal stages set from {file}: {order}; receipt {result.receipt_id}.", highlight=False)
