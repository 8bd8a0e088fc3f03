"""The words that name the funnel metrics (``sales.funnel``) and the medians (cycle, deal size): data the planner
and the intent scorer read, one entry per ``pipeline_question`` metric, first match wins (so a narrower metric comes first).

The deal metrics keep their own patterns in the planner; these only claim phrasings that name a funnel figure
("lead to deal conversion", "first touch", "reply rate on first emails", "revenue per selling hour").
"""

from __future__ import annotations

import re

METRIC_PHRASES: tuple[tuple[str, str], ...] = (
    (
        "revenue_per_closer_hour",
        r"\b(revenue|bookings|won|sales|dollars|money)\s+(per|an|a|for each|each)\s+(closer\s+|selling\s+|sales\s+|"
        r"rep\s+|logged\s+|working\s+)?(hour|hr)s?\b|\bper\s+(closer|selling|sales|logged)\s+hours?\b|"
        r"\b(closer|selling)\s+hours?\b",
    ),
    (
        "reply_interest_rate",
        r"\binterest(ed)?\s+rate\b|\binterest(ed)?\s+after\s+(a\s+|the\s+)?repl(y|ies)\b|"
        r"\brepl(y|ies|ied)\b[^?.!]{0,40}\b(show(ed|s)?\s+interest|interested|positive|turn(ed|s)?\s+into(\s+interest)?)\b|"
        r"\bpositive\s+repl(y|ies)\b",
    ),
    (
        "first_reply_rate",
        r"\b(reply|response|answer)\s+rates?\b|"
        r"\b(reply|replies|replied|respond|responded|answer(ed)?)\b[^?.!]{0,30}\bfirst\s+(e-?mails?|messages?|outreach)\b|"
        r"\bfirst\s+(e-?mails?|messages?|outreach)\b[^?.!]{0,30}\b(repl(y|ies|ied)|respon\w+|answer\w*)\b",
    ),
    (
        "time_to_first_touch",
        r"\bfirst\s+(meaningful\s+)?(touch(point)?|contact|call|outreach)\b|\bspeed[- ]to[- ]lead\b|"
        r"\b(time|how\s+long|days|hours)\b[^?.!]{0,40}\b(touched|contacted|reached\s+out\s+to|gets?\s+a\s+touch)\b|"
        r"\bhow\s+(quickly|fast|soon)\b[^?.!]{0,30}\b(touch|contact|reach\s+out\s+to|call|follow\s+up\s+(on|with))\b"
        r"[^?.!]{0,20}\bleads?\b",
    ),
    (
        "lead_to_deal",
        r"\blead[- ]to[- ](deal|opportunity|opp)\b|"
        r"\bleads?\b[^?.!]{0,30}\b(convert(ed|s)?|conversion|become|became|turn(ed)?)\b[^?.!]{0,20}"
        r"\b(into\s+|to\s+)?(deals?|opportunit(y|ies)|opps?)\b",
    ),
    (
        "funnel_conversion",
        r"\bfunnel\s+conversion\b|\bconversion\s+(through|down|along)\s+the\s+(whole\s+|full\s+)?funnel\b|"
        r"\blead\s*(→|->|to)\s*qualified\b|\bfrom\s+lead\s+to\s+(won|close|customer)\b|\bfull\s+funnel\b",
    ),
    ("median_cycle_days", r"\bmedian\b[^?.!]{0,30}\b(sales\s+cycle|cycle|days\s+to\s+close|time\s+to\s+close)\b"),
    ("median_amount", r"\bmedian\b[^?.!]{0,25}\b(deal|size|amount|value|contract|acv|ticket)\b"),
)
"""(metric, pattern over the lower-cased request)."""

LEAD_METRICS = frozenset(
    {"funnel_conversion", "lead_to_deal", "time_to_first_touch", "first_reply_rate", "reply_interest_rate"}
)
"""Metrics over leads: no deal status, stage or amount applies; their period is the leads' creation."""


def funnel_metric(low: str) -> str | None:
    """The metric the request names among ``METRIC_PHRASES``, or None."""
    return next((metric for metric, pattern in METRIC_PHRASES if re.search(pattern, low)), None)


def metric_spans(text: str) -> list[tuple[int, int]]:
    """Where the metric phrases are in ``text``: words the parse used, never left over."""
    low = text.lower()
    return [m.span() for _, pattern in METRIC_PHRASES for m in re.finditer(pattern, low)]


__all__ = ["LEAD_METRICS", "METRIC_PHRASES", "funnel_metric", "metric_spans"]
