"""Splitting interaction text into pieces the embedding model sees whole (MiniLM reads at most 256 tokens)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# About 1.3 WordPiece tokens per English word: 160 words stay under MiniLM's 256-token window with room for
# the subject line that prefixes every chunk. The overlap keeps a sentence cut at a boundary findable.
CHUNK_WORDS = 160
OVERLAP_WORDS = 30
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    number: int
    text: str  # what is embedded: the subject line, then this piece of the body
    start: int  # character offsets of the piece in the body, for snippets
    end: int


def chunk_interaction(subject: str | None, body: str) -> list[Chunk]:
    """The chunks of one interaction, deterministic for a given text (chunk ids are derived from them)."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(body)]
    prefix = f"{subject.strip()}\n" if subject and subject.strip() else ""
    if len(words) <= CHUNK_WORDS:
        return [Chunk(0, (prefix + body.strip()) or "(empty)", 0, len(body))]
    chunks: list[Chunk] = []
    step = CHUNK_WORDS - OVERLAP_WORDS
    for number, first in enumerate(range(0, len(words), step)):
        last = min(first + CHUNK_WORDS, len(words)) - 1
        start, end = words[first][0], words[last][1]
        chunks.append(Chunk(number, prefix + body[start:end], start, end))
        if last == len(words) - 1:
            break
    return chunks
