"""Build or update the index: documents -> chunks -> vectors, re-embedding only what changed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.chunk import CHUNKER_VERSION, build_sentence_table, chunk_document
from rag.config import MINILM, IndexConfig, Settings
from rag.embed import Embedder
from rag.embedders import make_embedder
from rag.errors import IndexMismatchError, IndexNotBuiltError, IngestError
from rag.indexes import build_vector_index, resolve_kind
from rag.ingest import load_documents
from rag.store import (
    FORMAT_VERSION,
    Manifest,
    StoredIndex,
    build_lock,
    index_exists,
    load_index,
    read_manifest,
    write_index,
)
from rag.types import Chunk, Document

logger = logging.getLogger(__name__)


class Progress(Protocol):
    """A progress display: told the amount of work, then each piece done."""

    def start(self, total: int, description: str) -> None: ...

    def advance(self, amount: int) -> None: ...

    def close(self) -> None: ...


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
) -> BuildReport:
    """Index every readable document of `docs_dir` into `index_dir`.

    Documents whose file, chunk settings and embedder are unchanged since the last build
    keep their vectors; only new or changed documents are embedded. When nothing changed,
    nothing is written. A failure leaves the previous index untouched.

    Raises:
        EmptyCorpusError: no document could be read (the old index, if any, stays).
    """
    began = time.perf_counter()
    cfg = Settings() if settings is None else settings
    index_path = Path(index_dir)
    report = load_documents(docs_dir, cfg.ingest)
    documents = report.documents
    with build_lock(index_path):
        previous = _load_previous(index_path, embedder, cfg)
        old_docs = {d.doc_id: d for d in previous.documents} if previous else {}
        reuse = {
            d.doc_id for d in documents
            if d.doc_id in old_docs and old_docs[d.doc_id].sha256 == d.sha256
            and old_docs[d.doc_id].text == d.text
        }
        current_ids = {d.doc_id for d in documents}
        removed = tuple(sorted(set(old_docs) - current_ids))
        fresh = [d for d in documents if d.doc_id not in reuse]
        if (previous is not None and not fresh and not removed and _same_order(previous, documents)
                and previous.manifest.index == _index_config(cfg, previous.manifest.n_chunks)):
            logger.info("index in %s is up to date", index_path)
            return BuildReport(
                index_path, len(documents), previous.manifest.n_chunks, previous.manifest.n_sentences,
                (), tuple(sorted(reuse)), (), report.errors, report.skipped,
                time.perf_counter() - began, changed=False,
            )
        chunks_by_doc: dict[str, list[Chunk]] = {d.doc_id: chunk_document(d, cfg.chunk) for d in fresh}
        vectors_by_doc, sentence_vectors_by_doc = _reused_vectors(previous, reuse)
        if previous is not None:
            for doc_id in reuse:
                chunks_by_doc[doc_id] = [c for c in previous.chunks if c.doc_id == doc_id]
        fresh_vectors = _embed_fresh(fresh, chunks_by_doc, embedder, progress)
        vectors_by_doc.update(fresh_vectors[0])
        sentence_vectors_by_doc.update(fresh_vectors[1])

        all_chunks = tuple(c for d in documents for c in chunks_by_doc[d.doc_id])
        chunk_vectors = _stack([vectors_by_doc[d.doc_id] for d in documents], embedder.dim)
        table = build_sentence_table(documents, all_chunks)
        sentence_vectors = _stack([sentence_vectors_by_doc[d.doc_id] for d in documents], embedder.dim)
        index_config = _index_config(cfg, len(chunk_vectors))
        vectors = build_vector_index(chunk_vectors, index_config)
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
            n_chunks=len(all_chunks),
            n_sentences=len(table),
            chunker_version=CHUNKER_VERSION,
        )
        write_index(
            index_path,
            StoredIndex(manifest, documents, all_chunks, vectors, table, sentence_vectors),
        )
    return BuildReport(
        index_path, len(documents), len(all_chunks), len(table),
        tuple(d.doc_id for d in fresh), tuple(sorted(reuse)), removed,
        report.errors, report.skipped, time.perf_counter() - began, changed=True,
    )


def ensure_index(
    index_dir: Path | str,
    docs_dir: Path | str | None = None,
    backend: str | None = None,
    progress: Progress | None = None,
    model_cache: Path | None = None,
) -> tuple[Embedder, BuildReport | None]:
    """The embedder an index needs, after building or updating the index from `docs_dir` if given.

    An existing index keeps the embedder its manifest names; a new one, or one that cannot be
    read, gets MiniLM. `backend` and `model_cache` are passed to `make_embedder`.

    Raises:
        IndexNotBuiltError: no `docs_dir` and no index to load.
    """
    index_path = Path(index_dir)
    if docs_dir is None:
        name = read_manifest(index_path).embedder
    else:
        name = MINILM
        if index_exists(index_path):
            try:
                name = read_manifest(index_path).embedder
            except IndexMismatchError as exc:  # another format or damaged: the build starts afresh
                logger.warning("%s", exc)
    embedder = make_embedder(name, backend, model_cache)
    if docs_dir is None:
        return embedder, None
    return embedder, build_index(docs_dir, index_path, embedder, progress=progress)


def document_sentences(chunks: list[Chunk]) -> list[tuple[int, int]]:
    """The distinct sentence spans of a document's chunks, in order."""
    return sorted({(s.start, s.end) for c in chunks for s in c.sentences})


