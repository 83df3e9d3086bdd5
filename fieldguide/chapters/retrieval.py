"""Helpers for the embeddings chapter: cut a long text into passages (chunks) to embed one by one."""

from __future__ import annotations


def sections(markdown: str) -> list[tuple[str, str]]:
    """``(heading, body)`` for each ``## `` section of a Markdown text; the text before the first is skipped."""
    found = []
    for part in markdown.split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        found.append((heading.strip(), " ".join(body.split())))
    return found


def windows(text: str, size: int, overlap: int) -> list[str]:
    """Passages of ``size`` words, each starting ``size - overlap`` words after the previous one."""
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and smaller than size")
    words = text.split()
    starts = range(0, max(len(words) - overlap, 1), size - overlap)
    return [" ".join(words[start:start + size]) for start in starts]
