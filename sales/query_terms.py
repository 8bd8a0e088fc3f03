"""The words of a pipeline question (metrics, groupings, statuses, date fields), in one light module: the domain
query (``sales.pipeline_query``) and the tools' argument schemas (``tools.schemas``) both name them from here, so
a metric or grouping added once is known to both."""

from __future__ import annotations

from typing import Literal

FunnelMetric = Literal[
    "funnel_conversion",
    "lead_to_deal",
    "time_to_first_touch",
    "first_reply_rate",
    "reply_interest_rate",
    "revenue_per_closer_hour",
]
"""The funnel figures (``sales.funnel``); the rest of ``Metric`` are deal figures."""
Metric = Literal[
    "count",
    "total_amount",
    "avg_amount",
    "median_amount",
    "win_rate",
    "avg_cycle_days",
    "median_cycle_days",
    "stage_conversion",
    FunnelMetric,
]
PAST_PIPELINE_METRICS: tuple[str, ...] = ("count", "total_amount", "avg_amount", "median_amount")
"""The metrics of the pipeline as it stood on a past day (``open_on``): counts and amounts of open deals."""
GroupBy = Literal[
    "owner", "team", "stage", "industry", "product", "region", "account", "source", "loss_reason", "month", "quarter"
]
DealStatus = Literal["open", "won", "lost", "closed", "all"]
DateField = Literal["created", "closed", "expected_close"]

__all__ = ["PAST_PIPELINE_METRICS", "DateField", "DealStatus", "FunnelMetric", "GroupBy", "Metric"]
