"""Lexical matching: a word tokenizer and Okapi BM25 over any list of texts."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
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


class BM25:
    """Okapi BM25 over a fixed list of texts; scores every text for a query at once."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(texts)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(self.size, dtype=np.float32)
        for i, text in enumerate(texts):
            terms = tokenize(text)
            lengths[i] = len(terms)
            for term, count in Counter(terms).items():
                postings[term].append((i, count))
        avg = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        norm = k1 * (1 - b + b * lengths / avg)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, entries in postings.items():
            ids = np.array([e[0] for e in entries], dtype=np.int64)
            tf = np.array([e[1] for e in entries], dtype=np.float32)
            idf = math.log(1 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            self._postings[term] = (ids, (idf * tf * (k1 + 1) / (tf + norm[ids])).astype(np.float32))

    def __contains__(self, term: str) -> bool:
        return term in self._postings

    def idf(self, term: str) -> float:
        entry = self._postings.get(term)
        n = 0 if entry is None else len(entry[0])
        return math.log(1 + (self.size - n + 0.5) / (n + 0.5))

    def scores(self, query: str | Sequence[str]) -> np.ndarray:
        """BM25 score of every text for `query` (a string, or already-tokenized terms)."""
        terms = tokenize(query) if isinstance(query, str) else query
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(terms):
            entry = self._postings.get(term)
            if entry is not None:
                out[entry[0]] += entry[1]
        return out
