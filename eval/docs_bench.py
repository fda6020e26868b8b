"""The whole Python 3.11 manual, end to end: ingest, re-ingest after one changed page, the
frozen question set, and a real server's memory and latency (`make eval-docs`).

    python eval/docs_bench.py [--manual /usr/share/doc/python3.11/html] [--work build/pydocs]

The manual is Debian's python3.11-doc (`apt-get install python3.11-doc`). Its pages (the
.html files, not `_sources`, `_static`, `_images` or `_downloads`) are copied to WORK/docs, so
that doc_ids are page paths ("library/json"), as `eval/pydocs/questions.jsonl` names them.
Each step runs as its own process (`rag ingest`, `rag eval`, `rag serve`), timed from outside,
and the figures land in eval/reports/pydocs-bench.{md,json}; `rag eval` writes
eval/reports/pydocs-{model,heuristic}.* beside them. Run it on a quiet machine: it times.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.load import start_server  # noqa: E402
from eval.machine import describe  # noqa: E402

BIN = Path(sys.executable).parent
MANUAL = Path("/usr/share/doc/python3.11/html")
QUESTIONS = ROOT / "eval" / "pydocs" / "questions.jsonl"
REPORTS = ROOT / "eval" / "reports"
SKIP_DIRS = {"_sources", "_static", "_images", "_downloads"}
NAVIGATION = ("Previous topic", "Next topic", "Quick search", "This Page", "Show Source")
"""The Sphinx sidebar's words: no chunk may hold them, nor a line "Navigation" (the sidebar's
heading; the IDLE page's own section "Editing and Navigation" is content)."""


def has_navigation(text: str) -> bool:
    return any(word in text for word in NAVIGATION) or "Navigation" in text.splitlines()
CHANGED_PAGE = "library/json.html"
CHANGE = "<p>This paragraph was added by the benchmark to change one page.</p>"


def copy_manual(manual: Path, docs: Path) -> int:
    """Copy the manual's pages to `docs` (fresh); returns the number of pages."""
    if docs.exists():
        shutil.rmtree(docs)
    pages = 0
    for page in sorted(manual.rglob("*.html")):
        rel = page.relative_to(manual)
        if rel.parts[0] in SKIP_DIRS:
            continue
        target = docs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, target)
        pages += 1
    return pages


def timed(args: list[str]) -> tuple[float, float, str]:
    """Run a command; (seconds, its peak RSS in MB, its last output line). Fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    # ru_maxrss of children is the largest child so far: only a new maximum is this command's.
    return seconds, (peak / 1024 if peak > before else float("nan")), lines[-1] if lines else ""


def _short(path: Path) -> str:
    """`path` relative to the working folder where it lies below it (reports name no home folders)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def index_figures(index: Path) -> dict[str, Any]:
    """Counts and size of the live generation, and chunks holding navigation words."""
    from rag.store import load_index

    stored = load_index(index)
    generation = index / (index / "CURRENT").read_text(encoding="ascii").strip()
    size = sum(f.stat().st_size for f in generation.rglob("*") if f.is_file())
    navigation = [c.chunk_id for c in stored.chunks if has_navigation(c.text)]
    table = stored.sentences
    distinct = len({stored.documents[int(d)].text[int(a):int(b)]
                    for d, a, b in zip(table.doc, table.start, table.end, strict=True)})
    return {"documents": len(stored.documents), "chunks": len(stored.chunks), "sentences": len(stored.sentences),
            "distinct_sentences": distinct, "index_mb": size / 1e6, "chunks_with_navigation": len(navigation),
            "navigation_examples": navigation[:5]}


