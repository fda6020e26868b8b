"""Build or update the index: documents -> chunks -> vectors, re-embedding only what changed."""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.chunk import CHUNKER_VERSION, ChunkTable, SentenceTable, chunk_document, chunk_rows
from rag.config import IndexConfig, Settings, default_embedder
from rag.embed import Embedder, ProgressCallback
from rag.embedders import make_embedder
from rag.errors import IndexMismatchError, IndexNotBuiltError, IngestError, NotContentError
from rag.index_numpy import NumpyIndex
from rag.indexes import build_vector_index, resolve_kind
from rag.ingest import INGEST_VERSION, IngestReport, Parsed, ParseJob, load_documents
from rag.journal import EmbedJournal, text_key
from rag.lexical import TermTable, TermTableBuilder
from rag.retrieve import bm25_texts
from rag.store import (
    FORMAT_VERSION,
    DocumentSpool,
    Manifest,
    StoredIndex,
    build_lock,
    drop_scratch,
    index_exists,
    load_index,
    read_manifest,
    scratch_matrix,
    write_index,
)
from rag.types import Document

logger = logging.getLogger(__name__)

CHUNK_VECTORS = "sentences"
"""Chunk vectors are the length-weighted mean of their sentences' vectors, not embedded again:
on the Python manual, chunk texts are about half the tokens an index embeds, and on
squad-public evidence@1 is the same (0.857 against 0.855 with the heuristic reader, 0.850
against 0.849 with the model; chunk hit@1 0.882 against 0.893)."""


class Progress(Protocol):
    """A progress display: told the amount of work, then each piece done."""

    def start(self, total: int, description: str) -> None: ...

    def advance(self, amount: int) -> None: ...

    def close(self) -> None: ...


class Runner(Protocol):
    """Where a build's heavy steps run when not here: parsing files (each with
    `rag.ingest.parse_job`, results in order) and embedding texts (vectors in order). The rest of
    the build is the same, so the index is too (`rag.ray_ingest.RayRunner`: a Ray cluster)."""

    def parse(self, jobs: list[ParseJob]) -> Iterable[Parsed]: ...

    def embed(self, embedder: Embedder, texts: Sequence[str], progress: ProgressCallback | None) -> np.ndarray: ...


