"""BM25 and the term table: the scores Okapi BM25 defines, for every text or for some rows."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from rag.chunk import SentenceTable
from rag.embed_hash import HashEmbedder
from rag.lexical import BM25, Identifiers, RowsBM25, TermTable, TermTableBuilder, identifiers, tokenize
from rag.read_heuristic import SentenceIndex
from rag.types import Chunk, Document, Span

TEXTS = [
    "The red fox jumps over the lazy dog.",
    "A red car and a red bus.",
    "Dogs bark at night; the dog sleeps by day.",
    "",
    "Nothing here matches.",
]


def okapi(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 written out from its definition, one text at a time."""
    docs = [tokenize(t) for t in texts]
    avg = sum(map(len, docs)) / len(docs)
    out = np.zeros(len(docs))
    for term in set(tokenize(query)):
        df = sum(term in d for d in docs)
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            out[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg)) if tf else 0.0
    return out


def test_bm25_scores_are_okapis_for_every_text_and_for_chosen_rows() -> None:
    bm25 = BM25(TEXTS)
    for query in ("red dog", "red red fox", "bark", "unknown words", "the"):
        want = okapi(TEXTS, query)
        assert np.allclose(bm25.scores(query), want, atol=1e-5)
        rows = np.array([4, 1, 1, 0, 2])  # any order, repeats allowed
        assert np.allclose(bm25.scores(query, rows), want[rows], atol=1e-5)
    assert "red" in bm25 and "zebra" not in bm25
    assert bm25.idf("red") < bm25.idf("fox") < bm25.idf("zebra")
    assert BM25([]).scores("red").shape == (0,)


@pytest.mark.parametrize("block", [BM25._BLOCK, 7])
def test_rows_bm25_scores_chosen_rows_as_bm25_does_to_the_bit(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """No postings: each row's weights from the term table, the same float operations; and
    BM25 weighs its postings a block at a time (7 here: blocks that split terms) to the same bits."""
    monkeypatch.setattr(BM25, "_BLOCK", block)
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(40)] + ["red", "fox", "dog"]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 30))) for _ in range(300)] + TEXTS
    table = TermTable(texts)
    full, rows_only = BM25(table), RowsBM25(table)
    for query in ("red dog", "w1 w2 w3 w1", "red red fox", "zebra", "w39 fox", ""):
        rows = np.array([rng.randrange(len(texts)) for _ in range(200)] + [0, 0, len(texts) - 1])
        assert rows_only.scores(query, rows).tobytes() == full.scores(query, rows).tobytes()
        assert rows_only.scores(query, rows).tobytes() == full.scores(query)[rows].tobytes()
        assert rows_only.scores(query, np.zeros(0, dtype=np.int64)).shape == (0,)
    assert all(rows_only.idf(t) == full.idf(t) for t in ("red", "w5", "zebra"))
    assert "fox" in rows_only and "zebra" not in rows_only
    with pytest.raises(ValueError, match="chosen rows"):
        rows_only.scores("red")


def test_the_term_table_gives_each_texts_distinct_terms() -> None:
    table = TermTable(TEXTS)
    assert len(table) == len(TEXTS)
    for row, text in enumerate(TEXTS):
        assert table.terms(row) == frozenset(tokenize(text))
    assert BM25(table).scores("red").tolist() == BM25(TEXTS).scores("red").tolist()


