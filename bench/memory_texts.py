"""Realistic interaction texts for the memory benchmarks, from the demo company's templates (sales.demo_text)."""

from __future__ import annotations

import random

from sales.demo_text import COMPANY_STEMS, FIRST_NAMES, INDUSTRIES, LAST_NAMES, TOPICS, Slots, TextComposer

TOPIC_NAMES = sorted(TOPICS)
CHANNELS = ("email", "call", "meeting", "note", "slack")


def make_texts(n: int, seed: int = 0) -> list[tuple[str, str | None, str]]:
    """``n`` (channel, subject, body) triples drawn from every demo topic and tone."""
    rng = random.Random(seed)
    composer = TextComposer(rng)
    industries = sorted(INDUSTRIES)
    out: list[tuple[str, str | None, str]] = []
    for _ in range(n):
        industry = rng.choice(industries)
        slots = Slots(
            company=f"{rng.choice(COMPANY_STEMS)} {rng.choice(INDUSTRIES[industry])}",
            industry=industry,
            contact=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            contact_title="VP Sales",
            rep=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            manager=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            amount=f"${rng.randint(5, 400) * 1000:,}",
        )
        channel = rng.choice(CHANNELS)
        subject, body = composer.topic(
            rng.choice(TOPIC_NAMES), rng.choice(("pos", "neg", "neu")), slots, email=channel == "email"
        )
        out.append((channel, subject, body))
    return out
