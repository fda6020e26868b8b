"""A hashing embedder: deterministic bag-of-words vectors, fast and dependency-free, for tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rag.config import HASH
from rag.embed import ProgressCallback, normalize_rows
from rag.errors import ConfigError


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
