"""``salesgraph import``: load CSV files into the store, all rows or none, with a precise report of bad rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption

if TYPE_CHECKING:
    from rich.console import Console

    from sales.importing import ImportMapping, ImportReport

app = typer.Typer(
    help=(
        "Import CSV files. Every row is checked first; one bad row means nothing is imported, and the report "
        "names each bad row (row 2 is the first row under the header), its column and the problem."
    ),
    no_args_is_help=True,
)

ENTITY_HELP = "What the rows are: deals, leads, accounts, contacts, users, interactions or stage_changes."
MAX_PROBLEMS_SHOWN = 25


def _progress(console: Console) -> tuple[object, object]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task("checking rows", total=None)

    def update(phase: str, done: int, total: int) -> None:
        progress.update(task, description=f"{phase} rows", completed=done, total=total)

    return progress, update


def render_report(console: Console, report: ImportReport) -> None:
    from rich.table import Table

    verb = "Would create" if report.dry_run else "Created"
    created = ", ".join(f"{n:,} {what}" for what, n in report.created.items())
    console.print(f"[bold green]{verb}[/] {created} from {report.rows:,} rows of {report.file_name}.")
    if report.system:
        would = "would be " if report.dry_run else ""
        console.print(
            f"{report.system} rows: {report.created.get(report.entity, 0):,} created, {report.updated:,} {would}updated, "
            f"{report.unchanged:,} unchanged, {report.refused:,} refused (matched on the {report.system} record id).",
            highlight=False,
        )
    if report.stages_adopted:
        console.print(f"Deal stages set from {report.stages_adopted} first.", highlight=False)
    table = Table(title="columns used", show_edge=False, title_justify="left")
    table.add_column("field")
    table.add_column("from")
    for name, source in report.columns.items():
        table.add_row(name, source)
    console.print(table)
    if report.ignored_columns:
        console.print(f"Ignored columns (not mapped to a field): {', '.join(report.ignored_columns)}")
    if report.dry_run:
        console.print("Dry run: nothing was written. Run again without --dry-run to import.")
    else:
        console.print(f"Receipt: audit event #{report.audit_event_id} (file sha256 {report.sha256[:16]}…).")


def render_problems(console: Console, report: ImportReport) -> None:
    from rich.table import Table

    table = Table(
        title=f"{report.file_name}: {len(report.problems):,} problem(s) in {report.bad_rows:,} of {report.rows:,} rows",
        title_justify="left",
    )
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("problem", overflow="fold")
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        table.add_row(str(problem.row), problem.column, problem.problem)
    console.print(table)
    hidden = report.problems[MAX_PROBLEMS_SHOWN:]
    if hidden:
        rows = len({p.row for p in hidden})
        console.print(f"… and {len(hidden):,} more problem(s) in {rows:,} more row(s).")
    console.print("[bold red]Nothing was imported.[/] Fix the rows above (or the mapping) and run the import again.")


@app.command("csv")
def csv_cmd(
    file: Annotated[Path, typer.Argument(help="The CSV file (comma, semicolon, tab or | separated).")],
    entity: Annotated[
        str | None,
        typer.Option(
            "--entity",
            "-e",
            help=ENTITY_HELP + " Optional for HubSpot, Salesforce and Pipedrive exports: they are recognised by "
            "their columns and read with the ready mapping in mappings/<crm>/.",
        ),
    ] = None,
    map_options: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="field=column, repeatable: read FIELD from COLUMN (columns named like a field map themselves).",
        ),
    ] = None,
    mapping_file: Annotated[
        Path | None,
        typer.Option("--mapping", help="A mapping YAML (columns, value maps, defaults, templates); see README."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")] = False,
    adopt_stages: Annotated[
        bool,
        typer.Option(
            "--adopt-stages",
            help="CRM exports: make the CRM's default pipeline (mappings/<crm>/stages.yaml) the workspace's deal "
            "stages first, so deals keep the CRM's stage names (admins; audited like `salesgraph stages set`). "
            "Without it, the CRM's stages are mapped onto the workspace's.",
        ),
    ] = False,
    as_: AsOption = None,
) -> None:
    """Import one CSV file as ENTITY rows, all or nothing.

    HubSpot (contacts, companies, deals), Salesforce (leads, accounts, contacts, opportunities) and Pipedrive
    (persons, organizations, deals, activities) exports need no options: the file's columns say which it is.
    Such imports upsert: a second import of an updated export updates the rows the first one made (matched on the
    CRM's record id) and reports created, updated, unchanged and refused rows.

    Examples:

        salesgraph import csv hubspot-deals.csv --dry-run

        salesgraph import csv salesforce-opportunities.csv --adopt-stages

        salesgraph import csv --entity leads leads.csv --map name=full_name --map email=mail --dry-run

        salesgraph import csv --entity deals pipeline.csv --mapping mappings/maven/deals.yaml
    """
    from bots.common import console, fail, friendly_errors, resolve_actor, services
    from sales.importing import (
        ENTITIES,
        ImportFailed,
        ImportMapping,
        MappingError,
        adopt_source_stages,
        import_csv,
        load_mapping,
        parse_map_options,
    )
    from store.db import session_scope

    out = console()
    if entity is not None and entity not in ENTITIES:
        fail(f"--entity {entity!r} is not importable; choose one of {', '.join(ENTITIES)}")
    with friendly_errors():
        try:
            if mapping_file:
                mapping = load_mapping(mapping_file)
            elif entity is None or adopt_stages:
                mapping = _detected(file, out) or ImportMapping()
            else:
                mapping = ImportMapping()
            entity = entity or mapping.entity
            if entity is None:
                fail(
                    f"{file.name} is not a HubSpot, Salesforce or Pipedrive export this version recognises; say what "
                    f"its rows are with --entity ({', '.join(ENTITIES)}), and map columns with --map or --mapping"
                )
            mapping = mapping.with_overrides(parse_map_options(map_options or []))
            svc = services()
            progress, update = _progress(out)
            with progress, session_scope(svc.engine, read_only=dry_run) as s:  # type: ignore[attr-defined]
                actor = resolve_actor(s, as_)
                machine = None
                adopted = None
                if adopt_stages:
                    mapping, machine, adopted = adopt_source_stages(s, actor, mapping, dry_run=dry_run)
                report = import_csv(
                    s,
                    actor,
                    entity,
                    file,
                    mapping,
                    dry_run=dry_run,
                    phone_region=svc.settings.default_phone_region,
                    on_progress=update,  # type: ignore[arg-type]
                    machine=machine,
                )
                report.stages_adopted = str(adopted) if adopted else None
        except ImportFailed as exc:
            render_problems(out, exc.report)
            raise typer.Exit(1) from None
        except MappingError as exc:
            fail(str(exc))
    render_report(out, report)


def _detected(file: Path, out: Console) -> ImportMapping | None:
    """The ready CRM mapping that fits the file's header, announced; None when none fits."""
    import csv

    from sales.importing import MAPPINGS_DIR, MappingError, detect_delimiter, detect_mapping

    try:
        with file.open(encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except FileNotFoundError:
        raise MappingError(f"{file} is not a file") from None
    header = next(csv.reader([first], delimiter=detect_delimiter(first)), [])
    mapping = detect_mapping(header, MAPPINGS_DIR)
    if mapping is not None:
        out.print(f"Recognised a {mapping.system} {mapping.object} export: reading it with {mapping.source}.")
    return mapping


@app.command("maven")
def maven_cmd(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder with the Maven CRM files (accounts.csv, sales_teams.csv, sales_pipeline.csv)."),
    ],
    mappings: Annotated[
        Path | None,
        typer.Option("--mappings", help="Folder with accounts.yaml, users.yaml, deals.yaml (default: mappings/maven)."),
    ] = None,
    stages: Annotated[
        Path | None,
        typer.Option(
            "--stages",
            help="The deal stages to apply first (a stage file, see `salesgraph stages --help`; default: "
            "stages.yaml in the mappings folder, Maven's Prospecting, Engaging, Won, Lost).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run all three imports, then roll back.")] = False,
    as_: AsOption = None,
) -> None:
    """Import the Maven Analytics CRM sample (85 accounts, 35 reps, 8,800 deals) in one transaction.

    The deals keep Maven's own stage names: the workspace's stages become those of mappings/maven/stages.yaml
    (or --stages) first, audited like `salesgraph stages set`, so "Engaging" stays Engaging. Admins only (it
    creates users and sets the stages).

    Example: salesgraph import maven ../shared/data/crm/maven
    """
    from bots.common import console, fail, friendly_errors, resolve_actor, services
    from sales.importing import MAPPINGS_DIR, STAGES_FILE, ImportFailed, MappingError, import_maven
    from sales.stages import load_stage_file, workspace_machine
    from store.db import session_scope

    out = console()
    with friendly_errors():
        try:
            progress, update = _progress(out)
            with progress, session_scope(services().engine) as s:  # type: ignore[attr-defined]
                actor = resolve_actor(s, as_)
                reports = import_maven(
                    s,
                    actor,
                    directory,
                    mappings or MAPPINGS_DIR / "maven",
                    dry_run=dry_run,
                    on_progress=update,  # type: ignore[arg-type]
                    stages_file=stages,
                )
                in_force = workspace_machine(s).stages
            if dry_run and (stages or (mappings or MAPPINGS_DIR / "maven") / STAGES_FILE).is_file():
                in_force = load_stage_file(stages or (mappings or MAPPINGS_DIR / "maven") / STAGES_FILE)[0].stages
        except ImportFailed as exc:
            render_problems(out, exc.report)
            raise typer.Exit(1) from None
        except MappingError as exc:
            fail(str(exc))
    for report in reports:
        render_report(out, report)
    verb = "would be" if dry_run else "are"
    out.print(f"Deal stages {verb}: {', '.join(in_force)} (`salesgraph stages show` has the details).", highlight=False)
