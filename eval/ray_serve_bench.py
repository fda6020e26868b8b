"""Serving replicas through Ray Serve, to compare with `rag serve --replicas` (processes sharing
one socket): the same index (squad-public), the same 32-client load of `POST /api/ask`, at 1, 2
and 4 replicas. Each Ray Serve replica is an actor holding its own `Assistant`; Ray's HTTP proxy
routes to them.

    make bench-serve      # installs ray[serve] (not a project dependency: this comparison only)
    python eval/ray_serve_bench.py [--requests 960]

Prints one line per replica count for each way, both measured in the same run on the same
machine (`rag serve --replicas` by `eval/bench.py`'s bench_replicas).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.bench import SQUAD, bench_replicas, default_embedder, questions  # noqa: E402
from eval.load import free_port, run_load  # noqa: E402


def ray_serve(index: Path, qs: list[dict[str, Any]], replicas: int, requests: int) -> dict[str, Any]:
    import ray
    from ray import serve
    from starlette.requests import Request

    class Ask:
        """One replica: its own Assistant; the body is read asynchronously, the answer computed in a thread."""

        def __init__(self, index_dir: str) -> None:
            from rag.embedders import make_embedder
            from rag.pipeline import Assistant
            from rag.store import read_manifest

            self.assistant = Assistant.load(Path(index_dir), make_embedder(read_manifest(Path(index_dir)).embedder))
            self.assistant.warm_up()

        async def __call__(self, request: Request) -> dict[str, Any]:
            import asyncio

            body = await request.json()
            answer = await asyncio.to_thread(self.assistant.ask, str(body["question"]))
            return answer.to_dict()

    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = serve.deployment(Ask, num_replicas=replicas, ray_actor_options={"num_cpus": 0},
                               max_ongoing_requests=32).bind(str(index))
        began = time.perf_counter()
        serve.run(app, route_prefix="/api/ask", blocking=False)
        ready = time.perf_counter() - began
        texts = [q["question"] for q in qs]
        run_load(port, texts, 8, 80)  # warm-up
        result = run_load(port, texts, 32, requests)
        result["ready_s"] = ready
        return result
    finally:
        serve.shutdown()
        ray.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=960, help="questions per replica count (default 960)")
    args = parser.parse_args()
    from rag.build import build_index

    qs = questions(None)
    with tempfile.TemporaryDirectory(prefix="rag-serve-bench-") as tmp:
        index = Path(tmp) / "squad-index"
        build_index(SQUAD / "docs", index, default_embedder())
        print("rag serve --replicas (processes on one socket):", flush=True)
        bench_replicas(index, qs, quick=False)
        print("Ray Serve (actors behind Ray's HTTP proxy):", flush=True)
        for n in (1, 2, 4):
            r = ray_serve(index, qs, n, args.requests)
            print(f"  {n} replica(s): {r['throughput_rps']:.0f} answers/s, p50 {r['p50_ms']:.0f} ms, "
                  f"p95 {r['p95_ms']:.0f} ms, errors {r['server_errors'] + r['other_errors'] + r['dropped']}, "
                  f"ready in {r['ready_s']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
