"""Performance benchmark: the physical floor (one query embedding) against everything built on it.

    python eval/bench.py            # full run (about 20-30 minutes on 2 cores)
    python eval/bench.py --quick    # a smoke run in a few minutes
    python eval/bench.py --replicas-only   # answers a second at 1, 2 and 4 `rag serve --replicas`

Everything runs in one invocation on one machine, so ratios hold while absolute times drift.
Writes eval/reports/bench.json, bench.md and bench.png and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `eval.load` importable
    sys.path.insert(0, str(ROOT))
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-public"
REPORTS = ROOT / "eval" / "reports"
BIN = Path(sys.executable).parent
from eval.machine import describe  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q * 100)) if values else float("nan")


def questions(limit: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (SQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return rows[:limit] if limit else rows


def bench_floor_and_ask(index: Path, qs: list[dict[str, Any]]) -> dict[str, Any]:
    """The query embedding alone, and `ask` with each reader (the default one first), with the
    reader's own share of the time."""
    from rag.config import DEFAULT_READER, READERS
    from rag.pipeline import Assistant

    embedder = default_embedder()
    names = [DEFAULT_READER, *(r for r in READERS if r != DEFAULT_READER)]
    assistants = {name: Assistant.load(index, embedder, reader=name) for name in names}
    for assistant in assistants.values():
        assistant.warm_up()
        for q in qs[:20]:  # warm caches and allocator
            assistant.ask(q["question"])
    floor: list[float] = []
    ask: dict[str, list[float]] = {name: [] for name in names}
    read: dict[str, list[float]] = {name: [] for name in names}
    for q in qs:  # interleaved, so drift hits all alike
        t = time.perf_counter()
        embedder.embed([q["question"]])
        floor.append((time.perf_counter() - t) * 1000)
        for name, assistant in assistants.items():
            t = time.perf_counter()
            trace = assistant.ask_traced(q["question"])
            ask[name].append((time.perf_counter() - t) * 1000)
            read[name].append(trace.reader_ms)
    out: dict[str, Any] = {"floor_p50_ms": pct(floor, .5), "floor_p95_ms": pct(floor, .95), "n": len(qs),
                           "reader": DEFAULT_READER}
    for name in names:
        prefix = "" if name == DEFAULT_READER else f"{name}_"
        out.update({f"{prefix}ask_p50_ms": pct(ask[name], .5), f"{prefix}ask_p95_ms": pct(ask[name], .95),
                    f"{prefix}reader_p50_ms": pct(read[name], .5), f"{prefix}reader_p95_ms": pct(read[name], .95),
                    f"{prefix}ask_to_floor": pct(ask[name], .5) / pct(floor, .5)})
    return out


def default_embedder() -> Any:
    """The embedder `rag` uses by default (RAG_BACKEND respected), as the server runs it."""
    from rag.config import default_embedder as default_name
    from rag.embedders import make_embedder

    backend = os.environ.get("RAG_BACKEND") or None
    return make_embedder(default_name(backend), backend)


def vm_hwm_mb() -> float:
    """This process's peak resident memory (VmHWM starts afresh at exec, unlike ru_maxrss)."""
    return peak_rss_mb(os.getpid())


def peak_rss_mb(pid: int) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # gone
        return 0.0
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(port: int, qs: list[dict[str, Any]], clients: int, per_client: int) -> dict[str, Any]:
    """`clients` keep-alive clients sending `per_client` questions each (eval/load.py's generator)."""
    from eval.load import run_load

    result = run_load(port, [q["question"] for q in qs], clients, clients * per_client)
    result["errors"] = result["server_errors"] + result["other_errors"] + result["dropped"]
    return result


def bench_http(index: Path, qs: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    from eval.load import start_server

    proc, port, ready = start_server("--index", str(index))
    try:
        load(port, qs, 4, 10)  # warm-up
        one = load(port, qs, 1, 100 if quick else 300)
        eight = load(port, qs, 8, 25 if quick else 60)
        many = load(port, qs, 32, 10 if quick else 30)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"serve_ready_s": ready, "one": one, "eight": eight, "thirty_two": many, "server_peak_rss_mb": rss}


