"""The Assistant facade: handed its parts (embedder, retriever, reader, policy), or loaded from
an index with the defaults; answers questions with citations."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from rag.answer import compose_answer
from rag.config import LIMITS, AnswerPolicy, QueryLimits, Settings
from rag.conversation import carry, may_need_history, needs_history, resolve_query
from rag.embed import Embedder
from rag.embedders import make_embedder
from rag.errors import IndexMismatchError, InvalidQueryError
from rag.lexical import Identifiers, identifiers
from rag.read import Reader
from rag.read_heuristic import SentenceIndex
from rag.readers import DEFAULT_READER, make_reader, policy_for
from rag.retrieve import HybridRetriever, Retriever
from rag.store import Manifest, load_index
from rag.types import Answer, Document, Passage, Query

logger = logging.getLogger(__name__)

RECENT_ANSWERS = 256
"""Answers remembered for the follow-ups that lean on them (at most a few MB)."""


class Trace(NamedTuple):
    """One question's answer, the passages retrieved for it, and the reader's time."""

    answer: Answer
    passages: list[Passage]
    reader_ms: float


class Answerer(Protocol):
    """What a front end needs of an assistant: an `Assistant`, or a `rag.live.LiveAssistant`
    that follows its index to each new generation."""

    @property
    def documents(self) -> tuple[Document, ...]: ...

    @property
    def limits(self) -> QueryLimits: ...

    def ask(self, question: str, history: Sequence[str] = ()) -> Answer: ...

    def document(self, doc_id: str) -> Document | None: ...

    def describe(self) -> dict[str, Any]: ...

    def warm_up(self) -> None: ...


class Assistant:
    """Answers questions from its documents. Thread-safe for concurrent `ask` calls.

    Args:
        embedder: turns the question into a vector (the one the index was built with).
        retriever: finds the passages for a query.
        reader: reads the passages and returns extractions.
        documents: every document the retriever can return a passage of.
        policy: turns extractions into the answer (citations, abstention).
        limits: how long a question and its history may be.
        manifest: the index's description, when the parts came from one.
        generation: the index generation the parts came from ("" when not from an index).
    """

    def __init__(
        self,
        embedder: Embedder,
        retriever: Retriever,
        reader: Reader,
        documents: Sequence[Document],
        policy: AnswerPolicy | None = None,
        limits: QueryLimits | None = None,
        manifest: Manifest | None = None,
        generation: str = "",
    ) -> None:
        self.embedder = embedder
        self.retriever = retriever
        self.reader = reader
        self.documents = tuple(documents)
        self.policy = AnswerPolicy() if policy is None else policy
        self.limits = LIMITS if limits is None else limits
        self.manifest = manifest
        self.generation = generation
        self._by_id = {d.doc_id: d for d in self.documents}
        self._recent: OrderedDict[tuple[str, tuple[str, ...]], Answer] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._identifiers: Identifiers | None = None
        self._identifiers_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        index_dir: Path | str = "index",
        embedder: Embedder | None = None,
        settings: Settings | None = None,
        reader: Reader | str | None = None,
        base_url: str = "",
    ) -> Assistant:
        """Load the index in `index_dir` with the default parts: the embedder its manifest names
        (unless given), hybrid retrieval, and the reader given, by name ("model", the default,
        or "heuristic") or as a `Reader`. With `base_url`, citations of HTML documents link to
        their pages there (see `AnswerPolicy.base_url`).

        Raises:
            IndexNotBuiltError: there is no index in `index_dir`.
            IndexMismatchError: it is damaged, or was built with another embedder or other chunk settings.
            ModelError: the reader model cannot be loaded.
        """
        stored = load_index(Path(index_dir))
        m = stored.manifest
        if settings is not None and settings.chunk != m.chunk_config:
            raise IndexMismatchError(
                f"index in {index_dir} was chunked with {m.chunk_tokens}/{m.overlap_tokens} tokens "
                f"({m.encoding}), not {settings.chunk.chunk_tokens}/{settings.chunk.overlap_tokens}; "
                "rebuild with `rag ingest`"
            )
        cfg = Settings(chunk=m.chunk_config) if settings is None else settings
        embedder = make_embedder(m.embedder) if embedder is None else embedder
        if (embedder.name, embedder.dim) != (m.embedder, m.dim):
            raise IndexMismatchError(
                f"index was built with {m.embedder} (dim {m.dim}), not "
                f"{embedder.name} (dim {embedder.dim}); rebuild with `rag ingest`"
            )
        retriever = HybridRetriever.over(stored, cfg.retrieve)
        if reader is None or isinstance(reader, str):
            sentences = SentenceIndex(stored.documents, stored.chunks, stored.sentences, stored.sentence_vectors,
                                      stored.sentence_terms)
            reader = make_reader(DEFAULT_READER if reader is None else reader, sentences, cfg)
        # Settings given are kept as given; else the reader brings its own abstention threshold.
        policy = cfg.policy if settings is not None else policy_for(reader, cfg.policy)
        if base_url:
            policy = replace(policy, base_url=base_url)
        return cls(embedder, retriever, reader, stored.documents, policy, cfg.limits, m, stored.generation)

    def warm_up(self) -> None:
        """Load the model and run it once, and gather the documents' identifiers, so the first
        visitor does not wait for them."""
        self.embedder.embed(["warm up"])
        self.document_identifiers()

    def document_identifiers(self) -> Identifiers:
        """The words and dotted names of the documents (gathered once: 0.35 s for the Python
        manual's 9 million characters)."""
        if self._identifiers is None:
            with self._identifiers_lock:
                if self._identifiers is None:
                    self._identifiers = Identifiers(d.text for d in self.documents)
        return self._identifiers

    def document(self, doc_id: str) -> Document | None:
        """One document by id, or None."""
        return self._by_id.get(doc_id)

    def describe(self) -> dict[str, Any]:
        """What is loaded, for a health check: counts, models, when the index was built."""
        info: dict[str, Any] = {"documents": len(self.documents), "embedder": self.embedder.name,
                                "reader": self.reader.name}
        if self.manifest is not None:
            m = self.manifest
            info.update(chunks=m.n_chunks, sentences=m.n_sentences, index=m.index.kind, index_created=m.created,
                        generation=self.generation)
        return info

    def ask(self, question: str, history: Sequence[str] = ()) -> Answer:
        """Answer one question; `history` holds the earlier user turns, oldest first.

        Raises:
            InvalidQueryError: the question is empty, too long, or not text.
        """
        return self.ask_traced(question, history)[0]

    def ask_traced(self, question: str, history: Sequence[str] = ()) -> Trace:
        """Like `ask`, and also the retrieved passages and the reader's share of the time."""
        began = time.perf_counter()
        clean, turns = self._validate(question, history)
        earlier = self._earlier_answer(clean, turns)
        carried = carry("" if earlier is None or earlier.abstained else earlier.answer)
        query, found = self._query(clean, turns, earlier, carried)
        answer, passages, reader_ms = self._answer(query, found)
        answer = replace(answer, question=question, latency_ms=(time.perf_counter() - began) * 1000)
        if not query.carried:  # the same answer `_earlier_answer` would work out: keep it for a follow-up
            self._remember(clean, turns, answer)
        return Trace(answer, passages, reader_ms)

    def _earlier_answer(self, question: str, turns: list[str]) -> Answer | None:
        """The answer to the turn a follow-up may lean on, read from that turn and its own
        history without carrying answers further back (so it does not depend on what was asked
        before): remembered from when it was asked (a chat asks them in order), else read now.
        None when there is no earlier turn or the question does not look as if it leans on one."""
        if not turns or not (needs_history(question) or may_need_history(question)):
            return None
        key = (turns[-1], tuple(turns[:-1]))
        with self._recent_lock:
            answer = self._recent.get(key)
        if answer is None:
            earlier = turns[:-1]
            text = resolve_query(turns[-1], earlier)
            answer = self._answer(Query(turns[-1], text, self.embedder.embed([text])[0])).answer
            self._remember(turns[-1], earlier, answer)
        return answer

    def _query(self, question: str, turns: list[str], earlier: Answer | None,
               carried: str) -> tuple[Query, list[Passage] | None]:
        """What to search with, and the passages it found when the choice took a search: the
        question with the earlier turn it seems to lean on only when that finds a passage
        closer to it than the question alone does. A question that stands alone after an
        unrelated turn ("What was Savery's invention?" after a question about Harvard) is not
        dragged to the earlier topic by a word the follow-up rule reads as pointing back
        ("that", "their"): on squad-public, each answerable question asked after a random
        question of another article (`eval/topic_switch.py`) kept evidence@1 0.843 (0.874 alone)
        against 0.809 before; the follow-ups of xian-dev and pydocs-dev read as before.

        A short question with no word pointing back ("Which level is the fastest?" after "What
        does zlib.compress return?") leans on the earlier turn only when, searched alone, it
        lands in the document the earlier answer cited: pydocs-dev's follow-ups F1 0.50 -> 0.70,
        squad-public after an unrelated turn unchanged (0.843).

        It costs a follow-up one more query embedding and one more retrieval: the search of the
        text chosen is the answer's."""
        if earlier is None:
            return Query(question, question, self.embedder.embed([question])[0]), None
        resolved = resolve_query(question, turns, carried, lean=True)
        points_back = needs_history(question)
        # Both texts embedded in one call when both will be searched.
        vectors = list(self.embedder.embed([question, resolved] if points_back else [question]))
        alone = Query(question, question, vectors[0])
        alone_found = self.retriever.retrieve(alone)
        if not points_back and (  # short, and nothing in it points back: where did it land alone?
            not alone_found or not earlier.citations or alone_found[0].doc_id != earlier.citations[0].doc_id
        ):
            return alone, alone_found
        if not points_back:
            vectors.append(self.embedder.embed([resolved])[0])
        leaning = Query(question, resolved, vectors[1], carried)
        leaning_found = self.retriever.retrieve(leaning)
        if alone_found and (not leaning_found or alone_found[0].dense >= leaning_found[0].dense):
            return alone, alone_found
        return leaning, leaning_found

    def _answer(self, query: Query, passages: list[Passage] | None = None) -> Trace:
        """Retrieve for `query` (unless its `passages` were found already), read and compose the
        answer to its question."""
        if passages is None:
            passages = self.retriever.retrieve(query)
        reading = time.perf_counter()
        extractions = self.reader.read(query, passages)
        reader_ms = (time.perf_counter() - reading) * 1000
        named = identifiers(query.question) if self.policy.decline_unknown_identifiers else []
        unknown = self.document_identifiers().missing(named) if named else []  # gathered when first needed
        return Trace(compose_answer(query.question, extractions, self._by_id, self.policy, unknown), passages,
                     reader_ms)

    def _remember(self, question: str, turns: list[str], answer: Answer) -> None:
        with self._recent_lock:
            self._recent[(question, tuple(turns))] = answer
            self._recent.move_to_end((question, tuple(turns)))
            while len(self._recent) > RECENT_ANSWERS:
                self._recent.popitem(last=False)

    def _validate(self, question: object, history: Sequence[object]) -> tuple[str, list[str]]:
        limit = self.limits.max_question_chars
        if not isinstance(question, str):
            raise InvalidQueryError("the question must be text")
        clean = " ".join(question.split())
        if not clean:
            raise InvalidQueryError("the question is empty")
        if len(clean) > limit:
            raise InvalidQueryError(f"the question is {len(clean):,} characters; the limit is {limit:,}")
        if isinstance(history, str) or not all(isinstance(h, str) for h in history):
            raise InvalidQueryError("history must be a list of earlier questions (text)")
        if len(history) > self.limits.max_history_turns:
            raise InvalidQueryError(
                f"history holds {len(history):,} turns; the limit is {self.limits.max_history_turns:,} "
                "(send the latest ones)"
            )
        turns = [" ".join(h.split())[:limit] for h in history if isinstance(h, str) and h.strip()]
        return clean, turns
