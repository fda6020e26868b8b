"""The reader's learning curve, measured on a GPU: several training recipes of `rag.train_reader`
side by side (more steps, more layers, more negatives), each scored the same way on the reader
alone. It answers "would more training help?" in minutes instead of the CPU's hours; a recipe
worth shipping is then trained by `make train-reader` on the CPU.

Two steps, because the GPU machine has torch but not this project's environment nor the model:

    python eval/reader_curve.py pack .curve          # here: MiniLM, qa-train and squad-public
    python eval/reader_curve.py run .curve --out DIR  # on the GPU machine (torch, transformers)

`CURVE_DEVICE=cpu CURVE_QUESTIONS=20 python eval/reader_curve.py run .curve --out DIR --variants
smoke` checks the script here in two minutes (3 steps, 20 questions). `CURVE_SECONDS` (480) is
when unfinished recipes are stopped; each keeps a checkpoint every 500 steps in /tmp/curve.
`CURVE_EXPORT=1` also writes each recipe's int8 ONNX file into DIR, in parts of 15 MB
(`cat NAME.onnx.* > reader.onnx`), to read it through the whole pipeline here: what comes back
from the GPU machine is at most 8 files of 16 MiB and 64 MiB in all, room for three recipes of
4 or 5 layers (19 and 21 MB) beside the log. `CURVE_SCORE=0` leaves the scoring out.

The score is the reader's own, with the right paragraph given (SQuAD 2.0's dev protocol, not the
whole pipeline's): for an answerable squad-public question, the paragraph holding its answer; for
an unanswerable one, the paragraph of its article sharing most words with it. Each paragraph is
read in windows of `--read-len` tokens as `rag.read_model` reads them; the answer is the best span
of the window with the highest margin (best span logit less the no-answer logit). Reported: EM
and F1 of the answerable questions' spans, and the share of unanswerable questions declined at
the margin that declines 5% of the answerable ones (the issue's abstention target)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if "rag" not in sys.modules:
    # The rag package's __init__ imports FAISS and the rest of the pipeline; training needs
    # only rag.train_reader and what it imports, so load the submodules without it.
    package = types.ModuleType("rag")
    package.__path__ = [str(ROOT / "rag")]
    sys.modules["rag"] = package

DEVICE = os.environ.get("CURVE_DEVICE", "cuda")
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-public"
VARIANTS: dict[str, dict[str, Any]] = {
    "smoke": {"steps": 3},
    "shipped": {},
    "flip": {"flip_meaning": 0.5},
    "steps6k": {"steps": 6000},
    "flip-steps6k": {"flip_meaning": 0.5, "steps": 6000},
    "layers6": {"layers": 6},
    "layers3-len64-steps4k": {"layers": 3, "max_len": 64, "steps": 4000},
    "more-negatives": {"flip_meaning": 0.5, "cut_sentence": 0.5, "near_miss_windows": 0.7},
    "seed14": {"seed": 14},
    "layers5": {"layers": 5},
    "layers6-seed14": {"layers": 6, "seed": 14},
}
"""Recipes: TrainConfig fields changed from the shipped model's."""


def pack(target: Path) -> None:
    """Copy what training and scoring need into `target`, MiniLM's weights as int8 (per row, to
    travel under the GPU machine's 64 MiB): the fine-tuning starts from weights within 0.4% of
    the original's, the same for every recipe."""
    import numpy as np
    from safetensors.numpy import load_file

    from rag.embed import bundled_model_path

    model_dir = Path(bundled_model_path())
    target.mkdir(parents=True, exist_ok=True)
    (target / "minilm").mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(model_dir / name, target / "minilm" / name)
    weights = load_file(str(model_dir / "model.safetensors"))
    packed: dict[str, Any] = {}
    for key, value in weights.items():
        if value.ndim == 2 and value.size > 100_000:
            scale = np.abs(value).max(axis=1, keepdims=True) / 127.0
            packed[key + "::q"] = np.round(value / np.maximum(scale, 1e-12)).astype(np.int8)
            packed[key + "::s"] = scale.astype(np.float32)
        else:
            packed[key] = value.astype(np.float16) if value.ndim == 2 else value
    np.savez_compressed(target / "minilm" / "weights.npz", **packed)
    shutil.copyfile(ROOT.parent / "shared" / "qa-train" / "train.jsonl.gz", target / "train.jsonl.gz")
    shutil.copytree(SQUAD, target / "squad-public", dirs_exist_ok=True)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"packed {target}: {size / 1e6:.1f} MB")


