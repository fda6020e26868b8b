"""Short answers: what kind of answer a question wants, and the spans of a sentence that fit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

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
    rf"(?:[$£€¥]\s*)?(?:\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|\b{_NUMBER_WORDS}(?:[- ]{_NUMBER_WORDS})*)"
    rf"\b{_UNIT}\b",
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
    if wh in ("what", "which") and re.search(r"\b(year|date|century|decade|month|time period|era|day)\b", head):
        return AnswerType.DATE
    if wh.startswith("how") and wh != "how":
        return AnswerType.NUMBER
    if wh in ("what percentage", "what percent", "what proportion", "what share", "what number", "what amount"):
        return AnswerType.NUMBER
    if re.search(r"\b(how|what) (many|much)\b", q) or re.search(
        r"\b(number|amount|percentage|population|size|cost|price)\b", head
    ):
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


def find_candidates(text: str, kind: AnswerType, question: str = "") -> list[Candidate]:
    """Spans of `text` that could answer a question of kind `kind` (and, if given, `question`)."""
    if kind is AnswerType.DATE:
        found = _matches(_DATE, text, kind)
        if _MONTH_QUESTION.search(question):
            found += [c for c in _matches(_MONTH_ALONE, text, kind) if not _inside(c, found)]
        return found
    if kind is AnswerType.NUMBER:
        dates = _matches(_DATE, text, AnswerType.DATE)
        found = [
            c for c in _matches(_NUMBER, text, kind)
            if re.search(r"\d|[a-z]{3,}", text[c.start:c.end], re.I) and not _inside(c, dates)
        ]
        if _MONEY_QUESTION.search(question):
            return [c for c in found if _MONEY.search(text[c.start:c.end])]
        return [c for c in found if not _is_year_only(text[c.start:c.end])]
    if kind in (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME):
        return [c for c in _matches(_CAPITALIZED, text, kind) if _is_name(text[c.start:c.end])]
    return []


_MONTH_QUESTION = re.compile(r"\bmonth\b", re.I)
_MONTH_ALONE = re.compile(rf"\b{_MONTH}(?![\w])")
_MONEY_QUESTION = re.compile(
    r"\bhow much\b.*\b(invest\w*|cost\w*|spen[dt]\w*|worth|pa(?:y|id)\w*|price\w*|money|capital|fund\w*|"
    r"revenue\w*|budget\w*|sold|sell\w*|earn\w*|raise[ds]?)\b",
    re.I,
)
_MONEY = re.compile(r"[$£€¥]|\b(?:dollars?|yuan|euros?|pounds?|rmb|usd)\b", re.I)


def _inside(cand: Candidate, spans: list[Candidate]) -> bool:
    return any(s.start <= cand.start and cand.end <= s.end and s != cand for s in spans)


def _matches(pattern: re.Pattern[str], text: str, kind: AnswerType) -> list[Candidate]:
    return list(_cached_matches(pattern, text, kind))


@lru_cache(maxsize=50_000)
def _cached_matches(pattern: re.Pattern[str], text: str, kind: AnswerType) -> tuple[Candidate, ...]:
    """Sentences recur across questions: their candidates are found once."""
    out = []
    for m in pattern.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in " ,.;:":
            end -= 1
        if end > start:
            out.append(Candidate(start, end, kind))
    return tuple(out)


def _is_year_only(span: str) -> bool:
    return bool(re.fullmatch(r"(?:1[0-9]{3}|20[0-9]{2})", span.strip()))


def _is_name(span: str) -> bool:
    lowered = span.lower()
    return lowered not in STOPWORDS and lowered not in ("in", "on", "as", "it", "this", "that")


def pick_span(sentence: str, question: str, kind: AnswerType, offset: int = 0) -> Candidate | None:
    """The best short answer inside `sentence` for `question`, or None when none stands out:
    a candidate of the expected type if there is one, else the phrase the question lacks."""
    prefer_names = kind in (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME)
    return typed_span(sentence, question, kind, offset) or free_span(sentence, question, offset, prefer_names)


def typed_span(sentence: str, question: str, kind: AnswerType, offset: int = 0) -> Candidate | None:
    """The candidate of type `kind` nearest the question's words in `sentence`.

    A candidate that only repeats words of the question is no answer.
    """
    if kind is AnswerType.NONE:
        return None
    q_terms = _question_terms(question)
    tokens = _tokens(sentence)
    matched = [i for i, t in enumerate(tokens) if t[3] in q_terms]
    best: tuple[float, Candidate] | None = None
    for cand in find_candidates(sentence, kind, question):
        cand_terms = [stem(w) for w in words(sentence[cand.start:cand.end]) if w not in STOPWORDS]
        if cand_terms and all(t in q_terms for t in cand_terms):
            continue
        if kind in _NAMED and all(stem(w) in q_terms for w in _capitalised_words(sentence[cand.start:cand.end])):
            continue  # "Xi’an-based" names nothing the question has not named already
        first = next((i for i, t in enumerate(tokens) if t[1] > cand.start), len(tokens))
        distance = min((abs(i - first) for i in matched), default=len(tokens))
        if best is None or -distance > best[0]:
            best = (-float(distance), cand)
    if best is None:
        return None
    return Candidate(best[1].start + offset, best[1].end + offset, best[1].kind)


_NAMED = (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME)


def _capitalised_words(span: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in re.findall(r"[A-Z][\w’']*", span)]


def free_span(sentence: str, question: str, offset: int = 0, prefer_names: bool = False) -> Candidate | None:
    """The run of words the question does not contain that sits closest to the words it does
    (with `prefer_names`, a run holding a capitalised word is preferred)."""
    q_terms = _question_terms(question)
    tokens = _tokens(sentence)
    matched = [i for i, t in enumerate(tokens) if t[3] in q_terms]
    span = _free_span(tokens, matched, prefer_names)
    return None if span is None else Candidate(span.start + offset, span.end + offset, AnswerType.NONE)


def _question_terms(question: str) -> set[str]:
    return {stem(w) for w in words(question) if w not in STOPWORDS}


@lru_cache(maxsize=50_000)
def _tokens(sentence: str) -> tuple[tuple[int, int, str, str], ...]:
    """Word and punctuation tokens of a sentence: (start, end, text, stemmed term)."""
    return tuple((m.start(), m.end(), m.group(0), _term(m.group(0))) for m in _TOKEN.finditer(sentence))


_TOKEN = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*%?|[$£€¥]|[,;:()\[\]—–\"“”]")
_BREAK = frozenset(",;:()[]—–\"“”")
_LINKS = frozenset("which who whom whose that while whereas because although though when where".split())
_EDGE = STOPWORDS | {
    "also", "such", "as", "than", "then", "thus", "however", "including", "both", "may", "might", "must",
    "shall", "can", "cannot", "often", "usually", "sometimes", "generally", "called", "known", "named",
}


def _term(token: str) -> str:
    return stem(token.lower().replace("’", "'"))


def _free_span(
    tokens: tuple[tuple[int, int, str, str], ...], matched: list[int], prefer_names: bool
) -> Candidate | None:
    if not matched or len(tokens) < 6:
        return None
    matched_set = set(matched)
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        if i in matched_set or tokens[i][2] in _BREAK:
            i += 1
            continue
        j = i
        while j < len(tokens) and j not in matched_set and tokens[j][2] not in _BREAK and (
            j == i or tokens[j][2].lower() not in _LINKS
        ):
            j += 1
        a, b = i, j
        while a < b and tokens[a][2].lower() in _EDGE:
            a += 1
        while b > a and tokens[b - 1][2].lower() in _EDGE:
            b -= 1
        if b > a:
            runs.append((a, b))
        i = max(j, i + 1)
    best: tuple[float, tuple[int, int]] | None = None
    for a, b in runs:
        after = min((a - m for m in matched if m < a), default=len(tokens))
        before = min((m - (b - 1) for m in matched if m > b - 1), default=len(tokens))
        distance = min(after, before + 0.5)
        length = b - a
        score = -distance - 0.15 * max(0, length - 4)
        if prefer_names and any(t[2][:1].isupper() for t in tokens[a:b]):
            score += 0.5
        if best is None or score > best[0]:
            best = (score, (a, b))
    if best is None:
        return None
    a, b = best[1]
    return Candidate(tokens[a][0], tokens[b - 1][1], AnswerType.NONE)
