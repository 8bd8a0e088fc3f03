"""``salesgraph analyze``: process mining of the pipeline: where deals get stuck, why, and what to do about it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date

    from rich.console import Console

    from analytics.bottlenecks import BottleneckReport
    from analytics.eventlog import EventLog

app = typer.Typer(
    help=(
        "Process mining of the sales pipeline: the directly-follows graph with waiting times, conformance to the "
        "playbook, and bottlenecks (slow transitions, low conversion, rework) compared across segments and ranked "
        "by what they cost. Works on the store's deals or on an event log imported with `salesgraph import eventlog`."
    ),
    no_args_is_help=True,
)


class CaseKind(StrEnum):
    deals = "deals"
    leads = "leads"


CasesOption = Annotated[
    CaseKind,
    typer.Option(
        "--cases",
        help="What a case is in the store: a deal (stages of the playbook) or a lead (new, qualified, converted).",
        case_sensitive=False,
    ),
]


class Segment(StrEnum):
    size = "size"
    industry = "industry"
    tenure = "tenure"
    owner = "owner"
    region = "region"
    source = "source"


SegmentOption = Annotated[
    Segment | None,
    typer.Option(
        "--segment",
        help="Compare only along this dimension (deal size band, industry, rep tenure band, owner, region, lead "
        "source). Default: size (deals), source (leads), industry, tenure and owner.",
        case_sensitive=False,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only cases that started on or after this date: 2026-01-31, '2026-Q3', 'last quarter', '3 months ago'.",
    ),
]
LogOption = Annotated[
    str | None,
    typer.Option(
        "--log", help="Analyse an imported event log by name instead of the store (see `salesgraph analyze logs`)."
    ),
]
StagesOption = Annotated[
    str | None,
    typer.Option(
        "--stages",
        help="For an imported log: the playbook's stages in order, comma-separated (activity names). "
        "Enables conversion, drop-off and playbook conformance.",
    ),
]
WonOption = Annotated[str | None, typer.Option("--won", help="For an imported log with --stages: the 'won' activity.")]
LostOption = Annotated[
    str | None, typer.Option("--lost", help="For an imported log with --stages: the 'lost' activity.")
]
ThresholdOption = Annotated[
    float,
    typer.Option(
        "--threshold", min=0.0, max=1.0, help="Token-replay fitness under which a case counts as off the playbook."
    ),
]
CaseNounOption = Annotated[
    str | None,
    typer.Option(
        "--case-noun",
        help="For an imported log: what a case is, plural ('tickets', 'loan applications'), for every sentence "
        "and label. Default: what the import found (the log's description, else 'cases').",
    ),
]
EndOption = Annotated[
    str | None,
    typer.Option(
        "--end",
        help="For an imported log: activities that close a case, comma-separated. Conformance judges only cases "
        "that reached one (and --won/--lost); open cases are left out. Default: as imported, else inferred.",
    ),
]
MinCasesOption = Annotated[
    int,
    typer.Option("--min-cases", min=2, help="Segments with fewer cases are not compared (and are listed as such)."),
]


def parse_since(text: str | None) -> date | None:
    """An ISO date, a period ('2026-Q3', 'last quarter': its first day) or a relative date ('3 months ago'), read by
    the same function as every other date the CLI and the chat take (``sales.dates``)."""
    if text is None:
        return None
    from sales.dates import local_today, parse_day
    from sales.errors import InvalidInput

    try:
        return parse_day(text, local_today(), prefer="past")
    except ValueError as exc:
        raise InvalidInput({"since": str(exc)}) from None


def _progress(console: Console) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _stepper(progress: Any) -> Callable[[str], None]:
    task = progress.add_task("reading the event log", total=None)

    def step(label: str) -> None:
        progress.update(task, description=label)

    return step


def apply_playbook(log: EventLog, stages: str | None, won: str | None, lost: str | None) -> None:
    """Set an imported log's playbook from the options, naming any activity the log does not contain."""
    from sales.errors import InvalidInput

    if stages is None:
        if won or lost:
            raise InvalidInput({"stages": "--won and --lost need --stages (the playbook's stages in order)"})
        return
    from analytics.eventlog import ACTIVITY

    present = set(log.events[ACTIVITY].astype(str).unique())
    names = [s.strip() for s in stages.split(",") if s.strip()]
    problems = {}
    unknown = [s for s in [*names, *(x for x in (won, lost) if x)] if s not in present]
    if not names:
        problems["stages"] = "give at least one stage"
    if unknown:
        sample = ", ".join(sorted(present)[:12])
        problems["stages"] = f"not activities of this log: {', '.join(unknown)} (it has e.g. {sample})"
    if problems:
        raise InvalidInput(problems)
    log.stages = tuple(names)
    log.won_stage = won
    log.lost_stage = lost


