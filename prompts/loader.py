"""The one prompt loader: reads ``prompts/*.md`` and fills their ``{{name}}`` placeholders.

Every placeholder must be supplied and nothing extra may be passed, so a renamed placeholder fails loudly.
Customer-originated text (emails, notes, CRM fields) only enters a prompt through ``data_block``, which fences it
so a model reads it as data, never as instructions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


class PromptError(ValueError):
    """A prompt file is missing or its placeholders do not match the values given."""


@lru_cache(maxsize=64)
def load(name: str) -> str:
    """The raw text of ``prompts/<name>.md`` (``name`` may contain a folder, e.g. ``tools/create_lead``)."""
    path = (PROMPTS_DIR / f"{name}.md").resolve()
    if PROMPTS_DIR not in path.parents or not path.is_file():
        raise PromptError(f"no prompt file prompts/{name}.md")
    return path.read_text(encoding="utf-8").strip()


def placeholders(name: str) -> set[str]:
    return set(_PLACEHOLDER.findall(load(name)))


def render(name: str, **values: object) -> str:
    """Fill every placeholder of ``prompts/<name>.md``; a missing or unexpected value is an error."""
    text = load(name)
    wanted = placeholders(name)
    missing = sorted(wanted - set(values))
    extra = sorted(set(values) - wanted)
    if missing or extra:
        raise PromptError(f"prompts/{name}.md: missing values {missing}, unexpected values {extra}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def data_block(label: str, text: str) -> str:
    """Fence untrusted text: the model is told everything inside is data. A forged closing fence is defused."""
    safe_label = re.sub(r"[^a-z0-9_ -]", "", label.lower())[:40] or "data"
    body = re.sub(r"(?i)</?\s*data\b", "[data", text)
    return f'<data source="{safe_label}">\n{body}\n</data>'


_FENCED = re.compile(r'\A<data source="[a-z0-9_ -]*">\n(?P<body>.*)\n</data>\Z', re.DOTALL)


def unfence(text: str) -> str:
    """The body of a ``data_block`` (for readers of our own fenced messages, like the offline model), else ``text``."""
    match = _FENCED.match(text)
    return match.group("body") if match else text


def tool_names() -> list[str]:
    return sorted(p.stem for p in (PROMPTS_DIR / "tools").glob("*.md"))
