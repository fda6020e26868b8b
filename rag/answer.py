"""The answer policy, one for every reader: extractions -> citations, confidence, abstention."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping, Sequence

from rag.config import AnswerPolicy
from rag.types import Answer, Citation, Document, Extraction

logger = logging.getLogger(__name__)


def compose_answer(
    question: str,
    extractions: Sequence[Extraction],
    documents: Mapping[str, Document],
    policy: AnswerPolicy | None = None,
    unknown: Sequence[str] = (),
) -> Answer:
    """The answer to `question` from a reader's extractions (best first).

    Citations are the first `max_citations` extractions whose evidence neither overlaps an
    earlier one's nor says word for word what an earlier one says (a manual repeats "add_flag(flag)
    Set the flag(s) specified by flag without changing other flags." for five classes). Below
    `abstain_below` confidence, or when the question names `unknown` identifiers no document
    mentions (and `decline_unknown_identifiers`), the answer is empty and the citations are the
    closest passages. Otherwise the answer is extraction 1's short answer, or its whole evidence
    when it has none (or one that lies outside the evidence).
    """
    cfg = AnswerPolicy() if policy is None else policy
    chosen: list[Extraction] = []
    said: set[str] = set()
    for extraction in extractions:
        if len(chosen) == cfg.max_citations:
            break
        if any(_overlaps(extraction, other) for other in chosen):
            continue
        evidence = extraction.evidence
        quote = " ".join(documents[extraction.doc_id].text[evidence.start:evidence.end].split())
        if quote not in said:
            chosen.append(extraction)
            said.add(quote)
    if not chosen:
        return Answer(question, "", True, 0.0, ())
    citations = tuple(_citation(n, e, documents[e.doc_id], cfg.base_url) for n, e in enumerate(chosen, 1))
    top = chosen[0]
    confidence = min(max(top.confidence, 0.0), 1.0)
    if confidence < cfg.abstain_below or (unknown and cfg.decline_unknown_identifiers):
        return Answer(question, "", True, confidence, citations)
    span = top.answer
    if span is not None and not top.evidence.start <= span.start < span.end <= top.evidence.end:
        logger.warning("reader %s gave an answer outside its evidence; answering with the evidence", top.reader)
        span = None
    if span is None:
        first = citations[0]
        return Answer(question, first.quote, False, confidence, citations,
                      answer_start=first.start, answer_end=first.end)
    text = documents[top.doc_id].text
    return Answer(question, text[span.start:span.end], False, confidence, citations,
                  answer_start=span.start, answer_end=span.end)


def _overlaps(a: Extraction, b: Extraction) -> bool:
    return a.doc_id == b.doc_id and a.evidence.start < b.evidence.end and b.evidence.start < a.evidence.end


def _citation(n: int, extraction: Extraction, doc: Document, base_url: str = "") -> Citation:
    span = extraction.evidence
    quote = doc.text[span.start:span.end]
    return Citation(
        n=n,
        doc_id=doc.doc_id,
        title=doc.title,
        chunk_id=extraction.chunk_id,
        start=span.start,
        end=span.end,
        quote=quote,
        score=extraction.score,
        section=doc.section_at(span.start),
        url=source_url(doc, span.start, span.end, quote, base_url),
    )


def source_url(doc: Document, start: int, end: int, quote: str, base_url: str = "") -> str:
    """Where a visitor reads the quote in its place: with `base_url`, an HTML document's page
    on its site, scrolled to the quote by a text fragment; else the server's source view."""
    if base_url and doc.source.lower().endswith((".html", ".htm")):
        words = quote.split()
        found = (_fragment(" ".join(words)) if len(words) <= 8
                 else f"{_fragment(' '.join(words[:4]))},{_fragment(' '.join(words[-4:]))}")
        return f"{base_url.rstrip('/')}/{urllib.parse.quote(doc.source)}#:~:text={found}"
    return f"/source/{urllib.parse.quote(doc.doc_id)}?start={start}&end={end}#passage"


def _fragment(words: str) -> str:
    """Text for a URL text fragment: percent-encoded, "-" and "," too (they are its syntax)."""
    return urllib.parse.quote(words, safe="").replace("-", "%2D")
