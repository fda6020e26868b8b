"""The index on disk: one folder a generation, a manifest that describes it, an atomic switch.

Layout of `index/`:
    CURRENT                 name of the live generation (replaced atomically)
    gen-<time>-<id>/        manifest.json, documents.jsonl, chunks.jsonl, sentences.npz,
                            sentences.npy, and the chunk vector index's own files
                            (chunks.faiss for the FAISS kinds, chunks.npy for numpy)
A build writes a new generation beside the live one and only then switches CURRENT, so
a crash at any point leaves the previous index whole and loadable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
import weakref
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunk import ChunkTable, SentenceTable, chunk_rows
from rag.config import ChunkConfig, IndexConfig
from rag.errors import IndexBusyError, IndexMismatchError, IndexNotBuiltError, IndexWriteError
from rag.index import VectorIndex, load_matrix
from rag.indexes import load_vector_index
from rag.lexical import TermTable
from rag.types import Chunk, Document

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""2: the vector index's kind and parameters in the manifest, each vector stored once."""
_CURRENT = "CURRENT"
_FILES = ("documents.jsonl", "chunks.jsonl", "sentences.npz", "sentences.npy")
"""Data files every generation has, besides the vector index's own."""
_VECTORS = "chunks"
"""The stem of the chunk vector index's files."""
_GENERATION = re.compile(r"gen-\d{14}-[0-9a-f]{8}")
_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{12}")
_SCRATCH = "scratch-sentences.npy"
_TERMS = {"chunk_terms": "chunk-terms.npz", "sentence_terms": "sentence-terms.npz"}
"""Optional files: an index written before them is read without (its terms read at load)."""
_POINTER_BYTES = 64
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything needed to know how an index was built, and to refuse a mismatched load."""

    format_version: int
    embedder: str
    dim: int
    encoding: str
    chunk_tokens: int
    overlap_tokens: int
    index: IndexConfig
    """The vector index: its resolved kind ("flat", "hnsw", ...) and parameters."""
    documents: tuple[tuple[str, str], ...]
    """(doc_id, sha256 of the source file) for every document."""
    n_chunks: int
    n_sentences: int
    chunker_version: int = 0
    ingest_version: int = 0
    """`rag.ingest.INGEST_VERSION` of the build: which readers made the documents' text."""
    chunk_vectors: str = "embedded"
    """How the chunk vectors were made: "embedded" (each chunk's text), or "sentences" (the
    length-weighted mean of its sentences' vectors). An index without the field embedded them."""
    files: tuple[tuple[str, str], ...] = ()
    """(file name, sha256) of every data file of the generation."""
    created: str = ""
    not_content: tuple[tuple[str, str, str], ...] = ()
    """(source path, sha256, reason) of each file read and left out as holding no content (a page
    of links): a rebuild does not read it again while its bytes are the same."""

    @property
    def chunk_config(self) -> ChunkConfig:
        return ChunkConfig(self.chunk_tokens, self.overlap_tokens, self.encoding)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "embedder": self.embedder,
            "dim": self.dim,
            "encoding": self.encoding,
            "chunk_tokens": self.chunk_tokens,
            "overlap_tokens": self.overlap_tokens,
            "index": self.index.to_dict(),
            "documents": dict(self.documents),
            "n_chunks": self.n_chunks,
            "n_sentences": self.n_sentences,
            "chunker_version": self.chunker_version,
            "ingest_version": self.ingest_version,
            "chunk_vectors": self.chunk_vectors,
            "files": dict(self.files),
            "created": self.created,
            "not_content": [list(entry) for entry in self.not_content],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        return cls(
            format_version=int(data["format_version"]),
            embedder=str(data["embedder"]),
            dim=int(data["dim"]),
            encoding=str(data["encoding"]),
            chunk_tokens=int(data["chunk_tokens"]),
            overlap_tokens=int(data["overlap_tokens"]),
            index=IndexConfig(**data["index"]),
            documents=tuple(sorted(data["documents"].items())),
            n_chunks=int(data["n_chunks"]),
            n_sentences=int(data["n_sentences"]),
            chunker_version=int(data.get("chunker_version", 0)),
            ingest_version=int(data.get("ingest_version", 0)),
            chunk_vectors=str(data.get("chunk_vectors", "embedded")),
            files=tuple(sorted(data.get("files", {}).items())),
            created=str(data.get("created", "")),
            not_content=tuple((str(a), str(b), str(c)) for a, b, c in data.get("not_content", ())),
        )


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """A whole index as loaded from (or about to be written to) disk."""

    manifest: Manifest
    documents: tuple[Document, ...]
    chunks: Sequence[Chunk]
    """A `ChunkTable` when loaded (arrays, not an object per chunk); a build's own chunks."""
    vectors: VectorIndex
    """The chunk vectors: row i is chunk i."""
    sentences: SentenceTable
    sentence_vectors: np.ndarray
    generation: str = ""
    """The generation folder's name it was loaded from ("" before it is written)."""
    chunk_terms: TermTable | None = None
    """What BM25 reads of each chunk (`rag.retrieve.bm25_texts`), read by the build so that a
    server need not read a million texts again at its start; None in an index written before."""
    sentence_terms: TermTable | None = None
    """Each sentence's terms, likewise."""


