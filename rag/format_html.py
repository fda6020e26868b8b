"""HTML files (.html, .htm): the page's main content, block elements as paragraphs, headings as
sections, a table row a line, a definition-list term beside its description, code blocks with
their lines; no scripts, no navigation.

Main content by the page's own landmarks (HTML5 and ARIA): when the page marks its main
content (`<main>` or `role="main"`), only that is read; navigation, search forms, footers and
banners (`<nav>`, `<footer>`, `role="navigation" | "search" | "contentinfo"`) never are. The text
is the page's text in order, so every quote is still found in the page (the reference scorer
compares quotes with BeautifulSoup's text of the whole page).

A page whose main content is nearly all link text (a table of contents, a site's general index:
`LINK_PAGE_SHARE`) holds no answer, only names that match every question about them, and is not
indexed: the ingest reports it as skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import NotContentError
from rag.format_text import decode_text
from rag.types import ExtractedText

LINK_PAGE_SHARE = 0.8
"""At least this share of the main content's characters (blanks not counted) inside links, over
at least `LINK_PAGE_LINKS` links, makes a page a page of links. In the Python 3.11 manual that is 61
of 530 pages: the contents page, the general index's 29 pages and 31 chapter tables of contents
(a tenth of its chunks before); the first page under the line is the tutorial's table of
contents (0.69), and pages with prose stay under 0.63."""
LINK_PAGE_LINKS = 10

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody tfoot thead "
    "tr ul caption details summary".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SKIP_TAGS = frozenset(("script", "style", "noscript", "template", "head", "iframe", "object", "svg",
                        "nav", "footer"))
_SKIP_ROLES = frozenset(("navigation", "search", "contentinfo", "banner"))
_PARAGRAPH = "\u2029"
"""Unicode's paragraph separator: normalisation turns it into a blank line."""
_LINE = "\u2028"
"""Unicode's line separator: a line break kept (inside <pre>); normalisation makes it "\\n"."""


def read_html(path: Path, data: bytes) -> ExtractedText:
    """The text of the main content, one paragraph a block element; the <title> (or first
    <h1>) as title; the headings, for sections."""
    raw = decode_text(path, data)
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    root = soup.find("main") or soup.find(None, {"role": "main"}) or soup.body or soup
    headings: list[tuple[int, str]] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    definitions = _Definitions()
    links = _LinkCount()
    text = "".join(_text_parts(root, headings, links, tables, definitions))
    if links.links >= LINK_PAGE_LINKS and links.linked >= LINK_PAGE_SHARE * max(links.chars, 1):
        raise NotContentError(path, f"is a page of links (a table of contents or an index: "
                                f"{links.linked / links.chars:.0%} of its text is {links.links} links); not indexed")
    # Source line breaks inside a block are layout, not structure.
    text = re.sub(r"\s+", _fold_blanks, text)
    text = re.sub(f"[{_PARAGRAPH} ]*{_PARAGRAPH}[{_PARAGRAPH} ]*", "\n\n", text)
    return ExtractedText(text, title, headings=tuple(headings), tables=tuple(tables),
                         definitions=definitions.found())


def _fold_blanks(run: re.Match[str]) -> str:
    blanks = run.group(0)
    if _PARAGRAPH in blanks:
        return _PARAGRAPH
    return "\n" * blanks.count(_LINE) if _LINE in blanks else " "


def _skipped(tag: Any) -> bool:
    return tag.name in _SKIP_TAGS or (tag.get("role") or "").strip().lower() in _SKIP_ROLES


class _Table:
    """A table being read: its header row's cells, once a row of <th> cells (or of a <thead>)
    has been read, and the cells of each row with words after it."""

    __slots__ = ("all_head", "head_rows", "header", "lines", "row")

    def __init__(self) -> None:
        self.header: tuple[str, ...] | None = None
        self.lines: list[tuple[str, ...]] = []
        self.head_rows = 0  # inside a <thead>
        self.row: list[list[str]] | None = None  # the strings of each cell of the row being read
        self.all_head = True  # every cell of that row is a <th>

    def close_row(self) -> None:
        cells = tuple(_words(strings) for strings in self.row or ())
        if any(cells) and self.header is None and self.all_head:
            self.header = cells
        elif any(cells) and self.header is not None:
            self.lines.append(cells)
        self.row = None


class _Definitions:
    """The definition lists being read: each <dt>'s words, and the last words of the <dd> (or
    <dd>s) after it, in the order of the terms."""

    TAIL = 12
    """Words of a description's end that find it in the text."""

    __slots__ = ("descriptions", "last", "terms", "words")

    def __init__(self) -> None:
        self.words: list[list[str]] = []  # per term: its words, then its description's last words
        self.terms: list[list[str]] = []  # the strings of the <dt>s being read, innermost last
        self.descriptions: list[tuple[int, list[str]]] = []  # (term, strings) of the <dd>s being read
        self.last = -1  # the term of the last </dt>

    def open(self, name: str) -> None:
        if name == "dt":
            self.terms.append([])
        elif name == "dd":
            self.descriptions.append((self.last, []))

    def close(self, name: str) -> None:
        if name == "dt" and self.terms:
            words = _words(self.terms.pop())
            self.words.append([words, ""])
            self.last = len(self.words) - 1 if words else -1
        elif name == "dd" and self.descriptions:
            term, strings = self.descriptions.pop()
            if term >= 0:
                self.words[term][1] = " ".join(_words(strings).split()[-self.TAIL:])

    def add(self, part: str) -> None:
        for strings in self.terms:
            strings.append(part)
        for _, strings in self.descriptions:
            strings.append(part)

    def found(self) -> tuple[tuple[str, str], ...]:
        return tuple((term, tail) for term, tail in self.words if term and tail)


