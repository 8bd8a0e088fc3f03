"""Lifecycle events (queue vs working time), resources and handovers, conformance of completed cases with
precision, and case nouns: on small hand-made XES/CSV logs whose numbers are computed by hand, and on BPI 2012."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analytics import process
from analytics.bottlenecks import analyse_event_log
from analytics.eventlog import (
    ACTIVITY,
    CASE,
    EventLog,
    EventLogError,
    event_log_from_frame,
    infer_case_noun,
    load_saved_event_log,
    read_event_log_file,
    save_event_log,
    singular_noun,
)
from analytics.process_report import render_markdown

# Two loan applications, times in hours after 2026-01-05 09:00 UTC.
#   L1: Submit done (u1) at 0; Review starts at 2 (no schedule: queue from Submit's completion = 2 h), done at 2.5
#       (0.5 h work, u2); Approve starts at 3 (queue 0.5 h), done at 4 (1 h, u3).
#   L2: Submit done at 0 (u1); Review scheduled at 0.5, started at 4.5 (queue from the schedule = 4 h), done at 5,
#       started again at 6 and done at 6.5 (one work item, two sessions: 1 h work, 1 h paused, u2); Approve starts
#       at 7 (queue from Review's last completion = 0.5 h), done at 7.25 (0.25 h, u3).
ROWS = [
    ("L1", "Submit", "complete", 0.0, "u1"),
    ("L1", "Review", "start", 2.0, "u2"),
    ("L1", "Review", "complete", 2.5, "u2"),
    ("L1", "Approve", "start", 3.0, "u3"),
    ("L1", "Approve", "complete", 4.0, "u3"),
    ("L2", "Submit", "complete", 0.0, "u1"),
    ("L2", "Review", "schedule", 0.5, "u2"),
    ("L2", "Review", "start", 4.5, "u2"),
    ("L2", "Review", "complete", 5.0, "u2"),
    ("L2", "Review", "start", 6.0, "u2"),
    ("L2", "Review", "complete", 6.5, "u2"),
    ("L2", "Approve", "start", 7.0, "u3"),
    ("L2", "Approve", "complete", 7.25, "u3"),
]
T0 = pd.Timestamp("2026-01-05T09:00:00Z")


def _when(hours: float) -> str:
    return (T0 + pd.Timedelta(hours=hours)).isoformat()


def _xes(path: Path, description: str | None = None) -> Path:
    traces: dict[str, list[str]] = {}
    for case, activity, transition, hours, who in ROWS:
        traces.setdefault(case, []).append(
            f'<event><string key="concept:name" value="{activity}"/>'
            f'<string key="lifecycle:transition" value="{transition}"/>'
            f'<string key="org:resource" value="{who}"/><date key="time:timestamp" value="{_when(hours)}"/></event>'
        )
    meta = f'<string key="meta_3TU:description" value="{description}"/>' if description else ""
    body = "".join(
        f'<trace><string key="concept:name" value="{case}"/>{"".join(events)}</trace>'
        for case, events in traces.items()
    )
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><log xmlns="http://www.xes-standard.org/">{meta}{body}</log>'
    )
    return path


def _csv(path: Path) -> Path:
    frame = pd.DataFrame(
        [(c, a, t, _when(h), w) for c, a, t, h, w in ROWS],
        columns=["case_id", "activity", "lifecycle", "timestamp", "resource"],
    )
    frame.to_csv(path, index=False)
    return path


def _by_activity(log: EventLog) -> dict[str, process.ActivityTiming]:
    summary = process.lifecycle_times(log)
    assert summary is not None
    return {a.activity: a for a in summary.activities}


@pytest.mark.parametrize("kind", ["xes", "csv"])
def test_queue_and_working_time_equal_the_hand_computation(tmp_path: Path, kind: str) -> None:
    path = _xes(tmp_path / "loans.xes") if kind == "xes" else _csv(tmp_path / "loans.csv")
    log = read_event_log_file(path)
    # the process map still counts each activity instance once: its completion
    assert log.n_events == 7
    assert log.lifecycle is not None and len(log.lifecycle) == len(ROWS)
    assert any("kept for queue and working time" in n for n in log.notes)

    timing = _by_activity(log)
    review, approve = timing["Review"], timing["Approve"]
    assert (review.work_items, review.sessions) == (2, 3)
    assert review.median_queue_hours == pytest.approx(3.0)  # queues 2 h and 4 h
    assert review.total_queue_hours == pytest.approx(6.0)
    assert review.median_working_hours == pytest.approx(0.75)  # 0.5 h and 0.5 + 0.5 h
    assert review.total_working_hours == pytest.approx(1.5)
    assert review.total_paused_hours == pytest.approx(1.0)
    assert review.queue_share == pytest.approx(6.0 / 7.5)
    assert review.dominant == "queue"
    assert review.ready_from == "schedule or previous"
    assert approve.total_queue_hours == pytest.approx(1.0)  # 0.5 h each
    assert approve.total_working_hours == pytest.approx(1.25)
    assert approve.dominant == "working"
    summary = process.lifecycle_times(log)
    assert summary is not None
    assert summary.bottleneck == "Review"
    assert summary.atomic_activities == ["Submit"]
    assert "before Review" in summary.statement


def test_complete_only_logs_have_no_lifecycle_split() -> None:
    frame = pd.DataFrame(
        {CASE: ["a", "a"], ACTIVITY: ["x", "y"], "timestamp": ["2026-01-01T00:00Z", "2026-01-01T05:00Z"]}
    )
    log = event_log_from_frame(frame)
    assert log.lifecycle is None
    assert process.lifecycle_times(log) is None


def test_resource_workload_and_handovers_are_counted(tmp_path: Path) -> None:
    log = read_event_log_file(_csv(tmp_path / "loans.csv"))
    summary = process.resource_workload(log)
    assert summary is not None
    load = {w.resource: w for w in summary.workload}
    assert (load["u2"].events, load["u2"].cases) == (3, 2)  # completions: L1 Review, L2 Review twice
    assert load["u1"].busiest_period == "2026-01"
    handovers = {(h.source, h.target): (h.count, h.cases) for h in summary.handovers}
    assert handovers == {("u1", "u2"): (2, 2), ("u2", "u3"): (2, 2)}
    # five consecutive pairs of completions, four of them change hands (Review → Review in L2 does not)
    assert summary.handover_share == pytest.approx(4 / 5)


def test_lifecycle_events_survive_saving_by_name(tmp_path: Path) -> None:
    log = read_event_log_file(_xes(tmp_path / "loans.xes"), case_noun="loan files", end_activities=["Approve"])
    save_event_log(log, "loans", tmp_path)
    loaded = load_saved_event_log("loans", tmp_path)
    assert loaded.lifecycle is not None and len(loaded.lifecycle) == len(ROWS)
    assert loaded.case_noun == "loan files"
    assert loaded.end_activities == ("Approve",)
    assert _by_activity(loaded)["Review"].total_queue_hours == pytest.approx(6.0)


# ---------------------------------------------------------------------------------------------------------------
# Case nouns


def test_case_noun_comes_from_the_log_an_option_or_the_source(tmp_path: Path) -> None:
    assert infer_case_noun({"meta_3TU:description": "Event log of a loan application process"}) == "loan applications"
    assert infer_case_noun({"concept:name": "Log of the ticket handling process"}) == "ticket handlings"
    assert infer_case_noun({"case_noun": "claims"}) == "claims"
    assert infer_case_noun({"origin": "csv"}) is None
    assert singular_noun("loan applications") == "loan application"
    assert singular_noun("cases") == "case"
    assert singular_noun("inquiries") == "inquiry"

    described = read_event_log_file(_xes(tmp_path / "a.xes", "Event log of a loan application process"))
    assert described.case_noun == "loan applications"
    assert read_event_log_file(_xes(tmp_path / "b.xes")).case_noun == "cases"
    assert read_event_log_file(_csv(tmp_path / "c.csv")).case_noun == "cases"
    assert read_event_log_file(_csv(tmp_path / "c.csv"), case_noun="tickets").case_noun == "tickets"
    with pytest.raises(EventLogError, match="case_noun"):
        read_event_log_file(_csv(tmp_path / "c.csv"), case_noun="<b>deals</b>")
    with pytest.raises(EventLogError, match="not activities of"):
        read_event_log_file(_csv(tmp_path / "c.csv"), end_activities=["Paid"])


def test_reports_use_the_case_noun(tmp_path: Path) -> None:
    log = read_event_log_file(_xes(tmp_path / "a.xes", "Event log of a loan application process"))
    report = analyse_event_log(log, min_segment_cases=2)
    text = render_markdown(report)
    assert report.case_noun == "loan applications"
    assert text.startswith("# Where loan applications get stuck")
    assert "2 loan applications, 7 events" in text
    assert "## Conformance of completed loan applications" in text
    assert "## Queue and working time (from start and complete events)" in text
    assert "## Handovers of work" in text
    assert " deals" not in text


# ---------------------------------------------------------------------------------------------------------------
# Conformance: completed cases only, precision beside fitness


def _stage_log(paths: dict[tuple[str, ...], int]) -> EventLog:
    rows = []
    n = 0
    for variant, count in paths.items():
        for _ in range(count):
            for i, stage in enumerate(variant):
                rows.append((f"c{n:03d}", stage, f"2026-01-{1 + n % 28:02d}T{i:02d}:00:00Z"))
            n += 1
    log = event_log_from_frame(pd.DataFrame(rows, columns=[CASE, ACTIVITY, "timestamp"]))
    log.case_noun = "deals"
    return log


def test_open_cases_are_left_out_of_conformance_not_counted_as_deviations() -> None:
    log = _stage_log({("A", "B", "C", "Won"): 20, ("A", "B", "Lost"): 6, ("A", "B"): 5, ("A",): 3})
    log.stages, log.won_stage, log.lost_stage = ("A", "B", "C"), "Won", "Lost"
    result = process.check_conformance(log, process.stage_events(log), threshold=0.85)
    assert (result.completed_cases, result.open_cases) == (26, 8)
    assert result.cases_replayed == 26
    assert result.mean_fitness == pytest.approx(1.0)
    assert result.share_below_threshold == 0.0
    assert "8 open deals" in result.notes[0]
    # the old way: replaying the open ones too makes a third of them look unfit
    everything = process.conformance(log, threshold=0.85, events=process.stage_events(log))
    assert everything.share_below_threshold == pytest.approx(8 / 34)


def test_precision_is_reported_and_falls_when_the_model_allows_what_nobody_did() -> None:
    stages = ("A", "B", "C")
    only_wins = _stage_log({("A", "B", "C", "Won"): 30})
    some_lost = _stage_log(
        {("A", "B", "C", "Won"): 10, ("A", "Lost"): 5, ("A", "B", "Lost"): 5, ("A", "B", "C", "Lost"): 5}
    )
    for log in (only_wins, some_lost):
        log.stages, log.won_stage, log.lost_stage = stages, "Won", "Lost"
    narrow = process.check_conformance(only_wins, process.stage_events(only_wins))
    broad = process.check_conformance(some_lost, process.stage_events(some_lost))
    assert narrow.precision is not None and broad.precision is not None
    # the playbook lets a deal be lost after any stage; when none ever is, that freedom is imprecision
    assert narrow.precision < broad.precision <= 1.0
    assert narrow.precision_cases == 30
    assert narrow.mean_fitness == pytest.approx(1.0)


def test_without_a_playbook_the_model_is_mined_on_earlier_cases_and_judged_on_later_ones() -> None:
    paths = {("Open", "Triage", "Fix", "Closed"): 40, ("Open", "Fix", "Closed"): 20, ("Open", "Triage"): 6}
    log = _stage_log(paths)
    log.case_noun = "tickets"
    done = process.completed_cases(log)
    assert done.end_activities == ("Closed",)  # inferred: it always ends the tickets it is in
    assert len(done.open) == 6
    result = process.check_conformance(log, log.events)
    assert result.model == "inductive miner"
    assert "earliest 42 completed tickets" in result.model_source
    assert result.evaluated_on.startswith("the 18 later completed tickets")
    assert result.cases_replayed == 18
    assert result.precision is not None and 0.0 < result.precision <= 1.0
    assert result.discovered is not None and result.discovered.cases_used == 42


def test_end_markers_given_by_name_decide_completion() -> None:
    log = _stage_log({("Submit", "Review", "Approve"): 5, ("Submit", "Review", "Reject"): 5, ("Submit", "Review"): 4})
    log.end_activities = ("Approve", "Reject")
    done = process.completed_cases(log)
    assert (len(done.completed), len(done.open)) == (10, 4)
    assert "Approve or Reject" in done.rule


# ---------------------------------------------------------------------------------------------------------------
# BPI Challenge 2012: the queue before W_Valideren aanvraag


def test_bpi_2012_the_longest_queue_is_before_validation(shared_data: Path) -> None:
    path = shared_data / "eventlogs" / "bpic2012.xes.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found (BPI Challenge 2012, see the shared data README)")
    log = read_event_log_file(path)
    assert log.case_noun == "loan applications"  # from the log's meta_3TU:description
    assert log.lifecycle is not None and len(log.lifecycle) == 262_200
    summary = process.lifecycle_times(log)
    assert summary is not None
    assert summary.bottleneck == "W_Valideren aanvraag"
    validate = summary.activities[0]
    assert validate.activity == "W_Valideren aanvraag"
    assert validate.ready_from == "schedule"
    # about a day of waiting (schedule → first start) for about 20 minutes of work
    assert validate.median_queue_hours is not None and validate.median_queue_hours > 20
    assert validate.median_working_hours < 1
    assert validate.dominant == "queue" and validate.queue_share > 0.9
    resources = process.resource_workload(log)
    assert resources is not None and resources.resources > 50 and resources.handovers
