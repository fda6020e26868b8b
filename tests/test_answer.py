"""The answer contract: quotes are verbatim document slices, abstention, validation, follow-ups."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.conversation import name_the_person, needs_history, resolve_query
from rag.errors import InvalidQueryError
from rag.pipeline import Assistant
from rag.span import AnswerType, expected_type, find_candidates, pick_span
from rag.store import load_index

QUESTIONS = [
    "When did the Long March 5 rocket first fly?",
    "Which company opened a memory chip plant in Xi'an?",
    "How many people does the Samsung plant employ?",
    "Where does Cheddar cheese come from?",
    "What does the core stage burn?",
    "What is the boiling point of helium?",
]


def _documents(assistant: Assistant) -> dict[str, str]:
    return {d.doc_id: d.text for d in assistant.documents}


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_quote_is_its_document_slice(small_assistant: Assistant, question: str, tmp_path: Path) -> None:
    answer = small_assistant.ask(question)
    chunk_ids = {ch.chunk_id for ch in load_index(tmp_path / "index").chunks}
    texts = _documents(small_assistant)
    assert answer.citations, "an answer always shows passages"
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert texts[c.doc_id][c.start:c.end] == c.quote
        assert c.chunk_id in chunk_ids
    if not answer.abstained:
        first = answer.citations[0]
        # The short answer is a quotation from inside citation 1.
        assert answer.answer and answer.answer in first.quote
        assert answer.answer_start is not None and answer.answer_end is not None
        assert texts[first.doc_id][answer.answer_start:answer.answer_end] == answer.answer
        assert first.start <= answer.answer_start < answer.answer_end <= first.end


def test_answer_cuts_a_date_span(small_assistant: Assistant) -> None:
    answer = small_assistant.ask("When did the Long March 5 rocket first fly?")
    assert not answer.abstained
    assert answer.answer == "2016"
    assert answer.citations[0].quote == "The Long March 5 rocket first flew in 2016."


def test_date_line_is_metadata_not_text(small_assistant: Assistant) -> None:
    doc = small_assistant.document("rockets")
    assert doc is not None
    assert doc.meta("date") == "2021-03-04"
    assert "2021-03-04" not in doc.text


def test_unrelated_question_abstains_and_shows_closest(small_assistant: Assistant) -> None:
    answer = small_assistant.ask("Who painted the Mona Lisa in Florence?")
    assert answer.abstained
    assert answer.answer == ""
    assert answer.citations, "abstaining still shows the closest passages"


def test_answer_json_has_the_contract_fields(small_assistant: Assistant) -> None:
    data = small_assistant.ask("When did the Long March 5 rocket first fly?").to_dict()
    assert set(data) == {"question", "answer", "abstained", "confidence", "citations", "latency_ms"}
    first = data["citations"][0]
    assert set(first) == {"n", "doc_id", "title", "chunk_id", "start", "end", "quote", "score", "section", "url"}
    assert first["url"] == f"/source/{first['doc_id']}?start={first['start']}&end={first['end']}#passage"
    assert 0.0 <= data["confidence"] <= 1.0
    assert data["latency_ms"] > 0


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 100_000, "100,000 characters")],
)
def test_bad_questions_are_refused_with_a_reason(small_assistant: Assistant, question: str, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        small_assistant.ask(question)


def test_history_must_be_a_list_of_text(small_assistant: Assistant) -> None:
    with pytest.raises(InvalidQueryError, match="history"):
        small_assistant.ask("When?", history="not a list")  # type: ignore[arg-type]


def test_follow_up_uses_the_earlier_turn(small_assistant: Assistant) -> None:
    alone = small_assistant.ask("When did it first fly?")
    followed = small_assistant.ask("When did it first fly?", history=["Tell me about the Long March 5 rocket"])
    assert followed.answer == "2016"
    assert followed.citations[0].doc_id == "rockets"
    # Alone, "it" names nothing: the same sentence barely clears the bar; the earlier turn
    # makes the search (and so the answer) far surer.
    assert followed.confidence > alone.confidence + 0.2
    assert followed.citations[0].score > alone.citations[0].score


def test_resolve_query_only_when_needed() -> None:
    assert resolve_query("When was Samsung's plant opened in Xi'an?", ["Tell me about chips"]) == (
        "When was Samsung's plant opened in Xi'an?"
    )
    assert resolve_query("When did they list?", ["Which firms debuted?"]) == "Which firms debuted? When did they list?"
    assert resolve_query("When did they list?", []) == "When did they list?"
    assert needs_history("What about biomedicine?")
    assert needs_history("Is md5 available too?") and needs_history("Does it work on Windows as well?")
    assert not needs_history("Which tool is used to build wheels?")


@pytest.mark.parametrize(("question", "carried", "read"), [
    ("Which flat does she live in?", "Lin Chen", "Which flat does Lin Chen live in?"),
    ("In what year did he found it?", "Tomas Berg", "In what year did Tomas Berg found it?"),
    ("Which flat does she live in?", "flat 31", None),  # not a name
    ("Which flat does she live in?", "", None),
    ("When did they list?", "Bright Laser", None),  # not one person
    ("Did he give her the prize?", "Tomas Berg", None),  # two people
    ("Did he say he would?", "Tomas Berg", None),
    ("Where is the shed?", "Lin Chen", None),
])
def test_a_follow_ups_he_or_she_is_the_person_the_earlier_answer_named(
    question: str, carried: str, read: str | None
) -> None:
    assert name_the_person(question, carried) == read


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When was the concept first proposed?", AnswerType.DATE),
        ("In what year did Samsung arrive?", AnswerType.DATE),
        ("How many high-tech enterprises are there?", AnswerType.NUMBER),
        ("What percentage of foreign capital went to manufacturing?", AnswerType.NUMBER),
        ("Who is the legal advisor?", AnswerType.PERSON),
        ("Where is the plant?", AnswerType.PLACE),
        ("Which companies debuted on the board?", AnswerType.NAME),
        ("Why did GDP grow?", AnswerType.NONE),
    ],
)
def test_expected_type(question: str, kind: AnswerType) -> None:
    assert expected_type(question) is kind


def test_candidates_and_span_choice() -> None:
    text = "In 2019, manufacturing accounted for 58 percent of the $4.1 billion of foreign capital."
    numbers = [text[c.start:c.end] for c in find_candidates(text, AnswerType.NUMBER)]
    assert "58 percent" in numbers and "$4.1 billion" in numbers
    span = pick_span(text, "What share did manufacturing take?", AnswerType.NUMBER)
    assert span is not None and text[span.start:span.end] == "58 percent"
    dates = "On July 22, 2019, two companies listed."
    span = pick_span(dates, "When did the two companies list?", AnswerType.DATE)
    assert span is not None and dates[span.start:span.end] == "July 22, 2019"
    # A span that only repeats the question is no answer.
    assert pick_span("Xi'an is a city.", "When was Xi'an a city?", AnswerType.DATE) is None


def test_a_name_the_question_already_gives_is_no_answer() -> None:
    sentence = ("On July 22, 2019, two Xi’an-based companies Bright Laser Technologies and Western "
                "Superconducting Technologies, were among the first batch of 25 firms to debut.")
    question = "Which two Xi’an companies debuted first?"
    span = pick_span(sentence, question, expected_type(question))
    assert span is not None
    assert sentence[span.start:span.end] == "Bright Laser Technologies and Western Superconducting Technologies"


def test_a_question_split_over_two_sentences_cites_both(tmp_path: Path) -> None:
    from rag.build import build_index
    from rag.embed_hash import HashEmbedder

    from .conftest import write_corpus

    text = ("The city saw its output rise 2.8 percent in the first half. The research service sector "
            "drove that growth more than any other.\n\nAn unrelated paragraph about cheese and milk.")
    docs = write_corpus(tmp_path / "docs", {"city.txt": text})
    build_index(docs, tmp_path / "index", HashEmbedder())
    assistant = Assistant.load(tmp_path / "index", reader="heuristic")
    answer = assistant.ask("Which sector drove growth in the city whose output rose 2.8 percent?")
    first = answer.citations[0]
    assert first.quote == ("The city saw its output rise 2.8 percent in the first half. The research service "
                           "sector drove that growth more than any other.")
    assert text[first.start:first.end] == first.quote


def test_reader_weights_and_policy_are_validated() -> None:
    from rag.config import AnswerPolicy, HeuristicReaderConfig, QueryLimits
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="chunk_weight"):
        HeuristicReaderConfig(chunk_weight=-0.1)
    with pytest.raises(ConfigError, match="abstain_below"):
        AnswerPolicy(abstain_below=1.5)
    with pytest.raises(ConfigError, match="max_citations"):
        AnswerPolicy(max_citations=0)
    with pytest.raises(ConfigError, match="max_history_turns"):
        QueryLimits(max_history_turns=-1)


def test_a_question_that_stands_alone_is_not_dragged_to_an_unrelated_earlier_turn(small_assistant: Assistant) -> None:
    """"that" here is a relative pronoun, not a pointer back: the earlier turn, about rockets,
    finds nothing closer to the question than the question alone, so it is left out."""
    question = "Which village is the one that Cheddar cheese comes from?"
    assert needs_history(question), "the follow-up rule alone would fold the earlier turn in"
    alone = small_assistant.ask(question)
    after = small_assistant.ask(question, history=["When did the Long March 5 rocket first fly?"])
    assert alone.citations[0].doc_id == "cheese"
    assert (after.answer, after.citations[0].quote) == (alone.answer, alone.citations[0].quote)
