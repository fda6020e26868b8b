"""A vector index in plain numpy: exact search over one matrix (memory-mapped when large), no FAISS."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.config import IndexConfig
from rag.errors import IndexMismatchError
from rag.index import check_vectors, empty_result, load_matrix, prepare_search


class NumpyIndex:
    """Exact inner-product search by one matrix product."""

    kind = "numpy"

    def __init__(self, matrix: np.ndarray) -> None:
        self._matrix = matrix

    @classmethod
    def build(cls, vectors: np.ndarray, config: IndexConfig | None = None) -> NumpyIndex:
        check_vectors(vectors)
        return cls(np.ascontiguousarray(vectors, dtype=np.float32))

    @classmethod
    def load(cls, folder: Path, stem: str, config: IndexConfig | None = None) -> NumpyIndex:
        path = folder / f"{stem}.npy"
        try:
            matrix = load_matrix(path)
        except (OSError, ValueError, EOFError) as exc:
            raise IndexMismatchError(f"{path} cannot be read ({exc}); rebuild with `rag ingest`") from exc
        if matrix.dtype != np.float32 or matrix.ndim != 2:
            raise IndexMismatchError(f"{path} holds {matrix.dtype} {matrix.shape}, not float32 vectors; "
                                     "rebuild with `rag ingest`")
        return cls(matrix)

    @property
    def size(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        queries, k = prepare_search(queries, top_k, self.size)
        if k == 0:
            return empty_result(len(queries))
        scores = queries @ self._matrix.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
        return np.take_along_axis(top, order, axis=1).astype(np.float32), ids

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._matrix[rows], dtype=np.float32)

    def save(self, folder: Path, stem: str) -> tuple[str, ...]:
        name = f"{stem}.npy"
        np.save(folder / name, np.asarray(self._matrix), allow_pickle=False)
        return (name,)