def index_exists(index_dir: Path) -> bool:
    return (index_dir / _CURRENT).is_file()


def read_manifest(index_dir: Path) -> Manifest:
    """The live generation's manifest. Raises IndexNotBuiltError or IndexMismatchError."""
    gen = _current_generation(index_dir)
    return _read_manifest_file(gen / "manifest.json")


def load_index(index_dir: Path, *, verify: bool = True) -> StoredIndex:
    """Load the live generation, checking its format and (with `verify`) file checksums.

    Raises:
        IndexNotBuiltError: there is no index in `index_dir`.
        IndexMismatchError: the index is damaged or of another format.
    """
    gen = _current_generation(index_dir)
    manifest = _read_manifest_file(gen / "manifest.json")
    files = dict(manifest.files)
    if not all(_FILE_NAME.fullmatch(name) for name in files):
        raise IndexMismatchError(f"{gen / 'manifest.json'} names a file outside its folder; rebuild with `rag ingest`")
    for name in sorted(set(_FILES) | set(files)):
        path = gen / name
        if not path.is_file():
            raise IndexMismatchError(f"index file {path} is missing; rebuild with `rag ingest`")
        if verify and files.get(name) != _sha256_file(path):
            raise IndexMismatchError(f"index file {path} is damaged (checksum); rebuild with `rag ingest`")
    try:
        documents = _read_documents(gen / "documents.jsonl")
        chunks = ChunkTable(documents, _read_jsonl(gen / "chunks.jsonl"))
        table = np.load(gen / "sentences.npz", allow_pickle=False)
        sentences = SentenceTable(table["doc"], table["start"], table["end"], table["chunk"])
        _check_spans(documents, chunks, sentences)
        sentence_vectors = load_matrix(gen / "sentences.npy")
        terms = {name: _read_terms(gen / _TERMS[name]) if _TERMS[name] in files else None for name in _TERMS}
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise IndexMismatchError(f"index in {gen} cannot be read ({exc}); rebuild with `rag ingest`") from exc
    vectors = load_vector_index(gen, _VECTORS, manifest.index)
    expected = {
        "chunks": (len(chunks), manifest.n_chunks),
        "chunk vectors": ((vectors.size, vectors.dim), (manifest.n_chunks, manifest.dim)),
        "sentence vectors": (sentence_vectors.shape, (manifest.n_sentences, manifest.dim)),
        "sentences": (len(sentences), manifest.n_sentences),
    }
    for what, (got, want) in expected.items():
        if got != want:
            raise IndexMismatchError(f"index in {gen}: {what} {got} != manifest {want}; rebuild with `rag ingest`")
    for name, table in terms.items():
        want = len(chunks) if name == "chunk_terms" else len(sentences)
        if table is not None and len(table) != want:
            raise IndexMismatchError(f"index in {gen}: {len(table)} rows of {name} for {want}; "
                                     "rebuild with `rag ingest`")
    return StoredIndex(manifest, documents, chunks, vectors, sentences, sentence_vectors, gen.name, **terms)


