"""Frozen records passed between the pipeline stages, with their JSON forms."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SECTION_SEPARATOR = " › "
"""Joins the headings of a section path: "Server Configuration › Connections"."""
PERMALINKS = "¶§🔗"
"""The marks documentation generators put after a heading or a term as a link to it (Sphinx and
MkDocs write "¶"): text of the page, not of the heading's name, and the end of a term."""


def name_of(heading: str) -> str:
    """A heading's (or a column header's) name: its words less a permalink mark after them."""
    return heading.rstrip(PERMALINKS + " ") or heading


def source_label(title: str, section: str) -> str:
    """What a visitor reads for a source: "Title › Section", without a first heading that
    repeats the title."""
    parts = [p for p in section.split(SECTION_SEPARATOR) if p] if section else []
    if parts and parts[0] == title:
        parts = parts[1:]
    return SECTION_SEPARATOR.join([title, *parts])


@dataclass(frozen=True, slots=True)
class Document:
    """One source file, its text normalised once; every later offset points into `text`."""

    doc_id: str
    title: str
    text: str
    source: str
    sha256: str
    metadata: tuple[tuple[str, str], ...] = ()
    sections: tuple[tuple[int, str], ...] = ()
    """(offset, heading path) where each section of the text begins, in order; the path joins
    the headings above it with " › ". Text before the first heading has no section."""
    tables: tuple[tuple[int, int, int], ...] = ()
    """(header start, header end, table end) of each table with a header row, in order: the
    lines after the header, up to the table's end, are its rows."""
    cells: tuple[tuple[int, int, int], ...] = ()
    """(start, end, column) of each cell with words of the rows of `tables`, header rows
    included, in order."""
    definitions: tuple[tuple[int, int, int, int], ...] = ()
    """(term start, term end, end, parent) of each term of a definition list, in order: its
    description runs from the term's end to `end`; `parent` is the definition it is nested in
    (its place here), -1 for none."""

    def meta(self, key: str) -> str | None:
        """Return one metadata value, or None."""
        for name, value in self.metadata:
            if name == key:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "text": self.text,
            "source": self.source,
            "sha256": self.sha256,
            "metadata": dict(self.metadata),
            "sections": [list(s) for s in self.sections],
            **({"tables": [list(t) for t in self.tables]} if self.tables else {}),
            **({"cells": [list(c) for c in self.cells]} if self.cells else {}),
            **({"definitions": [list(d) for d in self.definitions]} if self.definitions else {}),
        }

    def text_length(self) -> int:
        """len(text), without reading the text of a loaded index's document (`rag.store`)."""
        return len(self.text)

    def _section_from(self, offset: int) -> int:
        """The last section that begins at or before `offset`; -1 if none."""
        return bisect.bisect_right(self.sections, offset, key=lambda s: s[0]) - 1

    def section_at(self, offset: int) -> str:
        """The heading path of the section holding `offset` ("" before the first heading)."""
        at = self._section_from(offset)
        return self.sections[at][1] if at >= 0 else ""

    def in_heading(self, start: int, end: int) -> bool:
        """Whether [start, end) lies inside a heading's line."""
        at = self._section_from(start)
        if at < 0:
            return False
        line_end = self.text.find("\n", self.sections[at][0])
        return line_end < 0 or end <= line_end

    def _table_from(self, start: int) -> int:
        """The last table whose header row starts at or before `start`; -1 if none."""
        return bisect.bisect_right(self.tables, start, key=lambda t: t[0]) - 1 if self.tables else -1

    def in_table_header(self, start: int, end: int) -> bool:
        """Whether [start, end) lies inside a table's header row (the names of its columns)."""
        at = self._table_from(start)
        return at >= 0 and end <= self.tables[at][1]

    def term_of(self, start: int) -> tuple[int, int] | None:
        """The span of the term whose description holds offset `start` (the innermost), or None."""
        if not self.definitions:
            return None
        at = bisect.bisect_right(self.definitions, start, key=lambda d: d[0]) - 1
        while at >= 0 and self.definitions[at][2] <= start:
            at = self.definitions[at][3]
        if at < 0 or start < self.definitions[at][1]:
            return None
        return self.definitions[at][0], self.definitions[at][1]

    def description_end(self, start: int, end: int) -> int | None:
        """Where the description ends of the term that begins inside [start, end) (a sentence
        that opens a definition list's entry, "Repr.maxstring¶ Limit on ..."), or None."""
        if not self.definitions:
            return None
        at = bisect.bisect_left(self.definitions, start, key=lambda d: d[0])
        if at < len(self.definitions) and self.definitions[at][0] < end:
            return self.definitions[at][2]
        return None

    def cells_in(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """The table cells inside [start, end) (a row's, or a header row's), in order."""
        at = bisect.bisect_left(self.cells, start, key=lambda c: c[0])
        found = []
        while at < len(self.cells) and self.cells[at][1] <= end:
            found.append(self.cells[at])
            at += 1
        return found

    def table_of(self, start: int, end: int) -> int:
        """Which table (its place in `tables`) has [start, end) among its rows; -1 if none."""
        at = self._table_from(start)
        return at if at >= 0 and self.tables[at][1] < start and end <= self.tables[at][2] else -1

    def section_starts(self) -> list[int]:
        """The offsets where sections begin."""
        return [start for start, _ in self.sections]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        return cls(
            doc_id=data["doc_id"],
            title=data["title"],
            text=data["text"],
            source=data["source"],
            sha256=data["sha256"],
            metadata=tuple(sorted((str(k), str(v)) for k, v in data.get("metadata", {}).items())),
            sections=tuple((int(start), str(path)) for start, path in data.get("sections", ())),
            tables=tuple((int(a), int(b), int(c)) for a, b, c in data.get("tables", ())),
            cells=tuple((int(a), int(b), int(c)) for a, b, c in data.get("cells", ())),
            definitions=tuple((int(a), int(b), int(c), int(d)) for a, b, c, d in data.get("definitions", ())),
        )


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """What a file format's reader gets out of one file, before normalisation."""

    text: str
    title: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    headings: tuple[tuple[int, str], ...] = ()
    """(level, words) of each heading, in order; each is a paragraph of `text` of its own."""
    tables: tuple[tuple[tuple[str, ...], ...], ...] = ()
    """The cells of each row of each table with a header row, in order, the header row's first;
    each row is a paragraph of `text` of its own, its cells' words joined by a blank."""
    definitions: tuple[tuple[str, str], ...] = ()
    """(term's words, the last words of its description) of each term of a definition list, in
    order; the term runs on into its description in `text`."""


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range [start, end) of a document's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole sentences of one document: `doc.text[start:end] == text`."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    n_tokens: int
    sentences: tuple[Span, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "start": self.start,
            "end": self.end,
            "n_tokens": self.n_tokens,
            "sentences": [[s.start, s.end] for s in self.sentences],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], doc_text: str) -> Chunk:
        """Rebuild a chunk; its text is sliced from the document, never stored twice."""
        start, end = int(data["start"]), int(data["end"])
        return cls(
            chunk_id=data["chunk_id"],
            doc_id=data["doc_id"],
            text=doc_text[start:end],
            start=start,
            end=end,
            n_tokens=int(data["n_tokens"]),
            sentences=tuple(Span(int(a), int(b)) for a, b in data.get("sentences", ())),
        )


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """A question as the pipeline sees it: as asked, as searched, and as a vector."""

    question: str
    """The question as asked (blanks folded)."""
    text: str
    """What is searched: the question, resolved against the conversation when it leans on it."""
    vector: np.ndarray
    """The unit-length float32 embedding of `text`, shape (dim,)."""
    carried: str = ""
    """The earlier answer a follow-up leans on, in `text` just before the question ("" if none)."""

    def text_without_carried(self) -> str:
        """`text` less the carried answer: the earlier turn and the question."""
        tail = f"{self.carried} {self.question}"
        if not self.carried or not self.text.endswith(tail):
            return self.text
        return (self.text[: -len(tail)] + self.question).strip()

    def question_first(self) -> str:
        """The question as asked, then what it leans on (the earlier turn and the carried
        answer): what a reader that answers the first question it reads should read."""
        if self.text == self.question or not self.text.endswith(self.question):
            return self.text
        return f"{self.question} {self.text[: -len(self.question)].strip()}"


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk, keyed by `chunk_id`, with its scores: what retrieval hands a reader."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    sentences: tuple[Span, ...]
    """The chunk's sentences, in document offsets."""
    score: float
    """The fused retrieval score; `dense` (cosine) and `lexical` (BM25 / best BM25) make it."""
    dense: float
    lexical: float