JOURNAL_PART = 8192
"""Texts embedded between two writes of the journal (`rag.journal`): a stopped build loses at
most this many (about 40 s of one 2-core machine's work)."""


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build did."""

    index_dir: Path
    n_documents: int
    n_chunks: int
    n_sentences: int
    embedded_documents: tuple[str, ...]
    reused_documents: tuple[str, ...]
    removed_documents: tuple[str, ...]
    errors: tuple[IngestError, ...]
    skipped: tuple[Path, ...]
    seconds: float
    changed: bool


def build_index(
    docs_dir: Path | str,
    index_dir: Path | str,
    embedder: Embedder,
    settings: Settings | None = None,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> BuildReport:
    """Index every readable document of `docs_dir` into `index_dir`.

    Documents whose file, chunk settings and embedder are unchanged since the last build
    keep their vectors; only new or changed documents are embedded. When nothing changed,
    nothing is written. A failure leaves the previous index untouched, and what was embedded
    before it is kept for the next build to go on from (`rag.journal`). `runner` parses and
    embeds elsewhere (a Ray cluster); without it, both run in this machine.

    Raises:
        EmptyCorpusError: no document could be read (the old index, if any, stays).
    """
    began = time.perf_counter()
    cfg = Settings() if settings is None else settings
    index_path = Path(index_dir)
    with build_lock(index_path):
        # Every document's text goes to a file as it is read; the build reads it back when it
        # needs it (a few texts at a time), never holding every text at once.
        try:
            spool: DocumentSpool | None = DocumentSpool(index_path)
        except OSError as exc:  # a read-only index: up to date, or the write says why not
            logger.info("documents held in memory: %s", exc)
            spool = None
        try:
            return _build(docs_dir, index_path, embedder, cfg, progress, runner, spool, began)
        finally:
            if spool is not None:
                spool.close()


def _build(
    docs_dir: Path | str, index_path: Path, embedder: Embedder, cfg: Settings, progress: Progress | None,
    runner: Runner | None, spool: DocumentSpool | None, began: float,
) -> BuildReport:
    loaded = _load_previous(index_path)
    known, known_not_content = _known_files(loaded)
    report = load_documents(docs_dir, cfg.ingest, known, None if runner is None else runner.parse,
                            known_not_content, keep=None if spool is None else spool.add)
    not_content = _not_content(report, docs_dir)
    documents = report.documents
    previous = loaded if loaded is not None and _vectors_reusable(loaded.manifest, embedder, cfg) else None
    del loaded, known  # what is not reusable is let go now
    old_docs = {d.doc_id: d for d in previous.documents} if previous else {}
    reuse = {
        d.doc_id for d in documents
        if d.doc_id in old_docs and old_docs[d.doc_id].sha256 == d.sha256
        and old_docs[d.doc_id].text == d.text
    }
    current_ids = {d.doc_id for d in documents}
    removed = tuple(sorted(set(old_docs) - current_ids))
    fresh = [i for i, d in enumerate(documents) if d.doc_id not in reuse]
    if (previous is not None and not fresh and not removed and _same_order(previous, documents)
            and all(old_docs[d.doc_id] == d for d in documents)  # titles, sections, tables too
            and previous.manifest.index == _index_config(cfg, previous.manifest.n_chunks)
            and previous.manifest.not_content == not_content
            and previous.chunk_terms is not None and previous.sentence_terms is not None):
        logger.info("index in %s is up to date", index_path)
        return BuildReport(
            index_path, len(documents), previous.manifest.n_chunks, previous.manifest.n_sentences,
            (), tuple(sorted(reuse)), (), report.errors, report.skipped,
            time.perf_counter() - began, changed=False,
        )
    before = None if previous is None else _Before(previous)
    del previous  # `before` lets go of its vector index once the reused vectors are copied out
    # The chunks as arrays (`ChunkTable`), their texts sliced from the documents when asked: a
    # `Chunk` per chunk held its text a second time. A reused document's rows are the index
    # before's; the others are chunked here, one document at a time.
    chunks = ChunkTable(documents, _chunk_rows(documents, before, reuse, cfg))
    table = chunks.sentence_table()
    chunk_bounds = _bounds(chunks.doc, len(documents))
    sentence_bounds = _bounds(table.doc, len(documents))
    # Every document's sentence vectors go straight into their rows of one matrix, on disk:
    # built per document and stacked, they were held twice at the build's peak (1.3 GB each
    # at 100k chunks; freed small arrays stay in the C heap), and once in memory, half of it.
    sentence_counts = {d.doc_id: int(sentence_bounds[i + 1] - sentence_bounds[i]) for i, d in enumerate(documents)}
    sentence_vectors = _DocumentRows(  # on disk: 14 GB at a million chunks
        "sentence", documents, sentence_counts, scratch_matrix(index_path, len(table), embedder.dim))
    try:
        # The chunk vectors likewise go straight into their rows: kept per document and
        # stacked, they were held twice (1.5 GB each at a million chunks).
        chunk_counts = {d.doc_id: int(chunk_bounds[i + 1] - chunk_bounds[i]) for i, d in enumerate(documents)}
        chunk_vectors = _DocumentRows("chunk", documents, chunk_counts,
                                      np.empty((len(chunks), embedder.dim), dtype=np.float32))
        if before is not None:
            _reused_vectors(before, reuse, sentence_vectors, chunk_vectors)
            before.let_go_of_vectors()  # an HNSW graph of 1.7 GB at a million chunks
        sentences = _Sentences(documents, table, sentence_bounds)
        journal = EmbedJournal(index_path, embedder.name, embedder.dim)
        _embed_fresh(fresh, sentences, chunks, chunk_bounds, embedder, progress, sentence_vectors, chunk_vectors,
                     _known_sentences(before, sentences, fresh), journal, runner)

        chunk_terms, sentence_terms = _term_tables(documents, chunks, chunk_bounds, sentences, before, reuse)
        index_config = _index_config(cfg, len(chunks))
        vectors = build_vector_index(chunk_vectors.filled(), index_config)
        del chunk_vectors  # the index holds them now
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder=embedder.name,
            dim=embedder.dim,
            encoding=cfg.chunk.encoding,
            chunk_tokens=cfg.chunk.chunk_tokens,
            overlap_tokens=cfg.chunk.overlap_tokens,
            index=index_config,
            documents=tuple(sorted((d.doc_id, d.sha256) for d in documents)),
            n_chunks=len(chunks),
            n_sentences=len(table),
            chunker_version=CHUNKER_VERSION,
            ingest_version=INGEST_VERSION,
            chunk_vectors=CHUNK_VECTORS,
            not_content=not_content,
        )
        write_index(
            index_path,
            StoredIndex(manifest, documents, chunks, vectors, table, sentence_vectors.filled(),
                        chunk_terms=chunk_terms, sentence_terms=sentence_terms),
        )
        journal.clear()
    finally:
        drop_scratch(sentence_vectors.matrix)  # moved into the generation unless the build failed
    return BuildReport(
        index_path, len(documents), len(chunks), len(table),
        tuple(documents[i].doc_id for i in fresh), tuple(sorted(reuse)), removed,
        report.errors, report.skipped, time.perf_counter() - began, changed=True,
    )


def index_embedder(index_dir: Path | str, backend: str | None = None) -> str:
    """The embedder a build of `index_dir` keeps: the one its manifest names, or the default
    (`default_embedder`, for `backend`) for a new index or one that cannot be read (the build
    starts afresh)."""
    index_path = Path(index_dir)
    if index_exists(index_path):
        try:
            return read_manifest(index_path).embedder
        except IndexMismatchError as exc:  # another format or damaged
            logger.warning("%s", exc)
    return default_embedder(backend)


def ensure_index(
    index_dir: Path | str,
    docs_dir: Path | str | None = None,
    backend: str | None = None,
    progress: Progress | None = None,
    model_cache: Path | None = None,
    settings: Settings | None = None,
) -> tuple[Embedder, BuildReport | None]:
    """The embedder an index needs, after building or updating the index from `docs_dir` if given.

    An existing index keeps the embedder its manifest names; a new one, or one that cannot be
    read, gets the default (`rag.config.default_embedder`). `backend` and `model_cache` are passed to `make_embedder`.

    Raises:
        IndexNotBuiltError: no `docs_dir` and no index to load.
    """
    index_path = Path(index_dir)
    name = read_manifest(index_path).embedder if docs_dir is None else index_embedder(index_path, backend)
    embedder = make_embedder(name, backend, model_cache)
    if docs_dir is None:
        return embedder, None
    return embedder, build_index(docs_dir, index_path, embedder, settings, progress=progress)


def _load_previous(index_dir: Path) -> StoredIndex | None:
    """The current index, if there is one this version can read."""
    try:
        return load_index(index_dir)
    except IndexNotBuiltError:
        return None
    except IndexMismatchError as exc:
        logger.warning("previous index is not reusable (%s); building from scratch", exc)
        return None


def _vectors_reusable(m: Manifest, embedder: Embedder, cfg: Settings) -> bool:
    """Whether the vectors of an index with manifest `m` are what this build would make."""
    if (m.embedder, m.dim, m.chunk_config, m.chunker_version, m.chunk_vectors) != (
        embedder.name, embedder.dim, cfg.chunk, CHUNKER_VERSION, CHUNK_VECTORS
    ):
        logger.info("embedder, chunk settings or chunking rules changed; re-embedding every document")
        return False
    return True


def _not_content(report: IngestReport, docs_dir: Path | str) -> tuple[tuple[str, str, str], ...]:
    root = Path(docs_dir)
    return tuple(sorted((e.path.relative_to(root).as_posix(), e.sha256, e.reason)
                        for e in report.errors if isinstance(e, NotContentError) and e.sha256))


def _known_files(previous: StoredIndex | None) -> tuple[dict[str, Document], dict[str, tuple[str, str]]]:
    """Source path -> document of the index before, and source path -> (sha256, reason) of the
    files it left out as no content; both empty unless the same readers made them."""
    if previous is None or previous.manifest.ingest_version != INGEST_VERSION:
        return {}, {}
    return ({d.source: d for d in previous.documents},
            {source: (sha256, reason) for source, sha256, reason in previous.manifest.not_content})


def _index_config(cfg: Settings, n_vectors: int) -> IndexConfig:
    """The index settings with "auto" resolved to the kind `n_vectors` get, as the manifest records them."""
    return replace(cfg.index, kind=resolve_kind(cfg.index, n_vectors))


def _same_order(previous: StoredIndex, documents: tuple[Document, ...]) -> bool:
    return [d.doc_id for d in previous.documents] == [d.doc_id for d in documents]


class _Before:
    """The index before, as this build reuses it: each of its documents' chunk and sentence rows,
    found once (one sort each, not a pass over every row per document: a re-ingest of one page
    of a large corpus would otherwise cost documents x rows) for every step that copies a reused
    document's rows: its chunks, vectors, term rows and known sentences."""

    def __init__(self, stored: StoredIndex) -> None:
        self.stored = stored
        self.chunks = (stored.chunks if isinstance(stored.chunks, ChunkTable)
                       else ChunkTable(stored.documents, chunk_rows(stored.chunks)))
        self.position = {d.doc_id: i for i, d in enumerate(stored.documents)}
        self.chunk_rows = _rows_by_group(self.chunks.doc, len(stored.documents))
        self.sentence_rows = _rows_by_group(stored.sentences.doc, len(stored.documents))

    def let_go_of_vectors(self) -> None:
        """Drop the chunk vector index, done with once the reused vectors are copied out."""
        self.stored = replace(self.stored, vectors=NumpyIndex(np.zeros((0, self.stored.vectors.dim), dtype=np.float32)))


