"""Property tests for the importer: valid files round-trip through import and export; one bad cell stops everything."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from sales.exporters import export_csv
from sales.importing import ImportFailed, import_csv
from sales.importing.core import FORMULA_STARTS
from sales.permissions import SYSTEM
from sales.stages import DEFAULT_MACHINE
from store.db import make_engine, session_scope
from store.models import Account, AuditEvent, Deal, StageChange
from tests.factories import small_org

OWNERS = ["Eli One", "eva.two@test.example", "Will One", "wendy.two@test.example"]
OWNER_EMAILS = {
    "Eli One": "eli.one@test.example",
    "eva.two@test.example": "eva.two@test.example",
    "Will One": "will.one@test.example",
    "wendy.two@test.example": "wendy.two@test.example",
}
ACCOUNTS = ["", "Acme", "Globex", "Initech", "Umbrella", "Société Générale", 'Quote "Q" Ltd']
HEADER = ["external_id", "name", "account", "owner", "product", "amount", "currency", "stage", "expected_close_date"]

# Text a person might type in a CSV cell: letters in several scripts, digits, punctuation that needs quoting
# (commas, quotes, semicolons), formula starts (= + - @) and inner spaces; no leading/trailing space (the importer strips cells).
cell_text = (
    st.text(
        alphabet=st.characters(
            whitelist_categories=("L", "N", "P", "Sm", "Zs"), blacklist_characters="\x00\r\n\u2028\u2029\x85"
        ),
        min_size=1,
        max_size=30,
    )
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
)


@st.composite
def deal_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    count = draw(st.integers(min_value=1, max_value=12))
    ids = draw(st.lists(st.from_regex(r"[A-Z0-9]{4,10}", fullmatch=True), min_size=count, max_size=count, unique=True))
    rows = []
    for ext in ids:
        stage = draw(st.sampled_from(DEFAULT_MACHINE.stages))
        amount = draw(st.none() | st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
        if stage == DEFAULT_MACHINE.won_stage and amount is None:
            amount = Decimal("1.00")
        close = draw(st.none() | st.dates(min_value=date(2000, 1, 1)))
        rows.append(
            {
                "external_id": ext,
                "name": draw(cell_text),
                "account": draw(st.sampled_from(ACCOUNTS)),
                "owner": draw(st.sampled_from(OWNERS)),
                "product": draw(st.none() | cell_text) or "",
                "amount": "" if amount is None else str(amount),
                "currency": draw(st.sampled_from(["USD", "EUR", "gbp"])),
                "stage": draw(st.sampled_from([stage, stage.upper(), stage.lower()])),
                "expected_close_date": "" if close is None else close.isoformat(),
            }
        )
    return rows


def _csv(rows: list[dict[str, str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def unguard(text: str) -> str:
    """An exported cell as a spreadsheet shows it: the formula guard (a leading quote) is not part of the value."""
    if text[:1] == "'" and text[1:2] and text[1:2] in FORMULA_STARTS:
        return text[1:]
    assert text[:1] not in FORMULA_STARTS or not text, f"formula-like text exported unguarded: {text!r}"
    return text


@pytest.fixture(scope="session")
def store_template(request: pytest.FixtureRequest) -> Path:
    """The migrated empty SQLite file from conftest; each example copies it (hypothesis runs many per test)."""
    template: Path = request.getfixturevalue("_sqlite_template")
    return template


@contextmanager
def fresh_store(template: Path) -> Iterator[tuple[Engine, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="sg-prop-"))
    shutil.copy(template, folder / "salesgraph.db")
    engine = make_engine(f"sqlite:///{folder / 'salesgraph.db'}")
    try:
        with Session(engine) as s:
            small_org(s)
        yield engine, folder
    finally:
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _counts(engine: Engine) -> tuple[int, ...]:
    with Session(engine) as s:
        return tuple(
            int(s.exec(select(func.count()).select_from(m)).one()) for m in (Deal, Account, StageChange, AuditEvent)
        )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=deal_rows(), delimiter=st.sampled_from([",", ";", "\t"]))
def test_any_valid_deals_file_round_trips_through_import_and_export(
    store_template: Path, rows: list[dict[str, str]], delimiter: str
) -> None:
    with fresh_store(store_template) as (engine, folder):
        path = folder / "deals.csv"
        path.write_text(_csv(rows, delimiter), encoding="utf-8", newline="")
        with session_scope(engine) as s:
            report = import_csv(s, SYSTEM, "deals", path)
        assert report.created["deals"] == len(rows)
        out = io.StringIO()
        with Session(engine) as s:
            assert export_csv(s, SYSTEM, "deals", out) == len(rows)
        exported = {r["external_id"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
        assert set(exported) == {r["external_id"] for r in rows}
        for row in rows:
            got = exported[row["external_id"]]
            assert unguard(got["name"]) == row["name"]
            assert unguard(got["account"]) == row["account"]
            assert got["owner"] == OWNER_EMAILS[row["owner"]]
            assert unguard(got["product"]) == row["product"]
            assert got["stage"] == DEFAULT_MACHINE.canonical(row["stage"])
            assert got["currency"] == row["currency"].upper()
            assert got["expected_close_date"] == row["expected_close_date"]
            if row["amount"]:
                assert Decimal(got["amount"]) == Decimal(row["amount"])
            else:
                assert got["amount"] == ""
        # and the exported file imports again, unchanged, into an empty store
        with fresh_store(store_template) as (again, folder2):
            path2 = folder2 / "export.csv"
            path2.write_text(out.getvalue(), encoding="utf-8")
            with session_scope(again) as s:
                import_csv(s, SYSTEM, "deals", path2)
            out2 = io.StringIO()
            with Session(again) as s:
                export_csv(s, SYSTEM, "deals", out2)
        keep = ("external_id", "name", "account", "owner", "product", "amount", "currency", "stage")
        second = {r["external_id"]: r for r in csv.DictReader(io.StringIO(out2.getvalue()))}
        assert {k: [v[c] for c in keep] for k, v in second.items()} == {
            k: [v[c] for c in keep] for k, v in exported.items()
        }


CORRUPTIONS: dict[str, list[str]] = {
    "amount": ["12x", "-5", "1.234", "NaN"],
    "stage": ["Engaged", "Closed", "?"],
    "owner": ["Nobody Known", "ghost@test.example"],
    "currency": ["US", "dollars", "12$"],
    "expected_close_date": ["31/12/2024", "2024-13-01", "soon"],
    "name": [""],
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=deal_rows(), data=st.data())
def test_any_single_corrupted_cell_fails_the_whole_import_naming_that_row(
    store_template: Path, rows: list[dict[str, str]], data: Any
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(rows) - 1), label="row")
    column = data.draw(st.sampled_from(sorted(CORRUPTIONS)), label="column")
    rows[index][column] = data.draw(st.sampled_from(CORRUPTIONS[column]), label="bad value")
    with fresh_store(store_template) as (engine, folder):
        path = folder / "deals.csv"
        path.write_text(_csv(rows), encoding="utf-8", newline="")
        with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
            import_csv(s, SYSTEM, "deals", path)
        problems = failed.value.report.problems
        assert {(p.row, p.column) for p in problems} == {(index + 2, column)}
        assert _counts(engine) == (0, 0, 0, 0)
