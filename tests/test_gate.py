"""The gate in front of every route: the chat page's Gradio endpoints get the REST API's guards,
routes the product does not use are not found, hosts and forwarded addresses are not trusted."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.pipeline import Assistant
from ui.api import create_app
from ui.config import ServerConfig
from ui.security import default_hosts, route_of

from .conftest import free_port

ORIGIN_OK = "http://allowed.example"
JOIN = "/gradio_api/queue/join"


def _join(question: str = "When did the Long March 5 rocket first fly?") -> dict[str, Any]:
    return {"data": [question, None], "fn_index": 1, "trigger_id": 4, "session_hash": "gatetest"}


@pytest.fixture
def page(small_assistant: Assistant, tmp_path: Path) -> Iterator[TestClient]:
    config = ServerConfig(cors_origins=(ORIGIN_OK,), rate_per_minute=1, rate_burst=4, max_body_bytes=4_096,
                          feedback_path=tmp_path / "feedback.jsonl", allowed_hosts=("testserver", "localhost"))
    with TestClient(create_app(small_assistant, config)) as client:
        yield client


def test_the_chat_page_and_the_api_share_one_rate_limit(page: TestClient) -> None:
    codes = [page.post(JOIN, json=_join()).status_code, page.post("/api/ask", json={"question": "When?"}).status_code,
             page.post(JOIN, json=_join()).status_code, page.post("/api/ask", json={"question": "When?"}).status_code]
    assert 429 not in codes
    refused = page.post(JOIN, json=_join())
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert page.post("/api/ask", json={"question": "When?"}).status_code == 429


def test_the_chat_page_refuses_other_sites_even_allowed_ones(page: TestClient) -> None:
    for origin in ("http://evil.example", ORIGIN_OK, "null"):
        response = page.post(JOIN, json=_join(), headers={"Origin": origin})
        assert response.status_code == 403, origin
        assert response.json()["message"] == "This assistant is not available on this site."
    assert page.post(JOIN, json=_join(), headers={"Origin": "http://testserver"}).status_code == 200
    # The REST API takes the allowlist.
    assert page.post("/api/ask", json={"question": "When?"}, headers={"Origin": ORIGIN_OK}).status_code == 200


def test_a_large_body_is_refused_on_every_route_before_it_is_read(page: TestClient) -> None:
    big = json.dumps(_join("x" * 10_000))
    for path in (JOIN, "/api/ask"):
        response = page.post(path, content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and "limit" in response.json()["message"]

    def chunked() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1_000

    response = page.post(JOIN, content=chunked(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/gradio_api/deep_link?session_hash=abc"),
    ("GET", "/?deep_link=abc123"),
    ("POST", "/gradio_api/upload"),
    ("GET", "/gradio_api/info"),
    ("GET", "/config"),
    ("GET", "/gradio_api/file=/etc/passwd"),
    ("GET", "/gradio_api/proxy=http://example.com/"),
    ("POST", "/gradio_api/run/predict"),
    ("POST", "/gradio_api/call/v2/on_submit"),
    ("POST", "/gradio_api/reset"),
    ("GET", "/redoc"),
    ("GET", "/manifest.json"),
    ("PUT", "/api/ask"),
])
def test_routes_the_product_does_not_use_are_not_found(page: TestClient, method: str, path: str) -> None:
    response = page.request(method, path)
    assert response.status_code == 404, (method, path, response.status_code)
    assert response.json()["message"] == "Not found."


def test_the_pages_the_product_uses_are_served(page: TestClient) -> None:
    for path in ("/", "/api/health", "/widget.js", "/widget/demo.html", "/openapi.json", "/docs"):
        assert page.get(path).status_code == 200, path
    assert route_of("GET", "/assets/index.js") and route_of("GET", "/gradio_api/queue/data")


def test_the_api_docs_load_nothing_from_outside(page: TestClient) -> None:
    html = page.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert "https://" not in html.replace("https://fastapi.tiangolo.com", "")
    assert page.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_an_unknown_host_is_refused_against_dns_rebinding(page: TestClient) -> None:
    response = page.get("/api/health", headers={"Host": "rebind.evil.example"})
    assert response.status_code == 421
    # Same-origin from a rebinding page: the Origin matches its Host, but the Host is not ours.
    forged = page.post("/api/ask", json={"question": "When?"},
                       headers={"Host": "rebind.evil.example", "Origin": "http://rebind.evil.example"})
    assert forged.status_code == 421
    assert page.get("/api/health", headers={"Host": "localhost"}).status_code == 200
    assert "127.0.0.1:7860" in default_hosts("127.0.0.1", 7860) and "localhost:7860" in default_hosts("0.0.0.0", 7860)
    assert "0.0.0.0" not in default_hosts("0.0.0.0", 7860)


def test_x_forwarded_for_from_loopback_is_not_a_new_client_without_trust_proxy(
    small_assistant: Assistant, tmp_path: Path
) -> None:
    """A real uvicorn with `rag serve`'s settings: forged X-Forwarded-For headers share one bucket."""
    import uvicorn

    from ui.server import uvicorn_config

    port = free_port()
    config = ServerConfig(rate_per_minute=1, rate_burst=2, chat_page=False, feedback_path=tmp_path / "f.jsonl")
    server = uvicorn.Server(uvicorn_config(create_app(small_assistant, config), "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        codes = []
        for i in range(6):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/ask", data=json.dumps({"question": "When?"}).encode(),
                headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.0.0.{i}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    codes.append(response.status)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
        assert codes == [200, 200, 429, 429, 429, 429]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(small_assistant: Assistant, tmp_path: Path) -> Iterator[int]:
    """A real uvicorn with `rag serve`'s settings, short head and body deadlines."""
    import uvicorn

    from ui.server import uvicorn_config

    port = free_port()
    config = ServerConfig(chat_page=False, feedback_path=tmp_path / "f.jsonl", max_body_seconds=1.0)
    server = uvicorn.Server(uvicorn_config(create_app(small_assistant, config), "127.0.0.1", port, head_seconds=1.0))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _read_all(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and how long that took."""
    began = time.monotonic()
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        return data + b"<still open>", time.monotonic() - began
    return data, time.monotonic() - began


def test_a_client_sending_its_headers_a_byte_at_a_time_is_cut_off(live: int) -> None:
    with socket.create_connection(("127.0.0.1", live)) as sock:
        sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for byte in b"X-Slow: 1":
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
        data, took = _read_all(sock, 5.0)
    assert data == b"" and took < 4.0, (data, took)


def test_a_client_sending_its_body_a_byte_at_a_time_gets_408(live: int) -> None:
    with socket.create_connection(("127.0.0.1", live)) as sock:
        sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200\r\n\r\n{\"question\": ")
        data, took = _read_all(sock, 5.0)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"took over 1 s to arrive" in data and took < 4.0
    # A prompt client on the same server is answered as ever.
    request = urllib.request.Request(f"http://127.0.0.1:{live}/api/ask", data=b'{"question": "Where is Cheddar?"}',
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("body", [
    {"data": ["q", None], "fn_index": -1, "session_hash": "abc"},
    {"data": ["q", None], "fn_index": 999, "session_hash": "abc"},
    {"data": ["q", None], "fn_index": 1},
    {"data": ["q", None], "fn_index": 1, "session_hash": ""},
    {"data": ["q", None], "fn_index": 1, "session_hash": "../x"},
    {"data": "q", "fn_index": 1, "session_hash": "abc"},
    {"data": ["q", None], "fn_index": True, "session_hash": "abc"},
    [1, 2, 3],
])
def test_the_chat_queue_takes_only_what_the_page_sends(page: TestClient, body: object) -> None:
    """Gradio answered an unknown event number or a missing session with a 500 and a traceback."""
    response = page.post(JOIN, json=body)
    assert response.status_code == 422 and response.json()["message"] == "not a request this page sends"
    assert page.post(JOIN, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422


def test_an_allowed_site_can_read_the_gates_refusals(page: TestClient) -> None:
    """429, 413 and 408 come from the gate, outside the CORS middleware: the widget on an allowed
    site must still be able to read them (and their Retry-After)."""
    headers = {"Origin": ORIGIN_OK}
    big = page.post("/api/ask", content=b"x" * 5_000, headers={**headers, "Content-Type": "application/json"})
    assert big.status_code == 413 and big.headers["access-control-allow-origin"] == ORIGIN_OK
    codes = [page.post("/api/ask", json={"question": "When?"}, headers=headers) for _ in range(6)]
    refused = codes[-1]
    assert refused.status_code == 429
    assert refused.headers["access-control-allow-origin"] == ORIGIN_OK
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()
    ok = codes[0]
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN_OK
    assert ok.headers.get_list("access-control-allow-origin") == [ORIGIN_OK], "one header, not two"
