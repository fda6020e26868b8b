"""The learned reader: the shipped file is the one its card describes, windows are cut as in
training, it runs without torch, and it reads short documents as a user's would be read."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.build import build_index
from rag.embed_hash import HashEmbedder
from rag.errors import ModelError
from rag.pipeline import Assistant
from rag.read_heuristic import HeuristicReader
from rag.read_model import MODEL_DIR, ModelReader, Reading
from rag.reader_windows import CLS, SEP, Window, load_tokenizer, question_ids, windows
from tests.conftest import ROOT, write_corpus

CARD = MODEL_DIR / "MODEL_CARD.md"


def test_the_shipped_model_is_the_one_its_card_names() -> None:
    card = CARD.read_text(encoding="utf-8")
    declared = re.search(r"sha256 `([0-9a-f]{64})`", card)
    assert declared, "the card states the model's sha256"
    onnx = MODEL_DIR / "reader.onnx"
    assert hashlib.sha256(onnx.read_bytes()).hexdigest() == declared.group(1)
    assert onnx.stat().st_size <= 30 * 1024 * 1024
    tokenizer = MODEL_DIR / "tokenizer.json"
    declared_tok = re.search(r"tokenizer\.json` sha256 `([0-9a-f]{64})`", card)
    assert declared_tok and hashlib.sha256(tokenizer.read_bytes()).hexdigest() == declared_tok.group(1)


def test_windows_cover_the_context_and_map_back_to_its_characters() -> None:
    tokenizer = load_tokenizer(MODEL_DIR / "tokenizer.json")
    context = " ".join(f"Sentence {i} names the value {i * 7}." for i in range(60))
    enc = tokenizer.encode(context, add_special_tokens=False)
    q = question_ids(tokenizer, "What value does sentence 12 name?")
    cut = windows(q, enc.ids, enc.offsets, max_len=64, stride=16)
    assert len(cut) > 3
    seen: set[tuple[int, int]] = set()
    for w in cut:
        assert len(w.ids) <= 64 and w.ids[0] == CLS and w.ids[w.first - 1] == SEP and w.ids[-1] == SEP
        assert w.type_ids == [0] * w.first + [1] * (len(w.ids) - w.first)
        seen.update(w.offsets)
        for (a, b), token in zip(w.offsets, w.ids[w.first:-1], strict=True):
            assert tokenizer.decode([token]).replace("##", "") == context[a:b].lower()
    assert seen == set(enc.offsets), "every context token is in some window"
    # Consecutive windows share `stride` tokens.
    assert cut[0].offsets[-16:] == cut[1].offsets[:16]
    # A long question keeps its last 40 tokens.
    long_q = question_ids(tokenizer, "word " * 100 + "and what is the value?")
    assert len(long_q) == 40 and tokenizer.decode(long_q).endswith("what is the value?")


POTTERY = {
    "pottery.md": (
        "# Northgate Pottery\n\n"
        "In 1994, Tomas Berg founded the Northgate Pottery in a former dairy on Quarry Road. "
        "The workshop has four electric kilns and one wood-fired kiln.\n\n"
        "## Firing\n\n"
        "Stoneware is fired to 1,280 degrees Celsius. Earthenware is fired to a lower temperature, "
        "about 1,100 degrees Celsius.\n\n"
        "## Classes\n\n"
        "Evening classes cost 30 pounds a session for adults and 18 pounds for students. "
        "Classes run on Tuesdays and Thursdays from 7 pm to 9 pm."
    ),
}


def read_by_the_model(root: Path, corpus: dict[str, str]) -> Assistant:
    """An assistant with the model reader over `corpus`, indexed in `root` (hashing embedder)."""
    write_corpus(root / "docs", corpus)
    build_index(root / "docs", root / "index", HashEmbedder())
    return Assistant.load(root / "index", reader="model")


@pytest.fixture(scope="module")
def pottery(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return read_by_the_model(tmp_path_factory.mktemp("pottery"), POTTERY)


@pytest.mark.parametrize(("question", "expected"), [
    ("Who founded the Northgate Pottery?", "Tomas Berg"),
    ("How hot is stoneware fired?", "1,280 degrees Celsius"),
    pytest.param("How much do evening classes cost for students?", "18 pounds", marks=pytest.mark.xfail(
        strict=True, reason="known miss of the shipped model: it spans both prices, "
                            "'30 pounds a session for adults and 18 pounds'")),
])
def test_the_model_reads_a_short_document_of_a_users(pottery: Assistant, question: str, expected: str) -> None:
    answer = pottery.ask(question)
    assert not answer.abstained, answer
    assert answer.answer == expected
    first = answer.citations[0]
    assert first.start <= answer.answer_start < answer.answer_end <= first.end, "the answer lies in citation 1"
    assert pottery.documents[0].text[answer.answer_start:answer.answer_end] == answer.answer
    assert pottery.reader.name == "model"


@pytest.mark.parametrize("question", ["西安的GDP增长了多少？", "Сколько стоят занятия для студентов?"])
def test_a_question_in_a_language_the_model_does_not_read_is_declined(pottery: Assistant, question: str) -> None:
    answer = pottery.ask(question)
    assert answer.abstained and answer.confidence == 0.0
    assert answer.citations, "the closest passages are still shown"


def test_a_follow_up_is_read_with_what_the_earlier_answer_established(pottery: Assistant) -> None:
    answer = pottery.ask("When did he found it?", history=["Who founded the Northgate Pottery?"])
    assert answer.answer == "1994"


def test_a_follow_up_is_answered_not_the_turn_it_leans_on(pottery: Assistant) -> None:
    # The earlier question is answered in the same window: read first, it would be answered
    # again ("1,280"), as it was when the model read the earlier turn first.
    answer = pottery.ask("And earthenware?", history=["How hot is stoneware fired?"])
    assert "1,100 degrees Celsius" in answer.answer and "1,280" not in answer.answer


def test_reading_loads_no_torch(tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs", POTTERY)
    build_index(tmp_path / "docs", tmp_path / "index", HashEmbedder())
    code = (
        "import sys\n"
        "from rag.pipeline import Assistant\n"
        f"a = Assistant.load({str(tmp_path / 'index')!r}, reader='model')\n"
        "print(a.ask('Who founded the Northgate Pottery?').answer)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Tomas Berg", "[]"]


def test_a_missing_or_damaged_model_is_a_model_error(tmp_path: Path, pottery: Assistant) -> None:
    heuristic = HeuristicReader(pottery.reader.sentences)  # type: ignore[attr-defined]
    with pytest.raises(ModelError, match="cannot load the reader model"):
        ModelReader(heuristic.sentences, heuristic, model_dir=tmp_path)
    for name in ("reader.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
    (tmp_path / "reader.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"cannot load the reader model .*(InvalidProtobuf|Load model)"):
        ModelReader(heuristic.sentences, heuristic, model_dir=tmp_path)


def test_swapped_name_negatives_ask_about_something_the_context_does_not_hold() -> None:
    """The made unanswerable questions of training: one name or number the context holds is
    swapped for one it does not hold, of the same shape; no swap when there is nothing to swap."""
    import random

    from rag.train_reader import entity_pool, swap_entity

    context = "In 2016 the Long March 5 rocket first flew from Wenchang, built by CALT."
    rows = [{"question": q} for q in ("When did Ariane 6 fly?", "What did Boeing build in 1998?",
                                      "Who visited Kourou in 2021?")]
    names, numbers = entity_pool(rows)
    assert "Ariane" in names and "Boeing" in names and "What" not in names and "1998" in numbers
    rng = random.Random(1)
    question = "When did the Long March 5 fly from Wenchang in 2016?"
    made = [swap_entity(question, context, names, numbers, rng) for _ in range(30)]
    swapped = [m for m in made if m is not None]  # "Long March" has no two-word name to become, "5" no digit
    assert len(swapped) >= 8
    for m in swapped:
        changed = set(m.split()) - set(question.split())
        assert m.startswith("When did ") and len(changed) == 1
        assert changed.pop().strip("?").lower() not in context.lower()
    assert swap_entity("when did it fly?", context, names, numbers, rng) is None


def test_flipped_questions_ask_for_the_opposite_or_the_negation_of_what_the_context_says() -> None:
    """SQuAD 2.0's antonym and negation kinds of made unanswerable question (`--flip-meaning`)."""
    import random

    from rag.train_reader import flip_meaning

    context = "The first engine was officially launched in 1712, after the war."
    rng = random.Random(3)
    made = {flip_meaning("When was the first engine officially launched?", context, rng) for _ in range(40)}
    assert "When was the last engine officially launched?" in made  # an opposite the context lacks
    assert "When was the first engine unofficially launched?" in made
    assert {"When was not the first engine officially launched?", "When was never the first engine officially "
            "launched?"} & made  # or a negation added after the auxiliary
    assert made <= {"When was the last engine officially launched?",
                    "When was the first engine unofficially launched?",
                    "When was not the first engine officially launched?",
                    "When was never the first engine officially launched?"}
    assert flip_meaning("Why didn't the engine start?", context, rng) == "Why did the engine start?"
    assert flip_meaning("Why won't it start?", context, rng) == "Why will it start?"
    # The context says "not": taking the question's negation away could make it answerable.
    assert flip_meaning("What did not fly?", "The engine did not fly.", rng) is None
    assert flip_meaning("Who built it?", context, rng) is None  # nothing to turn, no auxiliary


