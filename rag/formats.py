"""The registry of file formats: a new one is one module (a `read(path, data)` function) and
one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.format_docx import read_docx
from rag.format_html import read_html
from rag.format_markdown import read_markdown
from rag.format_pdf import read_pdf
from rag.format_text import read_text
from rag.types import ExtractedText


@dataclass(frozen=True, slots=True)
class FileFormat:
    """A kind of file the ingest stage reads."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path, bytes], ExtractedText]
    text_is_source: bool
    """The file itself is the text a quote is checked against (plain text; Markdown is read as
    rendered, like HTML)."""


FORMATS: tuple[FileFormat, ...] = (
    FileFormat("text", (".txt",), read_text, text_is_source=True),
    FileFormat("markdown", (".md",), read_markdown, text_is_source=False),
    FileFormat("html", (".html", ".htm"), read_html, text_is_source=False),
    FileFormat("pdf", (".pdf",), read_pdf, text_is_source=False),
    FileFormat("docx", (".docx",), read_docx, text_is_source=False),
)


def supported_suffixes() -> tuple[str, ...]:
    """Every suffix some format reads, in registry order."""
    return tuple(s for f in FORMATS for s in f.suffixes)


def describe_suffixes() -> str:
    """The suffixes for a message: ".txt, .md, .html, .htm, .pdf or .docx"."""
    names = supported_suffixes()
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def format_for(path: Path | str) -> FileFormat | None:
    """The format that reads `path` (by its suffix, any case), or None."""
    suffix = Path(path).suffix.lower()
    return next((f for f in FORMATS if suffix in f.suffixes), None)