def unpack_minilm(packed: Path, target: Path) -> Path:
    """Write the packed MiniLM back as a model folder transformers reads."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(packed / name, target / name)
    data = np.load(packed / "weights.npz")
    tensors: dict[str, Any] = {}
    for key in data.files:
        if key.endswith("::s"):
            continue
        if key.endswith("::q"):
            name = key[:-3]
            tensors[name] = torch.from_numpy(data[key].astype(np.float32) * data[name + "::s"])
        else:
            tensors[key] = torch.from_numpy(data[key].astype(np.float32))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(target / "model.safetensors"))
    return target


def train_variant(name: str, packed: Path, minilm: Path, work: Path, out: Path, read_len: int) -> None:
    """Train one recipe and score it (a process of its own, so recipes share the GPU)."""
    import rag.embed
    from rag import train_reader

    rag.embed.bundled_model_path = lambda: str(minilm)  # type: ignore[assignment]
    cfg = train_reader.TrainConfig(**VARIANTS[name])
    began = time.time()
    train_reader.train(packed / "train.jsonl.gz", work / name, cfg, checkpoint_every=500, device=DEVICE)
    print(f"[{name}] trained in {time.time() - began:.0f} s", flush=True)
    if os.environ.get("CURVE_SCORE", "1") != "0":
        result = score_variant(name, packed, minilm, work, read_len)
        (out / f"{name}.json").write_text(json.dumps(result) + "\n")
        print(json.dumps(result), flush=True)
    if os.environ.get("CURVE_EXPORT"):
        # The int8 ONNX file, to be read through the whole pipeline where the project runs; in
        # parts, since the GPU machine hands back files of at most 16 MiB.
        model = train_reader.export(work / name / "final.pt", cfg, work / name / "model", work / name)
        data = model.read_bytes()
        part = 15_000_000
        for k in range(0, len(data), part):
            (out / f"{name}.onnx.{k // part}").write_bytes(data[k:k + part])


def paragraphs(text: str) -> list[tuple[int, str]]:
    out, at = [], 0
    for part in text.split("\n"):
        if part.strip():
            out.append((at, part))
        at += len(part) + 1
    return out


WORD = re.compile(r"\w+")


def score_variant(name: str, packed: Path, minilm: Path, work: Path, read_len: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModel

    from rag import train_reader
    from rag.metrics import best_f1, exact_match
    from rag.reader_windows import load_tokenizer, question_ids, windows

    cfg = train_reader.TrainConfig(**VARIANTS[name])
    import rag.embed
    rag.embed.bundled_model_path = lambda: str(minilm)  # type: ignore[assignment]
    model = train_reader.QAModel(AutoModel.from_config(train_reader.encoder_config(cfg)))
    model.load_state_dict(torch.load(work / name / "final.pt", map_location="cpu"))
    model.to(DEVICE).eval()
    tokenizer = load_tokenizer(minilm / "tokenizer.json")
    squad = packed / "squad-public"
    docs = {p.stem: p.read_text(encoding="utf-8") for p in (squad / "docs").glob("*.txt")}
    paras = {d: paragraphs(t) for d, t in docs.items()}
    read = min(read_len, cfg.max_len)
    rows = [json.loads(line) for line in (squad / "questions.jsonl").read_text().splitlines() if line.strip()]
    rows = rows[:int(os.environ.get("CURVE_QUESTIONS", len(rows)))]
    margins: list[float] = []
    answerable: list[bool] = []
    em: list[float] = []
    f1: list[float] = []
    for q in rows:
        if q["unanswerable"]:
            words = set(WORD.findall(q["question"].lower()))
            para = max(paras[q["doc_id"]], key=lambda p: len(words & set(WORD.findall(p[1].lower()))))[1]
        else:
            para = next(p for at, p in paras[q["doc_id"]] if at <= q["answer_start"] < at + len(p) + 1)
        enc = tokenizer.encode(para, add_special_tokens=False)
        wins = windows(question_ids(tokenizer, q["question"]), enc.ids, enc.offsets, read, 32)
        width = max(len(w.ids) for w in wins)
        ids = torch.tensor([w.ids + [0] * (width - len(w.ids)) for w in wins], device=DEVICE)
        types_ = torch.tensor([w.type_ids + [0] * (width - len(w.type_ids)) for w in wins], device=DEVICE)
        mask = (ids != 0).long()
        mask[:, 0] = 1
        with torch.no_grad():
            logits = model(ids, mask, types_).float().cpu()
        best = (-1e9, "")
        for k, w in enumerate(wins):
            n = len(w.offsets)
            if n == 0:
                continue
            start = logits[k, w.first:w.first + n, 0]
            end = logits[k, w.first:w.first + n, 1]
            pair = start[:, None] + end[None, :]
            ones = torch.ones(n, n, dtype=torch.bool)
            allowed = torch.triu(ones) & ~torch.triu(ones, 30)  # start <= end, at most 30 tokens
            pair = pair.masked_fill(~allowed, -1e9)
            flat = int(pair.argmax())
            s, e = divmod(flat, n)
            margin = float(pair[s, e] - (logits[k, 0, 0] + logits[k, 0, 1]))
            if margin > best[0]:
                best = (margin, para[w.offsets[s][0]:w.offsets[e][1]])
        margins.append(best[0])
        answerable.append(not q["unanswerable"])
        if not q["unanswerable"]:
            em.append(exact_match(best[1], q["answers"]))
            f1.append(best_f1(best[1], q["answers"]))
    ans = sorted(m for m, a in zip(margins, answerable, strict=True) if a)
    threshold = ans[int(0.05 * len(ans))]
    unans = [m for m, a in zip(margins, answerable, strict=True) if not a]
    declined = sum(m < threshold for m in unans) / len(unans)
    # AUC: the chance an answerable question's margin beats an unanswerable one's.
    import bisect
    ranked = sorted(unans)
    auc = sum(bisect.bisect_left(ranked, m) for m in ans) / (len(ans) * len(ranked))
    return {"variant": name, **VARIANTS[name], "read_len": read, "EM": round(sum(em) / len(em), 3),
            "F1": round(sum(f1) / len(f1), 3), "declined_at_5pct": round(declined, 3), "auc": round(auc, 3)}


def run(packed: Path, out: Path, names: list[str], read_len: int) -> None:
    import subprocess

    work = Path("/tmp/curve")
    unpack_minilm(packed / "minilm", work / "minilm")
    results_dir = work / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    # Each recipe's process keeps to 2 CPU threads: 7 processes of 16 threads each slowed the
    # scoring's CPU work tenfold.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    procs = {}
    for n in names:
        with open(work / f"{n}.log", "w") as log:
            procs[n] = subprocess.Popen([sys.executable, __file__, "_train", str(packed), n, str(results_dir),
                                         str(read_len)], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + float(os.environ.get("CURVE_SECONDS", "480"))
    for n, p in procs.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            print(f"[{n}] stopped at the deadline", flush=True)
    with open(out / "curve.log", "w") as log:
        for n in names:
            lines = (work / f"{n}.log").read_text().splitlines()
            log.write(f"== {n}\n" + "\n".join(lines) + "\n")
            print(f"[{n}] " + " | ".join(lines[-2:]), flush=True)
    for part in results_dir.glob("*.onnx.*"):
        shutil.copyfile(part, out / part.name)
    results = [json.loads(f.read_text()) for n in names if (f := results_dir / f"{n}.json").exists()]
    for result in results:
        print(json.dumps(result), flush=True)
    (out / "curve.json").write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_train":
        packed = Path(argv[1])
        train_variant(argv[2], packed, Path("/tmp/curve/minilm"), Path("/tmp/curve"), Path(argv[3]), int(argv[4]))
        return 0
    parser = argparse.ArgumentParser(prog="python eval/reader_curve.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="copy the model, training data and squad-public into a folder")
    p.add_argument("folder", type=Path)
    r = sub.add_parser("run", help="train the recipes on a GPU and score them")
    r.add_argument("folder", type=Path)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--variants", nargs="+", default=[v for v in VARIANTS if v != "smoke"], choices=list(VARIANTS))
    r.add_argument("--read-len", type=int, default=96, help="tokens of a window read (the pipeline reads 96)")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.folder)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        run(args.folder, args.out, args.variants, args.read_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
