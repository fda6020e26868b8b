"""Metric functions on hand-computed cases, and agreement with the reference scorer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.metrics import (
    Scored,
    abstention_scores,
    best_f1,
    exact_match,
    first_hit_rank,
    normalize_answer,
    percentile,
    summarize,
    token_f1,
)
from rag.types import Question

from .conftest import SHARED

SCORER = SHARED / "tools" / "score.py"


def test_normalize_answer() -> None:
    assert normalize_answer("The  Bayeux Tapestry!") == "bayeux tapestry"
    assert normalize_answer("Xi’an's") == "xians"  # the curly apostrophe goes like the straight one
    assert normalize_answer("an apple, a pear") == "apple pear"


def test_token_f1_by_hand() -> None:
    # pred "the liquid fuel engine" -> [liquid, fuel, engine]; gold "liquid fuel" -> 2 common.
    # precision 2/3, recall 1, F1 = 2 * (2/3) / (5/3) = 0.8
    assert token_f1("the liquid fuel engine", "liquid fuel") == pytest.approx(0.8)
    assert token_f1("2010", "2010") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("", "x") == 0.0
    assert token_f1("apple", "pear") == 0.0
    # vs "2010": P 1/2, R 1 -> 2/3; vs "in the year 2010" -> [in, year, 2010]: P 1, R 2/3 -> 0.8
    assert best_f1("in 2010", ["2010", "in the year 2010"]) == pytest.approx(0.8)
    assert exact_match("The 2010", ["2010"]) == 1.0
    assert exact_match("2011", ["2010"]) == 0.0


def test_ranks_and_percentiles() -> None:
    assert first_hit_rank(["no", "yes 2010 here", "2010"], ["2010"]) == 2
    assert first_hit_rank(["no"], ["2010"]) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([float(i) for i in range(1, 21)], 0.95) == 19.0  # sorted[int(0.95 * 19)] = sorted[18]
    assert percentile([], 0.5) is None


def test_abstention_by_hand() -> None:
    # abstained: T T F F; unanswerable: T F T F -> tp 1, precision 1/2, recall 1/2, F1 1/2
    out = abstention_scores([True, True, False, False], [True, False, True, False])
    assert out == {"abstention_precision": 0.5, "abstention_recall": 0.5, "abstention_f1": 0.5}
    assert abstention_scores([True], [False])["abstention_f1"] is None


def _answer(answer: str, quotes: list[str], abstained: bool = False, latency: float = 10.0) -> dict[str, object]:
    return {
        "question": "q", "answer": answer, "abstained": abstained, "confidence": 0.5, "latency_ms": latency,
        "citations": [{"n": i + 1, "doc_id": "d", "title": "t", "chunk_id": "c", "start": 0, "end": 1,
                       "quote": q, "score": 0.1} for i, q in enumerate(quotes)],
    }


def _case() -> tuple[list[Question], list[dict[str, object]], str]:
    source = "The concept was first proposed in 2010. Samsung came in 2012. Two firms listed on July 22, 2019."
    questions = [
        Question("1", "When was it proposed?", answers=("2010",)),
        Question("2", "When did Samsung come?", answers=("2012",)),
        Question("3", "When did they list?", answers=("July 22, 2019",)),
        Question("4", "What is the capital of France?", unanswerable=True),
        Question("5", "Who is the mayor?", unanswerable=True),
    ]
    answers = [
        _answer("2010", ["The concept was first proposed in 2010."], latency=10.0),
        _answer("Samsung came in 2012.", ["Two firms listed on July 22, 2019.", "Samsung came in 2012."], latency=20.0),
        _answer("", ["Two firms listed on July 22, 2019."], abstained=True, latency=30.0),
        _answer("", ["Samsung came in 2012."], abstained=True, latency=40.0),
        _answer("Samsung", ["Samsung   came in\n2012.", "An invented sentence."], latency=50.0),
    ]
    return questions, answers, source


def test_summarize_by_hand() -> None:
    questions, answers, source = _case()
    out = summarize([Scored(q, a) for q, a in zip(questions, answers, strict=True)], [source])
    assert out["answerable"] == 3 and out["unanswerable"] == 2
    assert out["evidence@1"] == pytest.approx(2 / 3)  # q1 and q3 (abstained, but its quote holds it)
    assert out["evidence@any"] == pytest.approx(1.0)
    assert out["EM"] == pytest.approx(1 / 3)
    # q2: pred [samsung, came, in, 2012] vs [2012] -> P 1/4, R 1, F1 0.4; q3 abstained -> 0
    assert out["F1"] == pytest.approx((1.0 + 0.4 + 0.0) / 3)
    assert out["false_abstention"] == pytest.approx(1 / 3)
    assert out["abstention_on_unanswerable"] == pytest.approx(1 / 2)
    # abstained on q3 (answerable) and q4 (unanswerable): precision 1/2, recall 1/2
    assert out["abstention_f1"] == pytest.approx(0.5)
    # 7 quotes, one invented: validity 6/7; white space differences do not count.
    assert out["citation_validity"] == pytest.approx(6 / 7)
    assert out["latency_p50_ms"] == 30.0 and out["latency_p95_ms"] == 40.0


@pytest.mark.skipif(not SCORER.is_file(), reason="../shared/tools/score.py is not beside the repo")
def test_agrees_with_the_reference_scorer(tmp_path: Path) -> None:
    questions, answers, source = _case()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "d.txt").write_text(source, encoding="utf-8")
    qfile, afile = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    qfile.write_text("".join(json.dumps({"id": q.id, "question": q.question, "answers": list(q.answers),
                                          "unanswerable": q.unanswerable}) + "\n" for q in questions))
    afile.write_text("".join(json.dumps(a) + "\n" for a in answers))
    done = subprocess.run([sys.executable, str(SCORER), str(qfile), str(afile), str(docs), "--json"],
                          capture_output=True, text=True, check=True, timeout=60)
    reference = json.loads(done.stdout)
    ours = summarize([Scored(q, a) for q, a in zip(questions, answers, strict=True)], [source])
    for key, value in reference.items():
        if value is None:
            assert ours.get(key) is None, key
        else:
            assert ours[key] == pytest.approx(value), key
