"""The eval case format and the public suite's shape: what the CI gate relies on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evals.cases import CASES_DIR, CaseFormatError, load_cases, load_file


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
    import re

    for case in load_cases([CASES_DIR], only=["pipeline-question"]):
        for turn in case.turns:
            assert turn.expect.answer_contains, case.id
            for needle in turn.expect.answer_contains:
                assert "{{ sql:" in needle, f"{case.id}: {needle!r} is hard-coded"
                assert not re.search(r"\$\d", needle), case.id
