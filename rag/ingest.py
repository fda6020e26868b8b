"""Read a folder of documents (every format `rag.formats` registers) into normalised Documents."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.config import IngestConfig
from rag.errors import EmptyCorpusError, IngestError, NotContentError
from rag.formats import describe_suffixes, format_for, supported_suffixes
from rag.journal import text_key
from rag.types import SECTION_SEPARATOR, Document, name_of

logger = logging.getLogger(__name__)

_DATE_LINE = re.compile(r"\A\s*date:?\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
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


def is_hidden(path: Path, docs_dir: Path) -> bool:
    """A file, or one inside a folder, whose name starts with "." is not a document."""
    return any(part.startswith(".") for part in path.relative_to(docs_dir).parts)


def discover_files(docs_dir: Path, config: IngestConfig) -> tuple[list[Path], list[Path]]:
    """Return (files to read, files skipped for their type), sorted; links are not followed."""
    if not docs_dir.exists():
        raise EmptyCorpusError(f"documents folder {docs_dir} does not exist")
    if not docs_dir.is_dir():
        raise EmptyCorpusError(f"{docs_dir} is not a folder")
    wanted, skipped = [], []
    suffixes = supported_suffixes() if config.extensions is None else config.extensions
    root = docs_dir.resolve()
    for path in sorted(docs_dir.rglob("*")):
        if is_hidden(path, docs_dir):
            continue
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # a loop, or a link to nothing
                logger.warning("skipping %s: it is a broken link or a link loop", path)
                skipped.append(path)
                continue
            if not target.is_relative_to(root):
                logger.warning("skipping %s: it links outside %s", path, docs_dir)
                skipped.append(path)
                continue
        if not path.is_file():
            continue
        if path.suffix.lower() in suffixes and format_for(path) is not None:
            wanted.append(path)
        elif path.name.lower() not in ("readme", "license"):
            skipped.append(path)
    return wanted, skipped


ParseJob = tuple[Path, Path, IngestConfig]
"""A file to read and parse: its path, the documents folder, the settings."""
Parsed = Document | tuple[Path, str, str]
"""A parsed file, or (path, reason, sha256) for one that could not be read (this pickles); the
sha256 is the file's for a NotContentError, "" for any other error."""


def load_documents(
    docs_dir: Path | str, config: IngestConfig | None = None, known: Mapping[str, Document] | None = None,
    parse: Callable[[list[ParseJob]], Iterable[Parsed]] | None = None,
    not_content: Mapping[str, tuple[str, str]] | None = None,
    keep: Callable[[Document], Document] | None = None,
) -> IngestReport:
    """Read every supported file under `docs_dir`; a bad file is reported, never fatal.
    `known` (source path -> Document, from the index before) spares reading a file again
    whose bytes are the same: a documentation site re-ingests in seconds after one page changed.
    `not_content` (source path -> (sha256, reason)) does the same for the files found to hold no
    content before (pages of links): reported as such, not read.
    `parse` parses the other files elsewhere (`rag.ray_ingest`: on a Ray cluster), each with
    `parse_job`, in order.
    `keep` is given each document as it is read and the report holds what it returns: a build
    writes the text to disk there and keeps a document that reads it back (`rag.store.DocumentSpool`),
    so that no more than a few texts are held at once.

    Raises:
        EmptyCorpusError: the folder is missing, or no file in it could be read.
    """
    cfg = IngestConfig() if config is None else config
    root = Path(docs_dir)
    paths, skipped = discover_files(root, cfg)
    documents: list[Document] = []
    errors: list[IngestError] = []
    seen: dict[str, Path] = {}
    texts: dict[bytes, Path] = {}  # a digest of each text, not the text
    for path, outcome in zip(paths, _read_all(paths, root, cfg, known, parse, not_content), strict=True):
        try:
            if isinstance(outcome, IngestError):
                raise outcome
            doc = outcome
            digest = text_key(doc.text)
            if digest in texts:
                raise IngestError(path, f"has the same text as {texts[digest]}; indexed once")
        except IngestError as exc:
            logger.info("%s", exc)  # the caller reports `errors` (`skipped_lines`), once
            errors.append(exc)
            continue
        texts[digest] = path
        if doc.doc_id in seen:
            doc_id = path.relative_to(root).as_posix()
            logger.info("%s and %s share a name; using %s", seen[doc.doc_id], path, doc_id)
            doc = dataclasses.replace(doc, doc_id=doc_id)
        seen[doc.doc_id] = path
        documents.append(doc if keep is None else keep(doc))
    if not documents:
        reasons = "; ".join(str(e) for e in errors) or f"no {describe_suffixes()} file in it"
        raise EmptyCorpusError(f"nothing to index in {root}: {reasons}")
    return IngestReport(tuple(documents), tuple(errors), tuple(skipped))


