"""Plain text files (.txt): the bytes, decoded as UTF-8, and the structure a plain notice shows
by its lines: a short first line with more text after it is the title ("MAPLE COURT RESIDENTS'
ASSOCIATION"), and a short line in capitals ("1. SERVICE CHARGE", "CONTACTS"), or a numbered
one in title case ("2. Loans and Renewals"), with text after it is a heading, so a section."""

from __future__ import annotations

import re
from pathlib import Path

from rag.errors import IngestError
from rag.types import ExtractedText

_NUMBER = re.compile(r"(?:\d+(?:\.\d+)*[.)]?|[IVX]+\.)\s+")
_DATE = re.compile(r"\s*date:?\s+\d{4}-\d{2}-\d{2}", re.I)
_ENDS_SENTENCE = ".!?:;,"
TITLE_WORDS = 12
"""The most words a title line has."""
HEADING_WORDS = 8
"""The most words a heading line has."""


def read_text(path: Path, data: bytes) -> ExtractedText:
    """A plain text file, as it is, with the title and headings its lines show."""
    text = decode_text(path, data)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    filled = [line for line in lines if line]
    title = ""
    headings: list[tuple[int, str]] = []
    for at, line in enumerate(filled[:-1]):  # a heading or title has text after it
        if at == 0 and _title_like(line):
            title = line
            headings.append((1, line))
        elif _heading_like(line):
            headings.append((2, line))
    return ExtractedText(text, title, headings=tuple(headings))


def _short_phrase(line: str, most: int) -> bool:
    return 0 < len(line.split()) <= most and line[-1] not in _ENDS_SENTENCE and any(c.isalpha() for c in line)


def _title_like(line: str) -> bool:
    return _short_phrase(line, TITLE_WORDS) and not _DATE.match(line)


def _heading_like(line: str) -> bool:
    if not _short_phrase(line, HEADING_WORDS):
        return False
    numbered = _NUMBER.match(line)
    words = line[numbered.end():] if numbered else line
    letters = [c for c in words if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    return bool(numbered) and all(w[0].isupper() or not w[0].isalpha() for w in words.split() if len(w) > 3)


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings raise IngestError."""
    if b"\x00" in data[:8192]:
        raise IngestError(path, "looks binary (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"is not UTF-8 text (bad byte at offset {exc.start})") from exc