@dataclass(frozen=True, slots=True)
class Extraction:
    """What a reader found in the passages: evidence (one sentence or a few adjacent ones) and,
    inside it, the short answer, or None when the evidence itself is the answer."""

    doc_id: str
    chunk_id: str
    evidence: Span
    answer: Span | None
    score: float
    """The reader's ranking score (the citation shows it); comparable within one reading only."""
    confidence: float
    """How sure the reader is, in [0, 1], that this extraction answers the question."""
    reader: str


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an answer's words come from: `quote == document.text[start:end]`."""

    n: int
    doc_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    quote: str
    score: float
    section: str = ""
    """The heading path of the quote's section ("" where the document has none there)."""
    url: str = ""
    """Opens the source at the quote: the server's source view, or the page on its site."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "doc_id": self.doc_id,
            "title": self.title,
            "section": self.section,
            "url": self.url,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 4),
        }



@dataclass(frozen=True, slots=True)
class Answer:
    """What the assistant says: a quotation (or nothing, when it abstains) and its sources.

    `answer_start`/`answer_end` locate `answer` inside citation 1's document; they are
    None when abstaining.
    """

    question: str
    answer: str
    abstained: bool
    confidence: float
    citations: tuple[Citation, ...]
    latency_ms: float = 0.0
    answer_start: int | None = field(default=None, compare=False)
    answer_end: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The answer JSON of DESIGN.md."""
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
            "latency_ms": round(self.latency_ms, 3),
        }