def _since_filter(log: EventLog, since: date | None) -> None:
    if since is None:
        return
    import pandas as pd

    from analytics.eventlog import CASE, TIMESTAMP
    from sales.errors import NotFound

    starts = log.events.groupby(CASE, observed=True)[TIMESTAMP].min()
    keep = starts[starts >= pd.Timestamp(since, tz="UTC")].index
    if len(keep) == 0:
        raise NotFound(f"no {log.case_noun} in {log.source} start on or after {since.isoformat()}")
    log.events = log.events[log.events[CASE].isin(keep)].reset_index(drop=True)
    log.cases = log.cases[log.cases.index.isin(keep)]
    if log.lifecycle is not None:
        log.lifecycle = log.lifecycle[log.lifecycle[CASE].isin(keep)].reset_index(drop=True)
    log.notes.append(f"only {log.case_noun} that started on or after {since.isoformat()}")


def _load_saved(
    name: str,
    since: date | None,
    stages: str | None,
    won: str | None,
    lost: str | None,
    case_noun: str | None = None,
    end: str | None = None,
) -> EventLog:
    from analytics.eventlog import check_case_noun, check_end_activities, load_saved_event_log
    from bots.common import services

    log = load_saved_event_log(name, services().settings.home_dir)
    apply_playbook(log, stages, won, lost)
    if case_noun:
        log.case_noun = check_case_noun(case_noun)
    if end:
        log.end_activities = check_end_activities(log, end.split(","))
    _since_filter(log, since)
    return log


def _show_findings(console: Console, report: BottleneckReport, limit: int = 10) -> None:
    from rich.table import Table

    from analytics.eventlog import singular_noun
    from analytics.process_report import _unit
    from bots.render import print_table

    noun = report.case_noun
    console.print(f"[bold]{report.cases:,} {noun}, {report.events:,} events[/] from {report.source}")
    if not report.findings:
        console.print("No bottleneck passed the thresholds (segment size, effect size and significance).")
        return
    table = Table(
        title=f"Findings: time lost (by extra {_unit(report, 'deal-days')}), then conversion gaps (by revenue at risk)",
        title_justify="left",
        show_lines=True,
    )
    table.add_column("#", justify="right")
    table.add_column("finding", ratio=3)
    table.add_column("cost", justify="right")
    table.add_column("recommended action", ratio=2)
    for f in report.findings[:limit]:
        cost = f"{f.cost:,.0f} {_unit(report, f.cost_unit)}\n({f.impact:.1%})"
        table.add_row(str(f.rank), f"[bold]{f.title}[/]\n{f.statement}", cost, f.action)
    print_table(table, console)
    if len(report.findings) > limit:
        console.print(f"… and {len(report.findings) - limit} more in the report.")
    stalled = [d for d in report.at_risk if d.status == "stalled"]
    if stalled:
        one = singular_noun(noun) if len(stalled) == 1 else noun
        console.print(f"[yellow]{len(stalled)} stalled {one}[/] (listed in the report).")
    small = len(report.ignored_segments)
    if small:
        were = "segment was" if small == 1 else "segments were"
        console.print(f"{small} {were} too small to judge (under {report.min_segment_cases} cases).")


def _write_outputs(console: Console, report: BottleneckReport, html: Path | None, markdown: Path | None) -> None:
    from analytics.process_report import default_report_paths, write_report
    from bots.common import services

    if html is None and markdown is None:
        markdown, html = default_report_paths(services().settings.home_dir / "reports", report.generated_at)
    written = write_report(report, markdown=markdown, html_path=html)
    for kind in ("markdown", "html"):
        if kind in written:
            console.print(f"{kind}: {written[kind]}")