def skipped_lines(errors: Sequence[IngestError], docs_dir: Path | str) -> list[str]:
    """What to say of the files left out: one line a file, and the pages of links together in one
    (a documentation site has dozens: its table of contents, its index's letters), named relative
    to `docs_dir`."""
    lines = [str(e) for e in errors if not isinstance(e, NotContentError)]
    quiet = [e for e in errors if isinstance(e, NotContentError)]
    if quiet:
        names = ", ".join(_relative(e.path, Path(docs_dir)) for e in quiet[:3])
        more = f" and {len(quiet) - 3} more" if len(quiet) > 3 else ""
        pages = f"{len(quiet)} page{'' if len(quiet) == 1 else 's'}"
        lines.append(f"{pages} of links, tables of contents or indexes that hold no answers ({names}{more})")
    return lines


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


PARALLEL_FROM = 32
"""With this many files to parse or more, and `IngestConfig.parse_workers` above one, they are
parsed by a pool of processes (spawned, so a server's threads are never forked): parsing is
pure Python and held one core of two while the other idled."""


def read_document(
    path: Path, root: Path, config: IngestConfig | None = None, known: Mapping[str, Document] | None = None,
) -> Document:
    """Read one file into a Document (the one in `known` under its path, if its bytes are the
    same). Raises IngestError naming the file and the problem."""
    data, sha256 = _read_bytes(path, IngestConfig() if config is None else config)
    before = _known(path, root, sha256, known)
    return before if isinstance(before, Document) else _parse(path, root, data, sha256)


