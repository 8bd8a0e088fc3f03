"""Build a fresh SQLite store holding the Maven CRM import plus one admin, for `salesgraph eval evals/maven`.

The Maven import creates the 35 sales agents as reps and no admin; eval cases speak as ``{{ store.admin }}`` (the
store's first active admin), so this script adds one first, with the project's own CLI, then imports as that admin:

    salesgraph db upgrade
    salesgraph users add --name "Maven Admin" --email admin@maven-crm.example --role admin
    salesgraph import maven DATA_DIR --as admin@maven-crm.example

Each step runs with SALESGRAPH_DATABASE_URL pointing at the new file and SALESGRAPH_HOME at a scratch folder, so
nothing touches ~/.salesgraph. Usage:

    .venv/bin/python evals/maven/build_store.py /tmp/maven-eval.db
    .venv/bin/salesgraph eval evals/maven --db sqlite:////tmp/maven-eval.db --today 2017-12-31 --no-index
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADMIN_NAME = "Maven Admin"
ADMIN_EMAIL = "admin@maven-crm.example"


def default_data_dir() -> Path:
    """$SALESGRAPH_SHARED_DATA/crm/maven, else ../shared/data/crm/maven relative to the repo root."""
    shared = os.environ.get("SALESGRAPH_SHARED_DATA")
    if shared:
        return Path(shared) / "crm" / "maven"
    return REPO.parent / "shared" / "data" / "crm" / "maven"


def salesgraph_cli() -> list[str]:
    """The salesgraph entry point next to this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "salesgraph"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("salesgraph")
    if found:
        return [found]
    raise SystemExit("salesgraph CLI not found: run with the project's venv (.venv/bin/python) or install it")


def build(output: Path, data_dir: Path, *, force: bool = False, quiet: bool = False) -> Path:
    missing = [n for n in ("accounts.csv", "sales_teams.csv", "sales_pipeline.csv") if not (data_dir / n).is_file()]
    if missing:
        raise SystemExit(
            f"{data_dir} does not hold the Maven CRM files (missing {', '.join(missing)}); "
            "pass --data or set SALESGRAPH_SHARED_DATA"
        )
    output = output.resolve()
    if output.exists():
        if not force:
            raise SystemExit(f"{output} exists; pass --force to replace it")
        output.unlink()
    output.parent.mkdir(parents=True, exist_ok=True)
    cli = salesgraph_cli()
    with tempfile.TemporaryDirectory(prefix="maven-store-home-") as home:
        env = {**os.environ, "SALESGRAPH_DATABASE_URL": f"sqlite:///{output}", "SALESGRAPH_HOME": home}
        env.pop("SALESGRAPH_USER", None)
        steps = [
            ["db", "upgrade"],
            ["users", "add", "--name", ADMIN_NAME, "--email", ADMIN_EMAIL, "--role", "admin"],
            ["import", "maven", str(data_dir), "--as", ADMIN_EMAIL],
        ]
        for step in steps:
            done = subprocess.run([*cli, *step], env=env, cwd=home, capture_output=True, text=True)  # noqa: S603
            if done.returncode != 0:
                sys.stderr.write(done.stdout + done.stderr)
                raise SystemExit(f"`salesgraph {' '.join(step)}` failed with exit code {done.returncode}")
            if not quiet:
                print(f"$ salesgraph {' '.join(step)}")
                print(done.stdout.rstrip())
    print(f"store ready: sqlite:///{output}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Create a fresh SQLite store with an admin user and the Maven CRM import (for evals/maven)."
    )
    parser.add_argument("output", type=Path, help="SQLite file to create, e.g. /tmp/maven-eval.db")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="Folder with the Maven CSV files (default: $SALESGRAPH_SHARED_DATA/crm/maven, "
        "else ../shared/data/crm/maven relative to the repo root)",
    )
    parser.add_argument("--force", action="store_true", help="Replace OUTPUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="Print only the final line")
    args = parser.parse_args(argv)
    build(args.output, args.data or default_data_dir(), force=args.force, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