def test_sentence_rows_are_found_by_document_and_span() -> None:
    text = "One fact. Two facts here. Three."
    doc = Document("d", "d", text, "d.txt", "0")
    other = Document("e", "e", "Else.", "e.txt", "1")
    spans = (Span(0, 9), Span(10, 25), Span(26, 32))
    chunks = [Chunk("d#0", "d", text[:25], 0, 25, 6, spans[:2]), Chunk("d#1", "d", text[10:], 10, 32, 6, spans[1:]),
              Chunk("e#0", "e", "Else.", 0, 5, 2, (Span(0, 5),))]
    index = SentenceIndex.build([doc, other], chunks, HashEmbedder())
    assert [index.texts[r] for r in range(len(index))] == ["One fact.", "Two facts here.", "Three.", "Else."]
    assert index.rows_of("d", [spans[2], spans[0]]).tolist() == [2, 0]
    assert index.rows_of("d", [Span(10, 12)]).tolist() == []  # a start it holds, another end
    assert index.rows_of("e", [Span(0, 5)]).tolist() == [3]
    assert index.rows_of("missing", [Span(0, 5)]).tolist() == []
    assert index.chunk_ids == ["d#0", "d#0", "d#1", "e#0"]
    assert index.terms(1) == frozenset({"two", "fact"})  # "here" is a stop word
    # A table in another order (not as `build_sentence_table` writes it) is searched as well.
    t = index.table
    backwards = SentenceTable(t.doc[::-1].copy(), t.start[::-1].copy(), t.end[::-1].copy(), t.chunk[::-1].copy())
    reversed_index = SentenceIndex([doc, other], chunks, backwards, index.vectors[::-1])
    assert reversed_index.rows_of("d", [spans[2], spans[0]]).tolist() == [1, 3]
    assert reversed_index.texts[3] == "One fact."


def test_a_term_table_assembled_from_an_earlier_one_scores_as_one_read_afresh() -> None:
    earlier = TermTable(TEXTS)
    builder = TermTableBuilder(earlier.words)
    builder.add_texts(["a zebra and a red fox"])
    builder.add_rows(earlier, np.array([3, 0]))
    builder.add_texts(["another zebra"])
    builder.add_rows(earlier, np.array([1]))
    assembled = builder.table()
    texts = ["a zebra and a red fox", TEXTS[3], TEXTS[0], "another zebra", TEXTS[1]]
    afresh = TermTable(texts)
    assert [assembled.terms(r) for r in range(len(texts))] == [afresh.terms(r) for r in range(len(texts))]
    assert assembled.lengths.tolist() == afresh.lengths.tolist()
    for query in ("red fox", "zebra", "dog bark", "unknown"):
        assert BM25(assembled).scores(query).tobytes() == BM25(afresh).scores(query).tobytes()
    gone = next(t for t in earlier.words if t not in afresh.vocab)  # a term of the rows left out
    assert gone in assembled.vocab and gone not in BM25(assembled) and gone not in BM25(afresh)
    assert TermTable.read(assembled.arrays()).terms(0) == assembled.terms(0)
    with pytest.raises(ValueError, match="did not start from"):
        TermTableBuilder().add_rows(earlier, np.array([0]))
    with pytest.raises(ValueError, match="inconsistent"):
        TermTable.from_arrays(["red"], np.array([1]), np.array([1]), np.array([1]), np.array([0, 1]))


def test_identifiers_are_the_names_code_and_versions_spell() -> None:
    question = ("Is max_upload_size, __init__, sys.monitoring, Tidepool 3.0, pyOpenSSL or SSHClient "
                "like e.g. the U.S. or a GP, I or _?")
    assert identifiers(question) == ["max_upload_size", "__init__", "sys.monitoring", "3.0", "pyOpenSSL", "SSHClient"]


def test_an_identifier_no_text_holds_is_unknown() -> None:
    known = Identifiers(["Repr.maxstring is 30 by default.", "limit_denominator(max_denominator=1000000)",
                         "New in version 3.0.1: max_connections and HTTPStatus."])

    def unknown(question: str) -> list[str]:
        return known.missing(identifiers(question))

    assert unknown("What is max_connections? And HTTPStatus, httpstatus?") == []
    assert unknown("What is reprlib.Repr.maxstring or Fraction.limit_denominator?") == [], "held in part"
    assert unknown("What is max_upload_size, in 3.0 or in sys.monitoring?") == ["max_upload_size", "3.0",
                                                                                "sys.monitoring"]
    assert unknown("What is the limit?") == []
    assert known.missing(["3.0", "Repr.maxstring"]) == ["3.0"], "names found already"
