"""FAISS vector index: exact inner product over unit vectors, i.e. cosine similarity."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigError, IndexMismatchError

logger = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "hnsw")
EXACT_UP_TO = 200_000
"""Corpora up to this many vectors get the exact index; larger ones an HNSW graph."""
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def choose_index_type(n_vectors: int) -> str:
    """Exact search while it is fast enough; an approximate graph beyond."""
    return "flat" if n_vectors <= EXACT_UP_TO else "hnsw"


class FaissIndex:
    """Nearest rows of a float32 (n, dim) unit-vector matrix by inner product."""

    def __init__(self, index: Any, index_type: str) -> None:
        self._index = index
        self.index_type = index_type

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str = "auto") -> FaissIndex:
        """Index `vectors` (float32, shape (n, dim), unit-length rows).

        `index_type` is "flat" (exact inner product), "hnsw" (approximate graph) or "auto"
        (flat up to EXACT_UP_TO vectors, hnsw beyond).
        """
        import faiss

        _check_vectors(vectors)
        kind = choose_index_type(len(vectors)) if index_type == "auto" else index_type
        if kind not in INDEX_TYPES:
            raise ConfigError(f"index_type must be 'auto' or one of {INDEX_TYPES}, got {index_type!r}")
        index: Any
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, kind)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each (n_queries, min(top_k, size)), best first."""
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(top_k, self.size)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        scores, ids = self._index.search(queries, k)
        return scores, ids

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, index_type: str) -> FaissIndex:
        import faiss

        try:
            index = faiss.read_index(str(path))
            if index_type == "hnsw":
                graph: Any = faiss.downcast_index(index)
                graph.hnsw.efSearch = HNSW_EF_SEARCH
        except RuntimeError as exc:
            raise IndexMismatchError(
                f"{path} is not a readable FAISS index ({exc}); rebuild with `rag ingest`"
            ) from exc
        return cls(index, index_type)


def _check_vectors(vectors: np.ndarray) -> None:
    if vectors.dtype != np.float32 or vectors.ndim != 2:
        raise ConfigError(f"vectors must be float32 of shape (n, dim), got {vectors.dtype} {vectors.shape}")
