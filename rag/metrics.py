"""Evaluation metrics, SQuAD-normalised; they agree with the reference scorer (shared/tools/score.py)."""

from __future__ import annotations

import collections
import re
import statistics
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.types import Question

_PUNCT = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().replace("’", "'")
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of two answers after normalisation."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return max((float(normalize_answer(prediction) == normalize_answer(g)) for g in golds), default=0.0)


def best_f1(prediction: str, golds: Sequence[str]) -> float:
    return max((token_f1(prediction, g) for g in golds), default=0.0)


def holds_answer(text: str, golds: Sequence[str]) -> bool:
    """True when the normalised text contains a normalised gold answer."""
    norm = normalize_answer(text)
    return any(normalize_answer(g) in norm for g in golds)


def first_hit_rank(texts: Sequence[str], golds: Sequence[str]) -> int | None:
    """1-based rank of the first text holding a gold answer, or None."""
    for rank, text in enumerate(texts, 1):
        if holds_answer(text, golds):
            return rank
    return None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The reference scorer's percentile: sorted(values)[int(q * (n - 1))]."""
    if not values:
        return None
    return sorted(values)[int(q * (len(values) - 1))]


def abstention_scores(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> dict[str, float | None]:
    """Precision, recall and F1 of abstaining, the positive class being 'unanswerable'."""
    if not any(unanswerable):
        # With nothing to abstain on, precision and F1 say nothing; see false_abstention.
        return {"abstention_precision": None, "abstention_recall": None, "abstention_f1": None}
    tp = sum(a and u for a, u in zip(abstained, unanswerable, strict=True))
    n_abstained, n_unanswerable = sum(abstained), sum(unanswerable)
    precision = tp / n_abstained if n_abstained else None
    recall = tp / n_unanswerable if n_unanswerable else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"abstention_precision": precision, "abstention_recall": recall, "abstention_f1": f1}


@dataclass(slots=True)
class Scored:
    """One question's answer with what eval knows besides the answer JSON."""

    question: Question
    answer: Mapping[str, Any]
    retrieved: Sequence[str] = field(default_factory=tuple)
    """Texts of the retrieved chunks, best first (empty when only the answer JSON is known)."""
    reader_ms: float | None = None
    """The reader's share of the answer's time, when it was measured."""


def summarize(rows: Iterable[Scored], sources: Sequence[str]) -> dict[str, Any]:
    """Every metric over `rows`; `sources` are the raw document texts quotes must be found in."""
    rows = list(rows)
    corpus = [" ".join(t.split()) for t in sources]
    answerable = [r for r in rows if not r.question.unanswerable]
    unanswerable = [r for r in rows if r.question.unanswerable]
    n_quotes = bad_quotes = 0
    latencies = []
    reading = [r.reader_ms for r in rows if r.reader_ms is not None]
    for r in rows:
        for c in r.answer.get("citations") or []:
            n_quotes += 1
            quote = " ".join(str(c.get("quote", "")).split())
            bad_quotes += not any(quote in doc for doc in corpus)
        if r.answer.get("latency_ms") is not None:
            latencies.append(float(r.answer["latency_ms"]))
    out: dict[str, Any] = {"questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    if answerable:
        out.update(_answerable_metrics(answerable))
    out.update(abstention_scores([bool(r.answer.get("abstained")) for r in rows],
                                 [r.question.unanswerable for r in rows]))
    out["abstention_on_unanswerable"] = (
        sum(bool(r.answer.get("abstained")) for r in unanswerable) / len(unanswerable) if unanswerable else None
    )
    out["citation_validity"] = 1 - bad_quotes / n_quotes if n_quotes else None
    out["latency_p50_ms"] = statistics.median(latencies) if latencies else None
    out["latency_p95_ms"] = percentile(latencies, 0.95)
    out["reader_p50_ms"] = statistics.median(reading) if reading else None
    out["reader_p95_ms"] = percentile(reading, 0.95)
    return out


def _answerable_metrics(rows: list[Scored]) -> dict[str, Any]:
    n = len(rows)
    totals: dict[str, float] = collections.defaultdict(float)
    reciprocal = 0.0
    with_retrieval = [r for r in rows if r.retrieved]
    for r in rows:
        golds = list(r.question.answers)
        quotes = [str(c.get("quote", "")) for c in r.answer.get("citations") or []]
        pred = "" if r.answer.get("abstained") else str(r.answer.get("answer", ""))
        totals["evidence@1"] += bool(quotes) and holds_answer(quotes[0], golds)
        totals["evidence@any"] += any(holds_answer(q, golds) for q in quotes)
        totals["quote1_len_words"] += len(normalize_answer(quotes[0]).split()) if quotes else 0
        totals["EM"] += exact_match(pred, golds)
        totals["F1"] += best_f1(pred, golds)
        totals["answer_contains_gold"] += any(normalize_answer(g) in normalize_answer(pred) for g in golds)
        totals["answer_len_tokens"] += len(normalize_answer(pred).split())
        totals["false_abstention"] += bool(r.answer.get("abstained"))
    for r in with_retrieval:
        rank = first_hit_rank(r.retrieved, r.question.answers)
        totals["hit@1"] += rank == 1
        totals["hit@5"] += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank is not None and rank <= 10 else 0.0
    out: dict[str, Any] = {k: totals[k] / n for k in (
        "evidence@1", "evidence@any", "quote1_len_words", "EM", "F1", "answer_contains_gold",
        "answer_len_tokens", "false_abstention")}
    if with_retrieval:
        m = len(with_retrieval)
        out.update({"hit@1": totals["hit@1"] / m, "hit@5": totals["hit@5"] / m, "MRR@10": reciprocal / m})
    return out