def _reused_vectors(before: _Before, reuse: set[str], sentences: _DocumentRows, chunks: _DocumentRows) -> None:
    """The sentence and chunk vectors of the documents the index before holds unchanged, into
    their rows of `sentences` and `chunks`."""
    for doc_id in reuse:
        i = before.position[doc_id]
        chunks.put(doc_id, before.stored.vectors.vectors(before.chunk_rows[i]))
        sentences.put(doc_id, before.stored.sentence_vectors[before.sentence_rows[i]])


def _chunk_rows(
    documents: Sequence[Document], before: _Before | None, reuse: set[str], cfg: Settings,
) -> Iterator[dict[str, Any]]:
    """Every chunk as `Chunk.to_dict` writes it, in document order: a reused document's rows
    copied from the index before, the others' chunked here, one document at a time."""
    for doc in documents:
        if before is None or doc.doc_id not in reuse:
            yield from (c.to_dict() for c in chunk_document(doc, cfg.chunk))
        else:
            yield from (before.chunks.row(r) for r in before.chunk_rows[before.position[doc.doc_id]].tolist())


def _bounds(groups: np.ndarray, n: int) -> np.ndarray:
    """Where each group 0..n-1 of sorted `groups` begins, and where the last ends (n + 1 rows)."""
    return np.searchsorted(groups, np.arange(n + 1)).astype(np.int64)


