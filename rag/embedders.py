"""The registry of embedders, by the name an index manifest records: a new one is one module
and one line here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.config import HASH, MINILM, MINILM_INT8
from rag.embed import Embedder
from rag.embed_hash import HashEmbedder
from rag.embed_onnx import OnnxEmbedder
from rag.embed_torch import SentenceTransformerEmbedder
from rag.errors import ConfigError

BACKENDS = ("onnx", "torch")
"""How MiniLM runs: ONNX Runtime (default: same vectors, a third of the time, no torch at
query time) or sentence-transformers on torch."""


def _minilm(backend: str, model_cache: Path | None, threads: int | None) -> Embedder:
    if backend == "torch":
        return SentenceTransformerEmbedder()
    return OnnxEmbedder(cache_dir=model_cache, threads=threads)


def _minilm_int8(backend: str, model_cache: Path | None, threads: int | None) -> Embedder:
    if backend == "torch":
        raise ConfigError(f"{MINILM_INT8} runs on ONNX Runtime only, not on the torch backend")
    return OnnxEmbedder(cache_dir=model_cache, threads=threads, int8=True)


def _hash(backend: str, model_cache: Path | None, threads: int | None) -> Embedder:
    return HashEmbedder()


EMBEDDERS: dict[str, Callable[[str, Path | None, int | None], Embedder]] = {
    MINILM: _minilm,
    MINILM_INT8: _minilm_int8,
    HASH: _hash,
}


def make_embedder(
    name: str, backend: str | None = None, model_cache: Path | None = None, threads: int | None = None,
) -> Embedder:
    """The embedder an index was built with, by the name its manifest records.

    `backend` ("onnx" or "torch", default onnx) and `model_cache` (where exported models are
    kept, default ~/.cache/rag) are read from the environment by the entry points, not here.
    `threads`: ONNX Runtime threads (default: up to 4), one in a Ray worker of one CPU.
    """
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    factory = EMBEDDERS.get(name)
    if factory is None:
        raise ConfigError(f"unknown embedder {name!r}; expected one of {sorted(EMBEDDERS)}")
    return factory(backend or "onnx", model_cache, threads)
