"""HTML files (.html, .htm): the text of the page, block elements as paragraphs, no scripts."""

from __future__ import annotations

import re
from pathlib import Path

from rag.format_text import decode_text
from rag.types import ExtractedText

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead "
    "tr ul caption details summary".split()
)
_SKIP_TAGS = ("script", "style", "noscript", "template", "head", "iframe", "object", "svg")
_PARAGRAPH = "\u2029"
"""Unicode's paragraph separator: normalisation turns it into a blank line."""


def read_html(path: Path, data: bytes) -> ExtractedText:
    """The text of the body, one paragraph a block element; the <title> (or first <h1>) as title."""
    raw = decode_text(path, data)
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString

    soup = BeautifulSoup(raw, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    for tag in soup.find_all(_SKIP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(NavigableString(_PARAGRAPH))
        tag.insert_after(NavigableString(_PARAGRAPH))
    body = soup.body or soup
    text = body.get_text()
    # Source line breaks inside a block are layout, not structure.
    text = re.sub(r"\s+", lambda m: _PARAGRAPH if _PARAGRAPH in m.group(0) else " ", text)
    text = re.sub(f"[{_PARAGRAPH} ]*{_PARAGRAPH}[{_PARAGRAPH} ]*", "\n\n", text)
    return ExtractedText(text, title)
