"""Load test of `rag serve` on loopback: N requests from C concurrent keep-alive clients.

    python eval/load.py                       # 10,000 requests, 32 clients, default corpus
    python eval/load.py --requests 2000 --clients 8

Starts its own server on a free 127.0.0.1 port (real model, rate limit lifted for the run),
counts 5xx answers and dropped connections, reports p50/p95/p99 and throughput, and the
server's resident memory before and after, against a stated growth bound. Exits 1 on any
5xx, dropped connection, or growth past the bound.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GROWTH_BOUND_MB = 150.0
"""Resident memory may grow this much over a 10,000-request run (caches, allocator arenas)."""


def run_load(port: int, questions: list[str], clients: int, total: int) -> dict[str, Any]:
    """Send `total` POST /api/ask from `clients` threads; a bounded loop, loopback only."""
    statuses: Counter[int] = Counter()
    dropped = [0]
    latencies: list[float] = []
    lock = threading.Lock()
    next_index = [0]

    def take() -> int | None:
        with lock:
            if next_index[0] >= total:
                return None
            next_index[0] += 1
            return next_index[0] - 1

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        while (i := take()) is not None:
            body = json.dumps({"question": questions[i % len(questions)]})
            began = time.perf_counter()
            try:
                conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                with lock:
                    dropped[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            mine.append((time.perf_counter() - began) * 1000)
            with lock:
                statuses[status] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return {
        "requests": total, "clients": clients, "seconds": wall, "throughput_rps": total / wall,
        "status": dict(statuses), "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "other_errors": sum(n for s, n in statuses.items() if 400 <= s < 500), "dropped": dropped[0],
        "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(*args: str, timeout: float = 300) -> tuple[subprocess.Popen[bytes], int, float]:
    """`rag serve ARGS` on a free loopback port, rate limit lifted; returns (process, port,
    seconds from start to a healthy /api/health)."""
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "rag"), "serve", *args, "--port", str(port),
                             "--rate", "1e9", "--burst", "1000000000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc, port, time.perf_counter() - began
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("rag serve did not become ready")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description="load test of rag serve on loopback")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    index = ROOT / "eval" / ".cache" / "load-index"
    questions = [json.loads(line)["question"] for name in ("xian-dev.jsonl", "xian-test.jsonl")
                 for line in (ROOT / "eval" / "questions" / name).read_text(encoding="utf-8").splitlines()]
    try:
        proc, port, _ = start_server("--docs", str(args.docs), "--index", str(index),
                                     "--feedback", str(index.parent / "load-feedback.jsonl"))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        run_load(port, questions, args.clients, 500)  # warm-up, not counted
        before = rss_mb(proc.pid)
        result = run_load(port, questions, args.clients, args.requests)
        after = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result.update({"rss_before_mb": before, "rss_after_mb": after, "growth_bound_mb": GROWTH_BOUND_MB})
    print(json.dumps(result, indent=2))
    ok = result["server_errors"] == 0 and result["dropped"] == 0 and after - before <= GROWTH_BOUND_MB
    print(f"{result['requests']} requests, {args.clients} clients: {result['throughput_rps']:.0f}/s, "
          f"p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"5xx {result['server_errors']}, dropped {result['dropped']}, RSS {before:.0f} -> {after:.0f} MB "
          f"(bound +{GROWTH_BOUND_MB:.0f}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
