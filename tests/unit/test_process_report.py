"""The report files: findings grouped and ranked, charts embedded, and text from the data kept as text."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from analytics.bottlenecks import BottleneckReport, analyse_event_log
from analytics.eventlog import synthetic_event_log
from analytics.process_charts import all_charts, map_nodes
from analytics.process_report import render_html, render_markdown, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> BottleneckReport:
    log = synthetic_event_log(1500, seed=8)  # enough cases for a low-conversion finding after the correction
    # File names and CRM fields are data, never markup: a log named like a script tag must come out inert.
    log.source = "<script>alert(1)</script>.xes"
    log.cases.loc[log.cases.index[0], "industry"] = "<b>bold|pipe</b>"
    return analyse_event_log(log, conformance_check=False)


def test_charts_are_real_pngs(report: BottleneckReport) -> None:
    charts = all_charts(report)
    assert set(charts) == {"process-map", "funnel", "cycle-time"}
    assert all(png.startswith(PNG_MAGIC) and len(png) > 5_000 for png in charts.values())


def test_process_map_keeps_playbook_order(report: BottleneckReport) -> None:
    assert map_nodes(report)[:5] == ["Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation"]


def test_html_is_self_contained_and_escapes_data(report: BottleneckReport) -> None:
    page = render_html(report, all_charts(report))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 3
    assert base64.b64decode(images[0]).startswith(PNG_MAGIC)
    assert not re.search(r"(src|href)=['\"]https?:", page)


def test_markdown_groups_findings_and_keeps_tables_intact(report: BottleneckReport) -> None:
    text = render_markdown(report, {"process-map": "r-process-map.png"})
    assert "<script>" not in text and "&lt;script&gt;" in text  # Markdown viewers render raw HTML
    stuck = text.index("## Where deals get stuck")
    lost = text.index("## Where deals are lost")
    assert stuck < lost
    assert "### 1. Proposal → Negotiation is slow for enterprise" in text
    assert "**Recommended action:**" in text
    assert "![Process map](r-process-map.png)" in text
    assert "&lt;b&gt;bold\\|pipe&lt;/b&gt;" in text  # the pipe cannot split a table row
    for line in text.splitlines():
        if line.startswith("| Stage |"):
            assert line.count("|") == 8


def test_write_report_puts_pngs_beside_the_markdown(report: BottleneckReport, tmp_path: Path) -> None:
    written = write_report(report, markdown=tmp_path / "a" / "r.md", html_path=tmp_path / "b" / "r.html")
    assert written["markdown"].read_text().count("](r-") == 3
    assert (tmp_path / "a" / "r-funnel.png").read_bytes().startswith(PNG_MAGIC)
    assert written["html"].stat().st_size > 20_000
    with pytest.raises(ValueError, match="at least one"):
        write_report(report)
