"""A briefing as Markdown (files, the terminal), Slack Block Kit with a plain-text fallback."""

from __future__ import annotations

from typing import Any

from bots.briefings.compose import Briefing
from bots.slack.blocks import escape as _escape  # CRM text (deal names, loss reasons) never becomes a mention

SECTION_TEXT_LIMIT = 3000  # Slack's limit for a section block's text


def to_markdown(briefing: Briefing, chart_name: str | None = None) -> str:
    lines = [f"# {briefing.title}", ""]
    lines += [f"- {fact}" for fact in briefing.facts()]
    for section in briefing.sections():
        lines += ["", f"## {section.title}", ""]
        lines += [f"- {line}" for line in section.lines]
        if section.more:
            lines.append(f"- ... and {section.more} more")
    if chart_name:
        lines += ["", f"![pipeline and forecast]({chart_name})"]
    lines += [
        "",
        f"_Changes cover {briefing.window_start.isoformat(timespec='minutes')} to "
        f"{briefing.window_end.isoformat(timespec='minutes')} (UTC; the day before in {briefing.timezone}); "
        f"generated {briefing.generated_at.isoformat(timespec='seconds')}._",
    ]
    return "\n".join(lines) + "\n"


def fallback_text(briefing: Briefing) -> str:
    """The notification and screen-reader text Slack shows where blocks are not rendered (Slack reads it as
    mrkdwn too, so CRM text in it is escaped: a team or deal name cannot ping a channel)."""
    return _escape(briefing.title + "\n" + "\n".join(briefing.facts()))


def to_blocks(briefing: Briefing) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": briefing.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"• {_escape(f)}" for f in briefing.facts())}},
    ]
    for section in briefing.sections():
        body = "\n".join(f"• {_escape(line)}" for line in section.lines)
        if section.more:
            body += f"\n_… and {section.more} more_"
        text = f"*{_escape(section.title)}*\n{body}"
        if len(text) > SECTION_TEXT_LIMIT:
            text = text[: SECTION_TEXT_LIMIT - 2] + " …"
        blocks += [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Changes: the day before {briefing.day.isoformat()} in {briefing.timezone}. "
                    "Numbers from the salesgraph store; the chart is in the thread.",
                }
            ],
        }
    )
    return blocks
