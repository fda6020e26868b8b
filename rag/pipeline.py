"""The Assistant facade: load an index once, answer questions with citations."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from rag.answer import ExtractiveAnswerer
from rag.config import Settings
from rag.conversation import resolve_query
from rag.embed import Embedder, make_embedder
from rag.errors import IndexMismatchError, InvalidQueryError
from rag.retrieve import HybridRetriever, ScoredChunk
from rag.store import StoredIndex, load_index
from rag.types import Answer

logger = logging.getLogger(__name__)

MAX_HISTORY_TURNS = 8


class Assistant:
    """Answers questions from one loaded index. Thread-safe for concurrent `ask` calls."""

    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings | None = None) -> None:
        manifest = stored.manifest
        if (embedder.name, embedder.dim) != (manifest.embedder, manifest.dim):
            raise IndexMismatchError(
                f"index was built with {manifest.embedder} (dim {manifest.dim}), not "
                f"{embedder.name} (dim {embedder.dim}); rebuild with `rag ingest`"
            )
        self.settings = Settings() if settings is None else settings
        self.stored = stored
        self.embedder = embedder
        self.retriever = HybridRetriever(stored, self.settings.retrieve)
        self.answerer = ExtractiveAnswerer(stored, self.settings.answer)

    @classmethod
    def load(
        cls,
        index_dir: Path | str = "index",
        embedder: Embedder | None = None,
        settings: Settings | None = None,
    ) -> Assistant:
        """Load the index in `index_dir`, with the embedder its manifest names unless given."""
        stored = load_index(Path(index_dir))
        if settings is not None and settings.chunk != stored.manifest.chunk_config:
            m = stored.manifest
            raise IndexMismatchError(
                f"index in {index_dir} was chunked with {m.chunk_tokens}/{m.overlap_tokens} tokens "
                f"({m.encoding}), not {settings.chunk.chunk_tokens}/{settings.chunk.overlap_tokens}; "
                "rebuild with `rag ingest`"
            )
        if settings is None:
            settings = Settings(chunk=stored.manifest.chunk_config)
        return cls(stored, embedder or make_embedder(stored.manifest.embedder), settings)

    def warm_up(self) -> None:
        """Load the model and run it once, so the first visitor does not wait for it."""
        self.embedder.embed(["warm up"])

    def ask(self, question: str, history: Sequence[str] = ()) -> Answer:
        """Answer one question; `history` holds the earlier user turns, oldest first.

        Raises:
            InvalidQueryError: the question is empty, too long, or not text.
        """
        return self.ask_traced(question, history)[0]

    def ask_traced(self, question: str, history: Sequence[str] = ()) -> tuple[Answer, list[ScoredChunk]]:
        """Like `ask`, and also the retrieved chunks, best first (for evaluation)."""
        began = time.perf_counter()
        clean, turns = self._validate(question, history)
        query = resolve_query(clean, turns)
        vector = self.embedder.embed([query])[0]
        hits = self.retriever.retrieve(query, vector)
        answer = self.answerer.answer(clean, query, vector, hits)
        return _with_latency(answer, question, began), hits

    def _validate(self, question: object, history: Sequence[object]) -> tuple[str, list[str]]:
        limit = self.settings.answer.max_question_chars
        if not isinstance(question, str):
            raise InvalidQueryError("the question must be text")
        clean = " ".join(question.split())
        if not clean:
            raise InvalidQueryError("the question is empty")
        if len(clean) > limit:
            raise InvalidQueryError(f"the question is {len(clean):,} characters; the limit is {limit:,}")
        if isinstance(history, str) or not all(isinstance(h, str) for h in history):
            raise InvalidQueryError("history must be a list of earlier questions (text)")
        turns = [" ".join(h.split())[:limit] for h in history if isinstance(h, str) and h.strip()]
        return clean, turns[-MAX_HISTORY_TURNS:]


def _with_latency(answer: Answer, question: str, began: float) -> Answer:
    from dataclasses import replace

    return replace(answer, question=question, latency_ms=(time.perf_counter() - began) * 1000)
