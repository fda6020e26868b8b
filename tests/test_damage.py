"""What a damaged index, a hostile docs/ folder or a hostile file name does: one clear line, never
a crash, a traceback or a deleted folder of the user's."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.build import build_index
from rag.embed_hash import HashEmbedder
from rag.errors import IndexMismatchError
from rag.pipeline import Assistant
from rag.store import load_index

from .conftest import SMALL_CORPUS, write_corpus


def _rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=120)


def _generation(index: Path) -> Path:
    return index / (index / "CURRENT").read_text(encoding="utf-8").strip()


def test_truncating_the_live_index_under_a_running_process_does_not_kill_it(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    code = (
        "import sys; from pathlib import Path; from rag.pipeline import Assistant\n"
        "index = Path(sys.argv[1]); a = Assistant.load(index)\n"
        "print(a.ask('Where does Cheddar cheese come from?').answer)\n"
        "gen = index / (index / 'CURRENT').read_text().strip()\n"
        "for name in ('sentences.npy', 'chunks.faiss', 'chunks.jsonl'):\n"
        "    open(gen / name, 'r+b').truncate(0)\n"
        "print(a.ask('Where does Cheddar cheese come from?').answer)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # SIGBUS gives -7
    first, second = done.stdout.split("\n")[:2]
    assert first == second and "Somerset" in first


def test_a_documents_file_truncated_under_a_running_process_is_an_index_error_not_a_crash(
    small_docs: Path, tmp_path: Path
) -> None:
    """Texts are read from documents.jsonl when asked (none kept here): one read after the file
    was cut short is refused with rebuild advice (a memory map reads zeros there, or dies of SIGBUS)."""
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    code = (
        "import sys; from pathlib import Path; import rag.store; from rag.pipeline import Assistant\n"
        "from rag.errors import IndexMismatchError\n"
        "rag.store._DocumentTexts._KEEP_CHARS = 1\n"
        "index = Path(sys.argv[1]); a = Assistant.load(index)\n"
        "print(a.ask('Where does Cheddar cheese come from?').answer)\n"
        "gen = index / (index / 'CURRENT').read_text().strip()\n"
        "open(gen / 'documents.jsonl', 'r+b').truncate(10)\n"
        "try:\n"
        "    a.ask('Where does Cheddar cheese come from?')\n"
        "except IndexMismatchError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, error = done.stdout.split("\n")[:2]
    assert "Somerset" in first
    assert "documents.jsonl changed after it was loaded" in error and "rebuild with `rag ingest`" in error


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x80", b"gen-" + b"x" * 10_000_000, b"\x00" * 64])
def test_a_damaged_current_pointer_is_one_line_and_ingest_repairs_it(
    small_docs: Path, tmp_path: Path, content: bytes
) -> None:
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    (index / "CURRENT").write_bytes(content)
    done = _rag("ask", "Where does Cheddar cheese come from?", "--index", str(index))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400 and "rebuild with `rag ingest`" in lines[0], lines
    assert "Traceback" not in done.stderr
    repaired = _rag("ingest", "--docs", str(small_docs), "--index", str(index), "--embedder", "hash")
    assert repaired.returncode == 0, repaired.stderr
    assert "Somerset" in Assistant.load(index).ask("Where does Cheddar cheese come from?").answer


def test_a_build_leaves_the_users_own_folders_in_the_index_folder(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    for name in ("gen-photos", ".tmp-notes", "gen-20240101000000-notmine"):
        (index / name).mkdir(parents=True)
        (index / name / "keep.txt").write_text("mine", encoding="utf-8")
    build_index(small_docs, index, HashEmbedder())
    (small_docs / "rockets.txt").write_text("A changed rocket document.", encoding="utf-8")
    build_index(small_docs, index, HashEmbedder())
    (small_docs / "rockets.txt").write_text("A rocket document changed again.", encoding="utf-8")
    build_index(small_docs, index, HashEmbedder())
    for name in ("gen-photos", ".tmp-notes", "gen-20240101000000-notmine"):
        assert (index / name / "keep.txt").read_text(encoding="utf-8") == "mine"
    ours = [p.name for p in index.iterdir() if p.name.startswith("gen-2026") or p.name.startswith("gen-20")]
    assert len([n for n in ours if n != "gen-20240101000000-notmine"]) == 2, "the live and the previous generation"


def test_a_chunk_outside_its_document_is_refused(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    path = _generation(index) / "chunks.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0]["end"] = 10**6
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"outside its document.*rebuild"):
        load_index(index, verify=False)


def test_a_manifest_naming_files_outside_its_folder_is_refused(small_docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    path = _generation(index) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"]["../../../etc/passwd"] = "0" * 64
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="outside its folder"):
        load_index(index)


def test_link_loops_and_dangling_links_are_skipped_with_a_reason(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    os.symlink("loop.txt", docs / "loop.txt")
    os.symlink("b.txt", docs / "a.txt")
    os.symlink("a.txt", docs / "b.txt")
    os.symlink("missing.txt", docs / "dangling.txt")
    os.symlink(docs / "sub", docs / "sub-link")
    (docs / "sub").mkdir()
    os.symlink("../sub-link", docs / "sub" / "back")
    done = _rag("ingest", "--docs", str(docs), "--index", str(tmp_path / "index"), "--embedder", "hash")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name in ("loop.txt", "a.txt", "b.txt", "dangling.txt"):
        assert f"{docs / name}: a link out of the documents folder, to nothing, or in a loop" in done.stderr
    assert "indexed 3 documents" in done.stdout


def test_a_read_only_index_with_nothing_to_change_is_up_to_date(
    small_docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    real_open = builtins.open

    def read_only(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            raise OSError(30, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    report = build_index(small_docs, index, HashEmbedder())
    assert not report.changed and report.n_documents == 3


def test_escape_sequences_in_file_names_never_reach_the_terminal(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", {"evil\x1b]0;pwned\x07\x1b[31m.txt": "The red rocket flew in 2016."})
    (docs / "junk\x1b[2J.bin").write_bytes(b"\x00\x01")
    index = tmp_path / "index"
    ingest = _rag("ingest", "--docs", str(docs), "--index", str(index), "--embedder", "hash")
    ask = _rag("ask", "When did the red rocket fly?", "--index", str(index))
    assert ingest.returncode == 0 and ask.returncode == 0, (ingest.stderr, ask.stderr)
    for out in (ingest.stdout, ingest.stderr, ask.stdout, ask.stderr):
        assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b" in ask.stdout and "2016" in ask.stdout


def test_a_page_nested_100000_deep_is_read_in_one_pass(tmp_path: Path) -> None:
    """Reading used to edit the tree around every block element: quadratic, 20,000 levels took
    49 s. Now one pass; the timeout is a hang guard (it takes a few seconds), not a speed target."""
    page = tmp_path / "deep.html"
    page.write_text("<html><body>" + "<div>" * 100_000 + "deep text" + "</div>" * 100_000 + "</body></html>",
                    encoding="utf-8")
    code = ("import sys; from pathlib import Path; from rag.ingest import read_document\n"
            "p = Path(sys.argv[1]); print(read_document(p, p.parent).text)")
    done = subprocess.run([sys.executable, "-c", code, str(page)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "deep text"


def test_a_long_pdf_is_read_by_pdfium_never_by_pypdf(tmp_path: Path) -> None:
    """A 5,000-page PDF took 164 s: pypdf parses every page's content stream in Python (about
    35 ms a page of a real manual). PDFium, compiled, reads one in about 2 ms; the figures come
    from `python eval/bench_pdf.py`, not from this test, which checks that ingest reads every
    page of a long PDF without ever importing pypdf."""
    from tests.test_ingest import make_pdf

    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(make_pdf([[f"Page {n} says the count is {n * 7}."] for n in range(1, 1201)]))
    code = ("import sys; from pathlib import Path; from rag.ingest import read_document\n"
            "p = Path(sys.argv[1]); text = read_document(p, p.parent).text\n"
            "print(text.count('Page '), 'pypdf' in sys.modules, text.rsplit(chr(10), 1)[-1])")
    done = subprocess.run([sys.executable, "-c", code, str(pdf)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.split(maxsplit=2) == ["1200", "False", "Page 1200 says the count is 8400.\n"]


def test_cutting_a_long_word_encodes_each_character_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20 MB line with no space was cut by binary search over the whole rest of the word:
    quadratic work (hours). The work must stay linear: count the characters handed to tiktoken."""
    import base64
    import random

    import rag.chunk
    from rag.chunk import chunk_document, get_encoding
    from rag.config import ChunkConfig
    from rag.types import Document

    real = get_encoding(ChunkConfig().encoding)
    encoded = [0]

    class Counting:
        def encode(self, text: str, **kwargs: Any) -> list[int]:
            encoded[0] += len(text)
            return real.encode(text, **kwargs)

    monkeypatch.setattr(rag.chunk, "get_encoding", lambda name: Counting())
    for size in (20_000, 200_000):
        text = base64.b64encode(random.Random(size).randbytes(size * 3 // 4)).decode()
        encoded[0] = 0
        chunks = chunk_document(Document("d", "d", text, "d.txt", "0"), ChunkConfig())
        assert all(c.n_tokens <= 200 for c in chunks) and "".join(c.text for c in chunks) == text
        assert encoded[0] <= 40 * size, f"{encoded[0]:,} characters encoded for a {size:,}-character word"
