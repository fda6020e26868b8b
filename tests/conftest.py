"""Shared fixtures: small corpora on disk and indexes built with the hashing embedder."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from rag.build import build_index
from rag.embed_hash import HashEmbedder
from rag.pipeline import Assistant

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared"
SQUAD_DOCS = SHARED / "benchmarks" / "squad-public" / "docs"

SMALL_CORPUS = {
    "rockets.txt": (
        "date 2021-03-04 The Long March 5 rocket first flew in 2016. It was built by the China "
        "Academy of Launch Vehicle Technology.\n\nThe rocket burns liquid oxygen and kerosene in its "
        "boosters. Its core stage uses liquid hydrogen."
    ),
    "chips.md": (
        "# Chip industry\n\nSamsung opened a memory chip plant in Xi'an in 2012. The plant employs "
        "more than 3,000 people.\n\nMicron and Huawei also have sites in the city."
    ),
    "cheese.html": (
        "<html><head><title>Cheese making</title><script>alert('x')</script></head><body>"
        "<h1>Cheese</h1><p>Cheddar cheese comes from the village of Cheddar in Somerset.</p>"
        "<p>It is aged for <b>nine months</b> or longer.</p></body></html>"
    ),
}


def write_corpus(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def small_docs(tmp_path: Path) -> Path:
    """A folder of three small documents: .txt with a date line, .md and .html."""
    return write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))


@pytest.fixture
def small_assistant(small_docs: Path, tmp_path: Path) -> Assistant:
    """An assistant over the small corpus, hashing embedder, the heuristic reader."""
    index = tmp_path / "index"
    build_index(small_docs, index, HashEmbedder())
    return Assistant.load(index, reader="heuristic")


@pytest.fixture(scope="session")
def default_docs_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of docs/ (tests never write next to the real index)."""
    target = tmp_path_factory.mktemp("default") / "docs"
    shutil.copytree(DEFAULT_DOCS, target)
    return target


@pytest.fixture(scope="session")
def hash_default_assistant(default_docs_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """An assistant over the default corpus, hashing embedder, the heuristic reader."""
    index = tmp_path_factory.mktemp("hash-index")
    build_index(default_docs_copy, index, HashEmbedder())
    return Assistant.load(index, reader="heuristic")


@pytest.fixture(scope="session")
def minilm_default_assistant(default_docs_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """An assistant over the default corpus with the real all-MiniLM-L6-v2 model, on the
    default backend (ONNX Runtime; tests/test_onnx.py holds it to the torch model's vectors),
    and the heuristic reader."""
    from rag.config import default_embedder
    from rag.embedders import make_embedder

    index = tmp_path_factory.mktemp("minilm-index")
    embedder = make_embedder(default_embedder())
    build_index(default_docs_copy, index, embedder)
    return Assistant.load(index, embedder, reader="heuristic")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a test's own server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
