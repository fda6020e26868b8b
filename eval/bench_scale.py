"""The whole pipeline at 10k, 100k and 1M chunks (`make bench-scale`): build time, disk, a real
server's memory and `ask` latency, BM25, sentence tables, texts and the reader included.

    python eval/bench_scale.py [--sizes 10000 100000 1000000] [--work build/scale]

The corpora are real text: the Python 3.11 manual as `make eval-docs` indexed it (its index in
build/pydocs/index, built first if missing), replicated with perturbation. Copy 0 of a page is
the page; copy k > 0 drops one of its sections and shuffles the rest (a page of two sections or
fewer: the last section's paragraphs shuffled), seeded by (page, k), and a copy that comes out
like one already written is skipped, so no two documents are the same, yet their sentences are
the manual's own. Copies are added until the corpus has about N chunks, written as Markdown (the
page's title, then each section under its heading, its text in a code fence so that Markdown
reads it back as it was) and indexed by `rag ingest` as a user would.
Then one page is changed and ingested again, and `rag serve` is asked the manual's tuning
questions.

What is measured, and what is not: every distinct sentence is embedded once per build
(`rag.build`), and the corpus's sentences are the manual's, so each build starts from a copy of
the manual's index and embeds only sentences that copy does not hold (headings cut differently,
say). The build time is therefore chunking, the sentence table, FAISS and the disk, not the
embedding; the report gives the embeddings a second of the last `make eval-docs` beside it, for
a cold build. Each size is built only when the memory the last size used, scaled by the chunks,
fits in 80% of what the machine has free; a size left out says so, with the figure it needed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.docs_bench import MANUAL, copy_manual, serve_figures, timed  # noqa: E402
from eval.machine import describe  # noqa: E402

BIN = Path(sys.executable).parent
REPORTS = ROOT / "eval" / "reports"
QUESTIONS = ROOT / "eval" / "pydocs" / "dev.jsonl"
"""Asked of every corpus: the manual's tuning questions (their answers are in every copy)."""


def seed_index() -> Path:
    """The manual's index (`make eval-docs`'s), built here if there is none."""
    index = ROOT / "build" / "pydocs" / "index"
    if (index / "CURRENT").is_file():
        return index
    if not (MANUAL / "index.html").is_file():
        raise SystemExit(f"no Python manual at {MANUAL} (apt-get install python3.11-doc)")
    docs = ROOT / "build" / "pydocs" / "docs"
    copy_manual(MANUAL, docs)
    print("indexing the Python manual first (about 15 minutes) ...", flush=True)
    timed([str(BIN / "rag"), "ingest", "--docs", str(docs), "--index", str(index)])
    return index


def sections(doc: Any) -> list[tuple[str, str]]:
    """(heading, text) of each section of a stored document, the text before the first heading
    under the document's title."""
    starts = [(0, "")] + [(at, path) for at, path in doc.sections if at > 0]
    out = []
    for (at, path), (end, _) in zip(starts, [*starts[1:], (len(doc.text), "")], strict=True):
        body = doc.text[at:end].strip()
        heading = path.split(" › ")[-1] if path else ""
        if body.startswith(heading):
            body = body[len(heading):].lstrip("¶").strip()
        if body:
            out.append((heading, body))
    return out


def _escaped(heading: str) -> str:
    """A heading in Markdown that reads back as these words ("__main__" is not bold "main")."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", heading)


def _fenced(text: str) -> str:
    """A section's text in Markdown that reads back as this text: the manual's text is not
    Markdown (its `*args`, `>>>` and indented lines would be read as markup), so it goes in a
    code fence longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}"