def _read_terms(path: Path) -> TermTable:
    with np.load(path, allow_pickle=False) as arrays:
        return TermTable.read(arrays)


def live_generation(index_dir: Path) -> str:
    """The name of the generation `index_dir` serves now ("" when there is none): cheap enough
    to ask every second."""
    return _read_pointer(index_dir)


def _check_spans(documents: tuple[Document, ...], chunks: ChunkTable, sentences: SentenceTable) -> None:
    """Every chunk and sentence lies inside its document (and every sentence inside its chunk)."""
    bad = chunks.outside()
    if bad is not None:
        raise ValueError(f"chunk {chunks.chunk_ids[bad]} lies outside its document")
    doc_sizes = chunks.lengths  # of `documents`, which the chunk table indexes
    if len(sentences) and (
        sentences.doc.min() < 0 or sentences.doc.max() >= len(documents)
        or sentences.chunk.min() < 0 or sentences.chunk.max() >= len(chunks)
        or (sentences.start < 0).any() or (sentences.start >= sentences.end).any()
        or (sentences.end > doc_sizes[sentences.doc]).any()
    ):
        raise ValueError("a sentence lies outside its document")


def write_index(index_dir: Path, stored: StoredIndex) -> Path:
    """Write a new generation and switch to it atomically; returns the generation folder.

    Raises:
        IndexWriteError: a write failed (full disk, read-only folder); the previous
            generation is still the live one and nothing half-written is left.
    """
    tmp = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        return _write_generation(index_dir, tmp, stored)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise IndexWriteError(
            f"cannot write the index in {index_dir} ({exc.strerror or exc}); the previous index is unchanged"
        ) from exc


def scratch_matrix(index_dir: Path, rows: int, dim: int) -> np.ndarray:
    """A float32 (rows, dim) matrix for a build to fill, backed by a .npy file in a scratch
    folder of `index_dir` rather than by memory: a million chunks' sentence vectors are about
    14 GB, which in memory were half a build's peak. `write_index` moves the file into the new
    generation instead of writing the vectors again. A build that fails calls `drop_scratch`;
    a crashed build's folder is removed with the stale ones by the next build that writes."""
    if rows == 0:  # an empty file cannot be mapped
        return np.zeros((0, dim), dtype=np.float32)
    folder = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
    index_dir.mkdir(parents=True, exist_ok=True)
    folder.mkdir()
    matrix: np.ndarray = np.lib.format.open_memmap(
        folder / _SCRATCH, mode="w+", dtype=np.float32, shape=(rows, dim)
    )
    return matrix


def drop_scratch(matrix: np.ndarray) -> None:
    """Remove the file behind a `scratch_matrix` (nothing for any other array)."""
    path = _scratch_path(matrix)
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)


def _scratch_path(matrix: np.ndarray) -> Path | None:
    filename = getattr(matrix, "filename", None)
    if not isinstance(matrix, np.memmap) or filename is None:
        return None
    path = Path(filename)
    if path.name != _SCRATCH or not _TEMPORARY.fullmatch(path.parent.name):
        return None
    return path