@dataclass(frozen=True, slots=True)
class Question:
    """One line of a batch or eval file; gold fields are empty where unknown."""

    id: str
    question: str
    history: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    doc_id: str | None = None
    answer_start: int | None = None
    unanswerable: bool = False
    type: str | None = None
    standalone: str | None = None
    """For a follow-up: the same question asked without history (to compare the two)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, line: int = 0) -> Question:
        """Parse one question object; raises ValueError naming the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"line {line}: expected a JSON object")
        question = data.get("question")
        if not isinstance(question, str):
            raise ValueError(f"line {line}: 'question' must be a string")
        history = data.get("history") or []
        answers = data.get("answers") or []
        if not isinstance(history, Sequence) or isinstance(history, str) or not all(
            isinstance(h, str) for h in history
        ):
            raise ValueError(f"line {line}: 'history' must be a list of strings")
        if not isinstance(answers, Sequence) or isinstance(answers, str) or not all(
            isinstance(a, str) for a in answers
        ):
            raise ValueError(f"line {line}: 'answers' must be a list of strings")
        start = data.get("answer_start")
        return cls(
            id=str(data.get("id", line)),
            question=question,
            history=tuple(history),
            answers=tuple(answers),
            doc_id=data.get("doc_id"),
            answer_start=int(start) if start is not None else None,
            unanswerable=bool(data.get("unanswerable", False)) or not answers,
            type=data.get("type"),
            standalone=data.get("standalone"),
        )
