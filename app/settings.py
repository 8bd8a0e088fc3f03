"""Settings read once from the environment (prefix ``SALESGRAPH_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything salesgraph reads from its environment.

    Secrets are ``SecretStr`` so they never print in logs, reprs or prompts.
    """

    model_config = SettingsConfigDict(env_prefix="SALESGRAPH_", env_file=".env", extra="ignore")

    home: Path = Field(
        default=Path("~/.salesgraph"), description="Workspace folder: SQLite store, Chroma index, models, reports."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite at $SALESGRAPH_HOME/salesgraph.db."
    )
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL (http://host:port); default is an on-disk index under home."
    )

    model: str = Field(default="offline", description="Chat model: 'offline' or 'openai:<model>'.")
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_compact_tools: bool = Field(
        default=False,
        description="Send the tools' schemas compacted (first sentence of each description, no per-argument "
        "descriptions) for a local model with a small context window.",
    )
    openai_max_tokens: int | None = Field(
        default=None, ge=1, description="Cap on the tokens one model reply may generate (stops a looping small model)."
    )

    send_channel: Literal["outbox", "smtp"] = "outbox"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "salesgraph@localhost"
    email_cap_messages: int = Field(
        default=3,
        ge=1,
        description="Per-contact frequency cap: at most this many emails to one address in email_cap_days days; "
        "checked inside every send (a send over the cap is held, still approved, until the cap allows).",
    )
    email_cap_days: int = Field(default=7, ge=1, description="The frequency cap's window in days.")

    imap_host: str | None = Field(
        default=None, description="IMAP server to read replies from (salesgraph inbox poll); unset: no polling."
    )
    imap_port: int | None = Field(default=None, description="Default 993 with imap_security=ssl, else 143.")
    imap_security: Literal["ssl", "starttls", "none"] = Field(
        default="ssl", description="ssl (IMAPS), starttls (upgrade a plain connection), or none (loopback only)."
    )
    imap_username: str | None = None
    imap_password: SecretStr | None = None
    imap_folder: str = Field(default="INBOX", description="The mailbox folder replies arrive in.")
    imap_poll_minutes: int = Field(default=5, ge=1, description="How often the scheduler polls the mailbox.")
    imap_first_poll_days: int = Field(
        default=14, ge=0, description="The first poll reads only mail from the last N days (0: the whole folder)."
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = Field(default=None, description="App-level token (xapp-...) for Socket Mode.")
    slack_api_url: str | None = Field(
        default=None, description="Override for the Slack Web API base URL (tests, proxies)."
    )

    briefings_config: Path | None = Field(
        default=None, description="Daily briefings config (YAML); default $SALESGRAPH_HOME/briefings.yaml."
    )

    hubspot_token: SecretStr | None = Field(
        default=None, description="HubSpot private app access token (CRM deals, owners, pipelines scopes)."
    )
    hubspot_api_url: str = Field(default="https://api.hubapi.com", description="HubSpot API base URL.")
    pipedrive_token: SecretStr | None = Field(default=None, description="Pipedrive API token (sent as x-api-token).")
    pipedrive_api_url: str = Field(
        default="https://api.pipedrive.com", description="Pipedrive API base URL (or https://COMPANY.pipedrive.com)."
    )

    default_phone_region: str = Field(
        default="US", description="Region used to parse phone numbers written without a country code."
    )
    approval_ttl_hours: int = Field(
        default=72, ge=1, description="How long an approval request stays open before it expires."
    )

    recalibration_window: int = Field(
        default=1000,
        ge=50,
        description="Lead scoring: the rolling Platt refit (daily job, `salesgraph model recalibrate`) uses the last "
        "N labelled leads.",
    )
    drift_auc_drop: float = Field(
        default=0.05, ge=0, description="Drift flag: recent ROC AUC this far below the model card's holdout AUC."
    )
    drift_ece_rise: float = Field(
        default=0.05, ge=0, description="Drift flag: recent calibration error (ECE) this far above the holdout's."
    )
    drift_psi: float = Field(
        default=0.2, ge=0, description="Drift flag: population stability index of a top feature at or above this."
    )

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_dir / 'salesgraph.db'}"

    @property
    def is_embedded(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
