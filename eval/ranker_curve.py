"""Sentence-ranker recipes trained side by side on a GPU (`rag.train_ranker`), their int8 ONNX
files brought back to be read through the whole pipeline here (`eval/reader_variants.py
--ranker DIR`). A recipe worth shipping is then trained by `make train-ranker` on the CPU.

    python eval/reader_curve.py pack .curve                   # here, once: MiniLM and qa-train
    python eval/ranker_curve.py .curve --out DIR --variants shipped layers4   # on the GPU machine

Each recipe runs in a process of its own; `CURVE_SECONDS` (420) stops unfinished ones. The
files come back as `NAME.ranker.onnx` (in 15 MB parts, `NAME.ranker.onnx.0`, `.1`, when larger:
the GPU machine hands back files of at most 16 MiB)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
import reader_curve  # noqa: E402  (sets up the rag package without its heavy __init__)

VARIANTS: dict[str, dict[str, Any]] = {
    "smoke": {"steps": 3},
    "shipped": {},
    "group16": {"group": 16, "other_contexts": 4},
    "layers4": {"layers": 4},
    "steps4k": {"steps": 4000},
    "layers4-steps4k": {"layers": 4, "steps": 4000},
    "layers6-steps4k": {"layers": 6, "steps": 4000},
}
"""Recipes: RankerConfig fields changed from the default."""
DEVICE = os.environ.get("CURVE_DEVICE", "cuda")


def train_variant(name: str, packed: Path, minilm: Path, work: Path, out: Path) -> None:
    import rag.embed
    from rag import train_ranker

    rag.embed.bundled_model_path = lambda: str(minilm)  # type: ignore[assignment]
    cfg = train_ranker.RankerConfig(**VARIANTS[name])
    began = time.time()
    final = train_ranker.train(packed / "train.jsonl.gz", work / name, cfg, checkpoint_every=500, device=DEVICE)
    print(f"[{name}] trained in {time.time() - began:.0f} s", flush=True)
    model = train_ranker.export(final, cfg, work / name / "model", work / name)
    data = model.read_bytes()
    part = 15_000_000
    if len(data) <= 16_000_000:
        (out / f"{name}.ranker.onnx").write_bytes(data)
    else:
        for k in range(0, len(data), part):
            (out / f"{name}.ranker.onnx.{k // part}").write_bytes(data[k:k + part])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_train":
        train_variant(argv[1], Path(argv[2]), Path("/tmp/ranker-curve/minilm"), Path("/tmp/ranker-curve"),
                      Path(argv[3]))
        return 0
    parser = argparse.ArgumentParser(prog="python eval/ranker_curve.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="made by `python eval/reader_curve.py pack`")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", nargs="+", default=["shipped"], choices=list(VARIANTS))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/ranker-curve")
    reader_curve.unpack_minilm(args.folder / "minilm", work / "minilm")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    procs = {}
    for name in args.variants:
        with open(args.out / f"{name}.log", "w") as log:
            procs[name] = subprocess.Popen([sys.executable, __file__, "_train", name, str(args.folder), str(args.out)],
                                           stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + float(os.environ.get("CURVE_SECONDS", "420"))
    for name, p in procs.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            print(f"[{name}] stopped at the deadline", flush=True)
        lines = (args.out / f"{name}.log").read_text().splitlines()
        print(f"[{name}] " + " | ".join(lines[-3:]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