def _load_previous(index_dir: Path, embedder: Embedder, cfg: Settings) -> StoredIndex | None:
    """The current index if its vectors can be reused with these settings, else None."""
    try:
        previous = load_index(index_dir)
    except IndexNotBuiltError:
        return None
    except IndexMismatchError as exc:
        logger.warning("previous index is not reusable (%s); building from scratch", exc)
        return None
    m = previous.manifest
    if (m.embedder, m.dim, m.chunk_config, m.chunker_version) != (
        embedder.name, embedder.dim, cfg.chunk, CHUNKER_VERSION
    ):
        logger.info("embedder, chunk settings or chunking rules changed; re-embedding every document")
        return None
    return previous


def _index_config(cfg: Settings, n_vectors: int) -> IndexConfig:
    """The index settings with "auto" resolved to the kind `n_vectors` get, as the manifest records them."""
    return replace(cfg.index, kind=resolve_kind(cfg.index, n_vectors))


def _same_order(previous: StoredIndex, documents: tuple[Document, ...]) -> bool:
    return [d.doc_id for d in previous.documents] == [d.doc_id for d in documents]


def _reused_vectors(
    previous: StoredIndex | None, reuse: set[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    chunk_vectors: dict[str, np.ndarray] = {}
    sentence_vectors: dict[str, np.ndarray] = {}
    if previous is None:
        return chunk_vectors, sentence_vectors
    doc_ids = [d.doc_id for d in previous.documents]
    chunk_doc = np.array([doc_ids.index(c.doc_id) for c in previous.chunks], dtype=np.int64)
    for i, doc_id in enumerate(doc_ids):
        if doc_id in reuse:
            chunk_vectors[doc_id] = previous.vectors.vectors(np.flatnonzero(chunk_doc == i))
            sentence_vectors[doc_id] = previous.sentence_vectors[previous.sentences.doc == i]
    return chunk_vectors, sentence_vectors


def _embed_fresh(
    fresh: list[Document],
    chunks_by_doc: dict[str, list[Chunk]],
    embedder: Embedder,
    progress: Progress | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Embed the chunks and sentences of new or changed documents, in one stream of batches."""
    texts: list[str] = []
    bounds: list[tuple[str, int, int, int]] = []
    for doc in fresh:
        chunks = chunks_by_doc[doc.doc_id]
        sentences = document_sentences(chunks)
        first = len(texts)
        texts.extend(c.text for c in chunks)
        texts.extend(doc.text[a:b] for a, b in sentences)
        bounds.append((doc.doc_id, first, first + len(chunks), len(texts)))
    if progress is not None:
        progress.start(len(texts), "embedding")
    try:
        vectors = embedder.embed(texts, progress=progress.advance if progress else None)
    finally:
        if progress is not None:
            progress.close()
    chunk_vectors = {doc_id: vectors[a:b] for doc_id, a, b, _ in bounds}
    sentence_vectors = {doc_id: vectors[b:c] for doc_id, _, b, c in bounds}
    return chunk_vectors, sentence_vectors


def _stack(parts: list[np.ndarray], dim: int) -> np.ndarray:
    if not parts:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
