"""Plain text files (.txt): the bytes, decoded as UTF-8."""

from __future__ import annotations

from pathlib import Path

from rag.errors import IngestError
from rag.types import ExtractedText


def read_text(path: Path, data: bytes) -> ExtractedText:
    """A plain text file, as it is."""
    return ExtractedText(decode_text(path, data))


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings raise IngestError."""
    if b"\x00" in data[:8192]:
        raise IngestError(path, "looks binary (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"is not UTF-8 text (bad byte at offset {exc.start})") from exc
