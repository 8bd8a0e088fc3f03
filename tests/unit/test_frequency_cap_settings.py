"""The per-contact frequency cap comes from the settings (SALESGRAPH_EMAIL_CAP_MESSAGES / _DAYS, default 3 in 7)
and reaches the send function whichever channel is configured; a nonsensical cap is refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings
from sales.outbound import delivery_from_settings


def test_the_default_cap_is_three_emails_in_seven_days() -> None:
    delivery = delivery_from_settings(Settings(_env_file=None))
    assert (delivery.cap_messages, delivery.cap_days) == (3, 7)


@pytest.mark.parametrize("channel", ["outbox", "smtp"])
def test_the_configured_cap_reaches_every_channel(monkeypatch: pytest.MonkeyPatch, channel: str) -> None:
    monkeypatch.setenv("SALESGRAPH_SEND_CHANNEL", channel)
    monkeypatch.setenv("SALESGRAPH_EMAIL_CAP_MESSAGES", "1")
    monkeypatch.setenv("SALESGRAPH_EMAIL_CAP_DAYS", "14")
    delivery = delivery_from_settings(Settings(_env_file=None))
    assert (delivery.channel, delivery.cap_messages, delivery.cap_days) == (channel, 1, 14)


def test_a_cap_of_zero_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESGRAPH_EMAIL_CAP_MESSAGES", "0")
    with pytest.raises(ValidationError, match="email_cap_messages"):
        Settings(_env_file=None)
