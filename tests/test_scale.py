"""Builds that stop half way go on from there, and `rag ingest --ray` on a local two-worker Ray
cluster writes the index a local build writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import rag.build
from rag.build import build_index
from rag.embed import ProgressCallback
from rag.embed_hash import HashEmbedder
from rag.journal import FOLDER
from rag.store import load_index
from tests.conftest import write_corpus

PAGES = {
    f"page{i}.md": f"# Page {i}\n\n" + " ".join(
        f"Sentence {j} of page {i} tells of item {i * 100 + j} and its {['red', 'blue', 'green'][j % 3]} box."
        for j in range(12)
    )
    for i in range(6)
}


class StopsAfter:
    """The hashing embedder, which fails after `calls` calls (a crash half way through a build)."""

    def __init__(self, calls: int | None = None) -> None:
        self.inner = HashEmbedder()
        self.left = calls
        self.texts: list[str] = []
        self.name, self.dim = self.inner.name, self.inner.dim

    def embed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None) -> np.ndarray:
        if self.left is not None:
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
        self.texts.extend(texts)
        return self.inner.embed(texts, progress=progress)


def test_a_stopped_build_goes_on_from_what_it_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = write_corpus(tmp_path / "docs", PAGES)
    monkeypatch.setattr(rag.build, "JOURNAL_PART", 20)
    stopped = StopsAfter(calls=2)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, tmp_path / "index", stopped)
    assert len(stopped.texts) == 40
    assert len(list((tmp_path / "index" / FOLDER).rglob("part-*.npz"))) == 2

    again = StopsAfter()
    build_index(docs, tmp_path / "index", again)
    whole = StopsAfter()
    build_index(docs, tmp_path / "fresh", whole)
    assert len(again.texts) == len(whole.texts) - 40  # only what the first build had not embedded
    assert not set(again.texts) & set(stopped.texts)
    resumed, fresh = load_index(tmp_path / "index"), load_index(tmp_path / "fresh")
    assert resumed.chunks == fresh.chunks
    np.testing.assert_array_equal(resumed.sentence_vectors, fresh.sentence_vectors)
    assert not (tmp_path / "index" / FOLDER).exists()  # a finished build forgets its journal


def test_a_damaged_journal_part_is_embedded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = write_corpus(tmp_path / "docs", PAGES)
    monkeypatch.setattr(rag.build, "JOURNAL_PART", 20)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, tmp_path / "index", StopsAfter(calls=2))
    first = sorted((tmp_path / "index" / FOLDER).rglob("part-*.npz"))[0]
    first.write_bytes(b"not a part")
    again = StopsAfter()
    build_index(docs, tmp_path / "index", again)
    whole = StopsAfter()
    build_index(docs, tmp_path / "fresh", whole)
    assert len(again.texts) == len(whole.texts) - 20


@pytest.mark.slow
def test_rag_ingest_on_a_two_worker_ray_cluster_writes_the_local_index(tmp_path: Path) -> None:
    ray_cluster = pytest.importorskip("ray.cluster_utils")
    from rag.cli import main

    docs = write_corpus(tmp_path / "docs", PAGES)
    assert main(["ingest", "--docs", str(docs), "--index", str(tmp_path / "local")]) == 0
    cluster = ray_cluster.Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        assert main(["ingest", "--docs", str(docs), "--index", str(tmp_path / "ray"), "--ray", cluster.address]) == 0
    finally:
        cluster.shutdown()
    local, on_ray = load_index(tmp_path / "local"), load_index(tmp_path / "ray")
    assert dataclasses.replace(on_ray.manifest, created=local.manifest.created) == local.manifest
    assert on_ray.documents == local.documents
    assert [c.chunk_id for c in on_ray.chunks] == [c.chunk_id for c in local.chunks]
    rows = np.arange(len(local.chunks))
    cosine = (on_ray.vectors.vectors(rows) * local.vectors.vectors(rows)).sum(axis=1)
    assert cosine.min() >= 0.9999
    assert (on_ray.sentence_vectors * local.sentence_vectors).sum(axis=1).min() >= 0.9999
