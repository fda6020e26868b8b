"""Short answers: what kind of answer a question wants, and the spans of a sentence that fit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from rag.lexical import STOPWORDS, stem, words


class AnswerType(Enum):
    """The kind of short answer a question asks for."""

    DATE = "date"
    NUMBER = "number"
    PERSON = "person"
    PLACE = "place"
    NAME = "name"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible short answer: characters [start, end) of the text it was cut from."""

    start: int
    end: int
    kind: AnswerType


_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE_PATTERNS = [
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}",
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{3,4}}",
    rf"{_MONTH}\s+\d{{3,4}}",
    r"\d{4}-\d{2}-\d{2}",
    r"(?:the\s+)?(?:early\s+|late\s+|mid-?\s*)?\d{1,2}(?:st|nd|rd|th)\s+(?:and\s+\d{1,2}(?:st|nd|rd|th)\s+)?centur(?:y|ies)(?:\s+(?:BC|AD|BCE|CE))?",
    r"(?:the\s+)?(?:early\s+|late\s+|mid-?\s*)?\d{3,4}s",
    r"\d{3,4}\s*(?:–|-|to)\s*\d{2,4}",
    r"(?<![\d,.$])(?:1[0-9]{3}|20[0-9]{2})(?![\d,])(?:\s+(?:BC|AD|BCE|CE))?",
    rf"{_MONTH}(?=\s+(?:this|last|next)\s+year)",
]
_DATE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS))
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million|billion|dozen|half|a third|one third|a quarter)"
)
_UNIT = (
    r"(?:\s*(?:%|percent(?:age points?)?|per cent|percentage points?|"
    r"(?:hundred|thousand|million|billion|trillion)"
    r"(?:\s+(?!(?:of|the|in|and|or|to|for|a|an|at|by|on|from|with|was|were|is|are)\b)[a-z]+)?|km|kilometres|kilometers|miles|"
    r"metres|meters|feet|kg|tons|tonnes|years?|months?|days?|hours?|minutes?|seconds?|"
    r"people|students|members|times|[a-z]+s))?"
)
_NUMBER = re.compile(
    rf"(?:(?:more|less|fewer) than |over |nearly |about |around |almost |some |up to )?"
    rf"(?:[$£€¥]\s*)?(?:\d[\d,]*(?:\.\d+)?|{_NUMBER_WORDS}(?:[- ]{_NUMBER_WORDS})*)"
    rf"{_UNIT}",
    re.I,
)
_CAPITALIZED = re.compile(
    r"(?:[A-Z][\w’'&.-]*|[0-9]+[A-Z][\w-]*)"
    r"(?:\s+(?:(?:of|and|de|the|for|&|von|van|du|la|le)\s+)?(?:[A-Z][\w’'&.-]*|[0-9]+[A-Z]?))*"
)

_WH = re.compile(
    r"\b(when|what year|which year|what date|what century|what decade|how many|how much|"
    r"how long|how old|how far|how large|how big|what percentage|what percent|what proportion|"
    r"what share|what number|what amount|who|whom|whose|where|which|what|how)\b",
    re.I,
)


def expected_type(question: str) -> AnswerType:
    """Guess the kind of answer from the question's wh-word and its head noun."""
    q = question.lower()
    match = _WH.search(q)
    wh = match.group(1) if match else ""
    after = q[match.end():] if match else q
    head = " ".join(words(after)[:3])
    if wh in ("when", "what year", "which year", "what date", "what century", "what decade"):
        return AnswerType.DATE
    if re.search(r"\b(year|date|century|decade|month|time period|era|day)\b", head) and wh in ("what", "which", "in what", "in which"):
        return AnswerType.DATE
    if wh.startswith("how") and wh != "how":
        return AnswerType.NUMBER
    if wh in ("what percentage", "what percent", "what proportion", "what share", "what number", "what amount"):
        return AnswerType.NUMBER
    if re.search(r"\b(how|what) (many|much)\b", q) or re.search(r"\b(number|amount|percentage|population|size|cost|price)\b", head):
        return AnswerType.NUMBER
    if wh in ("who", "whom", "whose"):
        return AnswerType.PERSON
    if wh == "where":
        return AnswerType.PLACE
    if wh in ("which", "what") and re.search(
        r"\b(company|companies|firm|firms|person|people|man|woman|king|queen|leader|president|"
        r"country|countries|city|cities|province|region|organization|organisation|university|"
        r"team|group|name|brand|channel|network|enterprise|enterprises|giant|giants)\b", head
    ):
        return AnswerType.NAME
    return AnswerType.NONE


def find_candidates(text: str, kind: AnswerType) -> list[Candidate]:
    """Spans of `text` that could answer a question of kind `kind`."""
    if kind is AnswerType.DATE:
        return _matches(_DATE, text, kind)
    if kind is AnswerType.NUMBER:
        found = [c for c in _matches(_NUMBER, text, kind) if re.search(r"\d|[a-z]{3,}", text[c.start:c.end], re.I)]
        return [c for c in found if not _is_year_only(text[c.start:c.end])] or found
    if kind in (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME):
        return [c for c in _matches(_CAPITALIZED, text, kind) if _is_name(text[c.start:c.end])]
    return []


def _matches(pattern: re.Pattern[str], text: str, kind: AnswerType) -> list[Candidate]:
    out = []
    for m in pattern.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in " ,.;:":
            end -= 1
        if end > start:
            out.append(Candidate(start, end, kind))
    return out


def _is_year_only(span: str) -> bool:
    return bool(re.fullmatch(r"(?:1[0-9]{3}|20[0-9]{2})", span.strip()))


def _is_name(span: str) -> bool:
    lowered = span.lower()
    return lowered not in STOPWORDS and lowered not in ("in", "on", "as", "it", "this", "that")


def pick_span(sentence: str, question: str, kind: AnswerType, offset: int = 0) -> Candidate | None:
    """The best candidate of `sentence` for `question`, or None when no span fits.

    A candidate that only repeats words of the question is not an answer. Among the rest,
    the one nearest the question's words in the sentence wins.
    """
    if kind is AnswerType.NONE:
        return None
    q_terms = {stem(w) for w in words(question) if w not in STOPWORDS}
    anchors = [m.start() for m in re.finditer(r"[^\W_]+", sentence) if stem(m.group(0).lower()) in q_terms]
    best: tuple[float, Candidate] | None = None
    for cand in find_candidates(sentence, kind):
        cand_terms = [stem(w) for w in words(sentence[cand.start:cand.end]) if w not in STOPWORDS]
        if cand_terms and all(t in q_terms for t in cand_terms):
            continue
        distance = min((abs(a - cand.start) for a in anchors), default=len(sentence))
        score = -distance / max(len(sentence), 1)
        if best is None or score > best[0]:
            best = (score, Candidate(cand.start + offset, cand.end + offset, cand.kind))
    return None if best is None else best[1]
