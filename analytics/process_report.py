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

CHART_TITLES = {
    "process-map": "Process map",
    "funnel": "Funnel",
    "cycle-time": "Cycle time by segment",
}


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
            "Conversion and drop-off count decided cases only (deals still open in the stage are left out).",
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
                "Stalled and at-risk deals",
                ["Deal", "Owner", "Stage", "Days in stage", "Amount", "Status", "Why"],
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


GROUP_HEADINGS = {
    "deal-days": "Where deals get stuck: time lost, ranked by extra deal-days",
    "deals": "Where deals are lost: conversion gaps, ranked by revenue at risk",
}


def _group_heading(report: BottleneckReport, finding: Finding) -> str | None:
    """The group heading when ``finding`` is the first of its group, else None."""
    first = next(f for f in report.findings if f.cost_unit == finding.cost_unit)
    return GROUP_HEADINGS[finding.cost_unit] if first is finding else None


def _conformance_lines(report: BottleneckReport) -> list[str]:
    c = report.conformance
    if c is None:
        return ["Conformance was not checked."]
    lines = [
        f"Checked against the {c.model}: {c.model_description}.",
        f"Token-replay fitness: mean {c.mean_fitness:.3f} over {c.cases_replayed:,} of {c.cases_total:,} cases; "
        f"{c.share_below_threshold:.0%} of cases are below the {c.threshold:.2f} threshold.",
    ]
    if c.alignment_fitness is not None:
        lines.append(f"Alignment fitness (exact): {c.alignment_fitness:.3f}.")
    lines.append(f"Discovered model: {c.discovered_model}.")
    return lines


def _scope_lines(report: BottleneckReport) -> list[str]:
    lines = [
        f"Source: {report.source}",
        f"{report.cases:,} cases, {report.events:,} events, {report.activities} activities, "
        f"{report.first_event.date().isoformat()} to {report.last_event.date().isoformat()}",
        f"Segments compared: {', '.join(DIMENSION_LABELS.get(d, d) for d in report.dimensions) or 'none'} "
        f"(segments under {report.min_segment_cases} cases are not compared)",
    ]
    if report.requested_by:
        lines.append(f"Requested by {report.requested_by}; only deals they may see are included.")
    return lines


def render_markdown(report: BottleneckReport, images: dict[str, str] | None = None) -> str:
    """The report as Markdown; ``images`` maps chart names to the relative paths of their PNG files."""
    out = [f"# Where deals get stuck: {_cell(report.source)}", ""]
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
            f"- Cost: {f.cost:,.1f} {f.cost_unit} ({f.impact:.1%} of all {f.cost_unit} in the log){revenue}",
            f"- **Recommended action:** {_text(f.action)}",
            "",
        ]
    for name, path in (images or {}).items():
        out += [f"![{CHART_TITLES.get(name, name)}]({path})", ""]
    out += ["## Conformance to the playbook", ""] + [f"- {_text(line)}" for line in _conformance_lines(report)] + [""]
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
        f"<title>Where deals get stuck: {e(report.source)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Where deals get stuck: {e(report.source)}</h1><ul class='meta'>",
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
            f"<p class='meta'>Cost: {f.cost:,.1f} {e(f.cost_unit)} ({f.impact:.1%} of all {e(f.cost_unit)} in the "
            f"log){e(revenue)}</p><p class='action'><b>Recommended action:</b> {e(f.action)}</p></div>"
        )
    for name, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        title = CHART_TITLES.get(name, name)
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Conformance to the playbook</h2><ul>")
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
