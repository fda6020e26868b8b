"""The reader seam: an Assistant from parts held in memory (a fake reader, the numpy index), the
heuristic reader read alone, and the one answer policy every reader shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag.answer import compose_answer
from rag.chunk import chunk_document
from rag.config import AnswerPolicy, ChunkConfig, QueryLimits
from rag.embed_hash import HashEmbedder
from rag.errors import InvalidQueryError
from rag.index_numpy import NumpyIndex
from rag.pipeline import Assistant
from rag.read_heuristic import HeuristicReader, SentenceIndex
from rag.retrieve import HybridRetriever, section_paths
from rag.types import Chunk, Document, Extraction, Passage, Query, Span

DOCS = (
    Document("rockets", "Rockets", "The Long March 5 rocket first flew in 2016. It burns kerosene and liquid oxygen.\n\n"
             "Its core stage uses liquid hydrogen.", "rockets.txt", "0" * 64),
    Document("cheese", "Cheese", "Cheddar cheese comes from the village of Cheddar in Somerset. It is aged for nine "
             "months or longer.", "cheese.txt", "1" * 64),
)


class FakeReader:
    """Takes the first sentence of the best passage as evidence and its last word as the answer."""

    name = "fake"

    def __init__(self, confidence: float) -> None:
        self.confidence = confidence
        self.seen: list[tuple[Query, list[str]]] = []

    def read(self, query: Query, passages: Sequence[Passage]) -> tuple[Extraction, ...]:
        self.seen.append((query, [p.chunk_id for p in passages]))
        out = []
        for p in passages:
            first = p.sentences[0]
            word_start = DOC_TEXT[p.doc_id].rfind(" ", first.start, first.end - 1) + 1 or first.start
            out.append(Extraction(p.doc_id, p.chunk_id, first, Span(word_start, first.end - 1), p.score,
                                  self.confidence, self.name))
        return tuple(out)


DOC_TEXT = {d.doc_id: d.text for d in DOCS}


def _parts(reader_confidence: float = 0.9) -> tuple[Assistant, FakeReader]:
    embedder = HashEmbedder()
    chunks = [c for d in DOCS for c in chunk_document(d, ChunkConfig(chunk_tokens=16, overlap_tokens=0))]
    vectors = NumpyIndex.build(embedder.embed([c.text for c in chunks]))
    reader = FakeReader(reader_confidence)
    return Assistant(embedder, HybridRetriever(chunks, vectors), reader, DOCS), reader


def test_an_assistant_from_a_fake_reader_and_the_numpy_index_answers_without_an_index_on_disk() -> None:
    assistant, reader = _parts()
    answer = assistant.ask("When did the Long March 5 rocket first fly?")
    assert not answer.abstained
    assert answer.answer == "2016"
    first = answer.citations[0]
    assert (first.doc_id, first.title, first.quote) == ("rockets", "Rockets", "The Long March 5 rocket first flew in 2016.")
    assert DOC_TEXT["rockets"][answer.answer_start:answer.answer_end] == "2016"
    # The reader was handed the query and passages keyed by chunk_id, best first.
    query, chunk_ids = reader.seen[-1]
    assert query.question == query.text == "When did the Long March 5 rocket first fly?"
    assert query.vector.shape == (384,) and chunk_ids[0].startswith("rockets#")
    assert assistant.describe() == {"documents": 2, "embedder": "hash", "reader": "fake"}
    assert assistant.document("cheese") is DOCS[1] and assistant.document("nope") is None


def test_the_policy_abstains_below_its_threshold_whatever_the_reader() -> None:
    assistant, _ = _parts(reader_confidence=0.1)
    answer = assistant.ask("Where does Cheddar cheese come from?")
    assert answer.abstained and answer.answer == "" and answer.confidence == pytest.approx(0.1)
    assert answer.citations, "the closest passages are still shown"


def test_a_follow_up_reaches_the_reader_resolved_and_limits_come_from_the_assistant() -> None:
    assistant, reader = _parts()
    assistant.ask("When did it first fly?", history=["Tell me about the Long March 5 rocket"])
    query, _ = reader.seen[-1]
    assert (query.question, query.text) == (  # the earlier turn, what it answered, the question
        "When did it first fly?", "Tell me about the Long March 5 rocket 2016 When did it first fly?")
    strict = Assistant(assistant.embedder, assistant.retriever, reader, DOCS,
                       limits=QueryLimits(max_question_chars=10, max_history_turns=1))
    with pytest.raises(InvalidQueryError, match="limit is 10"):
        strict.ask("a question of more than ten characters")
    with pytest.raises(InvalidQueryError, match="history holds 2 turns; the limit is 1"):
        strict.ask("Why?", history=["one", "two"])
    assert not strict.ask("Why?", history=["one"]).abstained


def _extraction(doc_id: str, start: int, end: int, answer: Span | None = None, confidence: float = 0.9,
                score: float = 1.0) -> Extraction:
    return Extraction(doc_id, f"{doc_id}#chunk", Span(start, end), answer, score, confidence, "test")


def test_compose_answer_cites_without_overlaps_and_caps_the_citations() -> None:
    docs = {d.doc_id: d for d in DOCS}
    extractions = [
        _extraction("rockets", 0, 43, Span(38, 42), score=2.0),
        _extraction("rockets", 10, 50, score=1.5),  # overlaps citation 1: dropped
        _extraction("cheese", 0, 61, score=1.0),
        _extraction("rockets", 44, 80, score=0.5),
        _extraction("cheese", 62, 99, score=0.1),
    ]
    answer = compose_answer("q?", extractions, docs, AnswerPolicy(max_citations=3))
    assert answer.answer == "2016" and not answer.abstained
    assert [(c.n, c.doc_id, c.start, c.score) for c in answer.citations] == [
        (1, "rockets", 0, 2.0), (2, "cheese", 0, 1.0), (3, "rockets", 44, 0.5)]
    for c in answer.citations:
        assert docs[c.doc_id].text[c.start:c.end] == c.quote


def test_compose_answer_cites_a_sentence_said_word_for_word_again_once() -> None:
    """A manual repeats an entry's description for each class that has the method: the same
    words cited three times tell the visitor nothing more; the next different passage is cited."""
    text = "add_flag(flag) Set the flag.\nMaildir.\nadd_flag(flag)  Set the flag.\nMH.\nremove_flag(flag) Unset it."
    doc = Document("mailbox", "mailbox", text, "mailbox.html", "0")
    a, b, c = (text.index(s) for s in ("add_flag(flag) Set", "add_flag(flag)  Set", "remove_flag"))
    extractions = [_extraction("mailbox", a, a + 28), _extraction("mailbox", b, b + 29, score=0.9),
                   _extraction("mailbox", c, c + 28, score=0.5)]
    answer = compose_answer("q?", extractions, {"mailbox": doc})
    assert [(cit.start, cit.quote) for cit in answer.citations] == [
        (a, "add_flag(flag) Set the flag."), (c, "remove_flag(flag) Unset it.")]


def test_compose_answer_falls_back_to_the_evidence() -> None:
    docs = {d.doc_id: d for d in DOCS}
    whole = compose_answer("q?", [_extraction("cheese", 0, 61)], docs)
    assert whole.answer == DOC_TEXT["cheese"][0:61] == whole.citations[0].quote
    # An answer span outside its evidence is a reader's mistake: the evidence answers instead.
    outside = compose_answer("q?", [_extraction("cheese", 0, 61, Span(70, 75))], docs)
    assert outside.answer == whole.answer and (outside.answer_start, outside.answer_end) == (0, 61)
    assert compose_answer("q?", [], docs).abstained


def test_the_heuristic_reader_reads_alone_from_a_sentence_index_built_in_memory() -> None:
    embedder = HashEmbedder()
    chunks = [c for d in DOCS for c in chunk_document(d, ChunkConfig())]
    reader = HeuristicReader(SentenceIndex.build(DOCS, chunks, embedder))
    assert len(reader.sentences) == 5
    question = "When did the Long March 5 rocket first fly?"
    query = Query(question, question, embedder.embed([question])[0])
    rockets = next(c for c in chunks if c.doc_id == "rockets")
    passage = Passage(rockets.chunk_id, "rockets", rockets.text, rockets.start, rockets.end, rockets.sentences,
                      1.0, 1.0, 1.0)
    extractions = reader.read(query, [passage])
    first = extractions[0]
    assert first.reader == "heuristic" and first.doc_id == "rockets" and first.chunk_id == rockets.chunk_id
    assert DOC_TEXT["rockets"][first.evidence.start:first.evidence.end] == "The Long March 5 rocket first flew in 2016."
    assert first.answer is not None and DOC_TEXT["rockets"][first.answer.start:first.answer.end] == "2016"
    assert 0.0 <= first.confidence <= 1.0
    # Every other sentence of the passage follows, with no answer of its own, best first.
    assert len(extractions) == len(rockets.sentences)
    assert all(e.answer is None for e in extractions[1:])
    assert [e.score for e in extractions] == sorted((e.score for e in extractions), reverse=True)
    assert reader.read(query, []) == ()
    assert np.isfinite([e.confidence for e in extractions]).all()


def test_a_follow_up_carries_the_short_answer_of_the_turn_it_leans_on() -> None:
    assistant, reader = _parts()
    first = assistant.ask("When did the Long March 5 rocket first fly?")
    assert first.answer == "2016"
    assistant.ask("What does it burn?", history=["When did the Long March 5 rocket first fly?"])
    query, _ = reader.seen[-1]
    assert query.text == "When did the Long March 5 rocket first fly? 2016 What does it burn?"
    assert query.question_first() == "What does it burn? When did the Long March 5 rocket first fly? 2016"
    # Asked cold (nothing remembered), the earlier turn is read again: the same query results.
    cold, cold_reader = _parts()
    cold.ask("What does it burn?", history=["When did the Long March 5 rocket first fly?"])
    assert [q.text for q, _ in cold_reader.seen] == [
        "When did the Long March 5 rocket first fly?",
        "When did the Long March 5 rocket first fly? 2016 What does it burn?",
    ]
    # A question that stands alone carries nothing.
    assistant.ask("Where does Cheddar cheese come from?", history=["When did the Long March 5 rocket first fly?"])
    assert reader.seen[-1][0].text == "Where does Cheddar cheese come from?"
    assert reader.seen[-1][0].question_first() == "Where does Cheddar cheese come from?"


def test_an_abstained_or_long_earlier_answer_is_not_carried() -> None:
    assistant, reader = _parts(reader_confidence=0.1)
    assistant.ask("What does it burn?", history=["When did the Long March 5 rocket first fly?"])
    assert reader.seen[-1][0].text == "When did the Long March 5 rocket first fly? What does it burn?"
    from rag.conversation import resolve_query

    long_answer = "The Long March 5 rocket first flew in 2016 from the Wenchang launch site on Hainan island."
    assert resolve_query("When?", ["Tell me about it"], long_answer) == "Tell me about it When?"
    assert resolve_query("When did she finish it?", ["Who designed the bridge?"], "Jane Doe") == (
        "Who designed the bridge? Jane Doe When did she finish it?")


def test_bm25_reads_a_chunk_with_its_section_path() -> None:
    """In a reference page the name a passage is about is often only in its heading: two chunks
    alike but for their pages' titles are told apart by the one the question names."""
    chunks = [Chunk("csv#0", "csv", "Return a comma-separated version of the string s.", 0, 50, 9),
              Chunk("shlex#0", "shlex", "Return a shell-escaped version of the string s.", 0, 47, 9)]
    same = np.ones((2, 4), dtype=np.float32) / 2  # dense scores tie: only BM25 decides
    query = Query("What does shlex return for a string?", "What does shlex return for a string?", same[0])
    plain = HybridRetriever(chunks, NumpyIndex.build(same)).retrieve(query)
    assert plain[0].lexical == plain[1].lexical  # the texts alone cannot tell them apart
    headed = HybridRetriever(chunks, NumpyIndex.build(same), headings=[
        "csv — CSV File Reading and Writing", "shlex — Simple lexical analysis"]).retrieve(query)
    assert [p.chunk_id for p in headed] == ["shlex#0", "csv#0"] and headed[1].lexical < headed[0].lexical
    assert headed[0].text == chunks[1].text  # the heading is searched, not quoted
    docs = [Document("shlex", "shlex", "x", "shlex.md", "0", sections=((0, "shlex — Simple lexical analysis"),))]
    assert section_paths(docs, chunks) == ["", "shlex — Simple lexical analysis"]


