"""HTML files (.html, .htm): the text of the page, block elements as paragraphs, no scripts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

    soup = BeautifulSoup(raw, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    text = "".join(_text_parts(soup.body or soup))
    # Source line breaks inside a block are layout, not structure.
    text = re.sub(r"\s+", lambda m: _PARAGRAPH if _PARAGRAPH in m.group(0) else " ", text)
    text = re.sub(f"[{_PARAGRAPH} ]*{_PARAGRAPH}[{_PARAGRAPH} ]*", "\n\n", text)
    return ExtractedText(text, title)


def _text_parts(root: Any) -> Iterator[str]:
    """The page's strings in order, a paragraph mark where a block element opens and closes;
    scripts, styles and the like left out. One pass with an explicit stack: linear in the page,
    however deep its nesting (a tree walk that edits the tree was quadratic)."""
    from bs4.element import CData, NavigableString, Tag

    stack = [(root, iter(root.contents))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if node is not root and node.name in _BLOCK_TAGS:
                yield _PARAGRAPH
        elif isinstance(child, Tag):
            if child.name in _SKIP_TAGS:
                continue
            if child.name in _BLOCK_TAGS:
                yield _PARAGRAPH
            stack.append((child, iter(child.contents)))
        elif type(child) in (NavigableString, CData):  # not comments, doctypes, declarations
            yield str(child)
