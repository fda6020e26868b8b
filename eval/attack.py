"""The attack of issue 10 run again, as an attacker would, against a real `rag serve` on loopback.

    python eval/attack.py            # about 40 s; prints a table, exits 1 if any guard gave way

Starts `rag serve` with its default limits (60 questions a minute, bursts of 20, 16 KB bodies)
over a small index built with the hashing embedder, then tries each finding of the issue.
Only 127.0.0.1 is ever contacted; every loop is bounded.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
JOIN = "/gradio_api/queue/join"


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def join_body(question: str = "Where does Cheddar cheese come from?", session: str = "attacker") -> bytes:
    return json.dumps({"data": [question, None], "fn_index": 1, "trigger_id": 4, "session_hash": session}).encode()


def start(index: Path, feedback: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([str(BIN / "rag"), "serve", "--index", str(index), "--port", str(port),
                             "--feedback", str(feedback)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if request(port, "GET", "/api/health")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("rag serve did not start")


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rag-attack-"))
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "cheese.txt").write_text("Cheddar cheese comes from the village of Cheddar in Somerset. "
                                     "It is aged for nine months or longer.", encoding="utf-8")
    subprocess.run([str(BIN / "rag"), "ingest", "--docs", str(docs), "--index", str(tmp / "index"),
                    "--embedder", "hash"], check=True, capture_output=True)
    rows: list[tuple[str, str, str, bool]] = []

    def check(finding: str, tried: str, attempt: Callable[[int], tuple[str, bool]]) -> None:
        proc, port = start(tmp / "index", tmp / "feedback.jsonl")  # a fresh server: fresh buckets
        try:
            outcome, held = attempt(port)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        rows.append((finding, tried, outcome, held))
        print(f"{'held' if held else 'GAVE WAY'}: {finding}: {outcome}", flush=True)

    def burst(path: str, body: bytes, n: int) -> Callable[[int], tuple[str, bool]]:
        def run(port: int) -> tuple[str, bool]:
            codes = [request(port, "POST", path, body)[0] for _ in range(n)]
            ok = sum(c == 200 for c in codes)
            return f"{ok} of {n} answered, {codes.count(429)} refused with 429", ok <= 20
        return run

    check("1. chat page skips the rate limit", "40 questions at once to /gradio_api/queue/join",
          burst(JOIN, join_body(), 40))
    check("1. chat page skips the origin allowlist", "a question from Origin: http://evil.example",
          lambda p: (lambda c: (f"{c}", c == 403))(request(p, "POST", JOIN, join_body(),
                                                             {"Origin": "http://evil.example"})[0]))
    check("1. chat page skips the body limit", "a 50 MB body to the chat page",
          lambda p: _big_body(p, JOIN, 50_000_000))
    check("1. a 100,000-turn history", "100,000 turns of history to /api/ask",
          lambda p: (lambda c: (f"{c}", c in (413, 422)))(request(
              p, "POST", "/api/ask", json.dumps({"question": "q?", "history": ["x"] * 100_000}).encode())[0]))
    check("2. X-Forwarded-For from loopback", "40 questions, each with another forged X-Forwarded-For",
          lambda p: _forged(p))
    check("3. feedback without a limit", "200 likes in a row", lambda p: _likes(p))
    check("4. planted conversations (deep links)", "GET /gradio_api/deep_link and /?deep_link=…",
          lambda p: (lambda a, b: (f"{a}, {b}", a == 404 and b == 404))(
              request(p, "GET", "/gradio_api/deep_link?session_hash=attacker")[0],
              request(p, "GET", "/?deep_link=0123456789abcdef")[0]))
    check("6. DNS rebinding", "a same-origin question with Host: rebind.evil.example",
          lambda p: (lambda c: (f"{c}", c == 421))(request(
              p, "POST", "/api/ask", b'{"question": "q?"}',
              {"Host": "rebind.evil.example", "Origin": "http://rebind.evil.example"})[0]))
    check("8. internal errors reach the client", "an unknown event number to the chat page",
          lambda p: (lambda c: (f"{c}", c == 422))(request(
              p, "POST", JOIN, json.dumps({"data": [], "fn_index": -1, "session_hash": "x"}).encode())[0]))
    check("11. headers a byte at a time", "one header byte every 0.5 s", lambda p: _slow_head(p))
    check("11. a body a byte at a time", "a declared 200-byte body, then silence", lambda p: _slow_body(p))
    check("12. /docs loads a CDN", "GET /docs", lambda p: (lambda b: (
        "no outside address" if b"cdn" not in b.lower() else "CDN", b"cdn" not in b.lower()))(
        request(p, "GET", "/docs")[1]))
    check("Gradio routes the product does not use", "upload, file=, proxy=, info, run, call",
          lambda p: _unused(p))
    print()
    print("| finding | tried | outcome | held |")
    print("|---|---|---|---|")
    for finding, tried, outcome, held in rows:
        print(f"| {finding} | {tried} | {outcome} | {'yes' if held else '**no**'} |")
    return 0 if all(r[3] for r in rows) else 1


def _big_body(port: int, path: str, size: int) -> tuple[str, bool]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        reply = sock.recv(200)
    status = reply.split(b" ")[1].decode() if reply else "closed"
    return f"{status} before the body was sent", status == "413"


def _forged(port: int) -> tuple[str, bool]:
    codes = [request(port, "POST", "/api/ask", b'{"question": "q?"}', {"X-Forwarded-For": f"10.1.{i}.1"})[0]
             for i in range(40)]
    ok = codes.count(200)
    return f"{ok} of 40 answered", ok <= 20


def _likes(port: int) -> tuple[str, bool]:
    session = "liker"
    request(port, "POST", JOIN, join_body(session=session))
    body = json.dumps({"data": [None], "fn_index": 4, "trigger_id": 9, "session_hash": session,
                       "event_data": {"index": 1, "value": "x" * 10_000, "liked": True}}).encode()
    codes = [request(port, "POST", JOIN, body)[0] for _ in range(200)]
    ok = codes.count(200)
    return f"{ok} of 200 accepted, {codes.count(429)} refused with 429", ok <= 20


def _slow_head(port: int) -> tuple[str, bool]:
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\n")
        try:
            for _ in range(60):
                sock.sendall(b"X")
                time.sleep(0.5)
                sock.settimeout(0.01)
                try:
                    if sock.recv(1) == b"":
                        break
                except TimeoutError:
                    pass
        except OSError:
            pass
    took = time.monotonic() - began
    return f"closed after {took:.1f} s", took < 20


def _slow_body(port: int) -> tuple[str, bool]:
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 200\r\n\r\n{".encode())
        reply = sock.recv(200)
    took = time.monotonic() - began
    status = reply.split(b" ")[1].decode() if reply else "closed"
    return f"{status} after {took:.1f} s", status == "408" and took < 20


def _unused(port: int) -> tuple[str, bool]:
    paths = [("POST", "/gradio_api/upload"), ("GET", "/gradio_api/file=/etc/passwd"),
             ("GET", "/gradio_api/proxy=http://127.0.0.1/"), ("GET", "/gradio_api/info"),
             ("POST", "/gradio_api/run/predict"), ("POST", "/gradio_api/call/v2/x"), ("GET", "/config")]
    codes = [request(port, m, p, b"{}" if m == "POST" else None)[0] for m, p in paths]
    return ", ".join(str(c) for c in codes), all(c == 404 for c in codes)


if __name__ == "__main__":
    sys.exit(main())