class _Sentences:
    """The sentence table of a build with its documents: each document's sentence rows (in
    document order, as the sentence matrix holds them) and their texts, read when asked."""

    def __init__(self, documents: Sequence[Document], table: SentenceTable, bounds: np.ndarray) -> None:
        self.documents = documents
        self.table = table
        self.bounds = bounds

    def rows(self, i: int) -> range:
        return range(int(self.bounds[i]), int(self.bounds[i + 1]))

    def spans(self, i: int) -> list[tuple[int, int]]:
        lo, hi = int(self.bounds[i]), int(self.bounds[i + 1])
        return list(zip(self.table.start[lo:hi].tolist(), self.table.end[lo:hi].tolist(), strict=True))

    def texts(self, i: int) -> Iterator[str]:
        """Document i's sentences, in row order (its text read once)."""
        text = self.documents[i].text
        return (text[a:b] for a, b in self.spans(i))


def _term_tables(
    documents: Sequence[Document], chunks: ChunkTable, chunk_bounds: np.ndarray, sentences: _Sentences,
    before: _Before | None, reuse: set[str],
) -> tuple[TermTable, TermTable]:
    """What BM25 reads of each chunk and each sentence, read here so that a server does not read
    every text again at its start (a million chunks took 293 s). A reused document's rows are
    copied from the index before; only new and changed documents are read."""
    old: tuple[TermTable, TermTable] | None = None
    old_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if before is not None and before.stored.chunk_terms is not None and before.stored.sentence_terms is not None:
        old = (before.stored.chunk_terms, before.stored.sentence_terms)
        old_rows = {doc_id: (before.chunk_rows[before.position[doc_id]], before.sentence_rows[before.position[doc_id]])
                    for doc_id in reuse}
    chunk_terms = TermTableBuilder(() if old is None else old[0].words)
    sentence_terms = TermTableBuilder(() if old is None else old[1].words)
    for i, doc in enumerate(documents):
        lo, hi = int(chunk_bounds[i]), int(chunk_bounds[i + 1])
        rows = old_rows.get(doc.doc_id)
        if old is not None and rows is not None and len(rows[0]) == hi - lo and len(rows[1]) == len(sentences.rows(i)):
            chunk_terms.add_rows(old[0], rows[0])
            sentence_terms.add_rows(old[1], rows[1])
            continue
        doc_chunks = chunks[lo:hi]
        chunk_terms.add_texts(bm25_texts([doc.section_at(c.start) for c in doc_chunks], doc_chunks))
        sentence_terms.add_texts(sentences.texts(i))
    return chunk_terms.table(), sentence_terms.table()