def _run(
    console: Console,
    *,
    log_name: str | None,
    since: date | None,
    segment: Segment | None,
    min_cases: int,
    stages: str | None,
    won: str | None,
    lost: str | None,
    as_: str | None,
    threshold: float = 0.85,
    cases: CaseKind = CaseKind.deals,
    case_noun: str | None = None,
    end: str | None = None,
) -> BottleneckReport:
    from analytics.bottlenecks import analyse_event_log, bottleneck_analysis
    from bots.common import friendly_errors, resolve_actor, session

    with _progress(console) as progress:
        step = _stepper(progress)
        if log_name:
            if as_:
                console.print("[dim]--as is ignored for an imported log: it is not owned by anyone.[/]")
            with friendly_errors():
                log = _load_saved(log_name, since, stages, won, lost, case_noun, end)
                return analyse_event_log(
                    log,
                    segment=segment.value if segment else None,
                    min_segment_cases=min_cases,
                    fitness_threshold=threshold,
                    progress=step,
                    since=since,
                )
        if stages or won or lost or case_noun or end:
            from bots.common import fail

            fail(
                "--stages/--won/--lost/--case-noun/--end apply to an imported log (--log); the store uses the deal "
                "stage playbook"
            )
        with session() as s:
            actor = resolve_actor(s, as_)
            return bottleneck_analysis(
                s,
                actor,
                segment=segment.value if segment else None,
                since=since,
                min_segment_cases=min_cases,
                fitness_threshold=threshold,
                progress=step,
                cases=cases.value,
            )


@app.command("bottlenecks")
def bottlenecks_cmd(
    segment: SegmentOption = None,
    since: SinceOption = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the self-contained HTML report (charts embedded) here.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown report here (chart PNGs beside it).")
    ] = None,
    log: LogOption = None,
    stages: StagesOption = None,
    won: WonOption = None,
    lost: LostOption = None,
    min_cases: MinCasesOption = 10,
    threshold: ThresholdOption = 0.85,
    cases: CasesOption = CaseKind.deals,
    case_noun: CaseNounOption = None,
    end: EndOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the full result as JSON (nothing is written).")
    ] = False,
    as_: AsOption = None,
) -> None:
    """Find where deals get stuck and why: slow transitions, low conversion and rework, by segment, ranked by cost.

    Each finding is stated with its evidence (segment vs the rest, case counts, p-value) and one recommended action.
    Without --html/--markdown both reports are written to $SALESGRAPH_HOME/reports/.

    Examples:

        salesgraph analyze bottlenecks

        salesgraph analyze bottlenecks --segment owner --since 2026-01-01 --html pipeline.html

        salesgraph analyze bottlenecks --cases leads --segment source

        salesgraph analyze bottlenecks --log bpic2012 --stages A_SUBMITTED,A_PREACCEPTED,A_ACCEPTED --won A_APPROVED
    """
    from bots.common import console, err_console, friendly_errors
    from bots.render import emit_json

    out = console()
    with friendly_errors():
        since_date = parse_since(since)
    report = _run(
        err_console() if json_out else out,
        log_name=log,
        since=since_date,
        segment=segment,
        min_cases=min_cases,
        stages=stages,
        won=won,
        lost=lost,
        as_=as_,
        threshold=threshold,
        cases=cases,
        case_noun=case_noun,
        end=end,
    )
    if json_out:
        emit_json(report)
        return
    _show_findings(out, report)
    with _progress(out) as progress:
        progress.add_task("drawing charts and writing the report", total=None)
        _write_outputs(out, report, html, markdown)