def _read_all(
    paths: Sequence[Path], root: Path, cfg: IngestConfig, known: Mapping[str, Document] | None,
    parse: Callable[[list[ParseJob]], Iterable[Parsed]] | None = None,
    not_content: Mapping[str, tuple[str, str]] | None = None,
) -> Iterator[Document | IngestError]:
    """Each file's Document or the error that kept it out, in order, one at a time; the files to
    parse are parsed by `parse` if given, else in a process pool when there are at least
    `PARALLEL_FROM` of them. No more than one file's bytes are held here at a time (a pool
    process reads its files itself), and no parsed text longer than the caller takes to use it."""
    outcomes: list[Document | IngestError | None] = [None] * len(paths)
    todo: list[int] = []
    pool = parse is not None or (cfg.parse_workers > 1 and len(paths) >= PARALLEL_FROM)
    for i, path in enumerate(paths):
        try:
            _, sha256 = _read_bytes(path, cfg)
        except IngestError as exc:
            outcomes[i] = exc
            continue
        outcomes[i] = _known(path, root, sha256, known, not_content)
        if outcomes[i] is None:
            todo.append(i)
    jobs = [(paths[i], root, cfg) for i in todo]
    parsed: Iterator[Parsed]
    if parse is not None and jobs:
        parsed = iter(parse(jobs))
    elif pool and len(jobs) >= PARALLEL_FROM:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(cfg.parse_workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as executor:
            yield from _merged(outcomes, todo, executor.map(parse_job, jobs, chunksize=4))
        return
    else:  # too few to be worth starting processes (one page of a site changed)
        parsed = map(parse_job, jobs)
    yield from _merged(outcomes, todo, parsed)


def exit_with_parent(parent: int, every: float = 0.5) -> None:
    """A pool process's initializer: the process ends itself once `parent`, the process that
    started it, is gone. A `rag ingest` killed (kill -9, out of memory) cannot close its pool, and
    a pool process, holding both ends of the pipe it waits on for work, would wait forever: each
    such kill left two parsers behind."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="rag-parent-watch", daemon=True).start()


def _merged(outcomes: list[Document | IngestError | None], todo: list[int],
            parsed: Iterable[Parsed]) -> Iterator[Document | IngestError]:
    """The outcomes in file order, those at `todo` taken from `parsed` as they come."""
    parsed_iter = iter(parsed)
    at = set(todo)
    for i, outcome in enumerate(outcomes):
        if i in at:
            got = next(parsed_iter)
            yield _error(got) if isinstance(got, tuple) else got
        elif outcome is not None:
            yield outcome
        outcomes[i] = None


def parse_job(job: ParseJob) -> Parsed:
    """A file read and parsed (in a pool process, a Ray worker, or here); an IngestError comes
    back as (path, reason, sha256), which pickles."""
    path, root, cfg = job
    try:
        outcome = _parse_or_error(path, root, *_read_bytes(path, cfg))
    except IngestError as exc:
        outcome = exc
    if isinstance(outcome, IngestError):
        return outcome.path, outcome.reason, outcome.sha256 if isinstance(outcome, NotContentError) else ""
    return outcome


def _error(parsed: tuple[Path, str, str]) -> IngestError:
    path, reason, sha256 = parsed
    return NotContentError(path, reason, sha256) if sha256 else IngestError(path, reason)


def _parse_or_error(path: Path, root: Path, data: bytes, sha256: str) -> Document | IngestError:
    try:
        return _parse(path, root, data, sha256)
    except NotContentError as exc:
        exc.sha256 = sha256
        return exc
    except IngestError as exc:
        return exc


def _read_bytes(path: Path, cfg: IngestConfig) -> tuple[bytes, str]:
    try:
        size = path.stat().st_size
        if size > cfg.max_file_bytes:
            raise IngestError(path, f"file is {size:,} bytes, over the {cfg.max_file_bytes:,} limit")
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot be read ({exc.strerror or exc})") from exc
    return data, hashlib.sha256(data).hexdigest()


def _known(
    path: Path, root: Path, sha256: str, known: Mapping[str, Document] | None,
    not_content: Mapping[str, tuple[str, str]] | None = None,
) -> Document | NotContentError | None:
    """What the index before made of a file whose bytes are the same: its Document, or the page of
    links it left out; None when the file is to be read."""
    rel = path.relative_to(root)
    source = rel.as_posix()
    before = None if known is None else known.get(source)
    if before is not None and before.sha256 == sha256:
        return dataclasses.replace(before, doc_id=rel.with_suffix("").as_posix())
    left_out = None if not_content is None else not_content.get(source)
    if left_out is not None and left_out[0] == sha256:
        return NotContentError(path, left_out[1], sha256)
    return None


def _parse(path: Path, root: Path, data: bytes, sha256: str) -> Document:
    """The Document of a file's bytes, by its format's reader."""
    file_format = format_for(path)
    if file_format is None:
        raise IngestError(path, f"is not a {describe_suffixes()} file")
    extracted = file_format.read(path, data)
    metadata = dict(extracted.metadata)
    title = extracted.title
    text = normalize_text(extracted.text)
    date = _DATE_LINE.match(text)
    if date:
        metadata["date"] = date.group(1)
        text = text[date.end():].strip()
    if not text.strip():
        raise IngestError(path, "holds no text")
    sections = locate_sections(text, extracted.headings)
    tables, cells = locate_tables(text, extracted.tables)
    definitions = locate_definitions(text, extracted.definitions)
    rel = path.relative_to(root)
    return Document(
        doc_id=rel.with_suffix("").as_posix(),
        title=title.strip() or _title_from_name(path),
        text=text,
        source=rel.as_posix(),
        sha256=sha256,
        metadata=tuple(sorted(metadata.items())),
        sections=sections,
        tables=tables,
        cells=cells,
        definitions=definitions,
    )


INGEST_VERSION = 9
"""Bumped when a format's reader changes what it makes of a file: an index built by another
version has its documents read again, not taken as they were."""


def locate_sections(text: str, headings: Sequence[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """Where each heading stands in the normalised `text` (a line of its own, found in order),
    with the path of the headings above it; a heading not found is left out."""
    sections: list[tuple[int, str]] = []
    path: list[tuple[int, str]] = []
    cursor = 0
    for level, words in headings:
        heading = _normal_words(words)
        at = _find_line(text, heading, cursor) if heading else -1
        if at < 0:
            continue
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, name_of(heading)))
        sections.append((at, SECTION_SEPARATOR.join(words for _, words in path)))
        cursor = at + len(heading)
    return tuple(sections)


def locate_tables(
    text: str, tables: Sequence[Sequence[Sequence[str]]],
) -> tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]:
    """Where each table stands in the normalised `text`: its header row (a line of its own,
    found in order) and the end of the last of its rows' lines after it, (header start, header
    end, end); and where each cell of those lines stands, (start, end, column). A header not
    found is left out."""
    found: list[tuple[int, int, int]] = []
    cells: list[tuple[int, int, int]] = []
    cursor = 0
    for lines in tables:
        normal = [[_normal_words(cell) for cell in line] for line in lines]
        header = " ".join(cell for cell in normal[0] if cell)
        at = _find_line(text, header, cursor) if header else -1
        if at < 0:
            continue
        end = pos = at + len(header)
        spans = [(at, end)]
        for _ in normal[1:]:
            while pos < len(text) and text[pos] == "\n":
                pos += 1
            if pos == len(text):
                break
            line_end = text.find("\n", pos)
            spans.append((pos, len(text) if line_end < 0 else line_end))
            end = pos = spans[-1][1]
        if end > at + len(header):
            found.append((at, at + len(header), end))
            cells += (cell for (a, b), line in zip(spans, normal, strict=False) for cell in _cells(text, a, b, line))
            cursor = end
    return tuple(found), tuple(cells)


def _cells(text: str, start: int, end: int, cells: Sequence[str]) -> Iterator[tuple[int, int, int]]:
    """Each cell with words of a row's line [start, end), found in order, with its column."""
    pos = start
    for column, cell in enumerate(cells):
        at = text.find(cell, pos, end) if cell else -1
        if at >= 0:
            yield at, at + len(cell), column
            pos = at + len(cell)


