"""The registry of vector index backends: a new one is one module and one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import IndexConfig
from rag.errors import ConfigError, IndexMismatchError
from rag.index import VectorIndex
from rag.index_faiss import FaissFlatIndex, FaissHnswIndex, FaissIvfIndex
from rag.index_numpy import NumpyIndex


@dataclass(frozen=True, slots=True)
class IndexType:
    """How to build a backend from vectors and read it back from a folder."""

    build: Callable[[np.ndarray, IndexConfig], VectorIndex]
    load: Callable[[Path, str, IndexConfig], VectorIndex]


INDEX_TYPES: dict[str, IndexType] = {
    "flat": IndexType(FaissFlatIndex.build, FaissFlatIndex.load),
    "hnsw": IndexType(FaissHnswIndex.build, FaissHnswIndex.load),
    "ivf": IndexType(FaissIvfIndex.build, FaissIvfIndex.load),
    "numpy": IndexType(NumpyIndex.build, NumpyIndex.load),
}


def resolve_kind(config: IndexConfig, n_vectors: int) -> str:
    """The backend a corpus of `n_vectors` gets: the configured one, or by size for "auto"."""
    if config.kind == "auto":
        return "flat" if n_vectors <= config.exact_up_to else "hnsw"
    if config.kind not in INDEX_TYPES:
        raise ConfigError(f"index kind must be 'auto' or one of {sorted(INDEX_TYPES)}, got {config.kind!r}")
    return config.kind


def build_vector_index(vectors: np.ndarray, config: IndexConfig | None = None) -> VectorIndex:
    """Index `vectors` (float32, (n, dim), unit rows) with the backend `config` names."""
    cfg = IndexConfig() if config is None else config
    return INDEX_TYPES[resolve_kind(cfg, len(vectors))].build(vectors, cfg)


def load_vector_index(folder: Path, stem: str, config: IndexConfig) -> VectorIndex:
    """Read back the index a manifest describes (`config.kind` is the resolved backend)."""
    backend = INDEX_TYPES.get(config.kind)
    if backend is None:
        raise IndexMismatchError(f"index kind {config.kind!r} is unknown here; rebuild with `rag ingest`")
    return backend.load(folder, stem, config)