def test_a_finished_run_of_an_older_version_is_not_trained_again() -> None:
    """`make train-reader` finds the run it made: settings added since count as their defaults
    (a finished run was once taken for another and trained afresh for 90 minutes)."""
    import json
    from dataclasses import asdict

    from rag.train_reader import TrainConfig, same_settings

    older = {k: v for k, v in asdict(TrainConfig()).items() if k not in ("flip_meaning", "init")}
    assert same_settings(json.dumps(older), TrainConfig())
    assert not same_settings(json.dumps(older), TrainConfig(flip_meaning=0.5))
    assert not same_settings(json.dumps({**older, "steps": 10}), TrainConfig())
    assert not same_settings("not json", TrainConfig())


def test_a_span_in_the_sentence_the_rules_chose_is_preferred_by_the_centre_bonus(pottery: Assistant) -> None:
    """Between spans the model scores near alike, the one in the window's centre sentence wins by
    `centre_bonus` (a follow-up gets none: the rules rank by the turn it leans on too); the
    margin stays the model's own."""
    import numpy as np

    reader = pottery.reader
    assert isinstance(reader, ModelReader) and reader.config.centre_bonus > 0
    index = reader.sentences
    centre = next(r for r in range(len(index)) if index.texts[r].startswith("Earthenware"))
    window, token_rows = reader._window(question_ids(reader.tokenizer, "How hot?"), centre)
    logits = np.zeros((len(window.ids), 2), dtype=np.float32)
    for row, peak in ((centre - 1, 3.0), (centre, 2.0)):  # the sentence before scores higher
        logits[window.first + int(np.flatnonzero(token_rows == row)[0])] = peak / 2
    with_bonus = reader._best_span(centre, window, token_rows, logits, set(), reader.config.centre_bonus)
    assert with_bonus.answer_row == centre and with_bonus.margin == pytest.approx(2.0)
    without = reader._best_span(centre, window, token_rows, logits, set())
    assert without.answer_row == centre - 1 and without.margin == pytest.approx(3.0)


