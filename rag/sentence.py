"""Sentence boundaries as character spans, so every sentence slices back out of its text."""

from __future__ import annotations

import re

from rag.types import Span

_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep pres rev
    co corp inc ltd llc plc bros dept univ assn est approx vs etc al fig figs no nos vol
    vols pp ed eds jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri
    sat sun ca cf viz ie eg e.g i.e u.s u.k u.n a.m p.m b.c a.d
    """.split()
)

# A sentence ends at ., ! or ? (plus closing quotes or brackets) followed by white space and
# something that can open a sentence; or at a line break.
_END = re.compile(r"""[.!?]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9À-Þ])""")
_LINE = re.compile(r"\n+")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Split `text[start:end]` into sentences.

    Returns spans into `text` itself, stripped of surrounding white space, in order and
    never overlapping. Line breaks always end a sentence (titles, captions, list items).
    """
    stop = len(text) if end is None else end
    spans: list[Span] = []
    for line in _iter_lines(text, start, stop):
        spans.extend(_split_line(text, line.start, line.end))
    return spans


def _iter_lines(text: str, start: int, stop: int) -> list[Span]:
    lines = []
    pos = start
    for match in _LINE.finditer(text, start, stop):
        lines.append(Span(pos, match.start()))
        pos = match.end()
    lines.append(Span(pos, stop))
    return lines


def _split_line(text: str, start: int, stop: int) -> list[Span]:
    spans = []
    pos = start
    for match in _END.finditer(text, start, stop):
        cut = match.end()
        if match.group(0).startswith(".") and len(match.group(0).rstrip("\"'”’)]")) == 1:
            word = _WORD_BEFORE.search(text, pos, match.start())
            if word and _is_abbreviation(word.group(1)):
                continue
        spans.append(_strip(text, pos, cut))
        pos = cut
    spans.append(_strip(text, pos, stop))
    return [s for s in spans if s.end > s.start]


def _is_abbreviation(word: str) -> bool:
    lowered = word.lower()
    if lowered in _ABBREVIATIONS:
        return True
    # A lone capital is an initial ("J. Smith"); dotted letters are an acronym ("U.S.").
    return (len(word) == 1 and word.isupper()) or bool(re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word))


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)
