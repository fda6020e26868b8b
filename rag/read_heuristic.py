"""The hand-written reader: scores the sentences of the retrieved passages, cuts a typed or
free short answer, and says how sure it is. Its weights live in `HeuristicReaderConfig`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import overload

import numpy as np

from rag.chunk import SentenceTable, build_sentence_table, chunk_ids
from rag.config import HeuristicReaderConfig
from rag.embed import Embedder
from rag.lexical import RowsBM25, TermTable, tokenize
from rag.span import AnswerType, Candidate, expected_type, pick_span, typed_span
from rag.types import Chunk, Document, Extraction, Passage, Query, Span


class SentenceIndex:
    """Every sentence of a corpus with its vector, BM25 statistics and neighbours: what the
    heuristic reader reads from. Built from the stored index, or in memory with an embedder.

    Per sentence it holds arrays, not objects (a corpus's sentences run to millions): the texts
    are sliced from the documents when read, the terms are ids in a `TermTable`, and a
    sentence's row is found by binary search over (document, start)."""

    def __init__(
        self,
        documents: Sequence[Document],
        chunks: Sequence[Chunk],
        table: SentenceTable,
        vectors: np.ndarray,
        terms: TermTable | None = None,
    ) -> None:
        """`terms`: each sentence's terms as an index stores them; else read from the texts here."""
        if len(vectors) != len(table):
            raise ValueError(f"{len(vectors)} sentence vectors for {len(table)} sentences")
        if terms is not None and len(terms) != len(table):
            raise ValueError(f"{len(terms)} term rows for {len(table)} sentences")
        self.table = table
        self.vectors = vectors
        self.documents = tuple(documents)
        self.texts = SentenceTexts(self.documents, table)
        self.term_table = TermTable(self.texts) if terms is None else terms
        self.bm25 = RowsBM25(self.term_table)  # only the retrieved passages' sentences are scored
        ids = chunk_ids(chunks)
        self.chunk_ids = [ids[c] for c in table.chunk.tolist()]
        """The first chunk holding each sentence (what a citation of it names)."""
        self._doc_index = {d.doc_id: i for i, d in enumerate(self.documents)}
        keys = table.doc.astype(np.int64) << 40 | table.start.astype(np.int64)
        self._order = None if bool(np.all(keys[1:] >= keys[:-1])) else np.argsort(keys, kind="stable")
        self._keys = keys if self._order is None else keys[self._order]

    @classmethod
    def build(cls, documents: Sequence[Document], chunks: Sequence[Chunk], embedder: Embedder) -> SentenceIndex:
        """Embed the sentences of `chunks` now (for a corpus held in memory, as in tests)."""
        table = build_sentence_table(documents, chunks)
        texts = [documents[d].text[a:b] for d, a, b in zip(table.doc, table.start, table.end, strict=True)]
        return cls(documents, chunks, table, embedder.embed(texts))

    def __len__(self) -> int:
        return len(self.table)

    def terms(self, row: int) -> frozenset[str]:
        """The distinct content terms of sentence `row`."""
        return self.term_table.terms(row)

    def rows_of(self, doc_id: str, sentences: Sequence[Span]) -> np.ndarray:
        """The rows of these sentences of one document (those the index holds)."""
        d = self._doc_index.get(doc_id)
        if d is None or not sentences:
            return np.zeros(0, dtype=np.int64)
        keys = self._keys
        wanted = np.array([d << 40 | s.start for s in sentences], dtype=np.int64)
        found = []
        for at, s in zip(np.searchsorted(keys, wanted).tolist(), sentences, strict=True):
            while at < len(keys) and keys[at] == d << 40 | s.start:
                row = at if self._order is None else int(self._order[at])
                if int(self.table.end[row]) == s.end:
                    found.append(row)
                    break
                at += 1
        return np.array(found, dtype=np.int64)

    def rows_of_passage(self, passage: Passage) -> np.ndarray:
        return self.rows_of(passage.doc_id, passage.sentences)

    def doc_id(self, row: int) -> str:
        return self.documents[int(self.table.doc[row])].doc_id

    def span(self, row: int) -> Span:
        return Span(int(self.table.start[row]), int(self.table.end[row]))

    def section_terms(self, row: int) -> frozenset[str]:
        """The terms of the section path sentence `row` is in, or of its document's title outside
        any section, and of the term whose description it is in: what the sentence is about when
        it does not say."""
        document = self.documents[int(self.table.doc[row])]
        start = int(self.table.start[row])
        terms = _terms_of(document.section_at(start) or document.title)
        term = document.term_of(start)
        return terms if term is None else terms | _terms_of(document.text[term[0]:term[1]])

    def table_of(self, row: int) -> tuple[int, int] | None:
        """(document, table) whose rows hold sentence `row`, or None."""
        d = int(self.table.doc[row])
        at = self.documents[d].table_of(int(self.table.start[row]), int(self.table.end[row]))
        return None if at < 0 else (d, at)

    def in_table_header(self, row: int) -> bool:
        """Whether sentence `row` is (inside) a table's header row: column names, never an answer."""
        document = self.documents[int(self.table.doc[row])]
        return document.in_table_header(int(self.table.start[row]), int(self.table.end[row]))

    def in_heading(self, row: int) -> bool:
        """Whether sentence `row` is (inside) a heading."""
        document = self.documents[int(self.table.doc[row])]
        return document.in_heading(int(self.table.start[row]), int(self.table.end[row]))

    def entry_end(self, row: int) -> int | None:
        """Where the description ends of the definition-list term sentence `row` opens (an API
        entry's signature), or None when it opens none."""
        document = self.documents[int(self.table.doc[row])]
        return document.description_end(int(self.table.start[row]), int(self.table.end[row]))

    def neighbours(self, row: int) -> list[int]:
        """The sentences right after and right before `row` in the same paragraph."""
        table = self.table
        text = self.documents[int(table.doc[row])].text
        out = []
        for other in (row + 1, row - 1):
            if 0 <= other < len(table) and table.doc[other] == table.doc[row]:
                a, b = sorted((other, row))
                if "\n\n" not in text[int(table.end[a]):int(table.start[b])]:
                    out.append(other)
        return out


class SentenceTexts(Sequence[str]):
    """The sentences' texts, sliced from their documents when read (not held)."""

    def __init__(self, documents: Sequence[Document], table: SentenceTable) -> None:
        self.documents, self.table = documents, table

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, row: int) -> str: ...

    @overload
    def __getitem__(self, row: slice) -> list[str]: ...

    def __getitem__(self, row: int | slice) -> str | list[str]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        t = self.table
        return self.documents[int(t.doc[row])].text[int(t.start[row]):int(t.end[row])]

    def __iter__(self) -> Iterator[str]:
        docs, t = self.documents, self.table
        for d, a, b in zip(t.doc.tolist(), t.start.tolist(), t.end.tolist(), strict=True):
            yield docs[d].text[a:b]


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A candidate answering sentence (its row in the sentence index) and why it scored so."""

    row: int
    score: float
    dense: float
    lexical: float
    chunk: float
    coverage: float
    typed: bool
    """The question wants a date, number or name, and the sentence has one it does not repeat."""


class HeuristicReader:
    """Hand-written rules over MiniLM and BM25 scores: the best sentence is the evidence; a date,
    number or name of the kind asked for (or the phrase the question lacks) is the answer."""

    name = "heuristic"

    def __init__(self, sentences: SentenceIndex, config: HeuristicReaderConfig | None = None) -> None:
        self.sentences = sentences
        self.config = HeuristicReaderConfig() if config is None else config

    def read(self, query: Query, passages: Sequence[Passage]) -> tuple[Extraction, ...]:
        if query.carried:
            # The rules read the earlier turn and the question; a carried answer in the text
            # would count as words the question repeats (and so never the answer).
            query = replace(query, text=query.text_without_carried(), carried="")
        kind = self.answer_type(query)
        idf = self.query_idf(query.text)
        ranked = self.score_sentences(query, passages, kind, idf)
        if not ranked:
            return ()
        index = self.sentences
        best = ranked[0]
        rows = [best.row]
        span: Candidate | None = None
        if kind is not AnswerType.NONE and not best.typed:
            # The answer often sits in the next (or previous) sentence: "It was commissioned by Odo."
            for row in index.neighbours(best.row):
                span = typed_span(index.texts[row], query.text, kind, offset=index.span(row).start)
                if span is not None:
                    rows = sorted([best.row, row])
                    break
        if len(rows) == 1:
            # The question's words split across two sentences ("... in the city whose GDP grew
            # 2.8 percent?"): the evidence is both, and the answer lies in the one it names less.
            for row in index.neighbours(best.row):
                gain = _coverage(idf, index.terms(best.row) | index.terms(row)) - best.coverage
                if gain >= self.config.split_question_gain:
                    rows = sorted([best.row, row])
                    span = pick_span(index.texts[row], query.text, kind, offset=index.span(row).start)
                    break
        unknown = self._unknown_names(query.question)
        neighbour_answers = span is not None
        if span is None:
            span = pick_span(index.texts[best.row], query.text, kind, offset=index.span(best.row).start)
        first = Extraction(
            doc_id=index.doc_id(rows[0]),
            chunk_id=index.chunk_ids[rows[0]],
            evidence=Span(index.span(rows[0]).start, index.span(rows[-1]).end),
            answer=None if span is None else Span(span.start, span.end),
            score=best.score,
            confidence=self._confidence(best, kind, neighbour_answers, unknown),
            reader=self.name,
        )
        rest = [
            Extraction(index.doc_id(s.row), index.chunk_ids[s.row], index.span(s.row), None, s.score,
                       self._confidence(s, kind, False, unknown), self.name)
            for s in ranked[1:] if s.row not in rows
        ]
        return (first, *rest)

    def names_only(self, row: int) -> bool:
        """Whether sentence `row` only names what follows it, a table's header row or (unless
        `headings_as_evidence`) a heading: never the evidence."""
        index = self.sentences
        return index.in_table_header(row) or (not self.config.headings_as_evidence and index.in_heading(row))

    def query_idf(self, query: str) -> dict[str, float]:
        """The query's distinct terms with their IDF over the sentences."""
        return {t: self.sentences.bm25.idf(t) for t in set(tokenize(query))}

    @staticmethod
    def answer_type(query: Query) -> AnswerType:
        """The kind of answer the question asks for, or that its resolved text asks for."""
        kind = expected_type(query.question)
        if kind is AnswerType.NONE and query.text != query.question:
            kind = expected_type(query.text)
        return kind

    def score_sentences(
        self, query: Query, passages: Sequence[Passage], kind: AnswerType | None = None,
        idf: dict[str, float] | None = None, headings: bool = False,
    ) -> list[ScoredSentence]:
        """Every sentence of the passages that may be the evidence, best first (`kind`: from
        `answer_type`, `idf`: from `query_idf`, if at hand); with `headings`, the headings too
        (where the model may read around, never the evidence)."""
        if not passages:
            return []
        kind = self.answer_type(query) if kind is None else kind
        index = self.sentences
        chunk_score: dict[int, float] = {}
        top = max(p.score for p in passages) or 1.0
        for passage in passages:
            for row in index.rows_of_passage(passage):
                chunk_score[int(row)] = max(chunk_score.get(int(row), 0.0), passage.score / top)
        left_out = index.in_table_header if headings else self.names_only
        chunk_score = {row: score for row, score in chunk_score.items() if not left_out(row)}
        if not chunk_score:
            return []
        rows = np.fromiter(chunk_score, dtype=np.int64)
        dense = index.vectors[rows] @ query.vector.reshape(-1)
        idf = self.query_idf(query.text) if idf is None else idf
        lexical = index.bm25.scores(list(idf), rows)
        lexical = lexical / lexical.max() if lexical.max() > 0 else lexical
        c = self.config
        scored = []
        for i, row in enumerate(rows):
            text = index.texts[row]
            coverage = _coverage(idf, index.terms(row))
            # Ranked by the words of the sentence read within its section; its own coverage is
            # the confidence's (the calibration's) feature.
            in_section = _coverage(idf, index.terms(row) | index.section_terms(row)) if c.read_in_section else coverage
            typed = kind is not AnswerType.NONE and typed_span(text, query.text, kind) is not None
            score = (
                c.dense_weight * float(dense[i]) + c.bm25_weight * float(lexical[i])
                + c.chunk_weight * chunk_score[int(row)] + c.coverage_weight * in_section
                + c.type_weight * float(typed or kind is AnswerType.NONE)
            )
            scored.append(ScoredSentence(int(row), score, float(dense[i]), float(lexical[i]),
                                         chunk_score[int(row)], coverage, typed))
        scored.sort(key=lambda s: (-s.score, s.row))
        return scored

    def _unknown_names(self, question: str) -> int:
        """How many proper names of the question (capitalised, not first) no document mentions."""
        names = [m.group(0) for m in _NAME.finditer(question) if m.start() > 0]
        return sum(1 for name in names if not any(t in self.sentences.bm25 for t in tokenize(name)))

    def _confidence(self, best: ScoredSentence, kind: AnswerType, neighbour_typed: bool, unknown: int) -> float:
        """How sure the answer is, in [0, 1]: similarity and word coverage of the sentence,
        less a penalty when the wanted kind of answer is missing or the question names
        something the documents never mention."""
        c = self.config
        has_type = kind is AnswerType.NONE or best.typed or neighbour_typed
        value = c.confidence_dense * best.dense + c.confidence_coverage * best.coverage
        if not has_type:
            value -= c.missing_type_penalty
        value -= c.unknown_name_penalty * min(unknown, 2)
        return min(max(value, 0.0), 1.0)


_NAME = re.compile(r"(?<![\w’'])[A-Z][\w’'-]*")


@lru_cache(maxsize=4096)
def _terms_of(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


def _coverage(idf: dict[str, float], present: frozenset[str]) -> float:
    """IDF-weighted share of the query's terms among the terms `present` in a sentence."""
    total = sum(idf.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in idf.items() if t in present) / total