def serve_figures(index: Path, questions: list[str], ready_timeout: float = 300) -> dict[str, Any]:
    """A real `rag serve` over the index: every question once, one client; latency and RSS."""
    from eval.bench import peak_rss_mb
    from eval.load import rss_mb

    proc, port, ready = start_server("--index", str(index), timeout=ready_timeout)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        latencies = []
        for question in [questions[0], *questions]:  # the first once more, as a warm-up
            body = json.dumps({"question": question})
            began = time.perf_counter()
            conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"/api/ask answered {response.status}")
            latencies.append((time.perf_counter() - began) * 1000)
        latencies = latencies[1:]
        rss, peak = rss_mb(proc.pid), peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"serve_ready_s": ready, "http_ask_p50_ms": float(np.percentile(latencies, 50)),
            "http_ask_p95_ms": float(np.percentile(latencies, 95)), "server_rss_mb": rss, "server_peak_rss_mb": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manual", type=Path, default=MANUAL)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pydocs")
    parser.add_argument("--reuse-index", action="store_true",
                        help="keep WORK's index if there is one; the ingest figures are then the last report's")
    args = parser.parse_args()
    if not (args.manual / "index.html").is_file():
        print(f"error: no Python manual at {args.manual} (apt-get install python3.11-doc)", file=sys.stderr)
        return 2
    docs, index = args.work / "docs", args.work / "index"
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3.11-doc"], capture_output=True,
                             text=True).stdout.strip() or "unknown"
    result: dict[str, Any] = {"manual": str(args.manual), "package_version": version, "cpus": os.cpu_count(),
                              "machine": describe(),
                              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    rag = str(BIN / "rag")
    last = REPORTS / "pydocs-bench.json"
    if args.reuse_index and (index / "CURRENT").is_file() and last.is_file():
        before = json.loads(last.read_text(encoding="utf-8"))
        if "ingest" in before:
            result["pages"] = before["pages"]
            result["ingest"] = {**before["ingest"], "date": before["ingest"].get("date", before["date"])}
    else:
        result["pages"] = copy_manual(args.manual, docs)
        shutil.rmtree(index, ignore_errors=True)
        print(f"ingesting {result['pages']} pages ...", flush=True)
        seconds, peak, line = timed([rag, "ingest", "--docs", str(docs), "--index", str(index)])
        result["ingest"] = {"seconds": seconds, "peak_rss_mb": peak, "said": line, "date": result["date"]}
        print(f"  {line}", flush=True)
    result.update(index_figures(index))
    if "ingest" in result:
        result["ingest"]["vectors_per_s"] = (result["chunks"] + result["sentences"]) / result["ingest"]["seconds"]
        result["ingest"]["embedded_per_s"] = result["distinct_sentences"] / result["ingest"]["seconds"]
    # One page changed, then changed back: each re-ingest reads and embeds that page only.
    page = docs / CHANGED_PAGE
    original = page.read_bytes()
    page.write_bytes(original.replace(b"</h1>", b"</h1>" + CHANGE.encode(), 1))
    changed = timed([rag, "ingest", "--docs", str(docs), "--index", str(index)])
    page.write_bytes(original)
    restored = timed([rag, "ingest", "--docs", str(docs), "--index", str(index)])
    result["reingest_one_page_s"] = [changed[0], restored[0]]
    print(f"  re-ingest after one changed page: {changed[0]:.1f} s, {restored[0]:.1f} s back", flush=True)
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    timed([rag, "eval", "--questions", _short(QUESTIONS), "--docs", _short(docs), "--index", _short(index),
           "--name", "pydocs", "--reports", _short(REPORTS)])  # both readers, side by side
    for reader in ("model", "heuristic"):
        report = json.loads((REPORTS / f"pydocs-{reader}.json").read_text(encoding="utf-8"))["overall"]
        result[f"eval_{reader}"] = {k: report.get(k) for k in (
            "evidence@1", "hit@1", "hit@5", "EM", "F1", "false_abstention", "abstention_on_unanswerable",
            "citation_validity", "latency_p50_ms", "latency_p95_ms", "reader_p50_ms")}
        print(f"  {reader}: {json.dumps(result[f'eval_{reader}'])}", flush=True)
    result["serve"] = serve_figures(index, [q["question"] for q in questions])
    print(f"  serve: {json.dumps(result['serve'])}", flush=True)
    write_reports(result)
    return 0


def write_reports(r: dict[str, Any]) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "pydocs-bench.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    m, h, s = r["eval_model"], r["eval_heuristic"], r["serve"]
    rows = [
        ("pages, chunks, sentences (distinct)",
         f"{r.get('pages', r['documents']):,}, {r['chunks']:,}, {r['sentences']:,} ({r['distinct_sentences']:,})"),
        ("index on disk", f"{r['index_mb']:.0f} MB"),
        ("chunks holding navigation words", f"{r['chunks_with_navigation']}"),
    ]
    if "ingest" in r:
        i = r["ingest"]
        took = f"{i['seconds'] / 60:.1f} min ({i['seconds']:.0f} s), peak RSS {i['peak_rss_mb']:.0f} MB"
        rows += [(f"ingest, whole manual (run of {i['date']})", took),
                 ("vectors indexed a second (chunks + sentences)", f"{i['vectors_per_s']:.0f}"),
                 ("sentences embedded a second (distinct texts)", f"{i['embedded_per_s']:.0f}")]
    rows += [
        ("re-ingest after one changed page (changed, changed back)",
         ", ".join(f"{x:.1f} s" for x in r["reingest_one_page_s"])),
        ("server RSS after the questions (peak)", f"{s['server_rss_mb']:.0f} MB ({s['server_peak_rss_mb']:.0f} MB)"),
        ("`ask` over HTTP, p50 / p95, one client", f"{s['http_ask_p50_ms']:.1f} / {s['http_ask_p95_ms']:.1f} ms"),
        ("`ask` in process (rag eval), model reader, p50 / p95",
         f"{m['latency_p50_ms']:.1f} / {m['latency_p95_ms']:.1f} ms (reader {m['reader_p50_ms']:.1f})"),
    ]
    out = [f"# The Python 3.11 manual, end to end ({r['date']})", "",
           f"`make eval-docs` (`python eval/docs_bench.py`), python3.11-doc {r['package_version']}, "
           f"{r.get('machine', str(r['cpus']) + ' CPUs')}.", "", "| figure | value |", "|---|---|"]
    out += [f"| {a} | {b} |" for a, b in rows]
    out += ["", "| reader | ev@1 | hit@1 | hit@5 | EM | F1 | false abst | unanswerable declined | cit valid |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, e in (("model", m), ("heuristic", h)):
        out.append(f"| {name} | {e['evidence@1']:.3f} | {e['hit@1']:.3f} | {e['hit@5']:.3f} | {e['EM']:.3f} | "
                   f"{e['F1']:.3f} | {e['false_abstention']:.3f} | {e['abstention_on_unanswerable']:.3f} | "
                   f"{e['citation_validity']:.3f} |")
    (REPORTS / "pydocs-bench.md").write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"reports: {REPORTS / 'pydocs-bench.md'}, {REPORTS / 'pydocs-bench.json'}")


if __name__ == "__main__":
    sys.exit(main())