def _read_in_memory(doc: Document, question: str) -> tuple[SentenceIndex, Query, list[Passage]]:
    """`doc`'s sentences (hashing embedder), `question` as a query, and each chunk as a passage
    of equal score."""
    embedder = HashEmbedder()
    chunks = chunk_document(doc, ChunkConfig())
    passages = [Passage(c.chunk_id, c.doc_id, c.text, c.start, c.end, c.sentences, 1.0, 1.0, 1.0) for c in chunks]
    return SentenceIndex.build([doc], chunks, embedder), Query(question, question, embedder.embed([question])[0]), passages


def test_a_sentence_is_ranked_by_its_words_read_within_its_section() -> None:
    """Two sentences alike but for their sections: the one under the heading the question names
    ranks first, above the heading itself; its coverage as a confidence feature stays its own."""
    from dataclasses import replace

    text = "Kilns\n\nStoneware\n\nIt is fired to 1,280 degrees.\n\nEarthenware\n\nIt is fired to 1,100 degrees."
    sections = ((0, "Kilns"), (text.index("Stoneware"), "Kilns › Stoneware"),
                (text.index("Earthenware"), "Kilns › Earthenware"))
    doc = Document("kilns", "Kilns", text, "kilns.md", "2" * 64, sections=sections)
    sentences, query, passages = _read_in_memory(doc, "To how many degrees is earthenware fired?")
    reader = HeuristicReader(sentences)
    assert reader.config.read_in_section
    ranked = reader.score_sentences(query, passages)
    assert sentences.texts[ranked[0].row] == "It is fired to 1,100 degrees."
    plain = HeuristicReader(sentences, replace(reader.config, read_in_section=False)).score_sentences(query, passages)
    assert sentences.texts[plain[0].row] == "It is fired to 1,280 degrees.", "alone, the two are alike"
    assert {s.row: s.coverage for s in ranked} == {s.row: s.coverage for s in plain}
    untitled = Document("notes", "Kiln notes", "It is fired to 1,100 degrees.", "notes.txt", "3" * 64)
    assert sentences.section_terms(ranked[0].row) == {"kiln", "earthenware"}
    alone = SentenceIndex.build([untitled], chunk_document(untitled, ChunkConfig()), HashEmbedder())
    assert alone.section_terms(0) == {"kiln", "note"}, "no sections: the title"


