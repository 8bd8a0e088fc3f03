"""Sentiment of interactions (VADER compound score, −1..+1) and the per-deal trend scoring and briefings use."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from sales.errors import NotFound
from store.models import Deal, Direction, Interaction

if TYPE_CHECKING:
    from sales.permissions import Actor

# VADER's own thresholds for calling a compound score positive or negative.
POSITIVE = 0.05
NEGATIVE = -0.05
# A slope smaller than this (compound points per 30 days) is "steady".
STEADY_SLOPE = 0.05


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def score_sentiment(text: str) -> float:
    """VADER's compound score for ``text``: −1 (very negative) to +1 (very positive), 0 for neutral or empty."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


def interaction_sentiment(subject: str | None, body: str) -> float:
    return score_sentiment(f"{subject}. {body}" if subject else body)


def label(score: float) -> str:
    if score >= POSITIVE:
        return "positive"
    if score <= NEGATIVE:
        return "negative"
    return "neutral"


@dataclass(frozen=True)
class SentimentPoint:
    interaction_id: int
    occurred_at: datetime
    channel: str
    direction: str
    sentiment: float


@dataclass(frozen=True)
class DealSentimentTrend:
    """How the tone of a deal's conversations moves: overall, recently, and the fitted slope over time."""

    deal_id: int
    points: list[SentimentPoint]
    mean: float | None
    recent_mean: float | None  # the last ``recent`` interactions
    slope_per_30_days: float | None  # least-squares slope of sentiment over time; None with < 2 points
    direction: str  # "improving", "declining", "steady" or "unknown"
    unscored: int  # interactions not scored yet (new or edited since the last memory sync)


def deal_sentiment_trend(
    session: Session, deal_id: int, *, actor: Actor | None = None, recent: int = 3, customer_only: bool = False
) -> DealSentimentTrend:
    """The sentiment trend of one deal from its interactions' stored scores (``interactions.sentiment``).

    Interactions whose score is not stored yet (logged or edited since the last sync) are scored on the fly
    from their text so the trend is never stale; ``unscored`` says how many that was.
    ``customer_only`` keeps inbound messages only (what the customer said, not what we wrote).
    """
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(f"there is no deal #{deal_id}")
    if actor is not None:
        from sales.permissions import ensure_can_see

        ensure_can_see(actor, deal.owner_id, f"deal #{deal_id} ({deal.name})")
    stmt = select(Interaction).where(Interaction.deal_id == deal_id)
    if customer_only:
        stmt = stmt.where(Interaction.direction == Direction.INBOUND)
    rows = session.exec(stmt.order_by(col(Interaction.occurred_at), col(Interaction.id))).all()
    points: list[SentimentPoint] = []
    unscored = 0
    for row in rows:
        assert row.id is not None
        value = row.sentiment
        if value is None:
            unscored += 1
            value = interaction_sentiment(row.subject, row.body)
        points.append(SentimentPoint(row.id, row.occurred_at, row.channel, row.direction, value))
    if not points:
        return DealSentimentTrend(deal_id, [], None, None, None, "unknown", 0)
    values = [p.sentiment for p in points]
    mean = sum(values) / len(values)
    recent_values = values[-recent:]
    recent_mean = sum(recent_values) / len(recent_values)
    slope = _slope_per_30_days(points)
    if slope is None:
        direction = "unknown"
    elif slope > STEADY_SLOPE:
        direction = "improving"
    elif slope < -STEADY_SLOPE:
        direction = "declining"
    else:
        direction = "steady"
    return DealSentimentTrend(deal_id, points, mean, recent_mean, slope, direction, unscored)


def _slope_per_30_days(points: list[SentimentPoint]) -> float | None:
    if len(points) < 2:
        return None
    origin = points[0].occurred_at
    xs = [(p.occurred_at - origin).total_seconds() / (30 * 86400) for p in points]
    ys = [p.sentiment for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if math.isclose(sxx, 0.0):
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
