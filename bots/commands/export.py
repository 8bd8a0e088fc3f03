"""``salesgraph export``: write any entity to CSV, limited to what the acting user may see."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bots.common import AsOption


def export_cmd(
    entity: Annotated[
        str,
        typer.Argument(
            help="users, accounts, contacts, leads, deals, stage_changes, interactions, tasks or audit_events."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: standard output).")
    ] = None,
    as_: AsOption = None,
) -> None:
    """Export ENTITY as CSV. Reps get their own records, managers their team's, admins everything.

    The columns use the importer's field names (owner as email, account as name), so the file imports again:

        salesgraph export deals --out deals.csv

        salesgraph import csv --entity deals deals.csv --dry-run
    """
    import sys

    from bots.common import console, err_console, fail, resolve_actor, session
    from sales.exporters import EXPORT_ENTITIES, export_csv

    if entity not in EXPORT_ENTITIES:
        fail(f"{entity!r} is not exportable; choose one of {', '.join(EXPORT_ENTITIES)}")
    if out is not None and out.is_dir():
        fail(f"--out {out} is a folder; give a file name such as {out / (entity + '.csv')}")
    with session(read_only=True) as s:  # an export only reads: it never waits for a writer
        actor = resolve_actor(s, as_)
        if out is None:
            count = export_csv(s, actor, entity, sys.stdout)
            err_console().print(f"{count:,} {entity} exported.", highlight=False)
            return
        tmp = out.with_name(out.name + ".part")
        try:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                count = export_csv(s, actor, entity, fh)
            tmp.replace(out)  # a failed export never leaves a half-written file under the real name
        finally:
            tmp.unlink(missing_ok=True)
    console().print(f"Wrote {count:,} {entity} to {out}.", highlight=False)