def test_a_heading_is_never_the_evidence_but_its_words_rank_the_sentences_below() -> None:
    """A heading holds the question's words, not its answer: the rules leave it out of the
    ranking (unless `headings_as_evidence`), and the sentence under it ranks first."""
    from dataclasses import replace

    text = "Troubleshooting\n\nI forgot the admin password.\n\nRun reset-admin on the server as root.\n\nQuotas\n\nEach computer may use 200 GB."
    sections = ((0, "Troubleshooting"), (text.index("I forgot"), "Troubleshooting › I forgot the admin password."),
                (text.index("Quotas"), "Troubleshooting › Quotas"))
    doc = Document("faq", "FAQ", text, "faq.md", "5" * 64, sections=sections)
    assert doc.in_heading(text.index("Quotas"), text.index("Quotas") + 6)
    assert not doc.in_heading(text.index("Run"), text.index("root.") + 5)
    assert not doc.in_heading(text.index("Each"), len(text)), "a section's body"
    sentences, query, passages = _read_in_memory(doc, "What do I do if I forgot the admin password?")
    reader = HeuristicReader(sentences)
    ranked = [sentences.texts[s.row] for s in reader.score_sentences(query, passages)]
    assert ranked[0] == "Run reset-admin on the server as root."
    assert not {"Troubleshooting", "I forgot the admin password.", "Quotas"} & set(ranked)
    loose = HeuristicReader(sentences, replace(reader.config, headings_as_evidence=True))
    assert sentences.texts[loose.score_sentences(query, passages)[0].row] == "I forgot the admin password."


