"""The REST API through FastAPI's test client: contract, validation, limits, CORS, feedback, escaping."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.build import build_index
from rag.config import QueryLimits
from rag.embed_hash import HashEmbedder
from rag.pipeline import Assistant
from rag.types import Document
from ui.api import create_app
from ui.chat import FeedbackLog, escape_text, render_answer, respond
from ui.config import ServerConfig
from ui.security import RateLimiter

ALLOWED = "http://allowed.example"


@pytest.fixture
def client(small_assistant: Assistant, tmp_path: Path) -> Iterator[TestClient]:
    config = ServerConfig(cors_origins=(ALLOWED,), rate_per_minute=600, rate_burst=50, max_body_bytes=4_096,
                          feedback_path=tmp_path / "feedback.jsonl", chat_page=False)
    with TestClient(create_app(small_assistant, config)) as test_client:
        yield test_client


def test_ask_returns_the_answer_json(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": "When did the Long March 5 rocket first fly?"})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"question", "answer", "abstained", "confidence", "citations", "latency_ms"}
    assert data["answer"] == "2016"
    assert data["citations"][0]["quote"] == "The Long March 5 rocket first flew in 2016."


def test_follow_up_through_the_api(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": "When did it first fly?",
                                             "history": ["Tell me about the Long March 5 rocket"]})
    assert response.status_code == 200 and response.json()["answer"] == "2016"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"question": ""}, "question"),
        ({"question": "   "}, "empty"),
        ({"question": "x" * 3_000}, "limit is 2,000"),
        ({}, "question"),
        ({"question": 42}, "question"),
        ({"question": "ok?", "history": "not a list"}, "history"),
        ({"question": "ok?", "history": ["q"] * 21}, "history"),
    ],
)
def test_validation_errors_are_422_with_a_message(client: TestClient, body: dict[str, object], fragment: str) -> None:
    response = client.post("/api/ask", json=body)
    assert response.status_code == 422
    assert fragment in response.json()["message"]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["message"]


def test_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    big = json.dumps({"question": "y" * 10_000})
    response = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "limit" in response.json()["message"]


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(20):
            yield b"z" * 1_000
        yield b'"}'

    response = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_rate_limit_answers_429_with_retry_after(small_assistant: Assistant, tmp_path: Path) -> None:
    config = ServerConfig(rate_per_minute=6, rate_burst=3, chat_page=False, feedback_path=tmp_path / "f.jsonl")
    with TestClient(create_app(small_assistant, config)) as test_client:
        codes = [test_client.post("/api/ask", json={"question": "Where is Cheddar?"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = test_client.post("/api/ask", json={"question": "Where is Cheddar?"})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        assert "try again" in limited.json()["message"]


def test_rate_limiter_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.check("a"), limiter.check("a")] == [0.0, 0.0]
    assert limiter.check("a") == pytest.approx(1.0)
    assert limiter.check("b") == 0.0  # clients are counted apart
    now[0] += 1.0
    assert limiter.check("a") == 0.0


def test_cors_allows_the_listed_origin(client: TestClient) -> None:
    preflight = client.options("/api/ask", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    response = client.post("/api/ask", json={"question": "Where is Cheddar?"}, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://allowed.example.evil.com"])
def test_cors_refuses_other_origins(client: TestClient, origin: str) -> None:
    response = client.post("/api/ask", json={"question": "Where is Cheddar?"}, headers={"Origin": origin})
    assert response.status_code == 403
    assert "not available" in response.json()["message"]
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options("/api/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403


def test_same_origin_page_may_call(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": "Where is Cheddar?"},
                           headers={"Origin": "http://testserver"})
    assert response.status_code == 200


def test_health_docs_and_widget(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["documents"] == 3
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/ask" in schema["paths"]
    widget = client.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in widget.text
    assert health["limits"] == {"max_question_chars": 2_000, "max_history_turns": 10}
    assert '/*rag:limits*/ {"max_question_chars": 2000, "max_history_turns": 10} /*rag:end*/' in widget.text


def test_one_set_of_limits_reaches_the_api_the_health_check_and_the_widget(small_assistant: Assistant,
                                                                          tmp_path: Path) -> None:
    a = small_assistant
    strict = Assistant(a.embedder, a.retriever, a.reader, a.documents, limits=QueryLimits(60, 2))
    config = ServerConfig(feedback_path=tmp_path / "feedback.jsonl", chat_page=False)
    with TestClient(create_app(strict, config)) as client:
        assert client.get("/api/health").json()["limits"] == {"max_question_chars": 60, "max_history_turns": 2}
        assert '{"max_question_chars": 60, "max_history_turns": 2}' in client.get("/widget.js").text
        too_long = client.post("/api/ask", json={"question": "x" * 61})
        assert too_long.status_code == 422 and "limit is 60" in too_long.json()["message"]
        too_many = client.post("/api/ask", json={"question": "When did it fly?", "history": ["a", "b", "c"]})
        assert too_many.status_code == 422 and "history holds 3 turns; the limit is 2" in too_many.json()["message"]
        ok = client.post("/api/ask", json={"question": "When did it first fly?",
                                           "history": ["hello", "Tell me about the Long March 5 rocket"]})
        assert ok.status_code == 200 and ok.json()["answer"] == "2016"


def test_feedback_appends_json_lines_to_its_file(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "logs" / "feedback.jsonl")
    log.record(True, "2016", "When did it fly?", 1)
    log.record(False, "answer with\nnewline", "../../etc/passwd", 3)
    lines = (tmp_path / "logs" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["liked"] for line in lines] == [True, False]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["feedback.jsonl"]


HOSTILE = [
    "<script>alert(1)</script>",
    "$$\\frac{1}{2}$$ costs $5",
    "Visit https://evil.example/login or www.evil.example, mail me@evil.example",
    "Xi'an \"quoted\" & <b>bold</b>",
    "<img src=x onerror=alert(2)>",
    "[click me](javascript:alert(3))",
    '<a href="javascript:alert(4)">link</a>',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_document_text_is_escaped_for_the_chat_page(text: str) -> None:
    escaped = escape_text(text)
    assert "<" not in escaped and "](" not in escaped
    # Every Markdown special character is backslash-escaped, and nothing else changed: undoing
    # the escapes gives back the text exactly.
    assert re.search(r"(?<!\\)[\[\]()`*_]", escaped) is None
    assert html.unescape(re.sub(r"\\([\\`*_{}\[\]()#+\-.!|~>$:@/])", r"\1", escaped)) == text


def test_chat_handler_renders_answers_and_abstentions(small_assistant: Assistant) -> None:
    first = respond(small_assistant, "When did the Long March 5 rocket first fly?")
    reply = first.reply
    assert reply.startswith("**2016** [1]") and "<mark>2016</mark>" in reply and "**Sources**" in reply
    assert first.answer == "2016"
    earlier = [respond(small_assistant, "Tell me about the Long March 5 rocket")]
    follow = respond(small_assistant, "When did it first fly?", earlier)
    assert follow.reply.startswith("**2016**")
    refused = respond(small_assistant, "   ")
    assert refused.reply.startswith("Sorry:") and refused.answer == ""
    abstained = render_answer(small_assistant.ask("Who painted the Mona Lisa in Florence?"))
    assert abstained.startswith("I couldn't find that in the documents")


def test_the_conversation_is_kept_on_the_server_and_capped(small_assistant: Assistant) -> None:
    from ui.chat import MAX_SHOWN_EXCHANGES, chat_turn, messages_of

    exchanges = chat_turn(small_assistant, "Tell me about the Long March 5 rocket", [])
    exchanges = chat_turn(small_assistant, "When did it first fly?", exchanges)
    assert [e.question for e in exchanges] == ["Tell me about the Long March 5 rocket", "When did it first fly?"]
    assert exchanges[-1].answer == "2016"
    assert [m["role"] for m in messages_of(exchanges)] == ["user", "assistant", "user", "assistant"]
    assert chat_turn(small_assistant, "  ", exchanges) == exchanges
    assert chat_turn(small_assistant, 42, exchanges) == exchanges
    many = [*exchanges] * MAX_SHOWN_EXCHANGES
    assert len(chat_turn(small_assistant, "When did it first fly?", many)) == MAX_SHOWN_EXCHANGES


def test_a_like_logs_the_servers_answer_and_nothing_a_request_invents(small_assistant: Assistant,
                                                                      tmp_path: Path) -> None:
    from ui.chat import chat_turn, record_like

    log = FeedbackLog(tmp_path / "feedback.jsonl")
    exchanges = chat_turn(small_assistant, "When did the Long March 5 rocket first fly?", [])
    assert record_like(log, exchanges, 1, True)
    assert record_like(log, exchanges, [1, None], "Dislike")
    for index, liked in ((0, True), (3, True), (-1, True), (1, "maybe"), (1, None), ("1", True), (True, True)):
        assert not record_like(log, exchanges, index, liked), (index, liked)
    entries = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["liked"], e["answer"], e["question"]) for e in entries] == [
        (True, "2016", "When did the Long March 5 rocket first fly?"),
        (False, "2016", "When did the Long March 5 rocket first fly?")]


def test_the_feedback_file_stops_growing_at_its_bound_and_a_failed_write_stays_on_the_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl", max_bytes=1_000)
    written = sum(log.record(True, "x" * 100, "q", 1) for _ in range(50))
    assert 0 < written < 50
    assert (tmp_path / "feedback.jsonl").stat().st_size <= 1_000
    (tmp_path / "blocked").write_text("a file where a folder should be", encoding="utf-8")
    broken = FeedbackLog(tmp_path / "blocked" / "feedback.jsonl")
    assert broken.record(True, "a", "q", 1) is False
    assert "cannot record feedback" in caplog.text


def test_rate_limit_behind_a_trusted_proxy_counts_each_client(small_assistant: Assistant, tmp_path: Path) -> None:
    def codes(config: ServerConfig, forwarded: list[str]) -> list[int]:
        with TestClient(create_app(small_assistant, config)) as test_client:
            return [test_client.post("/api/ask", json={"question": "Where is Cheddar?"},
                                     headers={"X-Forwarded-For": f}).status_code for f in forwarded]

    base = {"rate_per_minute": 6.0, "rate_burst": 2, "chat_page": False, "feedback_path": tmp_path / "f.jsonl"}
    visitors = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "1.1.1.1"]
    # Untrusted peer: X-Forwarded-For is ignored, everyone shares the peer's bucket.
    assert codes(ServerConfig(**base), visitors) == [200, 200, 429, 429]
    # Behind a trusted proxy (the test client's peer), each visitor has a bucket of their own.
    assert codes(ServerConfig(**base, trusted_proxies=("testclient",)), visitors) == [200, 200, 200, 200]
    # A forged leftmost hop does not help: the proxy's own entry (rightmost) is the one used.
    forged = [f"9.9.9.{i}, 5.5.5.5" for i in range(4)]
    assert codes(ServerConfig(**base, trusted_proxies=("testclient",)), forged) == [200, 200, 429, 429]


def test_the_source_view_shows_the_text_as_text_with_the_passage_marked(client: TestClient) -> None:
    answer = client.post("/api/ask", json={"question": "Where does Cheddar cheese come from?"}).json()
    cheese = next(c for c in answer["citations"] if c["doc_id"] == "cheese")
    assert cheese["section"] == "Cheese" and cheese["url"].startswith("/source/cheese?start=")
    page = client.get(cheese["url"].split("#")[0])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert f'<mark id="passage">{cheese["quote"]}</mark>' in page.text
    assert "<script>" not in page.text  # the page's own scripts were never text


def test_the_source_view_escapes_document_text() -> None:
    from ui.api import source_page

    doc = Document("x", "A <title>", "Text with <script>alert(1)</script> & more.", "x.txt", "0")
    page = source_page(doc, 10, 35)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<mark id="passage">&lt;script&gt;alert(1)&lt;/script&gt;</mark>' in page
    assert "<h1>A &lt;title&gt;</h1>" in page
    assert source_page(doc, 5, 999).count("<mark") == 0  # a range outside the text marks nothing


def test_the_source_view_of_an_unknown_document_is_404(client: TestClient) -> None:
    response = client.get("/source/no-such-doc?start=0&end=5")
    assert response.status_code == 404 and response.json()["message"] == "no such document"


def test_with_a_base_url_html_citations_link_to_the_page_at_the_quote(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index-base"
    build_index(small_docs, index, HashEmbedder())
    assistant = Assistant.load(index, reader="heuristic", base_url="https://docs.example.org/")
    answer = assistant.ask("Where does Cheddar cheese come from?")
    by_doc = {c.doc_id: c.url for c in answer.citations}
    assert by_doc["cheese"].startswith("https://docs.example.org/cheese.html#:~:text=")
    assert all(url.startswith("/source/") for doc_id, url in by_doc.items() if doc_id != "cheese")
