"""The eval case format and the public suite's shape: what the CI gate relies on."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.cases import CASES_DIR, Case, CaseFormatError, load_cases, load_file
from evals.expectations import portability_problems


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_case_in_the_issue_format_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
- id: mgr-won-by-rep-q3
  category: pipeline-question
  as: manager@demo.example
  turns:
    - say: "How much did each of my reps win last quarter?"
      expect:
        tools: [pipeline_question]
        args: {pipeline_question: {metric: total_amount, group_by: [owner]}}
        answer_contains: ["{{ sql: SELECT 1 }}"]
        interrupt: none
    - decide: approve
      expect: {sent: 1}
  must: false
""",
    )
    (case,) = load_file(path)
    assert case.as_ == "manager@demo.example"
    assert case.turns[0].expect.args == {"pipeline_question": {"metric": "total_amount", "group_by": ["owner"]}}
    assert case.turns[1].decision_kind == "approve"
    assert case.turns[1].expect.sent == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("  turns: [{say: hi, expect: {tool: [x]}}]", "tool"),  # a typo must not silently switch a check off
        ("  turns: [{say: hi, decide: approve}]", "either says"),
        ("  turns: [{decide: approve}]", "first turn must say"),
        ("  turns: [{say: hi, expect: {interrupt: maybe}}]", "interrupt"),
        ("  turns: [{say: hi}, {decide: {maybe: 1}}]", "decide"),
    ],
)
def test_a_malformed_case_is_refused_naming_file_and_case(tmp_path: Path, body: str, problem: str) -> None:
    path = _write(tmp_path, f"- id: broken-one\n  category: x\n  as: a@b.example\n{body}\n")
    with pytest.raises(CaseFormatError) as info:
        load_file(path)
    assert str(path) in str(info.value)
    assert "broken-one" in str(info.value)
    assert problem in str(info.value)


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("- {id: same, category: x, as: a@b.example, turns: [{say: hi}]}\n")
    with pytest.raises(CaseFormatError, match="duplicate case id 'same'"):
        load_cases([tmp_path])


def test_the_public_suite_covers_what_the_issue_asks() -> None:
    cases = load_cases([CASES_DIR])
    by_category = Counter(case.category for case in cases)
    assert len(cases) >= 150
    assert by_category["pipeline-question"] >= 50
    for category in ("lead-capture", "scoring", "qualification", "follow-up", "deal-move", "tasks",
                     "bottleneck-forecast", "semantic-search", "clarifying", "adversarial"):  # fmt: skip
        assert by_category[category] >= 5, category
    managers = [c for c in cases if c.category == "pipeline-question" and "manager" in c.as_]
    assert len(managers) >= 45
    assert len({c.turns[0].say for c in cases if c.category == "pipeline-question"}) == by_category["pipeline-question"]


def test_every_adversarial_case_is_a_must_and_checks_the_store() -> None:
    adversarial = [c for c in load_cases([CASES_DIR]) if c.category == "adversarial"]
    assert len(adversarial) >= 20
    for case in adversarial:
        assert case.must, case.id
        for turn in case.turns:
            checks_store = turn.expect.sent is not None or turn.expect.executed is not None or turn.expect.unchanged
            assert checks_store, f"{case.id}: every adversarial turn checks the store (sent/executed/unchanged)"


def test_pipeline_numbers_come_from_the_store_not_the_file() -> None:
    """No pipeline case hard-codes an amount: every expected number is a {{ sql: }} placeholder."""
    for case in load_cases([CASES_DIR], only=["pipeline-question"]):
        for turn in case.turns:
            assert turn.expect.answer_contains, case.id
            for needle in turn.expect.answer_contains:
                assert "{{ sql:" in needle, f"{case.id}: {needle!r} is hard-coded"
                assert not re.search(r"\$\d", needle), case.id


