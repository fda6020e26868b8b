"""Lexical matching: a word tokenizer and Okapi BM25 over any list of texts."""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also s t did does many
    much one
    """.split()
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def words(text: str) -> list[str]:
    """Lower-cased words of `text` (apostrophes kept inside a word)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


_NAME_OR_NUMBER = re.compile(r"\w+(?:\.\w+)*")
_MIXED_CASE = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")


def identifiers(text: str) -> list[str]:
    """The names in `text` that code or versions spell, none of which a paraphrase would
    reword: with an underscore ("max_upload_size", "__init__"), dotted ("sys.monitoring", "3.0";
    not "e.g" nor "U.S"), or with capitals inside a word ("pyOpenSSL", "SSHClient")."""
    found = []
    for name in _NAME_OR_NUMBER.findall(text):
        parts = name.split(".")
        underscored = "_" in name and bool(name.strip("_"))
        dotted = len(parts) > 1 and not all(len(p) == 1 and p.isalpha() for p in parts)
        if underscored or dotted or _MIXED_CASE.search(name, 1):
            found.append(name)
    return found


class Identifiers:
    """The words and dotted names of a corpus, lower-cased: what tells a question about a
    setting, module or version the documents never mention."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.names: set[str] = set()
        for text in texts:
            self.names.update(_NAME_OR_NUMBER.findall(text.lower()))

    def missing(self, names: Iterable[str]) -> list[str]:
        """The names no text holds. A dotted name counts as held when its last two parts are
        ("reprlib.Repr.maxstring" where the text says "Repr.maxstring"), or its last part alone
        when that has an underscore ("Fraction.limit_denominator")."""
        return [name for name in names if not self._holds(name.lower().split("."))]

    def _holds(self, parts: list[str]) -> bool:
        if ".".join(parts) in self.names:
            return True
        if len(parts) > 2 and ".".join(parts[-2:]) in self.names:
            return True
        return len(parts) > 1 and "_" in parts[-1] and parts[-1] in self.names


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix-stripper: enough to match plurals and simple verb forms."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, min_len in (("ies", 5), ("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= min_len:
            if suffix == "ies":
                return word[:-3] + "y"
            if suffix == "es" and not word.endswith(("ses", "xes", "zes", "ches", "shes")):
                return word[:-1]
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    """Content terms of `text`: stop words dropped, stems kept."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


