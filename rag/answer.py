"""Extractive answering: pick the sentence that answers, cut the short answer, cite, or abstain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import AnswerConfig
from rag.lexical import BM25, tokenize
from rag.retrieve import ScoredChunk
from rag.span import AnswerType, expected_type, find_candidates, pick_span
from rag.store import StoredIndex
from rag.types import Answer, Citation


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A candidate answering sentence (its row in the sentence table) and why it scored so."""

    row: int
    score: float
    dense: float
    lexical: float
    chunk: float
    coverage: float


class ExtractiveAnswerer:
    """Scores the sentences of the retrieved chunks and answers in the documents' own words."""

    def __init__(self, stored: StoredIndex, config: AnswerConfig | None = None) -> None:
        self.stored = stored
        self.config = AnswerConfig() if config is None else config
        table = stored.sentences
        docs = stored.documents
        self._texts = [docs[d].text[a:b] for d, a, b in zip(table.doc, table.start, table.end)]
        self.bm25 = BM25(self._texts)
        row_of = {(int(d), int(a), int(b)): i for i, (d, a, b) in enumerate(zip(table.doc, table.start, table.end))}
        doc_index = {doc.doc_id: i for i, doc in enumerate(docs)}
        self.chunk_rows: list[np.ndarray] = [
            np.array([row_of[(doc_index[c.doc_id], s.start, s.end)] for s in c.sentences], dtype=np.int64)
            for c in stored.chunks
        ]

    def sentence_text(self, row: int) -> str:
        return self._texts[row]

    def score_sentences(
        self, query: str, query_vector: np.ndarray, hits: Sequence[ScoredChunk], kind: AnswerType
    ) -> list[ScoredSentence]:
        """Every sentence of the retrieved chunks, best first."""
        if not hits:
            return []
        chunk_score: dict[int, float] = {}
        top = max(h.score for h in hits) or 1.0
        for hit in hits:
            for row in self.chunk_rows[hit.row]:
                chunk_score[int(row)] = max(chunk_score.get(int(row), 0.0), hit.score / top)
        rows = np.fromiter(chunk_score, dtype=np.int64)
        dense = self.stored.sentence_vectors[rows] @ query_vector.reshape(-1)
        terms = tokenize(query)
        lexical = self.bm25.scores(terms)[rows]
        lexical = lexical / lexical.max() if lexical.max() > 0 else lexical
        scored = []
        for i, row in enumerate(rows):
            text = self._texts[row]
            coverage = self._coverage(terms, text)
            type_ok = kind is AnswerType.NONE or bool(find_candidates(text, kind))
            score = (
                0.45 * float(dense[i]) + 0.25 * float(lexical[i]) + 0.20 * chunk_score[int(row)]
                + 0.10 * float(type_ok)
            )
            scored.append(ScoredSentence(int(row), score, float(dense[i]), float(lexical[i]),
                                         chunk_score[int(row)], coverage))
        scored.sort(key=lambda s: (-s.score, s.row))
        return scored

    def answer(
        self, question: str, query: str, query_vector: np.ndarray, hits: Sequence[ScoredChunk]
    ) -> Answer:
        """Answer `question`; `query` is the question resolved against the conversation."""
        kind = expected_type(question)
        if kind is AnswerType.NONE and query != question:
            kind = expected_type(query)
        ranked = self.score_sentences(query, query_vector, hits, kind)
        if not ranked:
            return Answer(question, "", True, 0.0, ())
        best = ranked[0]
        confidence = self._confidence(best)
        citations = self._citations(ranked)
        if confidence < self.config.abstain_below:
            return Answer(question, "", True, confidence, citations)
        table = self.stored.sentences
        doc = self.stored.documents[int(table.doc[best.row])]
        start, end = int(table.start[best.row]), int(table.end[best.row])
        span = pick_span(doc.text[start:end], query, kind, offset=start)
        if span is not None:
            start, end = span.start, span.end
        return Answer(question, doc.text[start:end], False, confidence, citations,
                      answer_start=start, answer_end=end)

    def _coverage(self, terms: list[str], text: str) -> float:
        """IDF-weighted share of the query's terms that the sentence contains."""
        if not terms:
            return 0.0
        present = set(tokenize(text))
        weights = {t: self.bm25.idf(t) for t in set(terms)}
        total = sum(weights.values()) or 1.0
        return sum(w for t, w in weights.items() if t in present) / total

    def _confidence(self, best: ScoredSentence) -> float:
        return float(np.clip(0.5 * best.dense + 0.5 * best.coverage, 0.0, 1.0))

    def _citations(self, ranked: Sequence[ScoredSentence]) -> tuple[Citation, ...]:
        table = self.stored.sentences
        out: list[Citation] = []
        for s in ranked[: self.config.max_citations]:
            doc = self.stored.documents[int(table.doc[s.row])]
            start, end = int(table.start[s.row]), int(table.end[s.row])
            out.append(Citation(
                n=len(out) + 1,
                doc_id=doc.doc_id,
                title=doc.title,
                chunk_id=self.stored.chunks[int(table.chunk[s.row])].chunk_id,
                start=start,
                end=end,
                quote=doc.text[start:end],
                score=s.score,
            ))
        return tuple(out)
