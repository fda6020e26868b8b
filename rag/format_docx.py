"""Word files (.docx): paragraphs and tables in document order, through python-docx; headings
(the built-in "Heading N" and "Title" styles) as sections; the title from the core properties,
else the first heading."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

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
            for row in block.rows:
                cells = list(dict.fromkeys(" ".join(c.text.split()) for c in row.cells))  # merged cells repeat
                line = " ".join(c for c in cells if c)
                if line:
                    paragraphs.append(line)
    title = (document.core_properties.title or "").strip() or (headings[0][1] if headings else "")
    return ExtractedText("\n\n".join(paragraphs), title, headings=tuple(headings))


def _heading_level(style: str) -> int:
    found = _HEADING_STYLE.fullmatch(style.strip())
    return min(int(found.group(1)), 6) if found else 0
