"""Deal stages as configuration: the stage file's checks, skipping forward, the shipped files, and the offline model
reading the workspace's own stage names (no database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.offline.context import ConversationContext
from agent.offline.planner import plan
from agent.offline.slots import canonical_stage, find_stages
from sales.errors import InvalidInput
from sales.importing import MAPPINGS_DIR
from sales.stages import (
    DEFAULT_MACHINE,
    StageMachine,
    load_stage_file,
    machine_from_config,
    machine_to_config,
)
from sales.vocabulary import Vocabulary

MAVEN = ("Prospecting", "Engaging", "Won", "Lost")


def _config(*stages: Any, **flags: Any) -> dict[str, Any]:
    return {"stages": list(stages), **flags}


def _problems(raw: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        machine_from_config(raw)
    return caught.value.problems


def test_the_default_stage_file_is_the_built_in_machine() -> None:
    machine, description = load_stage_file(MAPPINGS_DIR / "default" / "stages.yaml")
    assert machine == DEFAULT_MACHINE and description
    assert machine_from_config(machine_to_config(DEFAULT_MACHINE)) == DEFAULT_MACHINE


def test_the_maven_stage_file_keeps_mavens_names() -> None:
    machine, _ = load_stage_file(MAPPINGS_DIR / "maven" / "stages.yaml")
    assert machine.stages == MAVEN and machine.open_stages == ("Prospecting", "Engaging")
    assert machine.won_stage == "Won" and machine.lost_stage == "Lost"
    assert machine.probability("Engaging") == 0.5 and machine.stall_limit("Engaging") == 60
    assert machine.allowed_moves("Engaging") == ["Prospecting", "Won", "Lost"]


def test_the_built_in_moves_are_unchanged() -> None:
    m = DEFAULT_MACHINE
    assert m.allowed_moves("Prospecting") == ["Qualified", "Lost"]
    assert m.allowed_moves("Qualified") == ["Prospecting", "Discovery", "Lost"]
    assert m.allowed_moves("Negotiation") == ["Proposal", "Won", "Lost"]
    assert m.allowed_moves("Won") == [] and m.allowed_moves("Lost") == []
    assert m.probability("Proposal") == 0.55 and m.probability("Won") == 1.0 and m.probability("Lost") == 0.0


def test_a_short_file_names_stages_only() -> None:
    machine = machine_from_config(
        _config("New", "Working", {"name": "Closed Won", "kind": "won"}, {"name": "Closed Lost", "kind": "lost"})
    )
    assert machine.stages == ("New", "Working", "Closed Won", "Closed Lost")
    assert machine.stall_limit("New") is None and machine.probability("New") is None
    # "won" and "lost" name the won and lost stages whatever the workspace calls them
    assert machine.canonical("won") == "Closed Won" and machine.canonical("closed  lost") == "Closed Lost"


def test_every_problem_is_named_at_once() -> None:
    problems = _problems(
        {
            "stages": [
                {"name": "Prospecting", "probability": 1.5},
                {"name": "prospecting"},
                {"name": "Proposal", "stall_limit_days": 2.5, "colour": "red"},
                {"name": "Won", "kind": "won", "stall_limit_days": 3},
                {"name": "Closed", "kind": "shut"},
            ],
            "max_skip": 2,
            "allow_step_back": "yes",
            "owner": "me",
        }
    )
    assert "1.5 is not a probability between 0 and 1" in problems["stages[1] Prospecting.probability"]
    assert "listed twice" in problems["stages[2] prospecting.name"]
    assert "whole number of days" in problems["stages[3] Proposal.stall_limit_days"]
    assert "colour" in problems["stages[3] Proposal"]
    assert "cannot stall" in problems["stages[4] Won.stall_limit_days"]
    assert "'shut' is not a kind" in problems["stages[5] Closed.kind"]
    assert "exactly one stage must have kind: lost (found none)" in problems["stages (lost)"]
    assert problems["max_skip"] == "max_skip needs allow_skip: true"
    assert "'yes' is not true or false" in problems["allow_step_back"]
    assert "unknown key(s) owner" in problems["file"]


@pytest.mark.parametrize(
    ("raw", "where", "says"),
    [
        ([], "file", "a mapping with a `stages:` list"),
        ({"stages": []}, "stages", "list the stages in order"),
        (_config({"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}), "stages", "at least one open stage"),
        (_config("A", {"name": "W", "kind": "won"}, {"name": "V", "kind": "won"}, {"name": "L", "kind": "lost"}),
         "stages (won)", "found W, V"),
        (_config({"name": "A", "probability": -0.1}, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}),
         "stages[1] A.probability", "between 0 and 1"),
        (_config({"name": "A", "probability": True}, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}),
         "stages[1] A.probability", "between 0 and 1"),
        (_config("A", {"name": "W", "kind": "won", "probability": 0.5}, {"name": "L", "kind": "lost"}),
         "stages[2] W.probability", "a won stage's probability is 1"),
        (_config({"name": "A", "stall_limit_days": 0}, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}),
         "stages[1] A.stall_limit_days", "1 or more"),
        (_config("x" * 33, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}),
         f"stages[1] {'x' * 33}.name", "at most 32 characters"),
        (_config({"kind": "open"}, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}),
         "stages[1]", "needs a name"),
        (_config("A", {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}, allow_skip=True, max_skip=0),
         "max_skip", "1 or more"),
    ],
)  # fmt: skip
def test_a_wrong_file_says_where_and_what(raw: Any, where: str, says: str) -> None:
    assert says in _problems(raw)[where]


def test_a_file_that_is_not_yaml_or_not_there(tmp_path: Path) -> None:
    broken = tmp_path / "stages.yaml"
    broken.write_text("stages: [unclosed\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_stage_file(broken)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_stage_file(tmp_path / "missing.yaml")


SKIPPING = StageMachine(
    open_stages=("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation"), allow_skip=True, max_skip=1
)


def test_skipping_forward_as_far_as_the_configuration_allows() -> None:
    assert SKIPPING.allowed_moves("Qualified") == ["Prospecting", "Discovery", "Proposal", "Lost"]
    assert SKIPPING.allowed_moves("Proposal") == ["Discovery", "Negotiation", "Won", "Lost"]
    assert SKIPPING.refusal("Qualified", "Negotiation") == "a move may skip at most 1 stage"
    anywhere = StageMachine(open_stages=SKIPPING.open_stages, allow_skip=True)
    assert anywhere.allowed_moves("Prospecting") == [*SKIPPING.open_stages[1:], "Won", "Lost"]
    assert DEFAULT_MACHINE.refusal("Qualified", "Proposal") == "this pipeline moves forward one stage at a time"
    assert DEFAULT_MACHINE.refusal("Proposal", "Prospecting") == "a deal steps back one stage at a time"
    assert DEFAULT_MACHINE.refusal("Won", "Lost") == "Won is final"


_names = st.lists(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij ", min_size=1, max_size=12).map(str.strip).filter(bool),
    min_size=3,
    max_size=8,
    unique_by=lambda n: " ".join(n.lower().split()),
)


@given(
    names=_names,
    probability=st.floats(0, 1),
    limit=st.integers(1, 400),
    skip=st.booleans(),
    max_skip=st.none() | st.integers(1, 4),
)
def test_a_configuration_round_trips_through_its_file(
    names: list[str], probability: float, limit: int, skip: bool, max_skip: int | None
) -> None:
    names = [" ".join(n.split()) for n in names]
    *open_stages, won, lost = names
    machine = StageMachine(
        open_stages=tuple(open_stages),
        won_stage=won,
        lost_stage=lost,
        stall_limit_days=dict.fromkeys(open_stages, limit),
        probabilities=dict.fromkeys(open_stages, probability),
        allow_skip=skip,
        max_skip=max_skip if skip else None,
    )
    assert machine_from_config(machine_to_config(machine)) == machine
    for stage in open_stages:
        moves = machine.allowed_moves(stage)
        assert moves[-1] == lost and len(moves) == len(set(moves))
        forward = [m for m in moves if machine.order(m) > machine.order(stage) and m != lost]
        assert forward and forward[0] == machine.stages[machine.order(stage) + 1]
        if not skip:
            assert len(forward) == 1


# --- the offline model reads the workspace's stage names ------------------------------------------------------


def test_find_stages_knows_the_workspaces_own_names() -> None:
    assert [m.stage for m in find_stages("move acme to engaging", MAVEN)] == ["Engaging"]
    assert canonical_stage("the Engaging stage", MAVEN) == "Engaging"
    # our synonyms of stages the workspace does not have are not stages there; won and lost always are
    assert find_stages("the demo went well", MAVEN) == []
    assert canonical_stage("closed won", MAVEN) == "Won"
    # the demo's stages, as before, when the workspace's are not given
    assert [m.stage for m in find_stages("move it to the demo stage")] == ["Discovery"]
    assert canonical_stage("engaging") is None


def test_move_a_deal_to_a_workspace_stage() -> None:
    context = ConversationContext(vocabulary=Vocabulary(stages=MAVEN))
    decision = plan("move Acme to Engaging", context, date(2017, 12, 31))
    assert decision.kind == "tool" and decision.tool == "move_deal", decision.text
    assert decision.args["to_stage"] == "Engaging"
    unsure = plan("move the Acme deal", context, date(2017, 12, 31))
    assert unsure.kind != "tool" and "Prospecting, Engaging, Won, Lost" in (unsure.text or "")
    # a stage of the built-in pipeline this workspace does not have is named, not silently ignored
    elsewhere = plan("move the Acme deal to qualified", context, date(2017, 12, 31))
    assert elsewhere.kind != "tool" and "This workspace has no Qualified stage" in (elsewhere.text or "")


def test_a_pipeline_question_about_a_workspace_stage() -> None:
    context = ConversationContext(vocabulary=Vocabulary(stages=MAVEN))
    decision = plan("how many deals are in Engaging?", context, date(2017, 12, 31))
    assert decision.kind == "tool" and decision.tool == "pipeline_question", decision.text
    assert decision.args["stage"] == "Engaging" and decision.args["metric"] == "count"
