"""The `rag` command: contracts of DESIGN.md, one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main


def _build(docs: Path, index: Path) -> None:
    assert main(["ingest", "--docs", str(docs), "--index", str(index), "--embedder", "hash"]) == 0


def test_ingest_then_ask_json(small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    assert "indexed 3 documents" in capsys.readouterr().out
    assert main(["ask", "When did the Long March 5 rocket first fly?", "--index", str(index), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "2016" and data["abstained"] is False
    assert data["citations"][0]["n"] == 1


def test_pages_of_links_are_reported_in_one_line_and_bad_files_each(
    small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    links = "".join(f'<li><a href="p{i}.html">Part {i} of the guide</a></li>' for i in range(12))
    for name in ("contents", "genindex-A", "genindex-B", "genindex-C", "genindex-D"):
        (small_docs / f"{name}.html").write_text(f"<html><body><main><ul>{links}</ul></main></body></html>")
    (small_docs / "empty.txt").write_text("  \n")
    _build(small_docs, tmp_path / "index")
    lines = capsys.readouterr().err.splitlines()
    skipped = [line for line in lines if line.startswith("rag: skipped")]
    assert len(skipped) == 2, lines
    assert "empty.txt: holds no text" in skipped[0]
    assert skipped[1].startswith("rag: skipped 5 pages of links") and "and 2 more" in skipped[1]
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and "empty.txt" in r.getMessage()]
    assert not warned, "each file is told once, not again by the log"


def test_second_ingest_reports_up_to_date(small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    _build(small_docs, index)
    assert "up to date" in capsys.readouterr().out


def test_batch_keeps_order_and_count(small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    capsys.readouterr()
    rows = [
        {"id": "a", "question": "Where does Cheddar cheese come from?"},
        {"id": "b", "question": "When did it first fly?", "history": ["Tell me about the Long March 5 rocket"]},
        {"id": "c", "question": "What is the boiling point of helium?", "answers": []},
    ]
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main(["ask", "--batch", str(batch), "--index", str(index), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["question"] for a in answers] == [r["question"] for r in rows]
    assert [a["id"] for a in answers] == ["a", "b", "c"], "each line names the question it answers"
    assert answers[1]["answer"] == "2016"


def test_batch_with_bad_line_names_it(small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"question": "ok?"}\n{not json\n', encoding="utf-8")
    assert main(["ask", "--batch", str(batch), "--index", str(index), "--json"]) == 2
    err = capsys.readouterr().err
    assert "q.jsonl:2" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("question", "message"), [("   ", "question is empty"), ("y" * 100_000, "100,000 characters")]
)
def test_bad_question_is_one_line(
    small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], question: str, message: str
) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    capsys.readouterr()
    assert main(["ask", question, "--index", str(index)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rag: error:") and message in err and len(err.splitlines()) == 1


def test_ask_without_index_says_how_to_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "anything?", "--index", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no index" in err and "rag ingest" in err


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_ingest_of_empty_or_missing_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str) -> None:
    docs = tmp_path / "docs"
    if make == "empty":
        docs.mkdir()
    assert main(["ingest", "--docs", str(docs), "--index", str(tmp_path / "index"), "--embedder", "hash"]) == 2
    err = capsys.readouterr().err
    assert str(docs) in err and "Traceback" not in err


def test_bad_files_are_named_and_the_rest_indexed(
    small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (small_docs / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (small_docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (small_docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")
    index = tmp_path / "index"
    assert main(["ingest", "--docs", str(small_docs), "--index", str(index), "--embedder", "hash"]) == 0
    captured = capsys.readouterr()
    assert "indexed 3 documents" in captured.out
    for name in ("binary.txt", "latin1.txt", "broken.pdf"):
        assert name in captured.err


def test_console_script_runs_as_a_process(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "", "--index", str(index)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "rag: error: the question is empty"


def test_eval_writes_reports_and_prints_a_table(small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"id": "1", "question": "When did the Long March 5 rocket first fly?", "answers": ["2016"], "type": "direct"},
        {"id": "2", "question": "Where does Cheddar cheese come from?", "answers": ["village of Cheddar"], "type": "direct"},
        {"id": "3", "question": "Who painted the Mona Lisa in Florence?", "answers": [], "unanswerable": True,
         "type": "unanswerable"},
    ]
    qfile = tmp_path / "small.jsonl"
    qfile.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    reports = tmp_path / "reports"
    code = main(["eval", "--questions", str(qfile), "--docs", str(small_docs), "--embedder", "hash",
                 "--index", str(tmp_path / "index"), "--reports", str(reports)])
    assert code == 0
    out = capsys.readouterr().out
    assert "ev@1" in out and "direct" in out and "unanswerable" in out
    assert "side by side:" in out and "reader p50 ms" in out
    for reader in ("model", "heuristic"):
        data = json.loads((reports / f"small-{reader}.json").read_text(encoding="utf-8"))
        assert data["reader"] == reader
        assert data["overall"]["questions"] == 3 and data["overall"]["citation_validity"] == 1.0
        assert data["overall"]["reader_p50_ms"] > 0
        assert set(data["by_type"]) == {"direct", "unanswerable"}
        assert (reports / f"small-{reader}.md").read_text(encoding="utf-8").startswith(f"# Eval report: small-{reader}")
        assert (reports / f"small-{reader}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (reports / "small-readers.md").read_text(encoding="utf-8")
    assert "| direct | model |" in table and "| direct | heuristic |" in table
    assert "| unanswerable | heuristic |" in table


def test_rag_serve_starts_and_answers(small_docs: Path, tmp_path: Path) -> None:
    """The path `make run` takes: `rag serve --docs --index` builds if needed, then serves."""
    import http.client
    import socket
    import time

    index = tmp_path / "index"
    _build(small_docs, index)  # a hash index: the server reuses its embedder
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--docs", str(small_docs), "--index",
                             str(index), "--port", str(port), "--feedback", str(tmp_path / "f.jsonl")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/health")
                health = json.loads(conn.getresponse().read())
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server died"
                assert time.time() < deadline, "rag serve did not come up"
                time.sleep(0.2)
        assert health["documents"] == 3 and health["embedder"] == "hash"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/ask", json.dumps({"question": "When did the Long March 5 rocket first fly?"}),
                     {"Content-Type": "application/json"})
        assert json.loads(conn.getresponse().read())["answer"] == "2016"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_interactive_session_outlives_the_history_limit_and_ends_its_lines(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    _build(small_docs, index)
    questions = ["Tell me about the Long March 5 rocket"] + ["When did it first fly?"] * 14
    # The heuristic reader: this is about the session's history, not about reading (the model
    # declines a question repeated after its own answer, which the carried answer already holds).
    done = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--index", str(index), "--reader", "heuristic"],
                          input="\n".join(questions) + "\n\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "history" not in done.stdout and "rag:" not in done.stdout
    # Every follow-up is answered (past the 10-turn history limit), each on a line of its own.
    assert sum(line.startswith("2016 [1]") for line in done.stdout.splitlines()) == 14
    assert "? 2016" not in done.stdout


def test_rag_eval_does_not_overwrite_the_committed_reports_by_default(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "Where does Cheddar cheese come from?",
                                     "answers": ["Somerset"]}) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--questions", str(questions), "--docs", str(small_docs), "--embedder", "hash",
                 "--reader", "heuristic"]) == 0
    assert (tmp_path / "eval" / ".cache" / "reports" / "q-heuristic.json").is_file()
    assert not (tmp_path / "eval" / ".cache" / "reports" / "q-model.json").exists()
    assert not (tmp_path / "eval" / "reports").exists()



def test_rag_eval_saves_answers_into_a_folder_it_creates(small_docs: Path, tmp_path: Path) -> None:
    """It used to ask every question, then fail with a traceback on a folder that did not exist."""
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "Where does Cheddar cheese come from?",
                                     "answers": ["Somerset"]}) + "\n", encoding="utf-8")
    saved = tmp_path / "new" / "folder" / "answers.jsonl"
    assert main(["eval", "--questions", str(questions), "--docs", str(small_docs), "--embedder", "hash",
                 "--reader", "heuristic", "--reports", str(tmp_path / "reports"), "--save-answers", str(saved)]) == 0
    assert json.loads(saved.read_text(encoding="utf-8"))["answer"]


def test_ingest_and_eval_keep_the_embedder_the_index_was_built_with(
    small_docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --embedder, `rag ingest` and `rag eval` build with the embedder the index names,
    not the default one: an index of the int8 model (or any other) is updated, never re-embedded
    whole with MiniLM behind the user's back."""
    from rag.store import read_manifest

    index = tmp_path / "index"
    _build(small_docs, index)
    (small_docs / "kites.md").write_text("# Kites\n\nThe red kite nests in tall trees.\n", encoding="utf-8")
    assert main(["ingest", "--docs", str(small_docs), "--index", str(index)]) == 0
    assert "reused 3" in capsys.readouterr().out
    assert read_manifest(index).embedder == "hash"
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"id": "1", "question": "Where does the red kite nest?", "answers": ["tall trees"]})
                     + "\n", encoding="utf-8")
    assert main(["eval", "--questions", str(qfile), "--docs", str(small_docs), "--index", str(index),
                 "--reports", str(tmp_path / "reports"), "--reader", "heuristic"]) == 0
    assert read_manifest(index).embedder == "hash"
    report = json.loads((tmp_path / "reports" / "q-heuristic.json").read_text(encoding="utf-8"))
    assert report["embedder"] == "hash"
