"""`salesgraph import csv` end to end in a temporary workspace: reports, refusals, dry runs, --map, --as."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from store.models import AuditEvent, Deal, Lead
from tests.factories import small_org


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite workspace for CLI commands run in-process."""
    import bots.common
    from app.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SALESGRAPH_HOME", str(home))
    monkeypatch.delenv("SALESGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SALESGRAPH_USER", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that Rich does not wrap the report table
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    yield home
    if bots.common._services is not None:
        bots.common._services.engine.dispose()
    get_settings.cache_clear()


def _engine():  # type: ignore[no-untyped-def]
    import bots.common

    return bots.common.services().engine


def _count(model: type) -> int:
    with Session(_engine()) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _run(*args: str):  # type: ignore[no-untyped-def]
    from bots.cli import app

    return CliRunner().invoke(app, list(args))


def test_broken_row_prints_a_table_and_imports_nothing(cli_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,email\nAnn,ann@example.com\nBob,not-an-email\nCy,cy@example.com\n", encoding="utf-8")
    result = _run("import", "csv", "--entity", "leads", str(path))
    assert result.exit_code == 1
    assert "1 problem(s) in 1 of 3 rows" in result.output
    assert "│   3 │ email" in result.output
    assert "'not-an-email' is not a valid email address" in result.output
    assert "Nothing was imported" in result.output
    assert "Traceback" not in result.output
    assert _count(Lead) == 0


def test_many_bad_rows_are_capped_with_and_n_more(cli_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,email\n" + "".join(f"P{i},bad{i}\n" for i in range(40)), encoding="utf-8")
    result = _run("import", "csv", "--entity", "leads", str(path))
    assert result.exit_code == 1
    assert "… and 15 more problem(s) in 15 more row(s)." in result.output


def test_dry_run_then_import_with_map_options(cli_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("Full Name;Mail;Firm\nAnn Lee;ann@example.com;Acme\n", encoding="utf-8")
    args = ["import", "csv", "-e", "leads", str(path), "--map", "name=Full Name", "--map", "email=Mail"]
    args += ["--map", "company=Firm"]
    dry = _run(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would create 1 leads" in dry.output and "nothing was written" in dry.output
    assert _count(Lead) == 0
    done = _run(*args)
    assert done.exit_code == 0, done.output
    assert "Created 1 leads" in done.output and "Receipt: audit event #1" in done.output
    with Session(_engine()) as s:
        lead = s.exec(select(Lead)).one()
        assert (lead.name, lead.email, lead.company, lead.company_key) == ("Ann Lee", "ann@example.com", "Acme", "acme")
        assert s.exec(select(AuditEvent)).one().action == "import"


def test_mapping_and_entity_mistakes_are_one_red_line(cli_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    wrong_entity = _run("import", "csv", "--entity", "widgets", str(path))
    assert wrong_entity.exit_code == 1 and "not importable" in wrong_entity.output
    wrong_map = _run("import", "csv", "--entity", "leads", str(path), "--map", "name=c")
    assert wrong_map.exit_code == 1
    assert "column 'c' (for field name) is not in the file" in wrong_map.output
    missing = _run("import", "csv", "--entity", "leads", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "is not a file" in missing.output
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entity: deals\n", encoding="utf-8")
    other = _run("import", "csv", "--entity", "leads", str(path), "--mapping", str(mapping))
    assert other.exit_code == 1 and "is for deals, not leads" in other.output
    for result in (wrong_entity, wrong_map, missing, other):
        assert "Traceback" not in result.output


def test_as_a_rep_imports_deals_they_own(cli_home: Path, tmp_path: Path) -> None:
    with Session(_engine()) as s:
        org = small_org(s)
        eli = org["east_rep1"].id
    path = tmp_path / "deals.csv"
    path.write_text("name,stage\nMy deal,Prospecting\n", encoding="utf-8")
    result = _run("import", "csv", "--entity", "deals", str(path), "--as", "eli.one@test.example")
    assert result.exit_code == 0, result.output
    with Session(_engine()) as s:
        assert s.exec(select(Deal.owner_id)).one() == eli
    users = tmp_path / "users.csv"
    users.write_text("name,email\nX Y,x@y.example\n", encoding="utf-8")
    refused = _run("import", "csv", "--entity", "users", str(users), "--as", "eli.one@test.example")
    assert refused.exit_code == 1 and "only admins import users" in refused.output


@pytest.mark.slow
def test_cli_import_maven_then_pipeline_total_matches_pandas(cli_home: Path, shared_data: Path) -> None:
    import pandas as pd

    maven = shared_data / "crm" / "maven"
    result = _run("import", "maven", str(maven))
    assert result.exit_code == 0, result.output
    assert "Created 85 accounts" in result.output
    assert "Created 35 users" in result.output
    assert "Created 8,800 deals" in result.output
    pipeline = _run("pipeline")
    assert pipeline.exit_code == 0, pipeline.output
    frame = pd.read_csv(maven / "sales_pipeline.csv")
    total = int(frame["close_value"].sum())
    assert total == 10_005_534
    all_stages = next(line for line in pipeline.output.splitlines() if "All stages" in line)
    assert "8,800" in all_stages and f"{total:,}" in all_stages
    # per stage, in Maven's own stages (mappings/maven/stages.yaml)
    assert "Deal stages are: Prospecting, Engaging, Won, Lost" in result.output
    counts = frame["deal_stage"].value_counts()
    for stage, count in counts.items():
        line = next(line for line in pipeline.output.splitlines() if f"{stage} total" in line)
        assert f"{count:,}" in line


CRM_DATA = Path(__file__).resolve().parents[1] / "data" / "crm"


def test_crm_exports_import_with_no_options_and_a_reimport_reports_updates(cli_home: Path, tmp_path: Path) -> None:
    with Session(_engine()) as s:
        small_org(s)
    for name in ("hubspot-deals.csv", "salesforce-opportunities.csv"):
        result = _run("import", "csv", str(CRM_DATA / name))
        assert result.exit_code == 0, result.output
        assert "Recognised a" in result.output and "export" in result.output
        assert "0 updated, 0 unchanged, 0 refused" in result.output
    assert _count(Deal) == 11
    changed = tmp_path / "hubspot-deals.csv"
    changed.write_text(
        (CRM_DATA / "hubspot-deals.csv").read_text(encoding="utf-8").replace(",8500.50,", ",9100,"), encoding="utf-8"
    )
    result = _run("import", "csv", str(changed))
    assert result.exit_code == 0, result.output
    assert "0 created, 1 updated, 5 unchanged, 0 refused" in result.output
    assert _count(Deal) == 11


def test_a_file_no_mapping_recognises_asks_for_the_entity(cli_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = _run("import", "csv", str(path))
    assert result.exit_code != 0
    assert "--entity" in result.output
