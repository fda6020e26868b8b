"""Run the assistant over a question file and score it, overall and per question type."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.errors import InvalidQueryError, QuestionFileError
from rag.formats import format_for
from rag.metrics import Scored, summarize
from rag.pipeline import Assistant
from rag.types import Answer, Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Metrics overall and per question type, and every answer in question order."""

    name: str
    overall: dict[str, Any]
    by_type: dict[str, dict[str, Any]]
    answers: tuple[dict[str, Any], ...]


def read_questions(path: Path) -> list[Question]:
    """Parse a question file (JSON Lines); raises QuestionFileError naming the bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(path, f"cannot be read ({exc})") from exc
    questions = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            questions.append(Question.from_dict(json.loads(line), line=number))
        except json.JSONDecodeError as exc:
            raise QuestionFileError(path, f"not valid JSON ({exc.msg})", line=number) from exc
        except ValueError as exc:
            raise QuestionFileError(path, str(exc)) from exc
    if not questions:
        raise QuestionFileError(path, "holds no questions")
    return questions


def question_type(q: Question) -> str:
    if q.type:
        return q.type
    return "unanswerable" if q.unanswerable else "answerable"


def evaluate(
    assistant: Assistant,
    questions: Sequence[Question],
    sources: Sequence[str],
    name: str,
    on_answer: Callable[[], None] | None = None,
) -> EvalResult:
    """Ask every question (with its history) and score the answers.

    `sources` are the raw texts of the documents: quotes must be found in them verbatim
    (modulo white space), as the reference scorer checks.
    """
    rows = [_ask(assistant, q, on_answer) for q in questions]
    # Follow-ups asked again in their stand-alone form: history should resolve as well as that.
    standalone = [
        _ask(assistant, replace(q, question=q.standalone, history=(), type=f"{question_type(q)} (standalone)"), None)
        for q in questions if q.standalone
    ]
    return score(rows, sources, name, extra=standalone)


def score(rows: Sequence[Scored], sources: Sequence[str], name: str, extra: Sequence[Scored] = ()) -> EvalResult:
    """Metrics over `rows`, overall and per question type; `extra` rows count only in their type."""
    groups: dict[str, list[Scored]] = {}
    for row in [*rows, *extra]:
        groups.setdefault(question_type(row.question), []).append(row)
    return EvalResult(
        name=name,
        overall=summarize(rows, sources),
        by_type={kind: summarize(group, sources) for kind, group in sorted(groups.items())},
        answers=tuple(dict(r.answer) for r in rows),
    )


def _ask(assistant: Assistant, q: Question, on_answer: Callable[[], None] | None) -> Scored:
    try:
        answer, passages, reader_ms = assistant.ask_traced(q.question, q.history)
        retrieved = [p.text for p in passages]
    except InvalidQueryError as exc:
        logger.warning("question %s refused: %s", q.id, exc)
        answer, retrieved, reader_ms = Answer(q.question, "", True, 0.0, ()), [], None
    if on_answer is not None:
        on_answer()
    return Scored(q, answer.to_dict(), retrieved, reader_ms)


def read_sources(docs_dir: Path, assistant: Assistant) -> list[str]:
    """What quotes are checked against: the raw file of each document whose format is its own
    text (plain text, Markdown; as the reference scorer reads them), else the extracted text."""
    texts = []
    for doc in assistant.documents:
        path = docs_dir / doc.source
        file_format = format_for(path)
        if file_format is not None and file_format.text_is_source and path.is_file():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        else:
            texts.append(doc.text)
    return texts
