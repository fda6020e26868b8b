"""Markdown files (.md): front matter as metadata, headings as plain words and as sections."""

from __future__ import annotations

import re
from pathlib import Path

from rag.format_text import decode_text
from rag.types import ExtractedText

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
# A closing run of # counts only after a blank (CommonMark): "# Learn C#" keeps its #.
_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)


def read_markdown(path: Path, data: bytes) -> ExtractedText:
    """Front matter becomes metadata (its `title` the title), else the first heading is the title."""
    raw = decode_text(path, data)
    metadata: dict[str, str] = {}
    title = ""
    front = _FRONT_MATTER.match(raw)
    if front:
        for line in front.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip():
                metadata[key.strip().lower()] = value.strip().strip("\"'")
        raw = raw[front.end():]
        title = metadata.pop("title", "")
    heading = _MD_HEADING.search(raw)
    if heading and not title:
        title = heading.group(2)
    # Headings keep their words, a paragraph of their own; the # marks are markup, not text.
    # (Code fences are not told apart: a "# comment" line in one reads as a heading.)
    headings = tuple((len(m.group(1)), m.group(2)) for m in _MD_HEADING.finditer(raw))
    text = _MD_HEADING.sub(lambda m: f"\n{m.group(2)}\n", raw)
    return ExtractedText(text, title, tuple(sorted(metadata.items())), headings)
