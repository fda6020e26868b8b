"""Markdown files (.md), parsed as CommonMark with tables (markdown-it-py): the text a reader of
the rendered page sees, so no markup reaches a quote.

Front matter is metadata (its `title` the title, else the first heading's). Each block is a
paragraph: headings (also sections), paragraphs, list items, block quotes, a table row a line
of its cells ("Wednesday hills 38 km", as an HTML table's), code blocks whole with their lines
and without their fences (a "# comment" inside one is code, not a heading). Inline markup goes,
its words stay: emphasis, `code` spans, a link's text (not its address), an image's alt text;
inline HTML tags go, an HTML block is read by the HTML reader (a `<table>` a line a row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.format_text import decode_text
from rag.types import ExtractedText

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_BLOCK = "\n\n"


def read_markdown(path: Path, data: bytes) -> ExtractedText:
    """The rendered text, one paragraph a block; the title from front matter or the first heading."""
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
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(raw)
    headings: list[tuple[int, str]] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    text = "".join(_blocks(tokens, headings, tables))
    if headings and not title:
        title = headings[0][1]
    return ExtractedText(text, title, tuple(sorted(metadata.items())), tuple(headings), tuple(tables))


def _blocks(tokens: Sequence[Any], headings: list[tuple[int, str]],
            tables: list[tuple[tuple[str, ...], ...]]) -> Iterator[str]:
    """Each block's text with a paragraph break before it; a table row's cells on one line.
    A table goes into `tables` as its rows' cells, the header row's first."""
    heading = 0  # the level of the heading being read, else 0
    row: list[str] | None = None
    lines: list[tuple[str, ...]] = []  # the cells of the rows of the table being read
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            heading = int(token.tag[1])
        elif kind == "heading_close":
            heading = 0
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            if not lines or any(row):  # GFM's first row is always the header
                lines.append(tuple(row))
            yield _BLOCK + " ".join(cell for cell in row if cell)
            row = None
        elif kind == "table_close":
            if len(lines) > 1 and any(lines[0]):
                tables.append(tuple(lines))
            lines = []
        elif kind == "inline":
            words = _inline(token.children or ())
            if row is not None:
                row.append(" ".join(words.split()))
                continue
            if heading:
                words = " ".join(words.split())
                if words:
                    headings.append((heading, words))
            yield _BLOCK + words
        elif kind in ("fence", "code_block"):
            yield _BLOCK + token.content.rstrip("\n")
        elif kind == "html_block":
            block = _html_text(token.content)
            tables += block.tables
            yield _BLOCK + block.text


def _inline(children: Sequence[Any]) -> str:
    """An inline run's words without its markup."""
    out: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "image":
            out.append(_inline(child.children or ()))  # the alt text
        # Emphasis, links and inline HTML tags are markup: their words (children) are read above.
    return "".join(out)


def _html_text(html: str) -> ExtractedText:
    """An HTML block's text as the HTML reader makes it: a table row a line, blocks paragraphs,
    scripts and navigation left out; a block of nothing but links is left out too."""
    from rag.errors import NotContentError
    from rag.format_html import read_html

    try:
        return read_html(Path("block.html"), html.encode("utf-8"))
    except NotContentError:
        return ExtractedText("", "")