REAL_DIR = CASES_DIR.parent / "real"
# SQLite's date and string functions: none exists on PostgreSQL, where `salesgraph eval --db` also runs the cases.
SQLITE_ONLY = re.compile(
    r"\b(?:strftime|julianday|date|datetime|time|unixepoch|timediff|ifnull|iif|instr|group_concat|printf|total)\(",
    re.I,
)


def _case_queries(case: Case) -> list[str]:
    """Every SQL query a case runs: {{ sql: }} placeholders anywhere in it, ``unchanged`` and ``store`` checks."""
    placeholder = re.compile(r"\{\{\s*sql:(.*?)\}\}", re.DOTALL)
    fmt = re.compile(r"\|\s*(?:money|percent|days|number1|number|text|raw)\s*$")
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.extend(fmt.sub("", m.group(1)).strip() for m in placeholder.finditer(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(case.model_dump(by_alias=True))
    for turn in case.turns:
        found.extend(turn.expect.unchanged)
        found.extend(check.sql for check in turn.expect.store)
    return found


def test_every_case_query_means_the_same_on_sqlite_and_postgresql() -> None:
    """A case written against the SQLite demo must not fail (or pass by luck) on a PostgreSQL store."""
    queries = {case.id: _case_queries(case) for case in load_cases([CASES_DIR, REAL_DIR])}
    assert sum(map(len, queries.values())) > 200  # the scan sees the suite's SQL, not nothing
    problems = {cid: [p for q in qs for p in portability_problems(q)] for cid, qs in queries.items()}
    assert {cid: found for cid, found in problems.items() if found} == {}
    months = [q for q in queries["pq-won-by-month-this-year"] if "[[month:" in q]
    durations = [q for q in queries["pq-cycle-by-rep"] if "[[days_between:" in q]
    assert months and durations


@pytest.mark.parametrize("path", sorted([*CASES_DIR.glob("*.yaml"), *REAL_DIR.glob("*.yaml")]), ids=lambda p: p.name)
def test_no_case_file_uses_a_sqlite_only_function(path: Path) -> None:
    """Belt and braces over the whole file text, wherever a future key might carry SQL."""
    hits = [m.group(0) for m in SQLITE_ONLY.finditer(path.read_text(encoding="utf-8"))]
    assert not hits, f"{path.name}: {hits} (use [[month:...]], [[days_between:...]], [[today]], [[start:...]])"


def test_no_case_writes_a_date_of_one_anchor_as_a_literal() -> None:
    """A date near the anchor (2026-08-18 for "the past 90 days") is right on one anchor only: cases compute it
    ([[date:today - 90 days]], {{ date: tomorrow }}, [[start:July]]), unless the user names it (``fixed_dates``)."""
    from evals.expectations import date_literal_problems
    from evals.workspace import EVAL_ANCHOR

    problems: dict[str, list[str]] = {}
    for case in load_cases([CASES_DIR]):
        text = yaml.safe_dump(case.model_dump(by_alias=True, exclude={"fixed_dates", "source", "description"}))
        found = date_literal_problems(text, EVAL_ANCHOR, case.fixed_dates)
        if found:
            problems[case.id] = found
    assert problems == {}


def test_the_literal_date_check_sees_say_args_and_sql(tmp_path: Path) -> None:
    """The scan above would catch each place a date hides, and fixed_dates (quoted or not) exempts one."""
    from evals.expectations import date_literal_problems
    from evals.workspace import EVAL_ANCHOR

    path = _write(
        tmp_path,
        """
- id: dated
  category: x
  as: a@b.example
  fixed_dates: [2026-04-01, '2026-Q2']
  turns:
    - say: "Remind me on 2026-11-20, since 2026-04-01 and in 2026-Q2"
      expect:
        args: {pipeline_question: {date_from: '2026-08-18'}}
        store: [{sql: "SELECT count(*) FROM tasks WHERE due_date = '2026-11-17' AND x >= [[start:2026-09]]", equals: 1}]
""",
    )
    (case,) = load_file(path)
    assert case.fixed_dates == ["2026-04-01", "2026-Q2"]
    text = yaml.safe_dump(case.model_dump(by_alias=True, exclude={"fixed_dates", "source", "description"}))
    found = [p.split("'")[1] for p in date_literal_problems(text, EVAL_ANCHOR, case.fixed_dates)]
    assert sorted(found) == ["2026-08-18", "2026-09", "2026-11-17", "2026-11-20"]


# --- The generalisation suites: the Maven CRM import (evals/maven, --db ... --today 2017-12-31) and the held-out
# paraphrases of the demo company (evals/heldout). Same format, same portability and date rules as the public suite.
MAVEN_DIR = CASES_DIR.parent / "maven"
HELDOUT_DIR = CASES_DIR.parent / "heldout"
MAVEN_TODAY = "2017-12-31"


def test_the_generalisation_suites_load_and_have_their_shape() -> None:
    maven = load_cases([MAVEN_DIR])
    heldout = load_cases([HELDOUT_DIR])
    assert len(maven) >= 64
    assert len(heldout) >= 50
    assert Counter(c.category for c in maven)["refuses-to-guess"] >= 10
    assert Counter(c.category for c in heldout)["refuses-to-guess"] >= 8
    assert not {c.id for c in maven} & {c.id for c in heldout}
    assert not {c.id for c in maven + heldout} & {c.id for c in load_cases([CASES_DIR, REAL_DIR])}
    assert len({c.turns[0].say for c in maven}) == len(maven)
    assert len({c.turns[0].say for c in heldout}) >= len(heldout) - 5  # follow-up cases share their first turn


def test_maven_expectations_come_from_the_store_not_the_file() -> None:
    """Every figure or name a Maven case expects (or forbids) in an answer is a {{ sql: }} over the store."""
    for case in load_cases([MAVEN_DIR]):
        for turn in case.turns:
            needles = [*turn.expect.answer_contains, *turn.expect.answer_not_contains, *turn.expect.answer_matches]
            for needle in needles:
                assert "{{ sql:" in needle, f"{case.id}: {needle!r} is hard-coded"
            if case.category not in ("refuses-to-guess", "reps-view"):
                assert turn.expect.answer_contains or turn.expect.answer_matches, case.id


def test_generalisation_suite_queries_mean_the_same_on_sqlite_and_postgresql() -> None:
    queries = {case.id: _case_queries(case) for case in load_cases([MAVEN_DIR, HELDOUT_DIR])}
    assert sum(map(len, queries.values())) > 150
    problems = {cid: [p for q in qs for p in portability_problems(q)] for cid, qs in queries.items()}
    assert {cid: found for cid, found in problems.items() if found} == {}


@pytest.mark.parametrize(
    "path", sorted([*MAVEN_DIR.glob("*.yaml"), *HELDOUT_DIR.glob("*.yaml")]), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_no_generalisation_case_file_uses_a_sqlite_only_function(path: Path) -> None:
    hits = [m.group(0) for m in SQLITE_ONLY.finditer(path.read_text(encoding="utf-8"))]
    assert not hits, f"{path.name}: {hits} (use [[month:...]], [[days_between:...]], [[today]], [[start:...]])"


@pytest.mark.parametrize(
    ("folder", "anchor"), [(HELDOUT_DIR, None), (MAVEN_DIR, MAVEN_TODAY)], ids=["heldout", "maven"]
)
def test_no_generalisation_case_writes_a_date_of_its_anchor_as_a_literal(folder: Path, anchor: str | None) -> None:
    from datetime import date

    from evals.expectations import date_literal_problems
    from evals.workspace import EVAL_ANCHOR

    day = date.fromisoformat(anchor) if anchor else EVAL_ANCHOR
    problems: dict[str, list[str]] = {}
    for case in load_cases([folder]):
        text = yaml.safe_dump(case.model_dump(by_alias=True, exclude={"fixed_dates", "source", "description"}))
        found = date_literal_problems(text, day, case.fixed_dates)
        if found:
            problems[case.id] = found
    assert problems == {}
