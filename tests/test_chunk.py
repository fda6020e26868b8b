"""Chunking invariants on real and generated documents, for several token budgets."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import random
from functools import cache
from pathlib import Path

import pytest

from rag.chunk import ChunkTable, chunk_document, chunk_ids, chunk_texts, count_tokens, make_chunk_id
from rag.config import ENCODING, ChunkConfig
from rag.errors import ConfigError
from rag.ingest import read_document
from rag.retrieve import section_paths
from rag.types import Chunk, Document
from tests.conftest import DEFAULT_DOCS, SQUAD_DOCS

CONFIGS = [(200, 40), (8, 0), (16, 4), (50, 10), (64, 63), (500, 100)]


def make_doc(text: str, doc_id: str = "gen") -> Document:
    return Document(doc_id=doc_id, title=doc_id, text=text, source=f"{doc_id}.txt", sha256="0" * 64)


def _random_prose(seed: int) -> str:
    rng = random.Random(seed)
    words = [
        "the", "a", "rocket", "plant", "engine", "Xi'an", "Samsung", "percent", "2.8", "1995", "3,000",
        "Dr.", "U.S.", "Co.", "Ltd.", "émigré", "東京", "🚀", "kerosene", "hydrogen", "(aside)",
        "“quoted,”", "Cao", "said", "it", "was", "built", "by",
    ]
    paragraphs = []
    for _ in range(rng.randint(1, 12)):
        sentences = []
        for _ in range(rng.randint(1, 8)):
            n = rng.choice([1, 3, 8, 20, 60])
            sentence = " ".join(rng.choice(words) for _ in range(n))
            sentences.append(sentence[:1].upper() + sentence[1:] + rng.choice([".", "?", "!", ".”"]))
        paragraphs.append(" ".join(sentences))
    return rng.choice(["\n\n", "\n", "\n\n\n"]).join(paragraphs)


@cache
def documents() -> dict[str, Document]:
    """Real corpora, read as ingest reads them, and generated texts with awkward shapes."""
    docs: dict[str, Document] = {}
    for folder in (DEFAULT_DOCS, SQUAD_DOCS):
        for path in sorted(folder.glob("*.txt")):
            doc = read_document(path, folder)
            docs[doc.doc_id] = doc
    rng = random.Random(1234)
    vocabulary = ["rocket", "engine", "plant", "the", "of", "Xi'an", "hydrogen", "1995", "émigré", "東京"]
    generated = {
        "prose-1": _random_prose(1),
        "prose-2": _random_prose(2),
        "prose-3": _random_prose(3),
        "no-punctuation": " ".join(rng.choice(vocabulary) for _ in range(1500)),
        "one-long-word": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(5000)),
        "word-inside-sentence": "Before the blob. It is "
        + "".join(rng.choice("abcdef0123456789") for _ in range(3000))
        + " and then some words follow. After.",
        "cjk": "".join(rng.choice("東京は日本の首都です。北京上海西安火箭发动机") for _ in range(2500)),
        "emoji": " ".join(
            "".join(rng.choice("🚀🧀🇨🇳👩‍🔬é̂") for _ in range(rng.randint(1, 40))) for _ in range(200)
        ),
        "mixed-unicode": "Ünïcödé straße. Ελληνικά κείμενο! Кириллица тоже? 中文句子。Emoji 🚀 here. "
        * 40,
        "tiny": "Hi.",
        "one-char": "x",
        "blank-ish": "  \n\n \t ",
        "empty": "",
        "many-lines": "\n".join(f"line {i}" for i in range(300)),
        "zero-width": "zero\u200bwidth\u200bjoined " * 300,
    }
    for doc_id, text in generated.items():
        docs[doc_id] = make_doc(text, doc_id)
    return docs


DOC_IDS = [
    "xian-hard-core-technology",
    *sorted(p.stem for p in SQUAD_DOCS.glob("*.txt")),
    "prose-1", "prose-2", "prose-3", "no-punctuation", "one-long-word", "word-inside-sentence",
    "cjk", "emoji", "mixed-unicode", "tiny", "one-char", "blank-ish", "empty", "many-lines", "zero-width",
]


@cache
def chunked(doc_id: str, chunk_tokens: int, overlap_tokens: int) -> tuple[Chunk, ...]:
    return tuple(chunk_document(documents()[doc_id], ChunkConfig(chunk_tokens, overlap_tokens)))


def tokens_of(doc: Document, start: int, end: int) -> int:
    return count_tokens(doc.text[start:end], ENCODING)


def test_corpora_are_present() -> None:
    assert len(DOC_IDS) == len(set(DOC_IDS))
    assert len(list(SQUAD_DOCS.glob("*.txt"))) == 5
    assert set(DOC_IDS) == set(documents())


@pytest.mark.parametrize(("chunk_tokens", "overlap_tokens"), CONFIGS)
@pytest.mark.parametrize("doc_id", DOC_IDS)
def test_chunk_invariants(doc_id: str, chunk_tokens: int, overlap_tokens: int) -> None:
    doc = documents()[doc_id]
    chunks = chunked(doc_id, chunk_tokens, overlap_tokens)
    if not doc.text.strip():
        assert chunks == ()
        return
    assert chunks, "a document with text has at least one chunk"
    covered = bytearray(len(doc.text))
    for chunk in chunks:
        assert chunk.doc_id == doc.doc_id
        assert 0 <= chunk.start < chunk.end <= len(doc.text)
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.n_tokens == count_tokens(chunk.text, ENCODING)
        assert chunk.sentences, "a chunk holds at least one sentence"
        assert chunk.sentences[0].start == chunk.start
        assert chunk.sentences[-1].end == chunk.end
        previous_end = chunk.start
        for span in chunk.sentences:
            assert previous_end <= span.start < span.end <= chunk.end
            piece = doc.text[span.start:span.end]
            assert piece == piece.strip() and piece
            previous_end = span.end
            covered[span.start:span.end] = b"\x01" * (span.end - span.start)
    missed = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not missed, f"{len(missed)} non-space characters are in no chunk, first at {missed[0]}"
    for before, after in itertools.pairwise(chunks):
        assert after.start > before.start
        shared = set(before.sentences) & set(after.sentences)
        # Sharing is a run of whole sentences: the tail of one chunk, the head of the next.
        assert set(before.sentences[len(before.sentences) - len(shared):]) == shared
        assert set(after.sentences[:len(shared)]) == shared
        assert sum(tokens_of(doc, s.start, s.end) for s in shared) <= overlap_tokens
        # Nothing is skipped between them.
        assert after.start <= before.end or doc.text[before.end:after.start].isspace()


def _cases() -> list[tuple[str, int, int]]:
    return [(doc_id, size, overlap) for doc_id in DOC_IDS for size, overlap in CONFIGS]


@pytest.mark.parametrize(("doc_id", "chunk_tokens", "overlap_tokens"), _cases())
def test_chunks_stay_within_the_token_budget(doc_id: str, chunk_tokens: int, overlap_tokens: int) -> None:
    over = [
        (c.n_tokens, c.text[:60])
        for c in chunked(doc_id, chunk_tokens, overlap_tokens)
        if c.n_tokens > chunk_tokens
    ]
    assert not over


@pytest.mark.parametrize(("doc_id", "chunk_tokens", "overlap_tokens"), _cases())
def test_every_chunk_adds_text_beyond_the_previous_one(
    doc_id: str, chunk_tokens: int, overlap_tokens: int
) -> None:
    chunks = chunked(doc_id, chunk_tokens, overlap_tokens)
    contained = [
        (after.start, after.end)
        for before, after in itertools.pairwise(chunks)
        if after.end <= before.end
    ]
    assert not contained


def test_two_sentences_that_fit_separately_do_not_overflow_together() -> None:
    doc = make_doc("It ended. 1995 was next.")
    config = ChunkConfig(chunk_tokens=8, overlap_tokens=0)
    # 3 + 5 tokens sentence by sentence, 9 tokens as one text (" 1995" takes one more than "1995").
    assert count_tokens(doc.text, ENCODING) > config.chunk_tokens
    chunks = chunk_document(doc, config)
    assert [c.text for c in chunks] == ["It ended.", "1995 was next."]
    for chunk in chunks:
        assert chunk.n_tokens <= config.chunk_tokens


def test_line_per_sentence_text_stays_within_the_default_budget() -> None:
    # Each line break costs a token that no sentence counts: 263 tokens in a 200-token chunk.
    doc = make_doc("\n".join(f"line {i}" for i in range(100)))
    config = ChunkConfig()
    assert max(c.n_tokens for c in chunk_document(doc, config)) <= config.chunk_tokens


def test_overlap_alone_is_never_a_chunk() -> None:
    # 8, 3 and 14 tokens; budget 16, overlap 4: the 3-token sentence is repeated as a chunk of its own.
    text = (
        "Alpha beta gamma delta epsilon zeta. Short one. "
        "Eta theta iota kappa lambda mu nu xi omicron pi rho."
    )
    chunks = chunk_document(make_doc(text), ChunkConfig(chunk_tokens=16, overlap_tokens=4))
    assert chunks[-1].end == len(text)
    for before, after in itertools.pairwise(chunks):
        assert after.end > before.end, f"{after.text!r} lies wholly inside {before.text!r}"


@pytest.mark.parametrize(("chunk_tokens", "overlap_tokens"), CONFIGS)
@pytest.mark.parametrize("doc_id", ["xian-hard-core-technology", "Normans", "prose-2", "one-long-word"])
def test_chunk_ids_are_deterministic_and_unique(doc_id: str, chunk_tokens: int, overlap_tokens: int) -> None:
    doc = documents()[doc_id]
    config = ChunkConfig(chunk_tokens, overlap_tokens)
    first = chunk_document(doc, config)
    again = chunk_document(make_doc(doc.text, doc.doc_id), config)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert first == again
    ids = [c.chunk_id for c in first]
    assert len(ids) == len(set(ids))
    for chunk in first:
        digest = hashlib.sha1(f"{doc.doc_id}\x00{chunk.start}\x00{chunk.end}".encode()).hexdigest()[:6]
        assert chunk.chunk_id == f"{doc.doc_id}#{chunk.start}-{chunk.end}-{digest}"


def test_chunk_id_depends_only_on_place() -> None:
    assert make_chunk_id("a/b", 10, 20) == make_chunk_id("a/b", 10, 20)
    assert make_chunk_id("a/b", 10, 20) == "a/b#10-20-" + hashlib.sha1(b"a/b\x0010\x0020").hexdigest()[:6]
    assert len({make_chunk_id("a", 1, 2), make_chunk_id("a", 1, 3), make_chunk_id("b", 1, 2)}) == 3


def test_ids_survive_an_edit_after_the_chunk() -> None:
    base = _random_prose(5)
    config = ChunkConfig(50, 10)
    before = chunk_document(make_doc(base), config)
    after = chunk_document(make_doc(base + "\n\nA brand new closing paragraph."), config)
    # Chunks wholly before the last paragraph keep their ids.
    kept = [c.chunk_id for c in before[:-1]]
    assert kept and kept == [c.chunk_id for c in after[: len(kept)]]


def test_one_long_word_is_cut_into_contiguous_pieces() -> None:
    doc = documents()["one-long-word"]
    chunks = chunk_document(doc, ChunkConfig(chunk_tokens=32, overlap_tokens=0))
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks) == doc.text
    assert all(c.n_tokens <= 32 for c in chunks)


def test_a_long_sentence_without_punctuation_is_cut_between_words() -> None:
    doc = documents()["no-punctuation"]
    chunks = chunk_document(doc, ChunkConfig(chunk_tokens=40, overlap_tokens=0))
    assert len(chunks) > 10
    assert " ".join(c.text for c in chunks) == doc.text
    for chunk in chunks:
        assert chunk.start == 0 or doc.text[chunk.start - 1] == " "
        assert chunk.end == len(doc.text) or doc.text[chunk.end] == " "


def test_a_paragraph_that_does_not_fit_starts_a_new_chunk() -> None:
    first = "The first paragraph has one sentence. It has a second sentence too."
    second = "The second paragraph is here. It also has two sentences."
    text = f"{first}\n\n{second}"
    config = ChunkConfig(chunk_tokens=count_tokens(first, ENCODING) + 6, overlap_tokens=0)
    chunks = chunk_document(make_doc(text), config)
    assert [c.text for c in chunks] == [first, second]


def test_everything_fits_in_one_chunk() -> None:
    text = "One. Two.\n\nThree."
    chunks = chunk_document(make_doc(text))
    assert [(c.start, c.end, c.text) for c in chunks] == [(0, len(text), text)]


def test_overlap_repeats_whole_trailing_sentences() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(12)]
    text = " ".join(sentences)
    each = count_tokens(sentences[5], ENCODING)
    config = ChunkConfig(chunk_tokens=4 * each + 2, overlap_tokens=each + 1)
    chunks = chunk_document(make_doc(text), config)
    assert len(chunks) >= 3
    for before, after in itertools.pairwise(chunks):
        assert set(before.sentences) & set(after.sentences) == {before.sentences[-1]}


def test_default_config_is_used_when_none_given() -> None:
    doc = documents()["Normans"]
    assert chunk_document(doc) == chunk_document(doc, ChunkConfig())


@pytest.mark.parametrize(
    ("chunk_tokens", "overlap_tokens", "message"),
    [
        (100, 100, "overlap_tokens"),
        (100, 150, "overlap_tokens"),
        (100, -1, "overlap_tokens"),
        (7, 0, "chunk_tokens"),
        (0, 0, "chunk_tokens"),
        (-5, -10, "chunk_tokens"),
    ],
)
def test_bad_chunk_config_is_refused(chunk_tokens: int, overlap_tokens: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ChunkConfig(chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)


def test_smallest_valid_chunk_config() -> None:
    config = ChunkConfig(chunk_tokens=8, overlap_tokens=7)
    assert (config.chunk_tokens, config.overlap_tokens) == (8, 7)


def test_default_corpus_file_is_where_the_tests_expect_it() -> None:
    assert Path(DEFAULT_DOCS / "xian-hard-core-technology.txt").is_file()


def test_no_chunk_runs_across_a_heading_or_overlaps_into_the_section_before() -> None:
    from rag.ingest import locate_sections

    parts = ["Guide"]  # a heading with no text of its own: it stays with the next section
    for n in range(1, 5):
        parts.append(f"Part {n}")
        parts += [f"Sentence {k} of part {n} says something about the weather in town {k}." for k in range(12)]
    text = "\n\n".join(parts)
    sections = locate_sections(text, ((1, "Guide"), *((2, f"Part {n}") for n in range(1, 5))))
    assert [path for _, path in sections] == ["Guide", *(f"Guide › Part {n}" for n in range(1, 5))]
    doc = Document("d", "d", text, "d.md", "0", sections=sections)
    chunks = chunk_document(doc, ChunkConfig(chunk_tokens=60, overlap_tokens=20))
    starts = [start for start, _ in sections[2:]]  # Part 2 to 4 (Part 1 shares Guide's chunk)
    for c in chunks:
        assert not any(c.start < s < c.end for s in starts), c.text
    assert {c.start for c in chunks} >= set(starts) and chunks[0].start == 0
    assert chunks[0].text.startswith("Guide\n\nPart 1\n\nSentence 0")
    assert any(a.end > b.start for a, b in itertools.pairwise(chunks)), "overlap within a section is kept"


def _table_of(docs: list[Document]) -> tuple[list[Chunk], ChunkTable]:
    chunks = [c for d in docs for c in chunk_document(d, ChunkConfig(16, 4))]
    return chunks, ChunkTable(docs, (c.to_dict() for c in chunks))


def test_a_chunk_table_makes_the_chunks_it_was_given() -> None:
    docs = [make_doc(_random_prose(seed), f"doc{seed}") for seed in range(3)]
    chunks, table = _table_of(docs)
    assert len(table) == len(chunks) > 3
    assert list(table) == chunks and table == chunks and table == tuple(chunks)
    assert table[-1] == chunks[-1] and table[1:4] == chunks[1:4] and table[::2] == chunks[::2]
    assert list(chunk_texts(table)) == [c.text for c in chunks] == list(chunk_texts(chunks))
    assert chunk_ids(table) == [c.chunk_id for c in chunks] == chunk_ids(chunks)
    assert table.outside() is None
    sectioned = [dataclasses.replace(d, sections=((0, "Intro"), (len(d.text) // 2, "Intro › Later"))) for d in docs]
    paths = section_paths(sectioned, ChunkTable(sectioned, (c.to_dict() for c in chunks)))
    assert paths == section_paths(sectioned, chunks) and {"Intro", "Intro › Later"} <= set(paths)
    with pytest.raises(IndexError):
        table[len(chunks)]
    assert table != chunks[:-1] and table != [*chunks[:-1], chunks[0]]


@pytest.mark.parametrize("damage", ["past the end", "empty", "sentence outside", "sentence backwards"])
def test_a_chunk_table_names_the_first_chunk_outside_its_document(damage: str) -> None:
    docs = [make_doc(_random_prose(seed), f"doc{seed}") for seed in range(2)]
    chunks = [c for d in docs for c in chunk_document(d, ChunkConfig(16, 4))]
    rows = [c.to_dict() for c in chunks]
    bad = len(rows) // 2
    row = rows[bad]
    if damage == "past the end":
        row["end"] = len(docs[1].text) + 1 if row["doc_id"] == "doc1" else len(docs[0].text) + 1
    elif damage == "empty":
        row["end"] = row["start"]
    elif damage == "sentence outside":
        row["sentences"][-1][1] = row["end"] + 1
    else:
        row["sentences"][0] = [row["sentences"][0][1], row["sentences"][0][0]]
    assert ChunkTable(docs, rows).outside() == bad
