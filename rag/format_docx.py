"""Word files (.docx): paragraphs and tables in document order, through python-docx; headings
(the built-in "Heading N" and "Title" styles) as sections; the title from the core properties,
else the first heading. A table's first row is its header row (the names of its columns, as an
HTML table's `<th>` row) when Word marks it "repeat as header row", or when the table's style
formats its first row as a header and that row holds no digit where the rows below do: Word
sets the style's header look on every new table, key-value tables ("Founded 1998") included."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from rag.errors import IngestError
from rag.types import ExtractedText

_HEADING_STYLE = re.compile(r"(?:heading|überschrift|titre)\s*(\d)", re.I)


def read_docx(path: Path, data: bytes) -> ExtractedText:
    """Each paragraph a paragraph, each table row a line of its cells; headings for sections."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IngestError(path, f"is not a readable Word file ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # python-docx raises its own errors (PackageNotFoundError, lxml's)
        raise IngestError(path, f"is not a readable Word file ({type(exc).__name__})") from exc
    paragraphs: list[str] = []
    headings: list[tuple[int, str]] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            words = " ".join(block.text.split())
            if not words:
                continue
            style = block.style.name if block.style is not None else ""
            level = 1 if style == "Title" else _heading_level(style)
            if level:
                headings.append((level, words))
            paragraphs.append(words)
        elif isinstance(block, Table):
            rows = []
            for row in block.rows:
                texts = dict.fromkeys(" ".join(c.text.split()) for c in row.cells)  # merged cells repeat
                cells = [t for t in texts if t]
                if cells:
                    rows.append(tuple(cells))
                    paragraphs.append(" ".join(cells))
            if len(rows) > 1 and len(rows[0]) > 1 and _has_header_row(block, rows):
                tables.append(tuple(rows))
    title = (document.core_properties.title or "").strip() or (headings[0][1] if headings else "")
    return ExtractedText("\n\n".join(paragraphs), title, headings=tuple(headings), tables=tuple(tables))


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _has_header_row(table: Any, rows: list[tuple[str, ...]]) -> bool:
    """Whether the table's first row names its columns (see the module's docstring)."""
    first = table._tbl.find(f"{_W}tr")
    properties = first.find(f"{_W}trPr") if first is not None else None
    if properties is not None and properties.find(f"{_W}tblHeader") is not None:
        return True
    look = table._tbl.find(f"{_W}tblPr/{_W}tblLook")
    if look is None or not _first_row_look(look):
        return False
    digits = [any(ch.isdigit() for cell in row for ch in cell) for row in rows]
    return not digits[0] and sum(digits[1:]) * 2 >= len(rows) - 1


def _first_row_look(look: Any) -> bool:
    """Whether a `w:tblLook` formats the first row as a header (`w:firstRow`, or bit 0x20 of the
    older `w:val`)."""
    flag = look.get(f"{_W}firstRow")
    if flag is not None:
        return flag in ("1", "true", "on")
    try:
        return bool(int(look.get(f"{_W}val", "0"), 16) & 0x20)
    except ValueError:
        return False


def _heading_level(style: str) -> int:
    found = _HEADING_STYLE.fullmatch(style.strip())
    return min(int(found.group(1)), 6) if found else 0
