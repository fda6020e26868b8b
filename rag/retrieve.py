"""Hybrid retrieval: dense (FAISS) and lexical (BM25) chunk candidates, fused into one ranking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.config import RetrieveConfig
from rag.lexical import BM25
from rag.store import StoredIndex


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    """A retrieved chunk (its row in the index) with its fused, dense and lexical scores."""

    row: int
    score: float
    dense: float
    lexical: float


class HybridRetriever:
    """Fuses cosine similarity with max-normalised BM25: score = (1-w)·cos + w·bm25/max."""

    def __init__(self, stored: StoredIndex, config: RetrieveConfig | None = None) -> None:
        self.stored = stored
        self.config = RetrieveConfig() if config is None else config
        self.bm25 = BM25([c.text for c in stored.chunks])

    def retrieve(self, query: str, query_vector: np.ndarray, top_k: int | None = None) -> list[ScoredChunk]:
        """The best `top_k` chunks for a query (its text and its unit vector), best first."""
        k = self.config.top_k if top_k is None else top_k
        n = self.stored.faiss.size
        if n == 0:
            return []
        lexical = self.bm25.scores(query)
        top_lexical = float(lexical.max()) if lexical.size else 0.0
        _, dense_ids = self.stored.faiss.search(query_vector, self.config.candidates)
        candidates = set(int(i) for i in dense_ids[0] if i >= 0)
        if top_lexical > 0:
            count = min(self.config.candidates, n)
            candidates.update(int(i) for i in np.argpartition(-lexical, count - 1)[:count] if lexical[i] > 0)
        rows = np.fromiter(candidates, dtype=np.int64)
        # Cosine for every candidate, including those only BM25 found.
        dense = self.stored.chunk_vectors[rows] @ query_vector.reshape(-1)
        lex = lexical[rows] / top_lexical if top_lexical > 0 else np.zeros(len(rows), dtype=np.float32)
        w = self.config.lexical_weight
        fused = (1 - w) * dense + w * lex
        order = np.lexsort((rows, -fused))[:k]
        return [ScoredChunk(int(rows[i]), float(fused[i]), float(dense[i]), float(lex[i])) for i in order]
