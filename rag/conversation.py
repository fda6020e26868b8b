"""Follow-up questions: fold the earlier turns into the query when the question leans on them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.lexical import tokenize

_REFERRING = re.compile(
    r"\b(they|them|their|theirs|it|its|he|him|his|she|her|hers|this|that|these|those|there|"
    r"the company|the firm|the city|the project|the concept|the same)\b",
    re.I,
)
_ELLIPTIC = re.compile(r"^\s*(and|what about|how about|also|then|so|but)\b", re.I)
_ADDITIVE = re.compile(r"\b(too|as well|either)\W*$", re.I)
"""Ends by adding to what came before: "Is md5 available too?" after a question about hashlib."""


def needs_history(question: str) -> bool:
    """True when the question cannot stand alone: it refers back, adds to the turn before, or is
    too short to search."""
    return (bool(_REFERRING.search(question) or _ELLIPTIC.search(question) or _ADDITIVE.search(question))
            or len(tokenize(question)) < 2)


CARRIED_ANSWER_WORDS = 12
"""An earlier answer this short is carried into a follow-up (a name, a date, a phrase); a
longer one (a whole sentence) is not: its question already names the subject."""


def carry(answer: str) -> str:
    """What of an earlier answer a follow-up carries: all of a short one, nothing of a long one."""
    return answer if 0 < len(answer.split()) <= CARRIED_ANSWER_WORDS else ""


SHORT_QUESTION_TERMS = 3
"""A question of fewer content terms than this ("Which level is the fastest?") may continue the
conversation without a word pointing back: `may_need_history`."""


def may_need_history(question: str) -> bool:
    """True when the question is short enough to continue the turn before without saying so
    (the assistant decides by where it lands: `rag.pipeline.Assistant`)."""
    return len(tokenize(question)) < SHORT_QUESTION_TERMS


def resolve_query(question: str, history: Sequence[str], last_answer: str = "", lean: bool | None = None) -> str:
    """The text to retrieve and read with: the question, plus the latest earlier turn it depends
    on and what that turn's answer established ("Who designed the bridge? Jane Doe When did she
    finish it?"): "she" now has a name to match. `lean`: whether it depends on that turn
    (default: `needs_history`)."""
    if not history or not (needs_history(question) if lean is None else lean):
        return question
    return " ".join(part for part in (history[-1], carry(last_answer), question) if part)


_PERSON_PRONOUN = re.compile(r"\b(he|she)\b", re.I)
_OTHER_PRONOUN = re.compile(r"\b(him|his|her|hers|they|them|their)\b", re.I)
_PERSON_NAME = re.compile(r"[A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*){0,3}")


def name_the_person(question: str, carried: str) -> str | None:
    """The follow-up with its one "he" or "she" replaced by the person the earlier answer named
    ("Which flat does she live in?" after "Lin Chen": "Which flat does Lin Chen live in?"), or
    None when the question has no such pronoun, more than one person pronoun, or the carried
    answer is not a name (one to four capitalised words)."""
    if not _PERSON_NAME.fullmatch(carried) or _OTHER_PRONOUN.search(question):
        return None
    found = _PERSON_PRONOUN.findall(question)
    if len(found) != 1:
        return None
    return _PERSON_PRONOUN.sub(carried, question)

