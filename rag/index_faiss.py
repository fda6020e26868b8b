"""FAISS vector indexes: exact ("flat"), an HNSW graph ("hnsw") and inverted lists ("ivf").

Each keeps the vectors once, inside the FAISS file, and hands them back by row
(`reconstruct`), so no second copy sits beside it.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import IndexConfig
from rag.errors import ConfigError, IndexMismatchError
from rag.index import check_vectors, empty_result, prepare_search

logger = logging.getLogger(__name__)

FEW_QUERIES = 16
"""A search of this many queries or fewer runs on one thread. FAISS's OpenMP threads, woken for
one question, fight ONNX Runtime's spinning threads for the two cores: on the Python manual
(16,900 chunks) `ask` p50 was 27 ms with them and 13 ms without (heuristic reader). A server
answers questions side by side, one thread each."""


ONE_THREAD_GRAPH_UP_TO = 200_000
"""An HNSW graph of this many vectors or fewer is built on one thread. On several, FAISS adds
the vectors in an unspecified order (its wiki, "Reproducibility with multiple threads"), so the
graph, and an answer near a tie, could differ from one build of the same vectors to the next;
what was exact (and so reproducible) before graphs began at 10,000 vectors stays reproducible.
One thread builds the Python manual's 14,872 vectors in 2.1 s, 98,000 in 20 s (9.5 s on two)."""


def _threads_for(n: int, one_thread_up_to: int = FEW_QUERIES) -> None:
    """FAISS's threads for a search of `n` queries, or a build of `n` vectors: one up to
    `one_thread_up_to`, every core beyond."""
    import faiss

    faiss.omp_set_num_threads(1 if n <= one_thread_up_to else os.cpu_count() or 1)


class FaissIndex:
    """A FAISS index of one of the kinds below; built by `build`, read by `load`."""

    kind = "faiss"
    one_thread_build_up_to = FEW_QUERIES
    """A build of more vectors than this uses every core (training an IVF index, adding)."""

    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, config: IndexConfig | None = None) -> FaissIndex:
        check_vectors(vectors)
        cfg = IndexConfig() if config is None else config
        _threads_for(len(vectors), cls.one_thread_build_up_to)
        index = cls._empty(vectors, cfg)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, folder: Path, stem: str, config: IndexConfig | None = None) -> FaissIndex:
        import faiss

        path = folder / f"{stem}.faiss"
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexMismatchError(
                f"{path} is not a readable FAISS index ({exc}); rebuild with `rag ingest`"
            ) from exc
        loaded = cls(index)
        loaded._tune(IndexConfig() if config is None else config)
        return loaded

    @classmethod
    def _empty(cls, vectors: np.ndarray, config: IndexConfig) -> Any:
        import faiss

        return faiss.IndexFlatIP(vectors.shape[1])

    def _tune(self, config: IndexConfig) -> None:
        """Apply the search-time parameters after a load."""

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        queries, k = prepare_search(queries, top_k, self.size)
        if k == 0:
            return empty_result(len(queries))
        _threads_for(len(queries))
        scores, ids = self._index.search(queries, k)
        return scores, ids

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(rows), dtype=np.float32)

    def save(self, folder: Path, stem: str) -> tuple[str, ...]:
        import faiss

        name = f"{stem}.faiss"
        try:
            faiss.write_index(self._index, str(folder / name))
        except RuntimeError as exc:  # FAISS reports a failed write (a full disk) this way
            raise OSError(f"cannot write {folder / name}: {exc}") from exc
        return (name,)


class FaissFlatIndex(FaissIndex):
    """Exact inner product over every vector."""

    kind = "flat"


class FaissHnswIndex(FaissIndex):
    """An HNSW graph: approximate, fast at millions of vectors (M, efConstruction, efSearch from the config)."""

    kind = "hnsw"
    one_thread_build_up_to = ONE_THREAD_GRAPH_UP_TO

    @classmethod
    def _empty(cls, vectors: np.ndarray, config: IndexConfig) -> Any:
        import faiss

        index = faiss.IndexHNSWFlat(vectors.shape[1], config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
        return index

    def _tune(self, config: IndexConfig) -> None:
        import faiss

        graph: Any = faiss.downcast_index(self._index)
        graph.hnsw.efSearch = config.hnsw_ef_search


class FaissIvfIndex(FaissIndex):
    """Inverted lists over k-means cells: `ivf_lists` cells (4·sqrt(n) by default), `ivf_nprobe` searched."""

    kind = "ivf"

    @classmethod
    def _empty(cls, vectors: np.ndarray, config: IndexConfig) -> Any:
        import faiss

        n, dim = vectors.shape
        if n < 1:
            raise ConfigError("an IVF index needs at least one vector to train on")
        lists = min(n, config.ivf_lists or max(1, int(4 * math.sqrt(n))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors
        if n > 100_000:
            sample = vectors[np.sort(np.random.default_rng(0).choice(n, 100_000, replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.make_direct_map()  # rows can be handed back (`vectors`)
        index.nprobe = config.ivf_nprobe
        return index

    def _tune(self, config: IndexConfig) -> None:
        import faiss

        ivf = faiss.extract_index_ivf(self._index)
        ivf.nprobe = config.ivf_nprobe
        if ivf.direct_map.no():
            ivf.make_direct_map()
