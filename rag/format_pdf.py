"""PDF files (.pdf): the text layer, through pypdf; encrypted or broken files are refused."""

from __future__ import annotations

import re
from pathlib import Path

from rag.errors import IngestError
from rag.types import ExtractedText


def read_pdf(path: Path, data: bytes) -> ExtractedText:
    """The text layer of every page, hard-wrapped lines joined; the title from the metadata."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise IngestError(path, "is an encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = str(info.title) if info is not None and info.title else ""
    except IngestError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError,
            RecursionError, IndexError, ZeroDivisionError) as exc:
        raise IngestError(path, f"is not a readable PDF ({type(exc).__name__}: {exc})") from exc
    return ExtractedText("\n\n".join(_unwrap_pdf_lines(p) for p in pages), title)


def _unwrap_pdf_lines(page: str) -> str:
    """Join the hard-wrapped lines of a PDF page; blank lines stay paragraph breaks."""
    page = re.sub(r"(\w)-\n(\w)", r"\1\2", page)
    return re.sub(r"(?<!\n)\n(?!\n)", " ", page)
