"""Property tests: schemathesis against the server's own OpenAPI schema, Hypothesis on the
chunker, the sentence splitter, the answerer and the chat page's endpoint and handlers. Bounded for CI;
`make fuzz` runs 1,000 examples each."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunk import chunk_document, count_tokens
from rag.config import ENCODING, ChunkConfig
from rag.errors import InvalidQueryError
from rag.pipeline import Assistant
from rag.sentence import split_sentences
from rag.types import Document

EXAMPLES = int(os.environ.get("RAG_FUZZ_EXAMPLES", "60"))

# Text that looks like documents at times and like noise at others: words, numbers, dots,
# abbreviations, line breaks, control characters, emoji, CJK, right-to-left marks.
_PIECES = st.sampled_from(
    ["The", "rocket", "flew", "in", "2016", ".", " ", "  ", "\n", "\n\n", "Dr.", "U.S.", "3,000", "?", "!",
     "“", "”", "’", "\t", "\x00", "\x0b", "\u200b", "\u202e", "😀", "西安", "e.g.", "...", "—", "a" * 300]
)
TEXTS = st.one_of(st.text(max_size=3_000), st.lists(_PIECES, max_size=400).map("".join))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, size=st.integers(8, 300), share=st.floats(0, 0.9))
def test_chunker_invariants_on_any_text(text: str, size: int, share: float) -> None:
    config = ChunkConfig(chunk_tokens=size, overlap_tokens=int(size * share))
    doc = Document("d", "t", text, "d.txt", "0")
    chunks = chunk_document(doc, config)
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.n_tokens == count_tokens(chunk.text, ENCODING) <= size
        for s in chunk.sentences:
            assert chunk.start <= s.start < s.end <= chunk.end
    covered = {i for c in chunks for i in range(c.start, c.end)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    assert all(b.start > a.start and b.end > a.end for a, b in itertools.pairwise(chunks))


@settings(max_examples=EXAMPLES, deadline=None)
@given(text=TEXTS)
def test_sentences_slice_back_out(text: str) -> None:
    spans = split_sentences(text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    for s in spans:
        piece = text[s.start:s.end]
        assert piece and piece == piece.strip()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.one_of(st.text(max_size=2_500), st.lists(_PIECES, max_size=100).map("".join)),
       history=st.lists(st.text(max_size=200), max_size=5))
def test_answerer_raises_nothing_but_invalid_query(hash_default_assistant: Assistant, question: str,
                                                   history: list[str]) -> None:
    try:
        answer = hash_default_assistant.ask(question, history=history)
    except InvalidQueryError:
        assert not question.strip() or len(" ".join(question.split())) > 2_000
        return
    texts = {d.doc_id: d.text for d in hash_default_assistant.documents}
    for c in answer.citations:
        assert texts[c.doc_id][c.start:c.end] == c.quote
    assert 0.0 <= answer.confidence <= 1.0
    assert answer.abstained or answer.answer in answer.citations[0].quote


def _api_app() -> Any:
    """The server (API only) over the default corpus, hashing embedder, limits wide open."""
    import tempfile

    from rag.build import build_index
    from rag.embed_hash import HashEmbedder
    from ui.api import create_app
    from ui.config import ServerConfig

    from .conftest import DEFAULT_DOCS

    folder = Path(tempfile.mkdtemp(prefix="rag-fuzz-"))
    build_index(DEFAULT_DOCS, folder / "index", HashEmbedder())
    config = ServerConfig(rate_per_minute=1e9, rate_burst=10**9, chat_page=False,
                          feedback_path=folder / "feedback.jsonl")
    return create_app(Assistant.load(folder / "index"), config)


schema = schemathesis.openapi.from_asgi("/openapi.json", _api_app())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_always_explains(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("message"), str) and body["message"]


def test_fuzz_examples_setting_is_sane() -> None:
    assert EXAMPLES >= 1


def _page_app() -> tuple[Any, Assistant]:
    """The whole server, chat page included, over the default corpus; limits wide open."""
    import tempfile

    from rag.build import build_index
    from rag.embed_hash import HashEmbedder
    from ui.api import create_app
    from ui.config import ServerConfig

    from .conftest import DEFAULT_DOCS

    folder = Path(tempfile.mkdtemp(prefix="rag-fuzz-page-"))
    build_index(DEFAULT_DOCS, folder / "index", HashEmbedder())
    assistant = Assistant.load(folder / "index")
    config = ServerConfig(rate_per_minute=1e9, rate_burst=10**9, feedback_path=folder / "feedback.jsonl")
    return create_app(assistant, config), assistant


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=300),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=12)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(fn_index=st.one_of(st.integers(-2, 8), _JSON), data=st.one_of(st.lists(_JSON, max_size=4), _JSON),
       session=st.one_of(st.text(max_size=40), _JSON), event_data=_JSON)
def test_the_chat_pages_endpoint_never_fails(fn_index: Any, data: Any, session: Any, event_data: Any) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(_PAGE[0])
    body = {"data": data, "fn_index": fn_index, "trigger_id": 1, "session_hash": session, "event_data": event_data}
    response = client.post("/gradio_api/queue/join", json=body)
    assert response.status_code < 500, response.text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=st.one_of(TEXTS, _JSON), index=_JSON, liked=_JSON, turns=st.integers(0, 3))
def test_the_chat_pages_handlers_raise_nothing(message: Any, index: Any, liked: Any, turns: int) -> None:
    import tempfile

    from ui.chat import FeedbackLog, chat_turn, messages_of, record_like

    assistant = _PAGE[1]
    exchanges = chat_turn(assistant, "Tell me about the hard and core technology concept", [])[:turns]
    after = chat_turn(assistant, message, exchanges)
    assert len(after) in (len(exchanges), len(exchanges) + 1)
    assert all(isinstance(m["content"], str) for m in messages_of(after))
    log = FeedbackLog(Path(tempfile.mkdtemp()) / "feedback.jsonl")
    record_like(log, after, index, liked)


_PAGE = _page_app()