def perturbed_corpus(stored: Any, n_chunks: int, target: Path, seed: int = 0) -> dict[str, int]:
    """Write about `n_chunks` chunks' worth of perturbed page copies into `target` (fresh), as
    Markdown: the page's title, then its sections, each under its heading. Copy 0 is the page;
    copy k > 0 drops one section and shuffles the rest, seeded by (page, k) (a page of two
    sections or fewer: its last section's paragraphs shuffled); a copy like one already written
    is skipped."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    per_doc: dict[str, int] = {}
    for chunk in stored.chunks:
        per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
    documents = [d for d in stored.documents if per_doc.get(d.doc_id)]
    total = pages = copy = 0
    written: set[bytes] = set()  # digests: a million chunks' pages would not fit as strings
    while total < n_chunks:
        order = list(documents)
        random.Random(f"{seed}/{copy}").shuffle(order)
        for doc in order:
            if total >= n_chunks:
                break
            parts = sections(doc)
            rng = random.Random(f"{seed}/{doc.doc_id}/{copy}")
            if copy and len(parts) > 2:
                parts.pop(rng.randrange(len(parts)))
                rng.shuffle(parts)
            elif copy and parts:
                # Too few sections to shuffle: the paragraphs of the last one, shuffled.
                paragraphs = parts[-1][1].split("\n\n")
                rng.shuffle(paragraphs)
                parts[-1] = (parts[-1][0], "\n\n".join(paragraphs))
            body = "\n\n".join(f"## {_escaped(heading)}\n\n{_fenced(text)}" if heading else _fenced(text)
                                 for heading, text in parts)
            digest = hashlib.sha256(body.encode("utf-8")).digest()
            if digest in written:
                continue  # `rag ingest` would index it once: not a new page
            written.add(digest)
            path = target / f"copy-{copy:04d}" / f"{doc.doc_id.replace('/', '__')}.md"
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"# {_escaped(doc.title)}\n\n{body}\n", encoding="utf-8")
            total += per_doc[doc.doc_id]
            pages += 1
        copy += 1
        if copy > 1000:
            raise SystemExit(f"{len(documents)} pages cannot make {n_chunks:,} chunks")
    return {"pages": pages, "copies": copy, "estimated_chunks": total}


def generation_mb(index: Path) -> float:
    generation = index / (index / "CURRENT").read_text(encoding="ascii").strip()
    return sum(f.stat().st_size for f in generation.rglob("*") if f.is_file()) / 1e6


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_size(seed: Path, n_chunks: int, work: Path, questions: list[str]) -> dict[str, Any]:
    from rag.store import read_manifest

    docs, index = work / f"docs-{n_chunks}", work / f"index-{n_chunks}"
    began = time.perf_counter()
    corpus = perturbed_corpus(_load(seed), n_chunks, docs)
    made = time.perf_counter() - began
    print(f"{n_chunks:,} chunks: {corpus['pages']:,} pages written in {made:.0f} s; building ...", flush=True)
    if index.exists():
        shutil.rmtree(index)
    # The manual's index as the one before: its sentence vectors are reused, not embedded again.
    # Its files are linked, not copied (a build never writes into a generation); not its lock,
    # or a build of one size would lock the manual's index and every other size's with it.
    shutil.copytree(seed, index, copy_function=os.link, ignore=shutil.ignore_patterns(".lock"))
    seconds, peak, anon, said = sampled([str(BIN / "rag"), "ingest", "--docs", str(docs), "--index", str(index)])
    manifest = read_manifest(index)
    result: dict[str, Any] = {
        "target_chunks": n_chunks, **corpus, "chunks": manifest.n_chunks, "sentences": manifest.n_sentences,
        "index_kind": manifest.index.kind, "build_s": seconds, "build_peak_rss_mb": peak,
        "build_peak_anon_mb": anon, "build_said": said, "index_mb": generation_mb(index),
    }
    print(f"  {said}\n  built in {seconds:.0f} s, peak {peak:.0f} MB ({anon:.0f} MB anonymous), "
          f"{result['index_mb']:.0f} MB on disk", flush=True)
    # One page changed: the re-ingest reads and embeds that page only, and rewrites the index.
    page = min(docs.rglob("*.md"))
    page.write_text(page.read_text(encoding="utf-8") + "\nThis paragraph was added by the benchmark.\n",
                    encoding="utf-8")
    ingest = [str(BIN / "rag"), "ingest", "--docs", str(docs), "--index", str(index)]
    seconds, peak, anon, _ = sampled(ingest)
    result.update(reingest_one_page_s=seconds, reingest_peak_rss_mb=peak, reingest_peak_anon_mb=anon)
    print(f"  re-ingest after one changed page: {seconds:.0f} s, peak {peak:.0f} MB ({anon:.0f} MB anonymous)",
          flush=True)
    # Kept, so that `--serve-only` can measure the server again without building for 20 minutes.
    (work / f"built-{n_chunks}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return serve_size(result, index, questions)


def serve_size(result: dict[str, Any], index: Path, questions: list[str]) -> dict[str, Any]:
    # A million chunks take minutes to load (their terms are read from the texts at start-up).
    result.update(serve_figures(index, questions, ready_timeout=3600))
    (index.parent / f"served-{index.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"  serve: ready in {result['serve_ready_s']:.1f} s, RSS {result['server_rss_mb']:.0f} MB, "
          f"ask p50 {result['http_ask_p50_ms']:.1f} ms, p95 {result['http_ask_p95_ms']:.1f} ms", flush=True)
    return result


def sampled(args: list[str]) -> tuple[float, float, float, str]:
    """Run a command; (seconds, its peak resident memory and its peak anonymous memory in MB,
    sampled from /proc every 0.1 s, and its last output line). The two differ by the file pages
    it maps: a build fills its sentence vectors in a mapped file, whose pages the kernel writes
    out and drops under pressure; anonymous memory has nowhere to go but RAM."""
    began = time.perf_counter()
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        peaks = {"VmRSS": 0, "RssAnon": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                        key, _, value = line.partition(":")
                        if key in peaks:
                            peaks[key] = max(peaks[key], int(value.split()[0]))
                except (OSError, ValueError):
                    pass
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = proc.communicate()
        stop.set()
        sampler.join()
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    lines = (out.strip() or err.strip()).splitlines()
    return seconds, peaks["VmRSS"] / 1024, peaks["RssAnon"] / 1024, lines[-1] if lines else ""


def _load(index: Path) -> Any:
    from rag.store import load_index

    return load_index(index, verify=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "scale")
    parser.add_argument("--keep", action="store_true", help="keep the indexes (they are large)")
    parser.add_argument("--serve-only", action="store_true",
                        help="measure the server again over the indexes a run with --keep left")
    parser.add_argument("--update", action="store_true",
                        help="keep the sizes of eval/reports/bench-scale.json not measured in this run")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    seed = seed_index()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
                 if line.strip()] * 2
    last_docs = REPORTS / "pydocs-bench.json"
    embedded_per_s = (json.loads(last_docs.read_text())["ingest"].get("embedded_per_s")
                      if last_docs.is_file() else None)
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
                              "machine": describe(),
                              "seed": "Python 3.11 manual (build/pydocs/index)", "sizes": [],
                              "cold_embeddings_per_s": embedded_per_s}
    for n in sorted(args.sizes):
        done = [s for s in result["sizes"] if "server_rss_mb" in s]
        if done:
            last = done[-1]
            # What must fit in memory: the server's, and the build's anonymous memory (its file
            # pages, the sentence vectors it fills, go to disk under pressure).
            need = max(last["server_rss_mb"], last["build_peak_anon_mb"]) * n / last["chunks"]
            free = available_mb()
            if need > 0.8 * free:
                print(f"{n:,} chunks: left out, it would need about {need / 1024:.1f} GB of memory "
                      f"({free / 1024:.1f} GB free)", flush=True)
                result["sizes"].append({"target_chunks": n, "left_out": True, "projected_mb": need,
                                        "available_mb": free})
                continue
        if args.serve_only:
            built = json.loads((work / f"built-{n}.json").read_text(encoding="utf-8"))
            measured = serve_size(built, work / f"index-{n}", questions)
        else:
            measured = bench_size(seed, n, work, questions)
            shutil.rmtree(work / f"docs-{n}")
        size = {**measured, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        result["sizes"].append(size)
        if not args.keep:
            shutil.rmtree(work / f"index-{n}")
    if args.update and (REPORTS / "bench-scale.json").is_file():
        earlier = json.loads((REPORTS / "bench-scale.json").read_text(encoding="utf-8"))
        kept = [s for s in earlier["sizes"] if s["target_chunks"] not in args.sizes]
        for s in kept:
            s.setdefault("date", earlier["date"])
        result["sizes"] = sorted(kept + result["sizes"], key=lambda s: s["target_chunks"])
    write_reports(result)
    return 0


def write_reports(r: dict[str, Any]) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench-scale.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    rows = ["| chunks | sentences | pages | build | build peak RSS (anonymous) | re-ingest, one page | disk "
            "| server RSS | ready | ask p50 | ask p95 | measured |", "|" + "---|" * 12]
    for s in r["sizes"]:
        if s.get("left_out"):
            rows.append(f"| {s['target_chunks']:,} | left out: would need about {s['projected_mb'] / 1024:.1f} GB "
                        f"of memory, {s['available_mb'] / 1024:.1f} GB free | | | | | | | | | | |")
            continue
        rows.append(f"| {s['chunks']:,} | {s['sentences']:,} | {s['pages']:,} | {s['build_s']:.0f} s | "
                    f"{s['build_peak_rss_mb']:.0f} MB ({s.get('build_peak_anon_mb', float('nan')):.0f} MB) | "
                    f"{s['reingest_one_page_s']:.0f} s | {s['index_mb']:.0f} MB | "
                    f"{s['server_rss_mb']:.0f} MB | "
                    f"{s['serve_ready_s']:.0f} s | {s['http_ask_p50_ms']:.1f} ms | {s['http_ask_p95_ms']:.1f} ms | "
                    f"{s.get('date', r['date'])} |")
    text = "\n".join([
        f"# bench-scale, {r['date']} ({r.get('machine', str(r['cpus']) + ' CPUs')})", "",
        f"Corpora: {r['seed']}, replicated with perturbation (`eval/bench_scale.py`). `ask` over HTTP, one "
        "client, the model reader, the manual's tuning questions twice each.", "", *rows, "",
        "Build times reuse the manual's sentence vectors (the corpora's sentences are the manual's): a cold "
        "build adds the embedding of each distinct sentence"
        + (f", at {r['cold_embeddings_per_s']:.0f} a second as `make eval-docs` measured." if r.get(
            "cold_embeddings_per_s") else "."), ""])
    (REPORTS / "bench-scale.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
