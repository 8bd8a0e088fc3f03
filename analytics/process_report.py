"""The process-mining report as Markdown (charts as PNG files beside it) and as one self-contained HTML file
(charts embedded), written under the workspace's reports folder unless the caller names the files.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from analytics.bottlenecks import DIMENSION_LABELS, BottleneckReport, Finding
from analytics.eventlog import singular_noun

CHART_TITLES = {
    "process-map": "Process map",
    "funnel": "Funnel",
    "cycle-time": "Cycle time by segment",
    "queue-working": "Queue vs working time per activity",
}


def _unit(report: BottleneckReport, cost_unit: str) -> str:
    """A finding's cost unit in the log's own noun: deal-days → loan application days, deals → loan applications."""
    if cost_unit == "deal-days":
        one = singular_noun(report.case_noun)
        return f"{one} days" if " " in one else f"{one}-days"
    return report.case_noun if cost_unit == "deals" else cost_unit


def _days(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1 / 24:
        return f"{value * 1440:.0f} min"
    if value < 1:
        return f"{value * 24:.1f} h"
    return f"{value:.1f} d"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _text(text: object) -> str:
    # Markdown viewers render raw HTML: names and fields from the CRM or an imported file must stay text.
    return html.escape(str(text), quote=False)


def _cell(text: object) -> str:
    # ... and inside a table a pipe or a newline would also break the row.
    return _text(text).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    intro: str = ""


def _sections(report: BottleneckReport) -> list[Section]:
    sections = [
        Section(
            "Stages",
            ["Stage", "Cases", "Median time in stage", "p90", "Conversion", "Drop-off", "Rework cases"],
            [
                [
                    m.stage,
                    f"{m.cases_entered:,}",
                    _days(m.median_days),
                    _days(m.p90_days),
                    _pct(m.conversion),
                    _pct(m.drop_off),
                    f"{m.rework_cases:,}",
                ]
                for m in report.stage_metrics
            ],
            f"Conversion and drop-off count decided cases only ({report.case_noun} still open in the stage are "
            "left out).",
        ),
        Section(
            "Transitions (directly follows, busiest first)",
            ["From", "To", "Count", "Cases", "Median wait", "p90 wait"],
            [
                [t.source, t.target, f"{t.count:,}", f"{t.cases:,}", _days(t.median_days), _days(t.p90_days)]
                for t in report.transitions[:25]
            ],
        ),
    ]
    if report.activity_transitions is not report.transitions and report.activity_transitions != report.transitions:
        sections.append(
            Section(
                "All activities (calls, meetings, emails, tasks and stages)",
                ["From", "To", "Count", "Cases", "Median wait", "p90 wait"],
                [
                    [t.source, t.target, f"{t.count:,}", f"{t.cases:,}", _days(t.median_days), _days(t.p90_days)]
                    for t in report.activity_transitions[:15]
                ],
            )
        )
    if report.at_risk:
        sections.append(
            Section(
                f"Stalled and at-risk {report.case_noun}",
                [
                    singular_noun(report.case_noun).capitalize(),
                    "Owner",
                    "Stage",
                    "Days in stage",
                    "Amount",
                    "Status",
                    "Why",
                ],
                [
                    [
                        f"{d.name} (#{d.case_id})" if d.name else d.case_id,
                        d.owner or "–",
                        d.stage,
                        str(d.days_in_stage),
                        " ".join(filter(None, [f"{d.amount:,.0f}", d.currency])) if d.amount else "–",
                        d.status,
                        d.reason,
                    ]
                    for d in report.at_risk
                ],
            )
        )
    if report.conformance and report.conformance.deviations:
        sections.append(
            Section(
                "Most common deviations",
                ["Kind", "Deviation", "Cases", "Share"],
                [[d.kind, d.description, f"{d.cases:,}", _pct(d.share)] for d in report.conformance.deviations],
            )
        )
    sections += _lifecycle_sections(report)
    if report.ignored_segments:
        sections.append(
            Section(
                "Segments too small to judge",
                ["Dimension", "Segment", "Cases", "Why ignored"],
                [
                    [DIMENSION_LABELS.get(s.dimension, s.dimension), s.segment, str(s.cases), s.reason]
                    for s in report.ignored_segments
                ],
            )
        )
    return sections


def _hours(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1 / 60:
        return f"{value * 3600:.0f} s"
    return f"{value / 24:,.0f} d" if value >= 100 * 24 else _days(value / 24)


def _lifecycle_sections(report: BottleneckReport) -> list[Section]:
    """Queue vs working time (start/complete events) and who does the work (resources), when the log has them."""
    out: list[Section] = []
    life = report.lifecycle
    if life is not None and life.activities:
        out.append(
            Section(
                "Queue and working time (from start and complete events)",
                [
                    "Activity",
                    "Work items",
                    "Median queue",
                    "Mean queue",
                    "Total queue",
                    "Median working",
                    "Total working",
                    "Paused between sessions",
                    "Queue share of total",
                    "Dominant",
                    "Queue from",
                ],
                [
                    [
                        a.activity,
                        f"{a.work_items:,}",
                        _hours(a.median_queue_hours),
                        _hours(a.mean_queue_hours),
                        _hours(a.total_queue_hours),
                        _hours(a.median_working_hours),
                        _hours(a.total_working_hours),
                        _hours(a.total_paused_hours),
                        _pct(a.queue_share),
                        a.dominant,
                        a.ready_from,
                    ]
                    for a in life.activities
                ],
                life.statement
                + " Queue: from the activity's schedule event (else the previous completion in the "
                + f"{singular_noun(report.case_noun)}) to its first start; working: start to complete of each "
                + "session; paused: between its sessions.",
            )
        )
    res = report.resources
    if res is not None and res.workload:
        out.append(
            Section(
                f"Resource workload ({res.resources:,} resources, by {res.period})",
                [
                    "Resource",
                    "Events",
                    report.case_noun.capitalize(),
                    "Months active",
                    "Events per active month",
                    "Busiest month",
                ],
                [
                    [
                        w.resource,
                        f"{w.events:,}",
                        f"{w.cases:,}",
                        str(w.periods_active),
                        f"{w.events_per_active_period:,.0f}",
                        f"{w.busiest_period} ({w.busiest_period_events:,} events)",
                    ]
                    for w in res.workload
                ],
            )
        )
        if res.handovers:
            out.append(
                Section(
                    "Handovers of work (one resource's event directly followed by another's)",
                    ["From", "To", "Handovers", report.case_noun.capitalize()],
                    [[h.source, h.target, f"{h.count:,}", f"{h.cases:,}"] for h in res.handovers],
                    f"{res.handover_share:.0%} of consecutive events in a {singular_noun(report.case_noun)} change "
                    "hands.",
                )
            )
    return out


def group_heading_text(report: BottleneckReport, cost_unit: str) -> str:
    noun = report.case_noun
    if cost_unit == "deal-days":
        return f"Where {noun} get stuck: time lost, ranked by extra {_unit(report, cost_unit)}"
    return f"Where {noun} are lost: conversion gaps, ranked by revenue at risk"


def _group_heading(report: BottleneckReport, finding: Finding) -> str | None:
    """The group heading when ``finding`` is the first of its group, else None."""
    first = next(f for f in report.findings if f.cost_unit == finding.cost_unit)
    return group_heading_text(report, finding.cost_unit) if first is finding else None


def _conformance_lines(report: BottleneckReport) -> list[str]:
    c = report.conformance
    if c is None:
        return ["Conformance was not checked."]
    noun = report.case_noun
    lines = [
        f"Checked against the {c.model}: {c.model_description}.",
        f"Model source: {c.model_source}." if c.model_source and c.model_source != c.model_description else "",
        f"Judged on {c.evaluated_on}; {c.open_cases:,} open {noun} left out (an unfinished trace is not a "
        f"deviation). Complete means {c.completion_rule}."
        if c.completion_rule
        else "",
        f"Token-replay fitness: mean {c.mean_fitness:.3f} over {c.cases_replayed:,} {noun}; "
        f"{c.share_below_threshold:.0%} of them are below the {c.threshold:.2f} threshold.",
        (
            f"Precision (ETConformance): {c.precision:.3f} on {c.precision_cases:,} {noun} (1 = the model allows "
            "only what they did; a model that allows anything scores near 0)."
        )
        if c.precision is not None
        else "Precision was not computed.",
    ]
    lines = [line for line in lines if line]
    if c.alignment_fitness is not None:
        lines.append(f"Alignment fitness (exact): {c.alignment_fitness:.3f}.")
    lines.append(f"Discovered model: {c.discovered_model}.")
    return lines


def _scope_lines(report: BottleneckReport) -> list[str]:
    lines = [
        f"Source: {report.source}",
        f"{report.cases:,} {report.case_noun}, {report.events:,} events, {report.activities} activities, "
        f"{report.first_event.date().isoformat()} to {report.last_event.date().isoformat()}",
        f"Segments compared: {', '.join(DIMENSION_LABELS.get(d, d) for d in report.dimensions) or 'none'} "
        f"(segments under {report.min_segment_cases} {report.case_noun} are not compared)",
    ]
    if report.requested_by:
        lines.append(f"Requested by {report.requested_by}; only {report.case_noun} they may see are included.")
    return lines


def render_markdown(report: BottleneckReport, images: dict[str, str] | None = None) -> str:
    """The report as Markdown; ``images`` maps chart names to the relative paths of their PNG files."""
    out = [f"# Where {_cell(report.case_noun)} get stuck: {_cell(report.source)}", ""]
    out += [f"- {_text(line)}" for line in _scope_lines(report)]
    if not report.findings:
        out += ["", "No finding passed the thresholds (segment size, effect size and significance).", ""]
    for f in report.findings:
        heading = _group_heading(report, f)
        if heading:
            out += ["", f"## {heading}", ""]
        revenue = f" · ≈ {f.revenue_text()} revenue at risk" if f.revenue_text() else ""
        out += [
            f"### {f.rank}. {_text(f.title)}",
            "",
            _text(f.statement),
            "",
            f"- Cost: {f.cost:,.1f} {_unit(report, f.cost_unit)} ({f.impact:.1%} of all {_unit(report, f.cost_unit)} "
            f"in the log){revenue}",
            f"- **Recommended action:** {_text(f.action)}",
            *([f"- How it was tested: {_text(f.method)}"] if f.method else []),
            "",
        ]
    for name, path in (images or {}).items():
        out += [f"![{CHART_TITLES.get(name, name)}]({path})", ""]
    out += (
        [f"## Conformance of completed {_cell(report.case_noun)}", ""]
        + [f"- {_text(line)}" for line in _conformance_lines(report)]
        + [""]
    )
    for section in _sections(report):
        out += [f"## {section.title}", ""]
        if section.intro:
            out += [_text(section.intro), ""]
        out.append("| " + " | ".join(section.headers) + " |")
        out.append("|" + "---|" * len(section.headers))
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
        out.append("")
    out += ["## Notes", ""] + [f"- {_cell(n)}" for n in report.notes]
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
    out += [f"- Timings: {timings}", f"- Generated {report.generated_at.isoformat(timespec='seconds')}", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;color:#1f2933;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #d9e2ec}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}td,th{border:1px solid #d9e2ec;padding:.3em .6em;
text-align:left}th{background:#f0f4f8}.finding{border-left:4px solid #2f6db5;padding:.2em 1em;margin:1em 0;
background:#f7f9fc}.action{color:#0b5394}.meta{color:#52606d;font-size:.9em}img{max-width:100%}
"""


