"""A running server follows its index: a build switches it to the new generation without a
failed request, and `--watch` re-ingests the documents folder when it changes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from rag.build import build_index
from rag.embed_hash import HashEmbedder
from rag.live import DocsWatcher, LiveAssistant
from rag.pipeline import Assistant
from rag.store import live_generation
from tests.conftest import SMALL_CORPUS, free_port, write_corpus

NEW_DOC = ("The Wednesday hills ride of the Riverside club is 38 km long. "
           "It leaves the boathouse at 6 pm.")
NEW_QUESTION = "How long is the Wednesday hills ride?"


def _live(index: Path, poll: float = 0.1) -> LiveAssistant:
    embedder = HashEmbedder()
    return LiveAssistant(index, lambda: Assistant.load(index, embedder, reader="heuristic"), poll_seconds=poll)


def _cites(answer: object, doc_id: str) -> bool:
    return any(c.doc_id == doc_id for c in getattr(answer, "citations", ()))


def test_refresh_switches_to_a_new_generation_and_health_names_it(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    index = tmp_path / "index"
    build_index(docs, index, HashEmbedder())
    live = _live(index)
    first = live.describe()["generation"]
    assert first == live_generation(index) and first.startswith("gen-")
    assert not live.refresh()  # nothing new
    assert not _cites(live.ask(NEW_QUESTION), "rides")

    (docs / "rides.txt").write_text(NEW_DOC, encoding="utf-8")
    build_index(docs, index, HashEmbedder())
    before = live.current
    assert live.refresh()
    assert live.describe()["generation"] == live_generation(index) != first
    assert live.current is not before and len(live.documents) == len(before.documents) + 1
    answer = live.ask(NEW_QUESTION)
    assert _cites(answer, "rides") and "38 km" in answer.answer


def test_a_generation_that_cannot_load_is_skipped_and_the_old_one_keeps_answering(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    index = tmp_path / "index"
    build_index(docs, index, HashEmbedder())
    live = _live(index)
    first = live.current.generation
    (docs / "rides.txt").write_text(NEW_DOC, encoding="utf-8")
    build_index(docs, index, HashEmbedder())
    (index / live_generation(index) / "chunks.jsonl").write_text("damaged", encoding="utf-8")
    assert not live.refresh()
    assert live.current.generation == first
    assert "2016" in live.ask("When did the Long March 5 rocket first fly?").answer
    assert not live.refresh()  # the damaged generation is not loaded again and again


def _post(port: int, question: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/ask", data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError as exc:  # a dropped connection counts as a failure, with its reason
        return 0, {"error": str(exc)}


def test_a_server_under_load_switches_index_without_a_failed_request(tmp_path: Path) -> None:
    """Four clients ask without pause while `rag ingest` (here: build_index, as a second process
    would) adds a document: every request answers 200, and the new document is answered within
    5 s of the switch."""
    import uvicorn

    from ui.api import create_app
    from ui.config import ServerConfig
    from ui.server import uvicorn_config

    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    index = tmp_path / "index"
    build_index(docs, index, HashEmbedder())
    live = _live(index, poll=0.5)
    config = ServerConfig(chat_page=False, rate_per_minute=1e6, rate_burst=10**6, feedback_path=tmp_path / "f.jsonl")
    port = free_port()
    server = uvicorn.Server(uvicorn_config(create_app(live, config), "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    live.start()
    statuses: list[int] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            statuses.append(_post(port, "When did the Long March 5 rocket first fly?")[0])

    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        clients = [threading.Thread(target=client) for _ in range(4)]
        for c in clients:
            c.start()
        time.sleep(1.0)
        (docs / "rides.txt").write_text(NEW_DOC, encoding="utf-8")
        build_index(docs, index, HashEmbedder())
        switched = time.monotonic()
        answered_after = None
        while time.monotonic() - switched < 10:
            status, body = _post(port, NEW_QUESTION)
            statuses.append(status)
            if any(c.get("doc_id") == "rides" for c in body.get("citations", [])):  # type: ignore[union-attr]
                answered_after = time.monotonic() - switched
                break
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=30)
        live.close()
        server.should_exit = True
        thread.join(timeout=10)
    assert len(statuses) > 20
    assert set(statuses) == {200}, f"{sum(s != 200 for s in statuses)} of {len(statuses)} failed: {set(statuses)}"
    assert answered_after is not None and answered_after <= 5.0, answered_after


def test_the_watcher_reingests_a_changed_docs_folder(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    index = tmp_path / "index"
    build_index(docs, index, HashEmbedder())
    live = _live(index)
    watcher = DocsWatcher(docs, index, HashEmbedder(), on_built=live.refresh, poll_seconds=0.2)
    watcher.start()
    try:
        (docs / "rides.txt").write_text(NEW_DOC, encoding="utf-8")
        deadline = time.monotonic() + 20
        while not _cites(live.ask(NEW_QUESTION), "rides") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _cites(live.ask(NEW_QUESTION), "rides")
        (docs / "rides.txt").unlink()
        deadline = time.monotonic() + 20
        while any(d.doc_id == "rides" for d in live.documents) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(d.doc_id != "rides" for d in live.documents)
    finally:
        watcher.close()


def test_watch_without_docs_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--watch", "--index", "nowhere"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "--watch needs --docs" in done.stderr and "Traceback" not in done.stderr


def test_the_follow_thread_survives_a_vanished_index(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    index = tmp_path / "index"
    build_index(docs, index, HashEmbedder())
    live = _live(index, poll=0.05)
    live.start()
    try:
        (index / "CURRENT").unlink()
        time.sleep(0.5)
        assert "2016" in live.ask("When did the Long March 5 rocket first fly?").answer
        assert live._thread is not None and live._thread.is_alive()
    finally:
        live.close()