def children(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone
        return b""


def wait_replicas(pid: int, n: int, timeout: float = 300) -> None:
    """Until `n` replica processes have finished loading: each used under a fifth of a core over
    a second (loading keeps one busy; an idle replica uses about 5%, Gradio's queue loop)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = [p for p in children(pid) if b"spawn_main" in _cmdline(p)]
        before = cpu_seconds(pids)
        time.sleep(1.0)
        if len(pids) >= n and cpu_seconds(pids) - before < 0.2 * len(pids):
            return
    raise RuntimeError(f"{n} replicas did not finish loading")


def bench_replicas(index: Path, qs: list[dict[str, Any]], quick: bool) -> list[dict[str, Any]]:
    """Answers a second from 32 clients with the server's replicas at 1, 2 and 4 (`--replicas`):
    processes over one index, each with its own copy in memory."""
    from eval.load import start_server

    rows = []
    for n in (1, 2, 4):
        proc, port, _ = start_server("--index", str(index), *(("--replicas", str(n)) if n > 1 else ()))
        try:
            if n > 1:
                wait_replicas(proc.pid, n)
            load(port, qs, 8, 10)  # warm-up, on every replica
            many = load(port, qs, 32, 10 if quick else 30)
            rss = sum(peak_rss_mb(p) for p in [proc.pid, *children(proc.pid)])
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        rows.append({"replicas": n, "throughput_rps": many["throughput_rps"], "p50_ms": many["p50_ms"],
                     "p95_ms": many["p95_ms"], "errors": many["errors"], "peak_rss_mb_total": rss})
        print(f"  {n} replica(s): {many['throughput_rps']:.0f} answers/s, p50 {many['p50_ms']:.0f} ms, "
              f"{many['errors']} errors, {rss:.0f} MB", flush=True)
    return rows


def bench_ingest(tmp: Path) -> dict[str, Any]:
    from rag.build import build_index
    from rag.store import load_index

    embedder = default_embedder()
    embedder.embed(["warm up"])
    t = time.perf_counter()
    report = build_index(SQUAD / "docs", tmp / "ingest-index", embedder)
    build_s = time.perf_counter() - t
    texts = [c.text for c in load_index(tmp / "ingest-index").chunks]
    # The reference: a plain sentence-transformers encode of the same chunk texts, in its own
    # process (torch and onnxruntime in one process fight over the cores).
    code = ("import sys, json, time; from sentence_transformers import SentenceTransformer; "
            "from rag.embed import bundled_model_path; m = SentenceTransformer(bundled_model_path(), device='cpu'); "
            "texts = json.load(sys.stdin); m.encode(texts[:8]); t = time.perf_counter(); "
            "m.encode(texts, batch_size=32, normalize_embeddings=True); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                          check=True, timeout=1_800)
    plain_s = float(done.stdout.strip().splitlines()[-1])
    return {"chunks": report.n_chunks, "sentences": report.n_sentences, "build_s": build_s,
            "build_chunks_per_s": report.n_chunks / build_s, "plain_encode_s": plain_s,
            "plain_chunks_per_s": len(texts) / plain_s, "ratio": (report.n_chunks / build_s) / (len(texts) / plain_s)}


def bench_cold(index: Path) -> dict[str, Any]:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([str(BIN / "rag"), "ask", "When were the Normans in Normandy?", "--index", str(index)],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return {"ask_cold_s": statistics.median(times), "runs": times}


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Synthetic unit vectors shaped like text embeddings: 2,000 topic centres, each topic
    spread along its own 16 directions, plus a little isotropic noise. (Uniform random
    vectors in 384 dimensions are all about equally far apart: no index finds neighbours
    among them, and no real corpus looks like that.) The same seed gives the same topics."""
    topics = np.random.default_rng(12345)
    centres = topics.standard_normal((2_000, dim)).astype(np.float32)
    bases = topics.standard_normal((2_000, 16, dim)).astype(np.float32) * 0.35
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for first in range(0, n, 5_000):  # small steps: the per-row bases take 25 KB each
        m = min(5_000, n - first)
        topic = rng.integers(0, len(centres), m)
        latent = rng.standard_normal((m, 16)).astype(np.float32)
        out[first:first + m] = (centres[topic] + np.einsum("ij,ijk->ik", latent, bases[topic])
                                + 0.5 * rng.standard_normal((m, dim)).astype(np.float32))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


SCALE_CHILD = r'''
import json, os, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[4])
from eval.bench import clustered, vm_hwm_mb
from rag.config import IndexConfig
from rag.indexes import build_vector_index
n, kind, out = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
vectors = clustered(n, 384, 1)
queries = clustered(200, 384, 2)
truth = build_vector_index(vectors, IndexConfig(kind="numpy")).search(queries, 10)[1]
t = time.perf_counter()
if kind.startswith("ivf"):
    config = IndexConfig(kind="ivf", ivf_lists=4096 if n >= 500_000 else 1024, ivf_nprobe=int(kind.split("-")[1]))
else:
    config = IndexConfig(kind=kind)
index = build_vector_index(vectors, config)
build = time.perf_counter() - t
lat = []
for q in queries:
    t = time.perf_counter(); index.search(q, 10); lat.append((time.perf_counter() - t) * 1000)
_, found = index.search(queries, 10)
recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]))
out.mkdir(parents=True, exist_ok=True)
size = sum(os.path.getsize(out / name) for name in index.save(out, "vectors")) / 2**20
json.dump({"n": n, "index": kind, "build_s": build, "p50_ms": float(np.percentile(lat, 50)),
           "recall_at_10": recall, "index_mb": size,
           "peak_rss_mb": vm_hwm_mb()}, sys.stdout)
'''


def bench_scale(sizes: list[int], tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for kind in ("flat", "hnsw", "ivf-32"):
            done = subprocess.run([sys.executable, "-c", SCALE_CHILD, str(n), kind, str(tmp / f"{kind}-{n}"),
                                   str(ROOT)], capture_output=True, text=True, timeout=7_200)
            if done.returncode != 0:
                rows.append({"n": n, "index": kind, "error": done.stderr.strip().splitlines()[-1:]})
            else:
                rows.append(json.loads(done.stdout))
            print("  scale", rows[-1], flush=True)
            if not (n == max(sizes) and kind == "hnsw"):  # the largest graph is loaded again below
                shutil.rmtree(tmp / f"{kind}-{n}", ignore_errors=True)
    return rows


SERVE_1M_CHILD = r'''
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from eval.bench import clustered, vm_hwm_mb
from pathlib import Path
from rag.config import IndexConfig
from rag.indexes import load_vector_index
# What a server holds: the saved index, loaded from disk.
index = load_vector_index(Path(sys.argv[1]), "vectors", IndexConfig(kind="hnsw"))
queries = clustered(100, 384, 2)
lat = []
for q in queries:
    t = time.perf_counter(); index.search(q, 50); lat.append((time.perf_counter() - t) * 1000)
json.dump({"n": int(sys.argv[2]), "index": index.kind, "p50_ms": float(np.percentile(lat, 50)),
           "peak_rss_mb": vm_hwm_mb()}, sys.stdout)
'''


def write_reports(result: dict[str, Any]) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = table(result)
    embedder = result.get("embedder", "all-MiniLM-L6-v2")
    (REPORTS / "bench.md").write_text("# Benchmark\n\n" + f"`{result['command']}` on {result['machine']}, "
                                      f"embedder {embedder} on {result['backend']}, {result['when']}\n\n"
                                      + "\n".join(lines) + "\n", encoding="utf-8")
    chart(result)


def table(r: dict[str, Any]) -> list[str]:
    f, h, i, c = r["floor_ask"], r["http"], r["ingest"], r["cold"]
    rows = [
        ("query embedding alone (the floor), p50 / p95", f"{f['floor_p50_ms']:.1f} / {f['floor_p95_ms']:.1f} ms", ""),
        (f"Assistant.ask end to end, {f['reader']} reader, p50 / p95",
         f"{f['ask_p50_ms']:.1f} / {f['ask_p95_ms']:.1f} ms",
         f"{f['ask_to_floor']:.2f}x floor; target p50 <= 15 ms"),
        (f"  of which the {f['reader']} reader, p50 / p95", f"{f['reader_p50_ms']:.1f} / {f['reader_p95_ms']:.1f} ms",
         ""),
        ("Assistant.ask end to end, heuristic reader, p50 / p95",
         f"{f['heuristic_ask_p50_ms']:.1f} / {f['heuristic_ask_p95_ms']:.1f} ms",
         f"{f['heuristic_ask_to_floor']:.2f}x floor"),
        ("  of which the heuristic reader, p50 / p95",
         f"{f['heuristic_reader_p50_ms']:.1f} / {f['heuristic_reader_p95_ms']:.1f} ms", ""),
        ("POST /api/ask, 1 client, p50 / p95", f"{h['one']['p50_ms']:.1f} / {h['one']['p95_ms']:.1f} ms",
         f"{h['one']['p50_ms'] / f['floor_p50_ms']:.2f}x floor (target <= 2x)"),
        ("POST /api/ask, 8 clients", f"{h['eight']['throughput_rps']:.0f} answers/s, p95 {h['eight']['p95_ms']:.0f} ms",
         f"{h['eight']['errors']} errors"),
        ("POST /api/ask, 32 clients", f"{h['thirty_two']['throughput_rps']:.0f} answers/s, "
         f"p95 {h['thirty_two']['p95_ms']:.0f} ms",
         f"{h['thirty_two']['errors']} errors (target with the model reader >= 100/s)"),
        ("ingest, whole build (chunk and sentence vectors)", f"{i['build_chunks_per_s']:.1f} chunks/s",
         f"{i['chunks']} chunks, {i['sentences']} sentences in {i['build_s']:.1f} s"),
        ("plain SentenceTransformer.encode of the chunks", f"{i['plain_chunks_per_s']:.1f} chunks/s",
         f"build/plain = {i['ratio']:.2f} (target >= 2)"),
        ("cold start: `rag ask` process to answer", f"{c['ask_cold_s']:.2f} s", "target <= 3 s"),
        ("cold start: `rag serve` to ready", f"{h['serve_ready_s']:.2f} s", ""),
        ("server peak RSS, squad-public index", f"{h['server_peak_rss_mb']:.0f} MB", ""),
    ]
    if r.get("serve_1m"):
        s = r["serve_1m"]
        rows.append((f"process holding the saved {s['n']:,}-vector {s['index']} index, peak RSS",
                     f"{s['peak_rss_mb']:.0f} MB", f"search p50 {s['p50_ms']:.2f} ms (top 50)"))
    for rep in r.get("replicas", []):
        rows.append((f"POST /api/ask, 32 clients, `--replicas {rep['replicas']}`",
                     f"{rep['throughput_rps']:.0f} answers/s, p50 {rep['p50_ms']:.0f} ms, p95 {rep['p95_ms']:.0f} ms",
                     f"{rep['errors']} errors; all processes' peak RSS {rep['peak_rss_mb_total']:.0f} MB"))
    out = ["| measure | figure | note |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if r.get("scale_from"):
        out += ["", f"FAISS rows below: from the full run of {r['scale_from']} (`--reuse-scale`)."]
    out += ["", "| vectors | index | build s | p50 query ms | recall@10 | index MB | process peak RSS MB |",
            "|---|---|---|---|---|---|---|"]
    for s in r["scale"]:
        if "error" in s:
            out.append(f"| {s['n']:,} | {s['index']} | error: {s['error']} | | | | |")
        else:
            out.append(f"| {s['n']:,} | {s['index']} | {s['build_s']:.1f} | {s['p50_ms']:.2f} | "
                       f"{s['recall_at_10']:.3f} | {s['index_mb']:.0f} | {s['peak_rss_mb']:.0f} |")
    return out


def chart(r: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, h = r["floor_ask"], r["http"]
    labels = ["floor\n(embed)", "ask", "HTTP\n1 client", "HTTP p95\n8 clients", "HTTP p95\n32 clients"]
    values = [f["floor_p50_ms"], f["ask_p50_ms"], h["one"]["p50_ms"], h["eight"]["p95_ms"], h["thirty_two"]["p95_ms"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(labels, values, color=["#888", "#0b57d0", "#0b57d0", "#e37400", "#e37400"])
    for x, v in enumerate(values):
        ax.text(x, v, f"{v:.1f}", ha="center", va="bottom")
    ax.set_ylabel("ms")
    ax.set_title("Latency against the floor (one query embedding), squad-public questions")
    fig.tight_layout()
    fig.savefig(REPORTS / "bench.png", dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions and 100k vectors at most")
    parser.add_argument("--scale", default=None, help="comma-separated vector counts (default 100000,1000000)")
    parser.add_argument("--reuse-scale", type=Path, metavar="BENCH_JSON",
                        help="take the FAISS scale rows from an earlier bench.json instead of rebuilding "
                             "(they do not depend on the embedding backend); the report says so")
    parser.add_argument("--replicas-only", action="store_true",
                        help="only answers a second at 1, 2 and 4 replicas (printed, no report written)")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.scale or ("20000,100000" if args.quick else "100000,1000000")).split(",")]
    qs = questions(200 if args.quick else None)
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        from rag.build import build_index

        index = tmp / "squad-index"
        build_index(SQUAD / "docs", index, default_embedder())
        result: dict[str, Any] = {"command": "python " + " ".join(sys.argv),
                                  "machine": describe(),
                                  "backend": type(default_embedder()).__name__,
                                  "embedder": default_embedder().name,
                                  "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        if args.replicas_only:
            bench_replicas(index, qs, args.quick)
            return 0
        print("floor and ask ...", flush=True)
        result["floor_ask"] = bench_floor_and_ask(index, qs)
        print("http ...", flush=True)
        result["http"] = bench_http(index, qs, args.quick)
        print("replicas ...", flush=True)
        result["replicas"] = bench_replicas(index, qs, args.quick)
        print("ingest ...", flush=True)
        result["ingest"] = bench_ingest(tmp)
        print("cold start ...", flush=True)
        result["cold"] = bench_cold(index)
        if args.reuse_scale is not None:
            earlier = json.loads(args.reuse_scale.read_text(encoding="utf-8"))
            result["scale"], result["serve_1m"] = earlier["scale"], earlier.get("serve_1m")
            # An earlier run that reused its rows names the run that measured them.
            result["scale_from"] = earlier.get("scale_from") or earlier.get("when", "an earlier run")
        else:
            print("scale ...", flush=True)
            result["scale"] = bench_scale(sizes, tmp)
            big = max(sizes)
            done = subprocess.run([sys.executable, "-c", SERVE_1M_CHILD, str(tmp / f"hnsw-{big}"), str(big),
                                   str(ROOT)], capture_output=True, text=True, timeout=7_200)
            result["serve_1m"] = json.loads(done.stdout) if done.returncode == 0 else None
        write_reports(result)
        print("\n".join(table(result)))
        print(f"reports: {REPORTS / 'bench.md'}, {REPORTS / 'bench.json'}, {REPORTS / 'bench.png'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