def render_html(report: BottleneckReport, charts: dict[str, bytes]) -> str:
    """A single HTML file with the charts embedded as base64 PNGs: it can be mailed or archived as is."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Where {e(report.case_noun)} get stuck: {e(report.source)}</title><style>{_CSS}</style></head>",
        f"<body><h1>Where {e(report.case_noun)} get stuck: {e(report.source)}</h1><ul class='meta'>",
        *[f"<li>{e(line)}</li>" for line in _scope_lines(report)],
        "</ul>",
    ]
    if not report.findings:
        parts.append("<p>No finding passed the thresholds (segment size, effect size and significance).</p>")
    for f in report.findings:
        heading = _group_heading(report, f)
        if heading:
            parts.append(f"<h2>{e(heading)}</h2>")
        revenue = f" · ≈ {f.revenue_text()} revenue at risk" if f.revenue_text() else ""
        parts.append(
            f"<div class='finding'><h3>{f.rank}. {e(f.title)}</h3><p>{e(f.statement)}</p>"
            f"<p class='meta'>Cost: {f.cost:,.1f} {e(_unit(report, f.cost_unit))} ({f.impact:.1%} of all "
            f"{e(_unit(report, f.cost_unit))} in the "
            f"log){e(revenue)}</p><p class='action'><b>Recommended action:</b> {e(f.action)}</p>"
            + (f"<p class='meta'>How it was tested: {e(f.method)}</p>" if f.method else "")
            + "</div>"
        )
    for name, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        title = CHART_TITLES.get(name, name)
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{data}'>")
    parts.append(f"<h2>Conformance of completed {e(report.case_noun)}</h2><ul>")
    parts += [f"<li>{e(line)}</li>" for line in _conformance_lines(report)]
    parts.append("</ul>")
    for section in _sections(report):
        parts.append(f"<h2>{e(section.title)}</h2>")
        if section.intro:
            parts.append(f"<p class='meta'>{e(section.intro)}</p>")
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in section.headers) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in section.rows]
        parts.append("</table>")
    parts.append("<h2>Notes</h2><ul class='meta'>")
    parts += [f"<li>{e(n)}</li>" for n in report.notes]
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
    parts.append(f"<li>Timings: {e(timings)}</li>")
    parts.append(f"<li>Generated {e(report.generated_at.isoformat(timespec='seconds'))}</li></ul></body></html>")
    return "\n".join(parts)


def default_report_paths(reports_dir: Path, when: datetime) -> tuple[Path, Path]:
    stem = f"process-{when.strftime('%Y%m%d-%H%M%S')}"
    return reports_dir / f"{stem}.md", reports_dir / f"{stem}.html"


def write_report(
    report: BottleneckReport,
    *,
    markdown: Path | None = None,
    html_path: Path | None = None,
    charts: dict[str, bytes] | None = None,
) -> dict[str, Path]:
    """Write the Markdown (with its PNGs beside it) and/or the HTML; returns what was written, by kind."""
    from analytics.process_charts import all_charts

    if markdown is None and html_path is None:
        raise ValueError("name at least one output file")
    charts = charts if charts is not None else all_charts(report)
    written: dict[str, Path] = {}
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        images: dict[str, str] = {}
        for name, png in charts.items():
            path = markdown.with_name(f"{markdown.stem}-{name}.png")
            path.write_bytes(png)
            images[name] = path.name
            written[f"png:{name}"] = path
        markdown.write_text(render_markdown(report, images), encoding="utf-8")
        written["markdown"] = markdown
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(report, charts), encoding="utf-8")
        written["html"] = html_path
    return written