def test_a_sentence_of_a_description_is_read_with_its_term() -> None:
    """A reference manual names the setting in the term and gives its default sentences later."""
    text = "Settings\n\nmax_riders How many may ride.\n\nThe default is 24.\n\nRides start at the boathouse."
    term = (text.index("max_riders"), text.index("max_riders") + len("max_riders"))
    doc = Document("settings", "Club settings", text, "settings.html", "4" * 64,
                   sections=((0, "Settings"),), definitions=((*term, text.index("Rides") - 2, -1),))
    sentences = SentenceIndex.build([doc], chunk_document(doc, ChunkConfig()), HashEmbedder())
    row = {sentences.texts[r]: r for r in range(len(sentences))}
    assert sentences.section_terms(row["The default is 24."]) == {"setting", "max", "rider"}
    assert sentences.section_terms(row["Rides start at the boathouse."]) == {"setting"}


@pytest.mark.parametrize(("short", "its_turn", "other_turn"), [
    ("Which core stage?", "When did the Long March 5 rocket first fly?", "Where does Cheddar cheese come from?"),
    ("How long aged?", "Where does Cheddar cheese come from?", "When did the Long March 5 rocket first fly?"),
])
def test_a_short_question_leans_on_the_turn_before_only_where_it_lands_alone(
    short: str, its_turn: str, other_turn: str
) -> None:
    """Two terms and no word pointing back: searched alone, the question lands in the document
    the earlier answer cited, so it continues that turn; after a turn about another document it
    stands alone."""
    from rag.conversation import may_need_history, needs_history

    assert may_need_history(short) and not needs_history(short)
    for turn, leans in ((its_turn, True), (other_turn, False)):
        assistant, reader = _parts()
        earlier = assistant.ask(turn)
        assistant.ask(short, history=[turn])
        query, _ = reader.seen[-1]
        assert query.text == (f"{turn} {earlier.answer} {short}" if leans else short)