def locate_definitions(text: str, definitions: Sequence[tuple[str, str]]) -> tuple[tuple[int, int, int, int], ...]:
    """Where each term of a definition list stands in the normalised `text`, and where its
    description ends (its last words, found after it), with the definition it is nested in (-1
    for none), as (term start, term end, end, parent); one not found is left out."""
    found: list[tuple[int, int, int, int]] = []
    open_at: list[int] = []  # the definitions whose description holds the cursor, innermost last
    cursor = 0
    for term, tail in definitions:
        at = _find_words(text, term, cursor)
        if at is None:
            continue
        end = _find_words(text, tail, at[1])
        if end is None:
            continue
        while open_at and found[open_at[-1]][2] <= at[0]:
            open_at.pop()
        found.append((at[0], at[1], end[1], open_at[-1] if open_at else -1))
        open_at.append(len(found) - 1)
        cursor = at[1]
    return tuple(found)


def _find_words(text: str, words: str, cursor: int) -> tuple[int, int] | None:
    """Where `words` stand in `text` at or after `cursor`, whatever blanks lie between them."""
    parts = _normal_words(words).split()
    if not parts:
        return None
    match = re.compile(r"\s+".join(map(re.escape, parts))).search(text, cursor)
    return None if match is None else match.span()


def _normal_words(words: str) -> str:
    """Words as the normalised text holds them on one line: one blank between each two."""
    return " ".join(normalize_text(words).split())


def _find_line(text: str, line: str, cursor: int) -> int:
    """Where `line` stands as a whole line of `text`, at or after `cursor`; -1 if nowhere."""
    at = text.find(line, cursor)
    while at >= 0 and not ((at == 0 or text[at - 1] == "\n")
                           and (at + len(line) == len(text) or text[at + len(line)] == "\n")):
        at = text.find(line, at + 1)
    return at


def _title_from_name(path: Path) -> str:
    name = re.sub(r"[_-]+", " ", path.stem).strip()
    return name[:1].upper() + name[1:] if name else path.name