def test_windows_are_chosen_by_margin_and_the_rules_score_of_their_sentence(
    pottery: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer comes from the window whose margin plus `rules_weight` times its sentence's
    rules score (less the best sentence's) is highest: a second window whose margin is a little
    higher does not win over the rules' first pick, one far higher does."""
    from rag.types import Query, Span

    shipped = pottery.reader
    assert isinstance(shipped, ModelReader) and shipped.config.rules_weight > 0 and shipped.config.windows >= 2
    question = "How hot is stoneware fired?"
    query = Query(question, question, pottery.embedder.embed([question])[0])
    passages = pottery.retriever.retrieve(query)
    ranked = shipped.heuristic.score_sentences(query, passages)
    first, second = ranked[0], ranked[1]
    gap = shipped.config.rules_weight * (first.score - second.score)
    assert gap > 0

    def reader_with(margins: dict[int, float], **settings: float) -> ModelReader:
        config = replace(shipped.config, look_further_below=1e9, **settings)
        reader = ModelReader(shipped.sentences, shipped.heuristic, config)

        def prepare(text: str, row: int) -> tuple[None, np.ndarray]:
            return None, np.array([row])  # a window of the sentence alone

        def read(prepared: tuple[None, np.ndarray], row: int, asked: str, bonus: float = 0.0) -> Reading:
            span = shipped.sentences.span(row)
            return Reading(row, (row,), Span(span.start, span.start + 4), row, margins.get(row, -10.0))

        monkeypatch.setattr(reader, "_prepare", prepare)
        monkeypatch.setattr(reader, "_read", read)
        return reader

    def evidence(reader: ModelReader) -> int:
        chosen = reader.read(query, passages)[0]
        return next(s.row for s in ranked if shipped.sentences.span(s.row) == chosen.evidence)

    a_little = {first.row: 1.0, second.row: 1.0 + gap / 2}
    assert evidence(reader_with(a_little)) == first.row
    assert evidence(reader_with(a_little, rules_weight=0.0)) == second.row, "the margin alone"
    far = {first.row: 1.0, second.row: 1.0 + gap * 2}
    assert evidence(reader_with(far)) == second.row


def test_windows_read_side_by_side_answer_as_windows_read_in_turn(
    pottery: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next window is read on the spare thread beside the current one only when this question
    is the only one being read, and kept only when reading in turn would have reached it: the
    answers are those of reading in turn."""
    from concurrent.futures import Future

    from rag.types import Query, Span

    shipped = pottery.reader
    assert isinstance(shipped, ModelReader) and shipped.config.side_by_side
    question = "How hot is stoneware fired?"
    query = Query(question, question, pottery.embedder.embed([question])[0])
    passages = pottery.retriever.retrieve(query)
    rows = [s.row for s in shipped.heuristic.score_sentences(query, passages, headings=True)[:3]]
    assert len(set(rows)) == 3

    def reader_with(margins: dict[int, float], side_by_side: bool) -> tuple[ModelReader, list[int], list[int]]:
        reader = ModelReader(shipped.sentences, shipped.heuristic,
                             replace(shipped.config, side_by_side=side_by_side, windows=3))
        read: list[int] = []
        ahead: list[int] = []
        monkeypatch.setattr(reader, "_prepare", lambda text, row: (None, np.array([row])))

        def fake_read(prepared: object, row: int, asked: str, bonus: float = 0.0) -> Reading:
            read.append(row)
            span = shipped.sentences.span(row)
            return Reading(row, (row,), Span(span.start, span.start + 4), row, margins[row])

        real_ahead = reader._read_ahead

        def read_ahead(plan: tuple[float, int, object], asked: str, bonus: float) -> Future[Reading] | None:
            future = real_ahead(plan, asked, bonus)  # type: ignore[arg-type]
            if future is not None:
                ahead.append(plan[1])
            return future

        monkeypatch.setattr(reader, "_read", fake_read)
        monkeypatch.setattr(reader, "_read_ahead", read_ahead)
        return reader, read, ahead

    # The first window sure (the second, read ahead, is dropped); the second sure (kept, and no
    # third read); none sure before the third (all three kept).
    for margins in ({rows[0]: 5.0, rows[1]: 9.0, rows[2]: 9.0},
                    {rows[0]: -2.0, rows[1]: 3.0, rows[2]: 9.0},
                    {rows[0]: -2.0, rows[1]: -1.0, rows[2]: 9.0}):
        in_turn, read_in_turn, _ = reader_with(margins, side_by_side=False)
        expected = in_turn.read(query, passages)
        beside, _, ahead = reader_with(margins, side_by_side=True)
        assert beside.read(query, passages) == expected
        assert ahead, "a question read alone reads ahead"
        busy, _, busy_ahead = reader_with(margins, side_by_side=True)
        busy._reading = 1  # another question is being read
        assert busy.read(query, passages) == expected and not busy_ahead
    assert read_in_turn == rows, "read in turn, all three windows when none is sure"


def test_model_reader_settings_are_validated() -> None:
    from rag.config import ModelReaderConfig
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="rules_weight"):
        ModelReaderConfig(rules_weight=-1.0)
    with pytest.raises(ConfigError, match="windows"):
        ModelReaderConfig(windows=0)


def _logits_peaking(window: Window, text: str, phrases: dict[str, float]) -> np.ndarray:
    """Start and end logits for `window` that are 0 but at the first and last token of each
    phrase of `text` (its first place), there the phrase's score."""
    starting = {a: k for k, (a, _) in enumerate(window.offsets)}
    ending = {b: k for k, (_, b) in enumerate(window.offsets)}
    logits = np.zeros((len(window.ids), 2), dtype=np.float32)
    for phrase, logit in phrases.items():
        at = text.index(phrase)
        logits[window.first + starting[at], 0] = logits[window.first + ending[at + len(phrase)], 1] = logit
    return logits


def test_a_span_that_restates_a_phrase_of_the_question_is_not_its_answer(pottery: Assistant) -> None:
    """The model's best span holds two of the question's terms in a row ("wood-fired kiln" for
    "What does the wood-fired kiln burn?"), and so does the next ("four electric kilns and one
    wood-fired kiln"): they name what the question names, so the best span without such a pair
    is the answer."""
    from itertools import pairwise

    from rag.lexical import tokenize

    reader = pottery.reader
    assert isinstance(reader, ModelReader)
    index = reader.sentences
    row = next(r for r in range(len(index)) if "wood-fired kiln" in index.texts[r])
    window, token_rows, *_ = reader._window(question_ids(reader.tokenizer, "What does it burn?"), row)
    text = pottery.documents[0].text
    logits = _logits_peaking(window, text, {"wood-fired kiln": 3.0, "four electric": 2.0})
    terms = tokenize("What does the wood-fired kiln burn?")
    pairs = frozenset(pairwise(terms))
    # (No question words given: the rule that a span of nothing but them is no answer stays out.)
    restating = reader._best_span(row, window, token_rows, logits, set(), 0.0, pairs)
    assert restating.answer is not None and text[restating.answer.start:restating.answer.end] == "four electric"
    plain = reader._best_span(row, window, token_rows, logits, set())
    assert plain.answer is not None and text[plain.answer.start:plain.answer.end] == "wood-fired kiln"


def test_typographic_quotes_are_read_as_the_ascii_ones_the_model_was_trained_on(tmp_path: Path) -> None:
    """A user types "Xi'an" where the document has "Xi’an" (and the model read ASCII quotes in
    98% of its training data): the model reads the same, to its margin, whichever quotes the
    question or the document has, and its answer still slices the document's own characters."""
    curly = "The Xi\u2019an plant opened in 2014. Its \u201cfab\u201d makes memory chips for Samsung\u2019s phones."
    plain = curly.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    readings = []
    for name, text in (("curly", curly), ("plain", plain)):
        reader = read_by_the_model(tmp_path / name, {"plant.txt": text}).reader
        assert isinstance(reader, ModelReader)
        row = next(r for r in range(len(reader.sentences)) if "fab" in reader.sentences.texts[r])
        for question in ("What does the Xi'an fab make?", "What does the Xi\u2019an fab make?"):
            reading = reader.read_window(question, row)
            assert reading.answer is not None
            answer = reader.sentences.documents[0].text[reading.answer.start:reading.answer.end]
            assert "memory chips" in answer, (name, question, answer)
            readings.append((reading.answer, round(reading.margin, 4)))
    assert all(r == readings[0] for r in readings), readings


RIDES = {
    "rides.md": (
        "# Riverside Cycling Club\n\n"
        "We ride from the boathouse on Wednesdays, Fridays and Sundays.\n\n"
        "## Weekly rides\n\n"
        "| Ride | Distance | Start |\n|---|---|---|\n"
        "| Wednesday hills | 38 km | 6 pm |\n| Sunday social | 25 km | 10 am |\n| Friday sprint | 20 km | 7 pm |\n"
    ),
}


@pytest.fixture(scope="module")
def rides(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return read_by_the_model(tmp_path_factory.mktemp("rides"), RIDES)


def _row(assistant: Assistant, text: str) -> int:
    reader = assistant.reader
    assert isinstance(reader, ModelReader)
    return next(r for r in range(len(reader.sentences)) if reader.sentences.texts[r] == text)


def test_a_tables_header_row_is_never_the_evidence(rides: Assistant) -> None:
    """The header row names the columns the question names too ("distance", "start"), and holds
    no value: the rules do not rank it, and the model's spans never lie in it."""
    from rag.types import Query

    reader = rides.reader
    assert isinstance(reader, ModelReader)
    header = _row(rides, "Ride Distance Start")
    assert reader.sentences.in_table_header(header)
    question = "What distance does the ride cover and when does it start?"
    query = Query(question, question, rides.embedder.embed([question])[0])
    ranked = reader.heuristic.score_sentences(query, rides.retriever.retrieve(query))
    assert ranked and header not in {s.row for s in ranked}
    assert all(c.quote != "Ride Distance Start" for c in rides.ask(question).citations)
    # In a window that holds it, the header's tokens scoring highest do not make it the answer.
    chosen = _best_span_of_peaks(reader, header + 1, {header: 6.0, header + 1: 2.0})
    assert chosen.answer_row == header + 1 and chosen.margin == pytest.approx(2.0)


def test_a_time_of_day_is_not_what_how_long_asks(pottery: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """"How long can I be off sick before I need a note from my GP?" was answered "7am" (from
    "phone the practice manager before 7am"): "how long" asks a duration or a length, so the
    best span that is not a time of day is the answer; other questions keep the time."""
    from rag.read_model import _CLOCK

    reader = pottery.reader
    assert isinstance(reader, ModelReader)
    index = reader.sentences
    row = next(r for r in range(len(index)) if "7 pm" in index.texts[r])
    text = pottery.documents[0].text

    # The model's logits, but for two spans.
    monkeypatch.setattr(reader, "_logits", lambda window: _logits_peaking(
        window, text, {"7 pm": 3.0, "30 pounds a session": 2.0}))

    def answer(asked: str) -> str:
        span = reader._read(reader._prepare(asked, row), row, asked, 0.0).answer
        assert span is not None
        return text[span.start:span.end]

    assert answer("How long is an evening class?") == "30 pounds a session"
    assert answer("how long do classes run for?") == "30 pounds a session"
    assert answer("What time do classes start?") == "7 pm"
    assert all(_CLOCK.fullmatch(t) for t in ("7am", "6.30 pm", "18:30", "9 p.m.", "noon"))
    assert not any(_CLOCK.fullmatch(t) for t in ("7 days", "38 km", "2 hours", "1994", "1:45"))


def _best_span_of_peaks(reader: ModelReader, centre: int, peaks: dict[int, float]) -> Reading:
    """The model's best span in the window around sentence `centre` when its start and end
    logits are 0 but at the first token of each sentence of `peaks` (that sentence's score)."""
    import numpy as np

    window, token_rows = reader._window(question_ids(reader.tokenizer, "Which one?"), centre)
    logits = np.zeros((len(window.ids), 2), dtype=np.float32)
    for row, peak in peaks.items():
        assert row in token_rows
        logits[window.first + int(np.flatnonzero(token_rows == row)[0])] = peak / 2
    return reader._best_span(centre, window, token_rows, logits, set())


def test_no_answer_of_the_model_lies_in_a_heading(rides: Assistant) -> None:
    """A heading names its section; the model's best logits on it do not make it the answer."""
    reader = rides.reader
    assert isinstance(reader, ModelReader)
    heading = _row(rides, "Weekly rides")
    assert reader.sentences.in_heading(heading) and reader.heuristic.names_only(heading)
    before = heading - 1  # "We ride from the boathouse on Wednesdays, Fridays and Sundays."
    chosen = _best_span_of_peaks(reader, before, {heading: 6.0, before: 2.0})
    assert chosen.answer_row == before and chosen.margin == pytest.approx(2.0)


def test_the_model_reads_forward_from_a_heading_over_its_section_only(rides: Assistant) -> None:
    """A heading ranks on the question's words and is where the model may read, never the
    evidence: its window holds it and the sentences after it, up to the next heading."""
    from rag.types import Query

    reader = rides.reader
    assert isinstance(reader, ModelReader)
    title, intro, weekly = (_row(rides, t) for t in ("Riverside Cycling Club",
                            "We ride from the boathouse on Wednesdays, Fridays and Sundays.", "Weekly rides"))
    q_ids = question_ids(reader.tokenizer, "Which rides?")
    assert set(reader._window(q_ids, title)[1].tolist()) == {title, intro}, "stops at the next heading"
    assert min(reader._window(q_ids, weekly)[1].tolist()) == weekly, "nothing before it"
    assert {intro - 1, intro, intro + 1} <= set(reader._window(q_ids, intro)[1].tolist()), "a sentence: both ways"
    question = "When do the weekly rides start?"
    query = Query(question, question, rides.embedder.embed([question])[0])
    passages = rides.retriever.retrieve(query)
    assert weekly in {s.row for s in reader.heuristic.score_sentences(query, passages, headings=True)}
    assert weekly not in {s.row for s in reader.heuristic.score_sentences(query, passages)}
    assert all(c.quote not in ("Weekly rides", "Riverside Cycling Club") for c in rides.ask(question).citations)


def test_a_tables_row_is_the_one_the_rules_rank_first(rides: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the model answers from a row of a table, the evidence is the row of that table the
    rules rank first, and the answer the model's best span inside it; prose is left alone."""
    from rag.types import Query, Span

    shipped = rides.reader
    assert isinstance(shipped, ModelReader) and shipped.config.table_rows_by_rules
    question = "How long is the Wednesday hills ride?"
    query = Query(question, question, rides.embedder.embed([question])[0])
    passages = rides.retriever.retrieve(query)
    wednesday, sunday = _row(rides, "Wednesday hills 38 km 6 pm"), _row(rides, "Sunday social 25 km 10 am")
    ranked = shipped.heuristic.score_sentences(query, passages)
    assert ranked[0].row == wednesday

    def reader_with(answer_row: int, **settings: bool) -> ModelReader:
        reader = ModelReader(shipped.sentences, shipped.heuristic, replace(shipped.config, **settings))

        def read(prepared: object, row: int, asked: str, bonus: float = 0.0, only_row: bool = False) -> Reading:
            at = row if only_row else answer_row  # the model's span: in `answer_row`, unless held to `row`
            span = shipped.sentences.span(at)
            return Reading(row, (row,), Span(span.start, span.start + 4), at, 5.0)

        monkeypatch.setattr(reader, "_read", read)
        return reader

    def first(reader: ModelReader) -> tuple[Span, Span | None]:
        extraction = reader.read(query, passages)[0]
        return extraction.evidence, extraction.answer

    evidence, answer = first(reader_with(sunday))
    assert evidence == shipped.sentences.span(wednesday)
    assert answer is not None and evidence.start <= answer.start < answer.end <= evidence.end
    assert first(reader_with(sunday, table_rows_by_rules=False))[0] == shipped.sentences.span(sunday)
    prose = _row(rides, "We ride from the boathouse on Wednesdays, Fridays and Sundays.")
    assert shipped.sentences.table_of(prose) is None
    assert first(reader_with(prose))[0] == shipped.sentences.span(prose)


@pytest.mark.parametrize(("question", "expected"), [
    ("How long is the Wednesday hills ride?", "38 km"),  # the issue's own example
    ("When does the Sunday social start?", "10 am"),
    ("How far is the Friday sprint?", "20 km"),
    ("Which ride starts at 7 pm?", "Friday sprint"),
])
def test_a_tables_row_is_answered_with_the_cell_asked_for(rides: Assistant, question: str, expected: str) -> None:
    """The row is read cell by cell after its column's name ("Ride: Wednesday hills. Distance:
    38 km. Start: 6 pm."), and the answer is a whole cell the question does not name."""
    answer = rides.ask(question)
    assert not answer.abstained and answer.answer == expected
    first = answer.citations[0]
    assert first.start <= answer.answer_start < answer.answer_end <= first.end, "the cell lies in the quoted row"


def test_a_tables_cell_that_is_a_time_of_day_is_not_what_how_long_asks(
        rides: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read cell by cell, a row's start time is passed over for "how long" as a span is."""
    reader = rides.reader
    assert isinstance(reader, ModelReader)
    row = _row(rides, "Wednesday hills 38 km 6 pm")
    text = rides.documents[0].text

    def peaks(window: Window) -> np.ndarray:  # the model's logits, but for the two cells
        tokens = [reader.tokenizer.id_to_token(i) for i in window.ids]
        logits = np.zeros((len(window.ids), 2), dtype=np.float32)
        for first, last, logit in (("6", "pm", 3.0), ("38", "km", 2.0)):
            at = tokens.index(first, window.first)
            logits[at, 0] = logits[tokens.index(last, at), 1] = logit
        return logits

    monkeypatch.setattr(reader, "_logits", peaks)

    def cell(question: str) -> str:
        span = reader.read_cells(question, row)
        assert span is not None
        return text[span.start:span.end]

    assert cell("How long is the Wednesday hills ride?") == "38 km"
    assert cell("When does the Wednesday hills ride set off?") == "6 pm"


def test_only_a_row_under_a_header_is_read_cell_by_cell(rides: Assistant) -> None:
    reader = rides.reader
    assert isinstance(reader, ModelReader) and reader.config.table_cells
    header, prose = _row(rides, "Ride Distance Start"), _row(rides, "We ride from the boathouse on Wednesdays, Fridays and Sundays.")
    question = "How long is the Wednesday hills ride?"
    assert reader.read_cells(question, header) is None and reader.read_cells(question, prose) is None
    row = _row(rides, "Wednesday hills 38 km 6 pm")
    span = reader.read_cells(question, row)
    assert span is not None and reader.sentences.documents[0].text[span.start:span.end] == "38 km"
    # A row whose every cell the question names has nothing left to answer with.
    assert reader.read_cells("Is the Wednesday hills ride 38 km at 6 pm?", row) is None


@pytest.mark.parametrize(("sentence", "best"), [
    ("ride.start(hour)\u00b6 Start the ride at the hour given.", "Start"),  # a term's mark ends it
    ("The hour is in \u00b6 Start of the rules.", "hour is in \u00b6 Start"),  # a blank before it: prose
])
def test_no_answer_span_holds_or_crosses_a_permalink_mark(tmp_path: Path, sentence: str, best: str) -> None:
    """The pilcrow a documentation generator glues to the end of a term ends it: the best span
    that crosses it is passed over for the best one on either side of it. A pilcrow with a
    blank before it is a paragraph sign of prose, and a span may hold it."""
    import numpy as np

    reader = read_by_the_model(tmp_path, {"api.md": f"# API\n\n{sentence}\n"}).reader
    assert isinstance(reader, ModelReader)
    row = next(r for r in range(len(reader.sentences)) if "\u00b6" in reader.sentences.texts[r])
    window, token_rows = reader._window(question_ids(reader.tokenizer, "What does it start?"), row)
    text = reader.sentences.documents[0].text
    pieces = [text[a:b] for a, b in window.offsets]
    logits = np.zeros((len(window.ids), 2), dtype=np.float32)
    logits[window.first + pieces.index("hour"), 0] = 4.0  # the best start: before the mark
    logits[window.first + pieces.index("Start"), 1] = 4.0  # the best end: after it
    logits[window.first + pieces.index("Start"), 0] = 1.0
    chosen = reader._best_span(row, window, token_rows, logits, set())
    assert chosen.answer is not None and text[chosen.answer.start:chosen.answer.end] == best


def test_a_question_naming_a_setting_no_document_mentions_is_declined(tmp_path: Path) -> None:
    """The model finds a near miss, the default of another setting, sure enough to answer with
    it; the question's identifier, in no document, declines it and shows the closest passages."""
    faq = {"faq.md": "# Ferry FAQ\n\n## Settings\n\n### max_connections\n\nThe default is 256 connections. "
                     "Raise it for busy servers.\n\n### listen_port\n\nThe server listens on 5140 out of the box.\n"}
    assistant = read_by_the_model(tmp_path, faq)
    assert assistant.policy.decline_unknown_identifiers
    assert assistant.ask("What is the default value of max_connections?").answer == "256"
    declined = assistant.ask("What is the default value of max_upload_size?")
    assert declined.abstained and declined.answer == ""
    assert declined.citations and declined.citations[0].quote == "The default is 256 connections."
    assistant.policy = replace(assistant.policy, decline_unknown_identifiers=False)
    assert not assistant.ask("What is the default value of max_upload_size?").abstained, "the near miss"


REPR = {
    "repr.html": (
        "<html><head><title>Repr objects</title></head><body><h1>Repr objects</h1>"
        "<p>Repr instances limit the size of the representations they make.</p><dl>"
        "<dt>Repr.maxlong</dt><dd><p>Maximum number of characters in the representation for an integer. "
        "Digits are dropped from the middle. The default is 40.</p></dd>"
        "<dt>Repr.maxstring</dt><dd><p>Limit on the number of characters in the representation of the string. "
        "Note that the normal representation of the string is used as the character source. "
        "The default is 30.</p></dd>"
        "<dt>Repr.maxother</dt><dd><p>This limit is used for object types with no formatting method. "
        "The default is 20.</p></dd></dl></body></html>"
    ),
}


def test_a_window_on_an_entrys_term_reads_on_into_its_description(tmp_path: Path) -> None:
    """A window centred on a definition list's term (an API entry's signature) holds the term
    and its description, not the entry before it: "What is the default value of
    Repr.maxstring?" read "The default is 40." of the entry above in the window too and answered
    40. A sentence that opens no entry is read both ways."""
    assistant = read_by_the_model(tmp_path, REPR)
    reader = assistant.reader
    assert isinstance(reader, ModelReader)
    term = _row(assistant, "Repr.maxstring Limit on the number of characters in the representation of the string.")
    q_ids = question_ids(reader.tokenizer, "What is the default value of Repr.maxstring?")
    rows = set(reader._window(q_ids, term)[1].tolist())
    texts = {reader.sentences.texts[r] for r in rows}
    assert min(rows) == term and "The default is 30." in texts and "The default is 40." not in texts
    assert reader.read_window("What is the default value of Repr.maxstring?", term).answer is not None
    answer = assistant.ask("What is the default value of Repr.maxstring?")
    assert answer.answer == "30" and answer.citations[0].quote == "The default is 30."
    middle = _row(assistant, "Digits are dropped from the middle.")
    assert middle - 1 in set(reader._window(q_ids, middle)[1].tolist()), "not a term: both ways"
    off = ModelReader(reader.sentences, reader.heuristic, replace(reader.config, entry_forward=False))
    assert "The default is 40." in {off.sentences.texts[r] for r in off._window(q_ids, term)[1].tolist()}


RIDE_API = {
    "ride.html": (
        "<html><head><title>ride</title></head><body><h1>ride: club rides</h1><dl>"
        "<dt>ride.start(hour, pace='easy', *, stops=max(1, 2), route: str = 'river')</dt>"
        "<dd><p>Start the ride at the hour given, at the pace given.</p></dd>"
        "<dt>ride.stop(reason=None[, brake='soft'], *, stops=[1, 2])</dt>"
        "<dd><p>Stop the ride. The default pace is kept.</p></dd>"
        "</dl></body></html>"
    ),
}


@pytest.fixture(scope="module")
def ride_api(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return read_by_the_model(tmp_path_factory.mktemp("api"), RIDE_API)


@pytest.mark.parametrize(("question", "expected"), [
    ("What is the default pace of ride.start()?", "'easy'"),
    ("What is the default value of route in ride.start?", "'river'"),
    ("By default, how many stops does ride.start make?", "max(1, 2)"),
    ("What is the default reason of ride.stop()?", "None"),
    ("What is the default brake of ride.stop()?", "'soft'"),  # in brackets: an optional parameter
    ("What are the default stops of ride.stop?", "[1, 2]"),  # a bracket after "=": a value
])
def test_a_default_is_read_from_the_signature_of_the_callable_asked_about(
        ride_api: Assistant, question: str, expected: str) -> None:
    answer = ride_api.ask(question)
    assert answer.answer == expected
    assert answer.citations[0].quote.startswith("ride.st")


def test_a_signature_answers_only_a_default_of_a_parameter_it_has(ride_api: Assistant) -> None:
    """Not asked for a default, or a parameter the signature lacks, or another callable's: the
    model reads as always."""
    from rag.types import Query

    assistant = ride_api
    reader = assistant.reader
    assert isinstance(reader, ModelReader)
    for question in ("What is the pace of ride.start()?", "What is the default speed of ride.start()?",
                     "What is the default pace of ride.turn()?"):
        query = Query(question, question, assistant.embedder.embed([question])[0])
        ranked = reader.heuristic.score_sentences(query, assistant.retriever.retrieve(query), headings=True)
        assert ranked and reader.signature_default(question, ranked) is None, question
