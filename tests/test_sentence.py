"""split_sentences: spans that slice back out of the text, and the boundaries a reader expects."""

from __future__ import annotations

import random

import pytest

from rag.sentence import split_sentences
from rag.types import Span


def sentences(text: str) -> list[str]:
    return [text[s.start:s.end] for s in split_sentences(text)]


def check_spans(text: str, spans: list[Span], start: int = 0, end: int | None = None) -> None:
    """The invariants every result must keep, whatever the text."""
    stop = len(text) if end is None else end
    previous_end = start
    for span in spans:
        assert start <= span.start < span.end <= stop, span
        piece = text[span.start:span.end]
        assert piece == piece.strip(), f"span {span} is not stripped: {piece!r}"
        assert "\n" not in piece, f"span {span} crosses a line break: {piece!r}"
        assert span.start >= previous_end, f"span {span} overlaps or precedes the previous one"
        previous_end = span.end
    # Nothing but white space is lost: every other character of the range is in some span.
    covered = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    lost = [i for i in range(start, stop) if not text[i].isspace() and i not in covered]
    assert not lost, f"characters outside every sentence: {[text[i] for i in lost]}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "On Sept. 16, 2020 the plant opened. It employs 3,000 people.",
            ["On Sept. 16, 2020 the plant opened.", "It employs 3,000 people."],
        ),
        (
            "Samsung Co. Ltd. built a plant in Xi'an. Micron followed.",
            ["Samsung Co. Ltd. built a plant in Xi'an.", "Micron followed."],
        ),
        ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
        ("The U.S. troops left. Then the U.S. Army came.",
         ["The U.S. troops left.", "Then the U.S. Army came."]),
        ("J. R. R. Tolkien wrote it. He was a professor.",
         ["J. R. R. Tolkien wrote it.", "He was a professor."]),
        ("GDP grew 2.8 percent in 2019. Exports rose 3.5 percent.",
         ["GDP grew 2.8 percent in 2019.", "Exports rose 3.5 percent."]),
        ("Is it open? Yes! It opened in 2016.", ["Is it open?", "Yes!", "It opened in 2016."]),
        ("What?! Really. Fine...", ["What?!", "Really.", "Fine..."]),
        ("“I am busy all year round,” Cao joked. He smiled.",
         ["“I am busy all year round,” Cao joked.", "He smiled."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("He shouted “Go!” Nobody moved.", ["He shouted “Go!”", "Nobody moved."]),
        ("It rose (by a lot.) Then it fell.", ["It rose (by a lot.)", "Then it fell."]),
        ("It was loud. “Why?” she asked.", ["It was loud.", "“Why?” she asked."]),
        ("The value was 17. 25 more came later.", ["The value was 17.", "25 more came later."]),
        ("See Fig. 3 for details. It shows the engine.", ["See Fig. 3 for details.", "It shows the engine."]),
        ("it ended. and then it went on.", ["it ended. and then it went on."]),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    check_spans(text, split_sentences(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Chip industry\nSamsung opened a plant", ["Chip industry", "Samsung opened a plant"]),
        ("A title\n\nThe body begins here. It goes on.", ["A title", "The body begins here.", "It goes on."]),
        ("item one\nitem two\n\n\nitem three", ["item one", "item two", "item three"]),
        ("ends with Dr.\nNext line", ["ends with Dr.", "Next line"]),
        ("the sentence goes on\nin lower case", ["the sentence goes on", "in lower case"]),
        ("  padded line  \n\t tabbed line\t", ["padded line", "tabbed line"]),
    ],
)
def test_line_breaks_always_split(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    check_spans(text, split_sentences(text))


@pytest.mark.parametrize("text", ["", " ", "\n\n\n", " \t \n "])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_spans_point_into_the_whole_text_when_a_range_is_given() -> None:
    text = "Skip this. First one. Second one. Skip that too."
    start = text.index("First")
    end = text.index(" Skip that")
    spans = split_sentences(text, start, end)
    assert [text[s.start:s.end] for s in spans] == ["First one.", "Second one."]
    check_spans(text, spans, start, end)


def test_range_splitting_matches_whole_text_splitting_of_a_line() -> None:
    text = "Header line\nDr. Who arrived. He left at 2.5 hours. “Done,” he said.\nFooter"
    a, b = text.index("Dr."), text.index("\nFooter")
    inside = split_sentences(text, a, b)
    alone = split_sentences(text[a:b])
    assert [(s.start - a, s.end - a) for s in inside] == [(s.start, s.end) for s in alone]


_WORDS = [
    "the", "rocket", "plant", "opened", "in", "Xi'an", "Dr.", "Mr.", "U.S.", "Co.", "Ltd.", "Sept.",
    "2.8", "3,000", "J.", "R.", "e.g.", "percent", "“quoted,”", "(aside)", "[note]", "'single'",
    "Cao", "said", "émigré", "東京", "🚀", "engine", "kerosene", "Apple",
]
_ENDS = [".", ".", "?", "!", "...", ".”", "?”", ".)", "", ","]
_GAPS = [" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n", "\u00a0"]


@pytest.mark.parametrize("seed", range(25))
def test_invariants_hold_on_random_text(seed: int) -> None:
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(0, 60)):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.7:
            words[0] = words[0].capitalize()
        parts.append(" ".join(words) + rng.choice(_ENDS) + rng.choice(_GAPS))
    text = rng.choice(["", " ", "\n"]) + "".join(parts)
    spans = split_sentences(text)
    check_spans(text, spans)
    # Deterministic.
    assert split_sentences(text) == spans


def test_the_default_corpus_opening_splits_where_a_reader_would() -> None:
    text = (
        "“I am busy doing this all year round now, and am losing touch with my family,” Cao joked. "
        "The Xi’an Institute of Optics and Precision Mechanics of the Chinese Academy of Sciences "
        "spun off 2.8 percent more firms. On Sept. 16, 2020, it held a fair."
    )
    assert sentences(text) == [
        "“I am busy doing this all year round now, and am losing touch with my family,” Cao joked.",
        "The Xi’an Institute of Optics and Precision Mechanics of the Chinese Academy of Sciences "
        "spun off 2.8 percent more firms.",
        "On Sept. 16, 2020, it held a fair.",
    ]
