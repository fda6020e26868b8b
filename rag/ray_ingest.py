"""`rag ingest --ray [ADDRESS]`: the build's heavy steps, parsing files and embedding texts, as Ray
Data pipelines on a Ray cluster (a local one without ADDRESS). The rest of the build is the one
of `rag.build`, so the index is the same as a local build's: the same documents, chunks and
chunk ids, and vectors from the same embedder (ONNX Runtime in every worker, as here).

Every worker must import `rag` and read the documents folder at the same path (a shared
filesystem, or the same image and files on every node: see eval/scale.md). What the workers
embed comes back part by part into the build's journal, so a build stopped half way, a lost
cluster included, goes on from there the next time."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed import Embedder, ProgressCallback
from rag.errors import ConfigError
from rag.ingest import Parsed, ParseJob, parse_job

logger = logging.getLogger(__name__)

LOCAL = "local"
"""`--ray` without an address: start a Ray of this machine's cores for this build."""
EMBED_BATCH = 256
"""Texts a worker embeds per call."""
PARSE_BATCH = 4
"""Files a worker parses per call."""


def _parse_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Parse the files of one batch (a Ray task); results come back pickled, with their order."""
    out = [pickle.dumps(parse_job(pickle.loads(job))) for job in batch["job"]]
    return {"i": batch["i"], "outcome": np.array(out, dtype=object)}


class _Embed:
    """One embedding worker (a Ray actor of one CPU): its own embedder, one thread."""

    def __init__(self, name: str, backend: str | None, model_cache: str | None) -> None:
        from rag.embedders import make_embedder

        self.embedder = make_embedder(name, backend, Path(model_cache) if model_cache else None, threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"i": batch["i"], "vector": vectors}


class RayRunner:
    """Parses and embeds on a Ray cluster (`rag.build.Runner`). `address` is a cluster's
    ("ray://head:10001", "auto") or `LOCAL`; `workers` is how many embedding workers (default:
    one a CPU of the cluster)."""

    def __init__(self, address: str = LOCAL, workers: int | None = None,
                 backend: str | None = None, model_cache: Path | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("rag ingest --ray needs Ray: pip install 'ray[data]'") from exc
        if workers is not None and workers < 1:
            raise ConfigError(f"--ray-workers must be >= 1, got {workers}")
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            try:
                if address == LOCAL:
                    ray.init(num_cpus=os.cpu_count() or 1, **options)
                else:
                    ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        from ray.data import DataContext

        for name in ("ray", "ray.data"):  # its notes would bury the build's own progress
            logging.getLogger(name).setLevel(logging.ERROR)

        context = DataContext.get_current()
        context.enable_progress_bars = False  # the build shows its own
        context.execution_options.preserve_order = False  # results carry their position
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.workers = workers or max(1, cpus)
        self.backend = backend
        self.model_cache = model_cache
        logger.info("Ray cluster with %d CPUs; %d embedding workers", cpus, self.workers)

    def parse(self, jobs: list[ParseJob]) -> Iterator[Parsed]:
        """Each job's outcome, in order, as the cluster returns them: a batch that comes back
        before its turn waits, pickled, until the ones before it are handed on."""
        import ray

        rows = [{"i": i, "job": pickle.dumps(job)} for i, job in enumerate(jobs)]
        ds = ray.data.from_items(rows).map_batches(_parse_batch, batch_size=PARSE_BATCH, num_cpus=1,
                                                   batch_format="numpy")
        waiting: dict[int, bytes] = {}
        at = 0
        for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
            for i, blob in zip(batch["i"], batch["outcome"], strict=True):
                waiting[int(i)] = bytes(blob)
            while at in waiting:
                yield pickle.loads(waiting.pop(at))
                at += 1
        if at < len(jobs):
            raise RuntimeError(f"the Ray cluster returned no result for {len(jobs) - at} files, "
                               f"first {jobs[at][0]}")

    def embed(self, embedder: Embedder, texts: Sequence[str], progress: ProgressCallback | None) -> np.ndarray:
        import ray

        out = np.empty((len(texts), embedder.dim), dtype=np.float32)
        if not texts:
            return out
        seen = np.zeros(len(texts), dtype=bool)
        ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)]).map_batches(
            _Embed, batch_size=EMBED_BATCH, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, max(1, -(-len(texts) // EMBED_BATCH)))),
            fn_constructor_args=(embedder.name, self.backend,
                                 None if self.model_cache is None else str(self.model_cache)))
        for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
            rows = batch["i"].astype(np.int64)
            out[rows] = batch["vector"]
            seen[rows] = True
            if progress is not None:
                progress(len(rows))
        if not seen.all():
            raise RuntimeError(f"the Ray cluster returned no vector for {int((~seen).sum())} texts")
        return out

    def close(self) -> None:
        """Stop the Ray this runner started (a cluster it joined keeps running)."""
        import ray

        if self._started:
            ray.shutdown()