def _rows_by_group(groups: np.ndarray, n: int) -> list[np.ndarray]:
    """For each group 0..n-1, the rows of `groups` in it, ascending."""
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


def _embed_fresh(
    fresh: list[int],
    sentences: _Sentences,
    chunks: ChunkTable,
    chunk_bounds: np.ndarray,
    embedder: Embedder,
    progress: Progress | None,
    sentence_vectors: _DocumentRows,
    chunk_vectors: _DocumentRows,
    known: _KnownSentences | None = None,
    journal: EmbedJournal | None = None,
    runner: Runner | None = None,
) -> None:
    """The sentence and chunk vectors of new or changed documents (`fresh`, their indices), into
    their rows of `sentence_vectors` and `chunk_vectors`. Each distinct sentence text
    is embedded once (headings, notes and code lines repeat across a documentation site), and
    not at all when `known` (from the index before) or the `journal` of an unfinished build
    holds it; a chunk's vector is the mean of its sentences' vectors, weighted by their length.
    What is embedded goes into the journal part by part. Texts are read a document at a time and
    sentences told apart by a digest of their text, so that no more than a part's texts are held."""
    resumed = {} if journal is None else journal.load()
    matrix = sentence_vectors.matrix
    # Where each sentence's vector comes from, as rows: the embedder's (`todo`), the index
    # before's (`known_at`, its row there), an unfinished build's journal (`journaled`), or, for a
    # text met before in this build, the row of its first sentence (`copied`). Rows in arrays,
    # not tuples: a replicated corpus has ten million sentences, most of them copies.
    first: dict[bytes, int] = {}
    todo, copied, copied_from, known_at, known_from = array("q"), array("q"), array("q"), array("q"), array("q")
    journaled: list[tuple[int, np.ndarray]] = []
    for i in fresh:
        for r, text in zip(sentences.rows(i), sentences.texts(i), strict=True):
            key = text_key(text)
            source = first.get(key)
            if source is not None:
                copied.append(r)
                copied_from.append(source)
                continue
            first[key] = r
            known_row = known.row(key) if known is not None else None
            if known_row is not None:
                known_at.append(r)
                known_from.append(known_row)
            elif key in resumed:
                journaled.append((r, resumed[key]))
            else:
                todo.append(r)
    del first, resumed
    if progress is not None:
        progress.start(len(todo), "embedding")
    callback = progress.advance if progress else None
    try:
        for lo in range(0, len(todo), JOURNAL_PART):
            rows = todo[lo:lo + JOURNAL_PART]
            part = _texts_at(sentences, rows)
            vectors = (embedder.embed(part, progress=callback) if runner is None
                       else runner.embed(embedder, part, callback))
            if journal is not None:
                journal.append(part, vectors)
            matrix[np.frombuffer(rows, dtype=np.int64)] = vectors
    finally:
        if progress is not None:
            progress.close()
    if known is not None:
        _copy_rows(matrix, known_at, known.vectors, known_from)
    for r, vector in journaled:
        matrix[r] = vector
    _copy_rows(matrix, copied, matrix, copied_from)  # every source row is filled by now
    for i in fresh:
        doc_id = sentences.documents[i].doc_id
        doc_sentences = sentence_vectors.rows(doc_id)  # marks the document's rows filled
        lo, hi = int(chunk_bounds[i]), int(chunk_bounds[i + 1])
        chunk_vectors.put(doc_id, _chunk_vectors(chunks, lo, hi, sentences.spans(i), doc_sentences, embedder.dim))


def _copy_rows(target: np.ndarray, rows: array[int], source: np.ndarray, source_rows: array[int]) -> None:
    """target[rows] = source[source_rows], a block at a time (both may be memory-mapped)."""
    at, of = np.frombuffer(rows, dtype=np.int64), np.frombuffer(source_rows, dtype=np.int64)
    for lo in range(0, len(at), 65536):
        target[at[lo:lo + 65536]] = source[of[lo:lo + 65536]]


