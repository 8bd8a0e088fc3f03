"""The composition root: builds the store engine (and, lazily, heavier services) from Settings, once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass
class Services:
    settings: Settings
    engine: Engine
    extras: dict[str, object] = field(default_factory=dict)


def build_services(settings: Settings | None = None, *, ensure_schema: bool = True) -> Services:
    """Create the engine for the configured store; upgrade the embedded SQLite schema on first run."""
    from store.db import ensure_schema as _ensure_schema
    from store.db import make_engine

    settings = settings or get_settings()
    if settings.is_embedded:
        settings.home_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    if ensure_schema:
        _ensure_schema(engine, auto_upgrade=settings.is_embedded)
    return Services(settings=settings, engine=engine)