def _words(strings: list[str]) -> str:
    """The words of strings read one after another, one blank between each two."""
    return " ".join("".join(strings).split())


class _LinkCount:
    """Characters (blanks not counted) of the text read, those inside links, and the links."""

    __slots__ = ("chars", "linked", "links")

    def __init__(self) -> None:
        self.chars = self.linked = self.links = 0


def _text_parts(root: Any, headings: list[tuple[int, str]], count: _LinkCount,
                tables: list[tuple[tuple[str, ...], ...]], definitions: _Definitions) -> Iterator[str]:
    """The page's strings in order, a paragraph mark where a block element opens and closes;
    scripts, styles, navigation and the like left out. One pass with an explicit stack: linear
    in the page, however deep its nesting (a tree walk that edits the tree was quadratic).

    A heading's words are collected into `headings`; a <dt> runs on into its <dd> (a
    reference manual's term, e.g. a setting's name, stays beside its description, and every
    sentence of the description knows its term through `definitions`); cells of a
    row are one line, paragraphs inside a cell included; the line breaks of a <pre> are kept.
    A table with a header row goes into `tables` as its rows' cells, the header's first, and each
    term of a definition list into `definitions`."""
    from bs4.element import CData, NavigableString, Tag

    stack = [(root, iter(root.contents))]
    heading: list[str] | None = None
    level = 0
    glue = False  # after a </dt>: the marks up to the next words are one space
    pre = 0
    cell = 0  # inside a <td>/<th>: its blocks (Sphinx and MkDocs wrap cells in <p>) stay on the row's line
    anchor = 0  # inside an <a href>
    open_tables: list[_Table] = []  # the tables being read, innermost last

    def in_row(words: str) -> str:
        if open_tables and open_tables[-1].row:
            open_tables[-1].row[-1].append(words)
        if definitions.terms or definitions.descriptions:
            definitions.add(words)
        return words

    def mark() -> str:
        return " " if glue or cell else _PARAGRAPH

    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if node is root:
                continue
            if heading is not None and node.name == f"h{level}":
                words = _words(heading)
                if words:
                    headings.append((level, words))
                heading = None
            if node.name == "pre":
                pre -= 1
            if node.name in _CELL_TAGS:
                cell -= 1
            if node.name == "a" and node.get("href") is not None:
                anchor -= 1
            if open_tables:
                if node.name == "tr" and open_tables[-1].row is not None:
                    open_tables[-1].close_row()
                elif node.name == "thead":
                    open_tables[-1].head_rows -= 1
                elif node.name == "table":
                    table = open_tables.pop()
                    if table.header is not None and table.lines:
                        tables.append((table.header, *table.lines))
            if node.name in ("dt", "dd"):
                definitions.close(node.name)
            if node.name == "dt":
                yield in_row(" ")
                glue = True
            elif node.name in _BLOCK_TAGS:
                yield in_row(mark())
        elif isinstance(child, Tag):
            if _skipped(child):
                continue
            if child.name in _HEADINGS and heading is None:
                heading, level = [], _HEADINGS[child.name]
            if child.name == "pre":
                pre += 1
            if child.name in _BLOCK_TAGS:
                yield in_row(mark())
            elif child.name in _CELL_TAGS:
                cell += 1
                if open_tables and open_tables[-1].row is not None:
                    open_tables[-1].row.append([])
                    if child.name == "td" and not open_tables[-1].head_rows:
                        open_tables[-1].all_head = False
                yield in_row(" ")
            if child.name in ("dt", "dd"):
                definitions.open(child.name)
            if child.name == "table":
                open_tables.append(_Table())
            elif open_tables and child.name == "thead":
                open_tables[-1].head_rows += 1
            elif open_tables and child.name == "tr":
                open_tables[-1].row, open_tables[-1].all_head = [], True
            if child.name == "a" and child.get("href") is not None:
                anchor += 1
                count.links += 1
            stack.append((child, iter(child.contents)))
        elif type(child) in (NavigableString, CData):  # not comments, doctypes, declarations
            words = str(child)
            if pre:
                words = words.replace("\n", _LINE)
            if heading is not None:
                heading.append(words)
            if words.strip():
                glue = False
                solid = len(words) - sum(c.isspace() for c in words)
                count.chars += solid
                if anchor:
                    count.linked += solid
            yield in_row(words)
