"""The vector index seam: nearest rows of a float32 (n, dim) unit-vector matrix by inner product.

Every backend (`rag.index_faiss`, `rag.index_numpy`) keeps its vectors once, in its own files,
and hands them back by row; `rag.indexes` picks one by the name the manifest records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ConfigError


class VectorIndex(Protocol):
    """Vectors by row, searched by inner product (cosine, for unit rows)."""

    @property
    def kind(self) -> str:
        """The registry name of this backend ("flat", "hnsw", "ivf", "numpy")."""
        ...

    @property
    def size(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, min(top_k, size)), best first; ids are rows."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of `rows` (int64), float32 (len(rows), dim)."""
        ...

    def save(self, folder: Path, stem: str) -> tuple[str, ...]:
        """Write the index into `folder` as files named `stem.*`; returns their names."""
        ...


MMAP_FROM_BYTES = 1 << 26
"""Saved matrices this large (64 MB) are memory-mapped rather than read whole: a question reads a
few hundred rows of the sentence vectors, and the replicas of `rag serve --replicas` share one
copy in the page cache (the Python manual's index, 2 replicas after 150 questions: 1,284 MB
of PSS in all against 1,645 MB read whole; `ask` p50 45.1 against 43.4 ms, p95 55.8 against
55.5, the two interleaved in one process). The index never rewrites a
generation's files in place (a build writes a new generation; an old one is unlinked, which
leaves a mapping valid), so only an outside hand truncating a live file could kill a server
(SIGBUS); below this size a private copy is cheap enough to rule that out."""


def load_matrix(path: Path) -> np.ndarray:
    """A saved matrix (.npy): read into memory, or memory-mapped from MMAP_FROM_BYTES on."""
    mmap = path.stat().st_size >= MMAP_FROM_BYTES
    matrix: np.ndarray = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    return matrix


def check_vectors(vectors: np.ndarray) -> None:
    """Refuse anything but a float32 (n, dim) matrix."""
    if vectors.dtype != np.float32 or vectors.ndim != 2:
        raise ConfigError(f"vectors must be float32 of shape (n, dim), got {vectors.dtype} {vectors.shape}")


def prepare_search(queries: np.ndarray, top_k: int, size: int) -> tuple[np.ndarray, int]:
    """The queries as a C-contiguous float32 (n_queries, dim) matrix, and how many rows each
    gets: min(top_k, size). Raises ConfigError for top_k < 1."""
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    return np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32), min(top_k, size)


def empty_result(n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n_queries, 0), dtype=np.float32), np.zeros((n_queries, 0), dtype=np.int64)