def _texts_at(sentences: _Sentences, rows: Sequence[int]) -> list[str]:
    """The texts of sentence rows (ascending), each document's text read once."""
    table, documents = sentences.table, sentences.documents
    out: list[str] = []
    doc_at, text = -1, ""
    for r in rows:
        d = int(table.doc[r])
        if d != doc_at:
            doc_at, text = d, documents[d].text
        out.append(text[int(table.start[r]):int(table.end[r])])
    return out


def _chunk_vectors(chunks: ChunkTable, lo: int, hi: int, spans: list[tuple[int, int]], sentences: np.ndarray,
                   dim: int) -> np.ndarray:
    """Each chunk's vector (chunks lo..hi of one document, whose sentence `spans` have the
    vectors `sentences`): the mean of its sentences' vectors weighted by their length in
    characters (the model's own pooling is a mean over tokens), scaled to unit length."""
    where = {span: i for i, span in enumerate(spans)}
    out = np.zeros((hi - lo, dim), dtype=np.float32)
    for c in range(lo, hi):
        chunk_spans = chunks.spans_of(c)
        rows = [where[(a, b)] for a, b in chunk_spans]
        weights = np.array([max(1, b - a) for a, b in chunk_spans], dtype=np.float32)
        out[c - lo] = weights @ sentences[rows] if rows else 0.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.maximum(norms, 1e-12)
    return out


class _KnownSentences:
    """The sentence vectors of the index before, by a digest of their text: a changed page keeps
    the vectors of the sentences it still has. Only the smaller side is keyed: the index before's
    sentences when it has fewer than this build's new and changed documents, else those of its
    sentences that theirs may match (found by Python's string hash first)."""

    def __init__(self, vectors: np.ndarray, rows: dict[bytes, int]) -> None:
        self.vectors = vectors
        self._rows = rows

    def row(self, key: bytes) -> int | None:
        """The row of `vectors` of the text with this digest, if the index before holds it."""
        return self._rows.get(key)


def _known_sentences(before: _Before | None, sentences: _Sentences, fresh: list[int]) -> _KnownSentences | None:
    if before is None or not fresh:
        return None
    previous = before.stored
    n_fresh = sum(len(sentences.rows(i)) for i in fresh)
    wanted: set[int] | None = None
    if len(previous.sentences) > n_fresh:
        wanted = {hash(text) for i in fresh for text in sentences.texts(i)}
    rows: dict[bytes, int] = {}
    for d, doc_rows in enumerate(before.sentence_rows):
        if not len(doc_rows):
            continue
        text = previous.documents[d].text
        starts, ends = previous.sentences.start[doc_rows].tolist(), previous.sentences.end[doc_rows].tolist()
        for r, a, b in zip(doc_rows.tolist(), starts, ends, strict=True):
            piece = text[a:b]
            if wanted is None or hash(piece) in wanted:
                rows[text_key(piece)] = r  # the last row of a text wins, as it always has
    return _KnownSentences(previous.sentence_vectors, rows)


class _DocumentRows:
    """The sentence or chunk vectors of a build, one matrix in document order (each document's
    rows in order), filled document by document; `filled` checks that every document was."""

    def __init__(self, what: str, documents: Sequence[Document], counts: dict[str, int], matrix: np.ndarray) -> None:
        """`counts`: each document's number of rows; `matrix`: their sum of rows, to fill."""
        self.what = what
        self._first: dict[str, tuple[int, int]] = {}
        at = 0
        for d in documents:
            self._first[d.doc_id] = (at, at + counts[d.doc_id])
            at += counts[d.doc_id]
        if len(matrix) != at:
            raise ValueError(f"{len(matrix)} rows for {at} {what} vectors")
        self.matrix = matrix
        self._done: set[str] = set()

    def rows(self, doc_id: str) -> np.ndarray:
        """A document's rows, handed out to be filled in place."""
        lo, hi = self._first[doc_id]
        self._done.add(doc_id)
        return self.matrix[lo:hi]

    def put(self, doc_id: str, vectors: np.ndarray) -> None:
        """A document's vectors, whole."""
        target = self.rows(doc_id)
        if vectors.shape != target.shape:
            raise ValueError(f"{doc_id}: {vectors.shape} {self.what} vectors for {target.shape} rows")
        target[:] = vectors

    def filled(self) -> np.ndarray:
        missing = set(self._first) - self._done
        if missing:
            raise ValueError(f"no {self.what} vectors for {sorted(missing)[:3]}")
        return self.matrix