def _write_generation(index_dir: Path, tmp: Path, stored: StoredIndex) -> Path:
    try:
        _write_jsonl(tmp / "documents.jsonl", (d.to_dict() for d in stored.documents))
        _write_jsonl(tmp / "chunks.jsonl", chunk_rows(stored.chunks))
        vector_files = stored.vectors.save(tmp, _VECTORS)
        s = stored.sentences
        with open(tmp / "sentences.npz", "wb") as fh:
            np.savez(fh, doc=s.doc, start=s.start, end=s.end, chunk=s.chunk)
        term_files = []
        for name, file in _TERMS.items():
            table = getattr(stored, name)
            if table is not None:
                with open(tmp / file, "wb") as fh:
                    np.savez(fh, **table.arrays())
                term_files.append(file)
        scratch = _scratch_path(stored.sentence_vectors)
        if (isinstance(stored.sentence_vectors, np.memmap) and scratch is not None
                and scratch.parent.parent == index_dir and scratch.is_file()):
            # A build's vectors are already in a .npy of this folder: moved, not written again.
            stored.sentence_vectors.flush()
            os.replace(scratch, tmp / "sentences.npy")
            shutil.rmtree(scratch.parent, ignore_errors=True)
        else:
            np.save(tmp / "sentences.npy", stored.sentence_vectors, allow_pickle=False)
        names = (*_FILES, *vector_files, *term_files)
        files = tuple(sorted((name, _sha256_file(tmp / name)) for name in names))
        manifest = Manifest(
            **{**_manifest_fields(stored.manifest), "files": files,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        )
        _write_text(tmp / "manifest.json", json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
        for name in (*names, "manifest.json"):
            _fsync(tmp / name)
        previous = _read_pointer(index_dir)
        gen = index_dir / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        os.rename(tmp, gen)
        _write_text(index_dir / f".{_CURRENT}.tmp", gen.name + "\n")
        _fsync(index_dir / f".{_CURRENT}.tmp")
        os.replace(index_dir / f".{_CURRENT}.tmp", index_dir / _CURRENT)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The previous generation stays until the next build: a reader may still be opening it.
    _remove_stale(index_dir, keep={gen.name, previous})
    return gen


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so that two builds never write one index at once.

    In a folder that cannot be written, an existing lock file is locked read-only, so a build
    that finds nothing to change still says so; one that must write fails then, in one line.

    Raises:
        IndexBusyError: another build holds it.
        IndexWriteError: the folder or its lock file cannot be created.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = open(index_dir / ".lock", "a")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as exc:
        try:
            fh = open(index_dir / ".lock")  # noqa: SIM115
        except OSError:
            raise IndexWriteError(f"cannot write the index in {index_dir} ({exc.strerror or exc})") from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(f"another build is writing {index_dir}; try again when it ends") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _manifest_fields(m: Manifest) -> dict[str, Any]:
    return {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}


def _current_generation(index_dir: Path) -> Path:
    pointer = index_dir / _CURRENT
    if not pointer.is_file():
        raise IndexNotBuiltError(f"no index in {index_dir}; build it with `rag ingest --index {index_dir}`")
    name = _read_pointer(index_dir)
    gen = index_dir / name
    if not _GENERATION.fullmatch(name) or not gen.is_dir():
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise IndexMismatchError(f"{pointer} names no generation ({shown!r}); rebuild with `rag ingest`")
    return gen


def _read_manifest_file(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index format {version} is not the supported {FORMAT_VERSION}; rebuild with `rag ingest`"
            )
        return Manifest.from_dict(data)
    except IndexMismatchError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexMismatchError(f"{path} is unreadable ({exc}); rebuild with `rag ingest`") from exc


def _read_pointer(index_dir: Path) -> str:
    """The generation CURRENT names: its first line, read no further than a name can be long;
    "" when it is missing or not text (a damaged pointer reads as no pointer)."""
    pointer = index_dir / _CURRENT
    try:
        with open(pointer, "rb") as fh:
            head = fh.read(_POINTER_BYTES)
        return head.decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _remove_stale(index_dir: Path, keep: set[str]) -> None:
    """Delete generations and half-written folders of earlier builds; nothing else of the folder
    (a folder of the user's named "gen-photos" stays)."""
    for path in index_dir.iterdir():
        if path.name not in keep and (_GENERATION.fullmatch(path.name) or _TEMPORARY.fullmatch(path.name)):
            shutil.rmtree(path, ignore_errors=True)


class StoredDocument(Document):
    """A loaded index's document, its text read from the generation's `documents.jsonl` when
    asked (`_DocumentTexts`) rather than held: the texts of a million chunks' documents were
    1.2 GB of a server's memory as Python strings. Equal to, hashed as and pickled as the
    `Document` it was written from."""

    __slots__ = ("_length", "_row", "_texts")
    _length: int
    _row: int
    _texts: _DocumentTexts

    def __new__(cls, *args: Any, **fields: Any) -> Any:
        # `dataclasses.replace` calls the class with every field: that makes a plain Document.
        return Document(**fields) if fields and not args else super().__new__(cls)

    def __init__(self, fields: Document, texts: _DocumentTexts, row: int, length: int) -> None:
        for field in dataclasses.fields(Document):
            if field.name != "text":
                object.__setattr__(self, field.name, getattr(fields, field.name))
        object.__setattr__(self, "_texts", texts)
        object.__setattr__(self, "_row", row)
        object.__setattr__(self, "_length", length)

    @property
    def text(self) -> str:
        return self._texts.text(self._row)

    def text_length(self) -> int:
        return self._length

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return _fields(self) == _fields(other)

    def __hash__(self) -> int:
        return hash(_fields(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Document, _fields(self))


def _fields(doc: Document) -> tuple[Any, ...]:
    """A document's fields in `Document`'s order, its text read if it is a `StoredDocument`."""
    return tuple(getattr(doc, f.name) for f in dataclasses.fields(Document))


class _DocumentTexts:
    """The texts of a generation's documents, read from its `documents.jsonl` line by line when
    asked (`os.pread`), the last few kept (a question reads the same few documents many times).
    Not memory-mapped: a mapped file truncated under a running server kills it (SIGBUS); a read
    of a damaged file raises IndexMismatchError. The open file keeps it readable after a newer
    generation replaces it."""

    _KEEP_CHARS = 16_000_000

    def __init__(self, path: Path, lines: list[tuple[int, int]]) -> None:
        self._path = path
        self._lines = lines
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        self._kept: OrderedDict[int, str] = OrderedDict()
        self._kept_chars = 0
        self._lock = threading.Lock()

    def text(self, row: int) -> str:
        text = self._kept.get(row)  # no lock to read: one get is atomic, and asked most
        if text is not None:
            return text
        at, size = self._lines[row]
        try:
            text = json.loads(os.pread(self._fd, size, at))["text"]
            if not isinstance(text, str):
                raise TypeError(f"a text of {type(text).__name__}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexMismatchError(f"{self._path} changed after it was loaded ({exc}); "
                                     "rebuild with `rag ingest`") from exc
        with self._lock:
            if row not in self._kept:
                self._kept[row] = text
                self._kept_chars += len(text)
                while self._kept_chars > self._KEEP_CHARS and len(self._kept) > 1:  # the oldest go first
                    self._kept_chars -= len(self._kept.popitem(last=False)[1])
        return text


class DocumentSpool:
    """A build's documents written to a scratch file of the index folder as they are read, each
    handed back as a `StoredDocument` that reads its text from there when asked: a build held
    every document's text as a Python string (1.2 GB at a million chunks) from reading the
    files to writing the index. `close` removes the file; a crashed build's folder goes with the
    stale ones of the next build that writes."""

    def __init__(self, index_dir: Path) -> None:
        self.folder = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        index_dir.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir()
        self.path = self.folder / "documents.jsonl"
        self._out = open(self.path, "wb", buffering=0)  # noqa: SIM115 - open until close()
        self._lines: list[tuple[int, int]] = []
        self._at = 0
        self._texts = _DocumentTexts(self.path, self._lines)

    def add(self, doc: Document) -> StoredDocument:
        """Write `doc` to the spool; the document that reads its text back from there."""
        line = (json.dumps(doc.to_dict(), ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        self._out.write(line)
        self._lines.append((self._at, len(line)))
        self._at += len(line)
        return StoredDocument(doc, self._texts, len(self._lines) - 1, len(doc.text))

    def close(self) -> None:
        """Remove the file (the documents handed out can still read it while they live)."""
        self._out.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_documents(path: Path) -> tuple[Document, ...]:
    """The documents of a `documents.jsonl`, their texts left in the file (`StoredDocument`)."""
    parsed: list[tuple[Document, int]] = []
    lines: list[tuple[int, int]] = []
    at = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                data = json.loads(line)
                text = data["text"]
                if not isinstance(text, str):
                    raise TypeError(f"a document's text is {type(text).__name__}, not text")
                parsed.append((Document.from_dict({**data, "text": ""}), len(text)))
                lines.append((at, len(line)))
            at += len(line)
    texts = _DocumentTexts(path, lines)
    return tuple(StoredDocument(d, texts, row, length) for row, (d, length) in enumerate(parsed))


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSON-lines file, one at a time (a large index's chunk rows, all read into
    dicts at once, would double what loading it takes at its peak)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
