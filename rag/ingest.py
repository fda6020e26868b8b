"""Read a folder of .txt, .md, .html and .pdf files into normalised Documents."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.config import IngestConfig
from rag.errors import EmptyCorpusError, IngestError
from rag.types import Document

logger = logging.getLogger(__name__)

_DATE_LINE = re.compile(r"\A\s*date:?\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
# A closing run of # counts only after a blank (CommonMark): "# Learn C#" keeps its #.
_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead "
    "tr ul caption details summary".split()
)
_SKIP_TAGS = ("script", "style", "noscript", "template", "head", "iframe", "object", "svg")
_PARAGRAPH = "\u2029"


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The documents read from a folder and the files that could not be read."""

    documents: tuple[Document, ...]
    errors: tuple[IngestError, ...]
    skipped: tuple[Path, ...]


def normalize_text(text: str) -> str:
    """Unicode NFC, one kind of line break, control characters and runs of blanks folded."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace(_PARAGRAPH, "\n\n")
    # Control characters become blanks; format characters (zero-width space, joiners) stay,
    # so that quotes still match the source file character for character.
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else " " for ch in text)
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def discover_files(docs_dir: Path, config: IngestConfig) -> tuple[list[Path], list[Path]]:
    """Return (files to read, files skipped for their type), sorted; links are not followed."""
    if not docs_dir.exists():
        raise EmptyCorpusError(f"documents folder {docs_dir} does not exist")
    if not docs_dir.is_dir():
        raise EmptyCorpusError(f"{docs_dir} is not a folder")
    wanted, skipped = [], []
    root = docs_dir.resolve()
    for path in sorted(docs_dir.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(docs_dir).parts):
            continue
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                logger.warning("skipping %s: it links outside %s", path, docs_dir)
                skipped.append(path)
                continue
        if not path.is_file():
            continue
        if path.suffix.lower() in config.extensions:
            wanted.append(path)
        elif path.name.lower() not in ("readme", "license"):
            skipped.append(path)
    return wanted, skipped


def load_documents(docs_dir: Path | str, config: IngestConfig | None = None) -> IngestReport:
    """Read every supported file under `docs_dir`; a bad file is reported, never fatal.

    Raises:
        EmptyCorpusError: the folder is missing, or no file in it could be read.
    """
    cfg = IngestConfig() if config is None else config
    root = Path(docs_dir)
    paths, skipped = discover_files(root, cfg)
    documents: list[Document] = []
    errors: list[IngestError] = []
    seen: dict[str, Path] = {}
    texts: dict[str, Path] = {}
    for path in paths:
        try:
            doc = read_document(path, root, cfg)
            if doc.text in texts:
                raise IngestError(path, f"has the same text as {texts[doc.text]}; indexed once")
        except IngestError as exc:
            logger.warning("%s", exc)
            errors.append(exc)
            continue
        texts[doc.text] = path
        if doc.doc_id in seen:
            doc_id = path.relative_to(root).as_posix()
            logger.info("%s and %s share a name; using %s", seen[doc.doc_id], path, doc_id)
            doc = Document(doc_id, doc.title, doc.text, doc.source, doc.sha256, doc.metadata)
        seen[doc.doc_id] = path
        documents.append(doc)
    if not documents:
        reasons = "; ".join(str(e) for e in errors) or "no .txt, .md, .html or .pdf file in it"
        raise EmptyCorpusError(f"nothing to index in {root}: {reasons}")
    return IngestReport(tuple(documents), tuple(errors), tuple(skipped))


def read_document(path: Path, root: Path, config: IngestConfig | None = None) -> Document:
    """Read one file into a Document. Raises IngestError naming the file and the problem."""
    cfg = IngestConfig() if config is None else config
    try:
        size = path.stat().st_size
        if size > cfg.max_file_bytes:
            raise IngestError(path, f"file is {size:,} bytes, over the {cfg.max_file_bytes:,} limit")
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot be read ({exc.strerror or exc})") from exc
    suffix = path.suffix.lower()
    metadata: dict[str, str] = {}
    if suffix == ".pdf":
        text, title = _read_pdf(path, data)
    else:
        raw = _decode(path, data)
        if suffix in (".html", ".htm"):
            text, title = _read_html(raw)
        elif suffix == ".md":
            text, title = _read_markdown(raw, metadata)
        else:
            text, title = raw, ""
    text = normalize_text(text)
    date = _DATE_LINE.match(text)
    if date:
        metadata["date"] = date.group(1)
        text = text[date.end():].strip()
    if not text.strip():
        raise IngestError(path, "holds no text")
    rel = path.relative_to(root)
    doc_id = rel.with_suffix("").as_posix()
    return Document(
        doc_id=doc_id,
        title=title.strip() or _title_from_name(path),
        text=text,
        source=rel.as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        metadata=tuple(sorted(metadata.items())),
    )


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise IngestError(path, "looks binary (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"is not UTF-8 text (bad byte at offset {exc.start})") from exc


def _title_from_name(path: Path) -> str:
    name = re.sub(r"[_-]+", " ", path.stem).strip()
    return name[:1].upper() + name[1:] if name else path.name


def _read_markdown(raw: str, metadata: dict[str, str]) -> tuple[str, str]:
    title = ""
    front = _FRONT_MATTER.match(raw)
    if front:
        for line in front.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip():
                metadata[key.strip().lower()] = value.strip().strip("\"'")
        raw = raw[front.end():]
        title = metadata.pop("title", "")
    heading = _MD_HEADING.search(raw)
    if heading and not title:
        title = heading.group(2)
    # Headings keep their words; the # marks are markup, not text.
    text = _MD_HEADING.sub(lambda m: m.group(2), raw)
    return text, title


def _read_html(raw: str) -> tuple[str, str]:
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
    return text, title


def _read_pdf(path: Path, data: bytes) -> tuple[str, str]:
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
    return "\n\n".join(_unwrap_pdf_lines(p) for p in pages), title


def _unwrap_pdf_lines(page: str) -> str:
    """Join the hard-wrapped lines of a PDF page; blank lines stay paragraph breaks."""
    page = re.sub(r"(\w)-\n(\w)", r"\1\2", page)
    return re.sub(r"(?<!\n)\n(?!\n)", " ", page)

