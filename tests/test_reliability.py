"""Reliability: concurrency, crash safety under kill -9, hostile files, bursts, a bounded load."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.build import build_index
from rag.config import ChunkConfig, IngestConfig, Settings
from rag.embed_hash import HashEmbedder
from rag.errors import IndexMismatchError
from rag.ingest import load_documents
from rag.pipeline import Assistant
from rag.store import load_index, read_manifest
from ui.api import create_app
from ui.config import ServerConfig

from .conftest import ROOT, SMALL_CORPUS, write_corpus
from .test_ingest import pdf_file

DEV_QUESTIONS = [json.loads(line)["question"] for line in
                 (ROOT / "eval" / "questions" / "xian-dev.jsonl").read_text(encoding="utf-8").splitlines()]


def test_sixteen_threads_get_the_serial_answers(hash_default_assistant: Assistant) -> None:
    serial = [hash_default_assistant.ask(q).to_dict() for q in DEV_QUESTIONS]
    with ThreadPoolExecutor(max_workers=16) as pool:
        parallel = list(pool.map(lambda q: hash_default_assistant.ask(q).to_dict(), DEV_QUESTIONS * 3))
    for i, answer in enumerate(parallel):
        expected = dict(serial[i % len(serial)])
        answer.pop("latency_ms")
        expected.pop("latency_ms")
        assert answer == expected


def _many_docs(folder: Path, round_: int) -> None:
    rng = random.Random(round_)
    words = "rocket engine plant chip city data conference market firm talent".split()
    for i in range(40):
        body = " ".join(rng.choice(words) for _ in range(300))
        (folder / f"doc{i:02d}.txt").write_text(f"Document {i} round {round_}. {body}.", encoding="utf-8")


def _round_hashes(folder: Path) -> tuple[tuple[str, str], ...]:
    """(doc_id, sha256) of every file, as a manifest built from `folder` records them."""
    return tuple(sorted((p.stem, hashlib.sha256(p.read_bytes()).hexdigest()) for p in folder.glob("*.txt")))


def _writing(index: Path) -> bool:
    """A build is writing a generation now (its temporary folder exists)."""
    return any(p.name.startswith(".tmp-") for p in index.iterdir())


def test_kill_9_during_ingest_never_breaks_the_index(tmp_path: Path) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    _many_docs(docs, 0)
    build_index(docs, index, HashEmbedder())
    rng = random.Random(1234)
    killed_writing = 0
    for round_ in range(1, 21):
        _many_docs(docs, round_)
        before = read_manifest(index)
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", "--docs", str(docs), "--index", str(index),
                                 "--embedder", "hash"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_ % 2:
            # Odd rounds: a random moment (starting up, reading, embedding, writing or done).
            time.sleep(rng.uniform(0.0, 2.0))
        else:
            # Even rounds: the moment the new generation is being written, frozen there to be sure.
            deadline = time.monotonic() + 30
            while proc.poll() is None and not _writing(index) and time.monotonic() < deadline:
                time.sleep(0.0005)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGSTOP)
                killed_writing += _writing(index)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        after = read_manifest(index)
        # The old generation, or the complete new one: never a mixture.
        assert after.documents in (before.documents, _round_hashes(docs))
        stored = load_index(index)  # checksums verified
        assert stored.manifest == after
        answer = Assistant.load(index, HashEmbedder()).ask("Which round is document 3 from?")
        assert answer.citations and all(c.quote for c in answer.citations)
    assert killed_writing >= 5, f"only {killed_writing} of 10 kills landed while a generation was being written"


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (one not yet reaped has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_a_killed_ingest_leaves_no_parsing_process_behind(tmp_path: Path) -> None:
    """kill -9 while its pool parses: the pool's processes end themselves (each waited for work
    forever, two left behind by every such kill)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(600):
        paragraphs = "".join(f"<p>Paragraph {j} of page {i}: the ride leaves at six.</p>" for j in range(30))
        (docs / f"page{i:03d}.html").write_text(f"<html><title>Page {i}</title><main>{paragraphs}</main></html>",
                                                 encoding="utf-8")
    script = tmp_path / "ingest.py"
    script.write_text(
        "from pathlib import Path\n"
        "from rag.build import build_index\n"
        "from rag.config import IngestConfig, Settings\n"
        "from rag.embed_hash import HashEmbedder\n"
        "if __name__ == '__main__':\n"
        f"    build_index(Path({str(docs)!r}), Path({str(tmp_path / 'index')!r}), HashEmbedder(),\n"
        "                Settings(ingest=IngestConfig(parse_workers=2)))\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    pool: set[int] = set()
    while proc.poll() is None and time.monotonic() < deadline:
        pool = {pid for pid in _children(proc.pid)
                if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")}
        if len(pool) == 2:
            break
        time.sleep(0.01)
    assert len(pool) == 2, "the build never started its two parsing processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pool) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pool if _running(pid)]


def test_index_with_other_chunk_settings_is_refused_at_load(small_docs: Path, tmp_path: Path) -> None:
    build_index(small_docs, tmp_path / "index", HashEmbedder(), Settings(chunk=ChunkConfig(64, 8)))
    with pytest.raises(IndexMismatchError, match="rebuild with `rag ingest`"):
        Assistant.load(tmp_path / "index", settings=Settings())
    loaded = Assistant.load(tmp_path / "index")
    assert loaded.manifest is not None and loaded.manifest.chunk_config == ChunkConfig(64, 8)
    assert not loaded.ask("Where does Cheddar cheese come from?").abstained


def test_cli_refuses_a_damaged_index_in_one_line(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    gen = next(index.glob("gen-*"))
    (gen / "chunks.faiss").write_bytes(b"garbage, not an index")
    done = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Where is Cheddar?", "--index", str(index)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "rebuild with `rag ingest`" in lines[0] and "Traceback" not in done.stderr


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", b"0" * 50_000_000)


def _flate_bomb_pdf() -> bytes:
    import zlib

    data = zlib.compress(b"0 0 Td " * 10_000_000, 9)
    return pdf_file([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
                     b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"])


def test_hostile_files_are_named_and_the_rest_indexed(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    with open(docs / "huge.txt", "wb") as fh:  # 200 MB, sparse: costs no disk
        fh.truncate(200 * 1024 * 1024)
    _zip_bomb(docs / "bomb.pdf")
    (docs / "flate-bomb.pdf").write_bytes(_flate_bomb_pdf())
    (docs / "scripts.html").write_text("<html><body>" + "<script>alert(1)</script>" * 1000
                                       + "<p>Only this sentence is text.</p></body></html>", encoding="utf-8")
    (docs / "zz-copy-of-rockets.txt").write_text(SMALL_CORPUS["rockets.txt"], encoding="utf-8")
    (docs / "binary.txt").write_bytes(os.urandom(4096) + b"\x00")
    (docs / "latin1.txt").write_bytes("Caf\xe9".encode("latin-1"))
    outside = tmp_path / "secret.txt"
    outside.write_text("a secret outside the docs folder", encoding="utf-8")
    (docs / "link.txt").symlink_to(outside)
    began = time.perf_counter()
    report = load_documents(docs, IngestConfig())
    assert time.perf_counter() - began < 30
    failed = {e.path.name: e.reason for e in report.errors}
    assert "limit" in failed["huge.txt"]
    assert "bomb.pdf" in failed and "flate-bomb.pdf" in failed
    assert "same text" in failed["zz-copy-of-rockets.txt"]
    assert "binary" in failed["binary.txt"] and "UTF-8" in failed["latin1.txt"]
    assert any(p.name == "link.txt" for p in report.skipped)
    indexed = {d.doc_id: d for d in report.documents}
    assert set(indexed) == {"rockets", "chips", "cheese", "scripts"}
    assert indexed["scripts"].text == "Only this sentence is text."
    assert all("secret" not in d.text for d in report.documents)


@pytest.fixture
def burst_client(small_assistant: Assistant, tmp_path: Path) -> Iterator[TestClient]:
    config = ServerConfig(cors_origins=("http://ok.example",), rate_per_minute=60, rate_burst=10,
                          chat_page=False, feedback_path=tmp_path / "f.jsonl")
    with TestClient(create_app(small_assistant, config)) as client:
        yield client


def test_rate_limit_and_cors_hold_under_a_burst(burst_client: TestClient) -> None:
    def ask(origin: str | None) -> int:
        headers = {"Origin": origin} if origin else {}
        return burst_client.post("/api/ask", json={"question": "Where is Cheddar?"}, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(ask, ["http://ok.example"] * 40))
        refused = list(pool.map(ask, ["http://bad.example"] * 40))
    assert codes.count(200) == 10 and codes.count(429) == 30
    assert set(refused) == {403}


def test_bounded_load_has_no_errors(small_assistant: Assistant, tmp_path: Path) -> None:
    """The quick form of eval/load.py: 600 requests from 32 clients over real HTTP."""
    import uvicorn

    from eval.load import run_load

    config = ServerConfig(rate_per_minute=1e9, rate_burst=10**9, chat_page=False, feedback_path=tmp_path / "f.jsonl")
    server = uvicorn.Server(uvicorn.Config(create_app(small_assistant, config), host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        result = run_load(port, ["Where does Cheddar cheese come from?", "When did the rocket fly?"], 32, 600)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert result["requests"] == 600
    assert result["server_errors"] == 0 and result["dropped"] == 0 and result["other_errors"] == 0