@app.command("process")
def process_cmd(
    since: SinceOption = None,
    log: LogOption = None,
    stages: StagesOption = None,
    won: WonOption = None,
    lost: LostOption = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also save the process map picture here.")] = None,
    threshold: ThresholdOption = 0.85,
    cases: CasesOption = CaseKind.deals,
    case_noun: CaseNounOption = None,
    end: EndOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the full result as JSON on stdout (no picture is drawn).")
    ] = False,
    as_: AsOption = None,
) -> None:
    """Show the process as it really runs: stages, transitions with waiting times, conformance, queue vs working
    time and who does the work.

    Only completed cases are judged (open ones are unfinished, not deviating). Token-based replay gives each a
    fitness (1.0 = followed the model); the share under 0.85, the model's precision (ETConformance: 1.0 = it allows
    nothing they did not do), where the model came from and the most common deviations are listed. Logs with
    start/complete events also show, per activity, the queue before it starts against the time worked on it.

    Examples:

        salesgraph analyze process

        salesgraph analyze process --log bpic2012 --end A_APPROVED,A_DECLINED,A_CANCELLED --png map.png
    """
    from rich.table import Table

    from bots.common import console, err_console, friendly_errors
    from bots.render import emit_json, print_table

    out = console()
    with friendly_errors():
        since_date = parse_since(since)
    report = _run(
        err_console() if json_out else out,
        log_name=log,
        since=since_date,
        segment=None,
        min_cases=10,
        stages=stages,
        won=won,
        lost=lost,
        as_=as_,
        threshold=threshold,
        cases=cases,
        case_noun=case_noun,
        end=end,
    )
    if json_out:
        emit_json(report)
        return
    stages_table = Table(title="Stages", title_justify="left")
    for column in ("stage", "cases", "median in stage", "p90", "conversion", "drop-off", "rework"):
        stages_table.add_column(column, justify="left" if column == "stage" else "right")
    from analytics.process_report import _days, _pct

    for m in report.stage_metrics:
        stages_table.add_row(
            m.stage,
            f"{m.cases_entered:,}",
            _days(m.median_days),
            _days(m.p90_days),
            _pct(m.conversion),
            _pct(m.drop_off),
            f"{m.rework_cases:,}",
        )
    print_table(stages_table, out, keep_title=True)
    transitions = Table(title="Busiest transitions", title_justify="left")
    for column in ("from", "to", "count", "median wait", "p90 wait"):
        transitions.add_column(column, justify="left" if column in ("from", "to") else "right")
    for t in report.transitions[:15]:
        transitions.add_row(t.source, t.target, f"{t.count:,}", _days(t.median_days), _days(t.p90_days))
    print_table(transitions, out, keep_title=True)
    c = report.conformance
    noun = report.case_noun
    if c is not None:
        precision = f"precision {c.precision:.3f} ({c.precision_cases:,} {noun})" if c.precision is not None else ""
        out.print(
            f"Conformance to the {c.model}: mean fitness {c.mean_fitness:.3f}; "
            f"{c.share_below_threshold:.0%} of {c.cases_replayed:,} completed {noun} under {c.threshold:.2f}"
            + (f"; {precision}" if precision else "")
            + f". {c.open_cases:,} open {noun} left out."
        )
        if c.model_source:
            out.print(f"  model: {c.model_source}; judged on {c.evaluated_on}")
        for d in c.deviations[:8]:
            out.print(f"  - {d.kind}: {d.description} ({d.cases:,} {noun}, {d.share:.0%})")
    _show_lifecycle(out, report)
    for note in report.notes:
        out.print(f"[dim]{note}[/]")
    if png is not None:
        from analytics.process_charts import process_map_png

        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(process_map_png(report))
        out.print(f"process map: {png}")


def _show_lifecycle(console: Console, report: BottleneckReport) -> None:
    """Queue vs working time per activity and the busiest handovers, when the log has them."""
    from rich.table import Table

    from analytics.process_report import _hours
    from bots.render import print_table

    life = report.lifecycle
    if life is not None and life.activities:
        table = Table(title="Queue vs working time (start/complete events)", title_justify="left")
        columns = ("activity", "work items", "median queue", "median working", "queue share of total", "dominant")
        for column in columns:
            table.add_column(column, justify="left" if column in ("activity", "dominant") else "right")
        for a in life.activities[:10]:
            table.add_row(
                a.activity,
                f"{a.work_items:,}",
                _hours(a.median_queue_hours),
                _hours(a.median_working_hours),
                f"{a.queue_share:.0%}",
                a.dominant,
            )
        print_table(table, console, keep_title=True)
        console.print(life.statement)
    res = report.resources
    if res is not None and res.handovers:
        top = ", ".join(f"{h.source} → {h.target} ({h.count:,})" for h in res.handovers[:5])
        console.print(
            f"{res.resources:,} resources; {res.handover_share:.0%} of consecutive events change hands; "
            f"busiest handovers: {top}."
        )


@app.command("logs")
def logs_cmd(json_out: JsonOption = False) -> None:
    """List the event logs imported with `salesgraph import eventlog`."""
    from rich.table import Table

    from analytics.eventlog import list_saved_event_logs
    from bots.common import console, services
    from bots.render import emit_json, print_table

    found = list_saved_event_logs(services().settings.home_dir)
    if json_out:
        emit_json(found)
        return
    out = console()
    if not found:
        out.print("No event logs imported yet: `salesgraph import eventlog FILE.xes|FILE.csv`.")
        return
    table = Table(title="Imported event logs", title_justify="left")
    for column in ("name", "source", "cases", "events", "activities", "period"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item["name"],
            item["source"],
            f"{item['cases']:,}",
            f"{item['events']:,}",
            str(item["activities"]),
            f"{item['first_event'][:10]} to {item['last_event'][:10]}",
        )
    print_table(table, out)
