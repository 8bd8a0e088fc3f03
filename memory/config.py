"""Memory's own settings (env prefix ``SALESGRAPH_``): which embedding backend, and where the Chroma index lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.settings import Settings, get_settings


class MemorySettings(BaseSettings):
    """Embedding and index options; the workspace (home, chroma_url) comes from ``app.settings.Settings``."""

    model_config = SettingsConfigDict(env_prefix="SALESGRAPH_", env_file=".env", extra="ignore")

    embeddings: str = Field(
        default="minilm",
        description="'minilm' (offline all-MiniLM-L6-v2 on onnxruntime) or 'openai:<model>' (OpenAI-compatible API).",
    )
    embeddings_base_url: str | None = Field(
        default=None,
        description="Base URL of the OpenAI-compatible embeddings API; default $SALESGRAPH_OPENAI_BASE_URL.",
    )
    embeddings_api_key: SecretStr | None = Field(
        default=None, description="API key for the embeddings API; default $SALESGRAPH_OPENAI_API_KEY."
    )
    index_on_write: bool = Field(
        default=True,
        description="Embed an interaction when the transaction that logs or edits it commits (else only `memory sync`).",
    )
    chroma_dir: Path | None = Field(default=None, description="On-disk index folder; default $SALESGRAPH_HOME/chroma.")

    home_dir: Path = Path("~/.salesgraph")
    chroma_url: str | None = None

    @classmethod
    def from_app(cls, app_settings: Settings | None = None) -> MemorySettings:
        app_settings = app_settings or get_settings()
        settings = cls()
        settings.home_dir = app_settings.home_dir
        settings.chroma_url = app_settings.chroma_url
        if settings.embeddings_base_url is None:
            settings.embeddings_base_url = app_settings.openai_base_url
        if settings.embeddings_api_key is None:
            settings.embeddings_api_key = app_settings.openai_api_key
        return settings

    @property
    def chroma_path(self) -> Path:
        return (self.chroma_dir or self.home_dir / "chroma").expanduser()