class TermTable:
    """The content terms (`tokenize`) of many texts as term ids in flat arrays: row i's distinct
    terms are `ids[offsets[i]:offsets[i + 1]]`, each as often as `counts` says, and `lengths[i]`
    is its number of terms. About 8 bytes a distinct term of a text, where a set of strings per
    text costs hundreds of bytes a text: a corpus's sentences run to millions."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        builder = TermTableBuilder()
        builder.add_texts(texts)
        built = builder.table()
        self._set(built.words, built.ids, built.counts, built.lengths, built.offsets)

    def _set(self, words: list[str], ids: np.ndarray, counts: np.ndarray, lengths: np.ndarray,
             offsets: np.ndarray) -> None:
        self.words = words
        """Term id -> term. A table assembled from an earlier one keeps that one's terms, also
        those no text has any more (`BM25` counts a term by the texts that hold it)."""
        self.vocab = {w: i for i, w in enumerate(words)}
        self.ids, self.counts, self.lengths, self.offsets = ids, counts, lengths, offsets

    @classmethod
    def from_arrays(cls, words: list[str], ids: np.ndarray, counts: np.ndarray, lengths: np.ndarray,
                    offsets: np.ndarray) -> TermTable:
        """A table as `arrays` gave it (read back from an index), checked for consistency."""
        n = len(lengths)
        if (len(offsets) != n + 1 or len(ids) != len(counts) or (n and (offsets[0] != 0 or offsets[-1] != len(ids)))
                or (len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(words)))
                or bool(np.any(np.diff(offsets) < 0))):
            raise ValueError("inconsistent term table")
        table = cls.__new__(cls)
        table._set(words, ids.astype(np.int32, copy=False), counts.astype(np.int32, copy=False),
                   lengths.astype(np.int32, copy=False), offsets.astype(np.int64, copy=False))
        return table

    def arrays(self) -> dict[str, np.ndarray]:
        """What an index stores of the table: its arrays, and its terms as UTF-8 lines."""
        words = "\n".join(self.words).encode("utf-8")
        return {"words": np.frombuffer(words, dtype=np.uint8), "ids": self.ids, "counts": self.counts,
                "lengths": self.lengths, "offsets": self.offsets}

    @classmethod
    def read(cls, arrays: Mapping[str, np.ndarray]) -> TermTable:
        """The table `arrays` wrote. Raises ValueError or KeyError for anything else."""
        text = bytes(arrays["words"]).decode("utf-8")
        words = text.split("\n") if text else []
        return cls.from_arrays(words, arrays["ids"], arrays["counts"], arrays["lengths"], arrays["offsets"])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def terms(self, row: int) -> frozenset[str]:
        """The distinct terms of text `row`."""
        words = self.words
        return frozenset(words[i] for i in self.ids[self.offsets[row]:self.offsets[row + 1]].tolist())


class TermTableBuilder:
    """Makes a `TermTable` row by row: from texts, or from rows of an earlier table whose terms it
    started from (`TermTableBuilder(earlier.words)`), so that a re-ingest reads again only the
    texts that changed. Ids of the earlier table stay valid: its terms come first, in order."""

    def __init__(self, words: Sequence[str] = ()) -> None:
        self._earlier = words
        self.vocab: dict[str, int] = {w: i for i, w in enumerate(words)}
        self._ids, self._counts, self._lengths = array("i"), array("i"), array("i")
        self._offsets = array("q", [0])
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add_texts(self, texts: Iterable[str]) -> None:
        vocab, ids, counts = self.vocab, self._ids, self._counts
        for text in texts:
            terms = tokenize(text)
            tf = Counter(vocab.setdefault(term, len(vocab)) for term in terms)
            ids.extend(tf.keys())
            counts.extend(tf.values())
            self._lengths.append(len(terms))
            self._offsets.append(len(ids))

    def add_rows(self, table: TermTable, rows: np.ndarray) -> None:
        """Rows of `table` (whose terms this builder started from), in the order given."""
        if table.words is not self._earlier:
            raise ValueError("the builder did not start from this table's terms")
        self._flush()
        rows = np.asarray(rows, dtype=np.int64)
        first, last = table.offsets[rows], table.offsets[rows + 1]
        sizes = last - first
        slots = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(first, sizes)
        self._parts.append((table.ids[slots], table.counts[slots], table.lengths[rows], sizes))

    def _flush(self) -> None:
        """Texts added so far become a part, so that parts keep their order."""
        if len(self._lengths):
            self._parts.append((np.frombuffer(self._ids, dtype=np.int32).copy(),
                                np.frombuffer(self._counts, dtype=np.int32).copy(),
                                np.frombuffer(self._lengths, dtype=np.int32).copy(),
                                np.diff(np.frombuffer(self._offsets, dtype=np.int64))))
            self._ids, self._counts, self._lengths = array("i"), array("i"), array("i")
            self._offsets = array("q", [0])

    def table(self) -> TermTable:
        self._flush()
        parts = self._parts or [(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
                                 np.zeros(0, np.int64))]
        sizes = np.concatenate([p[3] for p in parts]).astype(np.int64)
        return TermTable.from_arrays(
            list(self.vocab), np.concatenate([p[0] for p in parts]).astype(np.int32),
            np.concatenate([p[1] for p in parts]).astype(np.int32),
            np.concatenate([p[2] for p in parts]).astype(np.int32),
            np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes)]),
        )


class BM25:
    """Okapi BM25 over a fixed list of texts; scores every text (or some) for a query at once.

    The postings are flat arrays grouped by term (row ids ascending within a term), with each
    posting's BM25 weight computed once: 8 bytes a posting."""

    _BLOCK = 1 << 20
    """Postings weighed at a time: the float64 temporaries of all of them at once were 1.5 GB
    over the 0.4 GB the postings keep at a million chunks, most of a 1M server's start-up peak."""

    def __init__(self, texts: Sequence[str] | TermTable, k1: float = 1.2, b: float = 0.75) -> None:
        table = texts if isinstance(texts, TermTable) else TermTable(texts)
        self._statistics(table, k1, b)
        order = np.argsort(table.ids, kind="stable")  # by term; rows stay ascending within one
        row_in_table = np.repeat(np.arange(self.size, dtype=np.int32), np.diff(table.offsets))
        self._rows = np.empty(len(order), dtype=np.int32)
        self._weights = np.empty(len(order), dtype=np.float32)
        for lo in range(0, len(order), self._BLOCK):
            at = order[lo:lo + self._BLOCK]
            rows = self._rows[lo:lo + len(at)] = row_in_table[at]
            tf = table.counts[at].astype(np.float64)
            self._weights[lo:lo + len(at)] = self._weight(self._idf[table.ids[at]], tf, self._norm[rows])
        self._starts = np.concatenate(([0], np.cumsum(self._df)))  # a term's postings: one a text

    def _statistics(self, table: TermTable, k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self.size = n = len(table)
        self._term_id = table.vocab
        lengths = table.lengths.astype(np.float64)
        self._df = np.bincount(table.ids, minlength=len(table.vocab))
        avg = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
        self._norm = k1 * (1 - b + b * lengths / avg)
        self._idf = np.log(1 + (n - self._df + 0.5) / (self._df + 0.5))

    def _weight(self, idf: np.ndarray | float, tf: np.ndarray, norm: np.ndarray) -> np.ndarray:
        """A posting's weight: the same float64 operations in the same order wherever it is
        worked out, so `BM25` and `RowsBM25` agree to the bit."""
        weights: np.ndarray = (idf * tf * (self.k1 + 1) / (tf + norm)).astype(np.float32)
        return weights

    def __contains__(self, term: str) -> bool:
        """Whether some text holds `term`."""
        t = self._term_id.get(term)
        return t is not None and bool(self._df[t])

    def idf(self, term: str) -> float:
        t = self._term_id.get(term)
        n = 0 if t is None else int(self._df[t])
        return math.log(1 + (self.size - n + 0.5) / (n + 0.5))

    def scores(self, query: str | Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every text for `query` (a string, or already-tokenized terms), or of
        the texts `rows` only (in any order, repeats allowed), in their order."""
        terms = tokenize(query) if isinstance(query, str) else query
        if rows is None:
            out = np.zeros(self.size, dtype=np.float32)
        else:
            out = np.zeros(len(rows), dtype=np.float32)
            order = np.argsort(rows, kind="stable")
            ordered = np.asarray(rows)[order]
        for term in set(terms):
            t = self._term_id.get(term)
            if t is None:
                continue
            lo, hi = self._starts[t], self._starts[t + 1]
            if rows is None:
                out[self._rows[lo:hi]] += self._weights[lo:hi]
                continue
            posting_rows = self._rows[lo:hi]
            at = np.searchsorted(posting_rows, ordered)
            inside = at < len(posting_rows)
            hit = np.zeros(len(ordered), dtype=bool)
            hit[inside] = posting_rows[at[inside]] == ordered[inside]
            out[order[hit]] += self._weights[lo:hi][at[hit]]
        return out


class RowsBM25(BM25):
    """BM25 that scores chosen rows only (`scores(query, rows)`), from the term table itself:
    no postings. A sentence index scores the few hundred sentences of the retrieved passages,
    never all of them; its postings (8 bytes each, about 10 a sentence) were 0.7 KB of a server's
    memory per chunk. The same scores as `BM25` to the bit."""

    def __init__(self, table: TermTable, k1: float = 1.2, b: float = 0.75) -> None:
        self._statistics(table, k1, b)
        self._table = table

    def scores(self, query: str | Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        if rows is None:
            raise ValueError("RowsBM25 scores chosen rows only; BM25 scores every text")
        terms = tokenize(query) if isinstance(query, str) else query
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        table = self._table
        first, last = table.offsets[rows], table.offsets[rows + 1]
        sizes = last - first
        owner = np.repeat(np.arange(len(rows)), sizes)  # position in `rows` of each term slot
        slots = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(first, sizes)
        ids = table.ids[slots]
        for term in set(terms):  # the order BM25 adds terms in: float32 sums agree to the bit
            t = self._term_id.get(term)
            if t is None:
                continue
            hit = ids == t
            at = owner[hit]
            out[at] += self._weight(self._idf[t], table.counts[slots[hit]].astype(np.float64), self._norm[rows[at]])
        return out
