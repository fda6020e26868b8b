"""Extractive answering: pick the sentence that answers, cut the short answer, cite, or abstain."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import AnswerConfig
from rag.lexical import BM25, tokenize
from rag.retrieve import ScoredChunk
from rag.span import AnswerType, Candidate, expected_type, pick_span, typed_span
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
    typed: bool
    """The question wants a date, number or name, and the sentence has one it does not repeat."""


class ExtractiveAnswerer:
    """Scores the sentences of the retrieved chunks and answers in the documents' own words."""

    def __init__(self, stored: StoredIndex, config: AnswerConfig | None = None) -> None:
        self.stored = stored
        self.config = AnswerConfig() if config is None else config
        table = stored.sentences
        docs = stored.documents
        spans = list(zip(table.doc.tolist(), table.start.tolist(), table.end.tolist(), strict=True))
        self._texts = [docs[d].text[a:b] for d, a, b in spans]
        self.bm25 = BM25(self._texts)
        self._terms = [frozenset(tokenize(t)) for t in self._texts]
        row_of = {span: i for i, span in enumerate(spans)}
        doc_index = {doc.doc_id: i for i, doc in enumerate(docs)}
        self.chunk_rows: list[np.ndarray] = [
            np.array([row_of[(doc_index[c.doc_id], s.start, s.end)] for s in c.sentences], dtype=np.int64)
            for c in stored.chunks
        ]

    def query_idf(self, query: str) -> dict[str, float]:
        """The query's distinct terms with their IDF over the sentences."""
        return {t: self.bm25.idf(t) for t in set(tokenize(query))}

    def score_sentences(
        self, query: str, query_vector: np.ndarray, hits: Sequence[ScoredChunk], kind: AnswerType,
        idf: dict[str, float] | None = None,
    ) -> list[ScoredSentence]:
        """Every sentence of the retrieved chunks, best first (`idf`: from `query_idf`, if at hand)."""
        if not hits:
            return []
        chunk_score: dict[int, float] = {}
        top = max(h.score for h in hits) or 1.0
        for hit in hits:
            for row in self.chunk_rows[hit.row]:
                chunk_score[int(row)] = max(chunk_score.get(int(row), 0.0), hit.score / top)
        rows = np.fromiter(chunk_score, dtype=np.int64)
        dense = self.stored.sentence_vectors[rows] @ query_vector.reshape(-1)
        idf = self.query_idf(query) if idf is None else idf
        lexical = self.bm25.scores(list(idf))[rows]
        lexical = lexical / lexical.max() if lexical.max() > 0 else lexical
        c = self.config
        scored = []
        for i, row in enumerate(rows):
            text = self._texts[row]
            coverage = _coverage(idf, self._terms[row])
            typed = kind is not AnswerType.NONE and typed_span(text, query, kind) is not None
            score = (
                c.dense_weight * float(dense[i]) + c.lexical_weight * float(lexical[i])
                + c.chunk_weight * chunk_score[int(row)] + c.coverage_weight * coverage
                + c.type_weight * float(typed or kind is AnswerType.NONE)
            )
            scored.append(ScoredSentence(int(row), score, float(dense[i]), float(lexical[i]),
                                         chunk_score[int(row)], coverage, typed))
        scored.sort(key=lambda s: (-s.score, s.row))
        return scored

    def answer(
        self, question: str, query: str, query_vector: np.ndarray, hits: Sequence[ScoredChunk]
    ) -> Answer:
        """Answer `question`; `query` is the question resolved against the conversation."""
        kind = expected_type(question)
        if kind is AnswerType.NONE and query != question:
            kind = expected_type(query)
        idf = self.query_idf(query)
        ranked = self.score_sentences(query, query_vector, hits, kind, idf)
        if not ranked:
            return Answer(question, "", True, 0.0, ())
        best = ranked[0]
        rows = [best.row]
        span: Candidate | None = None
        if kind is not AnswerType.NONE and not best.typed:
            # The answer often sits in the next (or previous) sentence: "It was commissioned by Odo."
            for row in self._neighbours(best.row):
                span = typed_span(self._texts[row], query, kind, offset=int(self.stored.sentences.start[row]))
                if span is not None:
                    rows = sorted([best.row, row])
                    break
        if len(rows) == 1:
            # The question's words split across two sentences ("... in the city whose GDP grew
            # 2.8 percent?"): the evidence is both, and the answer lies in the one it names less.
            for row in self._neighbours(best.row):
                gain = _coverage(idf, self._terms[best.row] | self._terms[row]) - best.coverage
                if gain >= self.config.split_question_gain:
                    rows = sorted([best.row, row])
                    start = int(self.stored.sentences.start[row])
                    span = pick_span(self._texts[row], query, kind, offset=start)
                    break
        confidence = self._confidence(best, kind, span is not None, self._unknown_names(question))
        citations = self._citations(ranked, rows)
        if confidence < self.config.abstain_below:
            return Answer(question, "", True, confidence, citations)
        doc = self.stored.documents[int(self.stored.sentences.doc[best.row])]
        if span is None:
            start = int(self.stored.sentences.start[best.row])
            span = pick_span(self._texts[best.row], query, kind, offset=start)
        if span is None:
            quote = citations[0]
            return Answer(question, quote.quote, False, confidence, citations,
                          answer_start=quote.start, answer_end=quote.end)
        return Answer(question, doc.text[span.start:span.end], False, confidence, citations,
                      answer_start=span.start, answer_end=span.end)

    def _neighbours(self, row: int) -> list[int]:
        """The sentences right after and right before `row` in the same paragraph."""
        table = self.stored.sentences
        text = self.stored.documents[int(table.doc[row])].text
        out = []
        for other in (row + 1, row - 1):
            if 0 <= other < len(table) and table.doc[other] == table.doc[row]:
                a, b = sorted((other, row))
                if "\n\n" not in text[int(table.end[a]):int(table.start[b])]:
                    out.append(other)
        return out

    def _unknown_names(self, question: str) -> int:
        """How many proper names of the question (capitalised, not first) no document mentions."""
        names = [m.group(0) for m in _NAME.finditer(question) if m.start() > 0]
        return sum(1 for name in names if not any(t in self.bm25 for t in tokenize(name)))

    def _confidence(self, best: ScoredSentence, kind: AnswerType, neighbour_typed: bool, unknown: int) -> float:
        """How sure the answer is, in [0, 1]: similarity and word coverage of the best sentence,
        less a penalty when the wanted kind of answer is missing or the question names
        something the documents never mention."""
        c = self.config
        has_type = kind is AnswerType.NONE or best.typed or neighbour_typed
        value = c.confidence_dense * best.dense + c.confidence_coverage * best.coverage
        if not has_type:
            value -= c.missing_type_penalty
        value -= c.unknown_name_penalty * min(unknown, 2)
        return float(np.clip(value, 0.0, 1.0))

    def _citations(self, ranked: Sequence[ScoredSentence], first_rows: Sequence[int]) -> tuple[Citation, ...]:
        """Citation 1 spans `first_rows` (adjacent sentences); then the next best sentences."""
        table = self.stored.sentences
        groups = [(list(first_rows), ranked[0].score)]
        groups += [([s.row], s.score) for s in ranked[1:] if s.row not in first_rows]
        out: list[Citation] = []
        for rows, score in groups[: self.config.max_citations]:
            doc = self.stored.documents[int(table.doc[rows[0]])]
            start, end = int(table.start[rows[0]]), int(table.end[rows[-1]])
            out.append(Citation(
                n=len(out) + 1,
                doc_id=doc.doc_id,
                title=doc.title,
                chunk_id=self.stored.chunks[int(table.chunk[rows[0]])].chunk_id,
                start=start,
                end=end,
                quote=doc.text[start:end],
                score=score,
            ))
        return tuple(out)


_NAME = re.compile(r"(?<![\w’'])[A-Z][\w’'-]*")


def _coverage(idf: dict[str, float], present: frozenset[str]) -> float:
    """IDF-weighted share of the query's terms among the terms `present` in a sentence."""
    total = sum(idf.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in idf.items() if t in present) / total
