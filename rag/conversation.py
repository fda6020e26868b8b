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


def needs_history(question: str) -> bool:
    """True when the question cannot stand alone: it refers back, or is too short to search."""
    return bool(_REFERRING.search(question) or _ELLIPTIC.search(question)) or len(tokenize(question)) < 2


def resolve_query(question: str, history: Sequence[str]) -> str:
    """The text to retrieve with: the question, plus the latest earlier turn it depends on."""
    if not history or not needs_history(question):
        return question
    return f"{history[-1]} {question}"
