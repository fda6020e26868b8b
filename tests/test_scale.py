"""Builds that stop half way go on from there, and `rag ingest --ray` on a local two-worker Ray
cluster writes the index a local build writes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import rag.build
from rag.build import build_index
from rag.embed import ProgressCallback
from rag.embed_hash import HashEmbedder
from rag.journal import FOLDER
from rag.store import load_index
from tests.conftest import free_port, write_corpus

PAGES = {
    f"page{i}.md": f"# Page {i}\n\n" + " ".join(
        f"Sentence {j} of page {i} tells of item {i * 100 + j} and its {['red', 'blue', 'green'][j % 3]} box."
        for j in range(12)
    )
    for i in range(6)
}


class StopsAfter:
    """The hashing embedder, which fails after `calls` calls (a crash half way through a build)."""

    def __init__(self, calls: int | None = None) -> None:
        self.inner = HashEmbedder()
        self.left = calls
        self.texts: list[str] = []
        self.name, self.dim = self.inner.name, self.inner.dim

    def embed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None) -> np.ndarray:
        if self.left is not None:
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
        self.texts.extend(texts)
        return self.inner.embed(texts, progress=progress)


def test_a_stopped_build_goes_on_from_what_it_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = write_corpus(tmp_path / "docs", PAGES)
    monkeypatch.setattr(rag.build, "JOURNAL_PART", 20)
    stopped = StopsAfter(calls=2)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, tmp_path / "index", stopped)
    assert len(stopped.texts) == 40
    assert len(list((tmp_path / "index" / FOLDER).rglob("part-*.npz"))) == 2

    again = StopsAfter()
    build_index(docs, tmp_path / "index", again)
    whole = StopsAfter()
    build_index(docs, tmp_path / "fresh", whole)
    assert len(again.texts) == len(whole.texts) - 40  # only what the first build had not embedded
    assert not set(again.texts) & set(stopped.texts)
    resumed, fresh = load_index(tmp_path / "index"), load_index(tmp_path / "fresh")
    assert resumed.chunks == fresh.chunks
    np.testing.assert_array_equal(resumed.sentence_vectors, fresh.sentence_vectors)
    assert not (tmp_path / "index" / FOLDER).exists()  # a finished build forgets its journal


def test_a_damaged_journal_part_is_embedded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = write_corpus(tmp_path / "docs", PAGES)
    monkeypatch.setattr(rag.build, "JOURNAL_PART", 20)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, tmp_path / "index", StopsAfter(calls=2))
    first = sorted((tmp_path / "index" / FOLDER).rglob("part-*.npz"))[0]
    first.write_bytes(b"not a part")
    again = StopsAfter()
    build_index(docs, tmp_path / "index", again)
    whole = StopsAfter()
    build_index(docs, tmp_path / "fresh", whole)
    assert len(again.texts) == len(whole.texts) - 20


@pytest.mark.slow
def test_rag_ingest_on_a_two_worker_ray_cluster_writes_the_local_index(tmp_path: Path) -> None:
    ray_cluster = pytest.importorskip("ray.cluster_utils")
    from rag.cli import main

    docs = write_corpus(tmp_path / "docs", PAGES)
    assert main(["ingest", "--docs", str(docs), "--index", str(tmp_path / "local")]) == 0
    cluster = ray_cluster.Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        assert main(["ingest", "--docs", str(docs), "--index", str(tmp_path / "ray"), "--ray", cluster.address]) == 0
    finally:
        cluster.shutdown()
    local, on_ray = load_index(tmp_path / "local"), load_index(tmp_path / "ray")
    assert dataclasses.replace(on_ray.manifest, created=local.manifest.created) == local.manifest
    assert on_ray.documents == local.documents
    assert [c.chunk_id for c in on_ray.chunks] == [c.chunk_id for c in local.chunks]
    rows = np.arange(len(local.chunks))
    cosine = (on_ray.vectors.vectors(rows) * local.vectors.vectors(rows)).sum(axis=1)
    assert cosine.min() >= 0.9999
    assert (on_ray.sentence_vectors * local.sentence_vectors).sum(axis=1).min() >= 0.9999


def _replicas(server_pid: int) -> set[int]:
    """The replica processes of a `rag serve --replicas` (spawned children of it)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == server_pid and b"multiprocessing" in cmdline and b"fork" in cmdline:
            found.add(int(proc.name))
    return found


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _ask(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=b'{"question": "Which box holds item 305?"}',
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.slow
def test_replicas_share_one_socket_and_one_rate_limit_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs", PAGES)
    build_index(docs, tmp_path / "index", HashEmbedder())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--index", str(tmp_path / "index"), "--replicas", "2",
         "--port", str(port), "--reader", "heuristic", "--burst", "4", "--rate", "6",
         "--feedback", str(tmp_path / "feedback.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    health = f"http://127.0.0.1:{port}/api/health"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (len(_replicas(server.pid)) == 2 and _get(health) == 200):
            assert server.poll() is None, server.communicate()[0]
            time.sleep(0.5)
        first = _replicas(server.pid)
        assert len(first) == 2
        # A burst of 10 questions on 10 connections: the kernel spreads them over both
        # replicas, and together they let no more than --burst through.
        statuses = [_ask(port) for _ in range(10)]
        assert 1 <= statuses.count(200) <= 4, statuses
        assert set(statuses) <= {200, 429}, statuses
        # A replica killed is replaced, and the server keeps answering meanwhile.
        os.kill(min(first), signal.SIGKILL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_replicas(server.pid) - first) < 1:
            assert _get(health) == 200
            time.sleep(0.5)
        assert len(_replicas(server.pid)) == 2 and max(first) in _replicas(server.pid)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert "2 replicas" in output


@pytest.mark.parametrize("argv, message", [
    (["ingest", "--ray-workers", "2"], "--ray-workers goes with --ray"),
    (["serve", "--replicas", "0"], "--replicas must be >= 1"),
])
def test_bad_scale_options_are_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


GUIDES = {
    f"guide{i}.md": f"# Guide {i}\n\n" + "\n\n".join(
        f"## Part {k} of guide {i}\n\n" + " ".join(
            f"Part {k} of guide {i} says fact {i * 50 + k * 5 + j} about the {['red', 'blue', 'green'][j % 3]} box."
            for j in range(6))
        for k in range(5))
    for i in range(4)
}


def test_bench_scale_corpora_are_new_pages_of_sentences_already_embedded(tmp_path: Path) -> None:
    """`make bench-scale` replicates a real index's pages with perturbation and builds them from a
    copy of it: every copy is a different document, the chunks come out near the size asked for,
    and the build embeds nothing the seed index did not already hold (its time is not embedding)."""
    from eval.bench_scale import perturbed_corpus

    seed = tmp_path / "seed"
    # Text that is not Markdown: the copies are Markdown, and must read back as this text.
    code = {"code.md": "# Code guide\n\nCall f(\\*args, \\*\\*kwargs) from \\_\\_main\\_\\_ with `x` set.\n\n"
                       "```\n>>> print(1)\n1\n    an indented line\n1. not a list\n| not | a table |\n```\n"}
    build_index(write_corpus(tmp_path / "docs", {**GUIDES, **code}), seed, HashEmbedder())
    stored = load_index(seed)
    wanted = 3 * len(stored.chunks)
    corpus = perturbed_corpus(stored, wanted, tmp_path / "copies")
    assert corpus["copies"] == 3
    index = tmp_path / "scaled"
    shutil.copytree(seed, index, copy_function=os.link)
    counting = StopsAfter()
    build_index(tmp_path / "copies", index, counting)
    scaled = load_index(index)
    assert abs(len(scaled.chunks) - wanted) <= 0.1 * wanted
    texts = [d.text for d in scaled.documents]
    assert len(set(texts)) == len(texts) == 5 * 3
    assert counting.texts == []
    assert load_index(seed).manifest == stored.manifest  # the seed index is untouched


def test_a_benchmark_names_the_cpu_it_ran_on(tmp_path: Path) -> None:
    """Reports name the CPU and the instruction sets that move their figures (VNNI doubles the
    int8 reader's speed), so figures of two machines are not compared as if of one."""
    from eval.machine import describe

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU\nflags\t\t: fpu avx2 avx512f avx512_vnni\n\n"
                    "processor\t: 1\nmodel name\t: Example CPU\nflags\t\t: fpu avx2\n", encoding="utf-8")
    said = describe(info)
    assert said.endswith(", Example CPU, avx512_vnni avx512f avx2")
    assert said.startswith(f"{os.cpu_count()} cores, ")
    assert "Example" not in describe(tmp_path / "missing")
