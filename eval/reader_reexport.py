"""Export the shipped reader again from its own weights, as `make train-reader` exports now (the
model card's "exported again" paragraph), and say how the new file differs from the old one.

    python eval/reader_reexport.py [--model rag/models/reader/reader.onnx] [--out build/reader-reexport]

The weights are read back from the int8 file: each int8 matrix times its scale (less its zero
point), the float tensors as they are. `rag.train_reader.export` then writes the ONNX file and
quantizes it; `--calibrate` also refits the calibration there (about a minute). Prints how many
initializers differ from the given file's (by content) and the largest logit difference over 200
random windows. The shipped file of 2026-11-27 came out of this: one scalar initializer
differs, the int8 weights are the same.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def weights_of(model_path: Path) -> dict[str, np.ndarray]:
    """The state dict's tensors, read back from an int8 reader file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}

    def dequantized(name: str) -> np.ndarray:
        q = init[name + "_quantized"].astype(np.float32)
        return (q - init[name + "_zero_point"].astype(np.float32)) * init[name + "_scale"]

    state = {k: v for k, v in init.items()
             if v.dtype == np.float32 and k.startswith(("encoder.", "head.")) and not k.endswith("_scale")}
    for name in init:
        if name.endswith(".weight_quantized"):  # the embeddings (quantized where they are gathered)
            state[name[: -len("_quantized")]] = dequantized(name[: -len("_quantized")])
    for node in model.graph.node:
        if node.op_type == "MatMulInteger":  # a Linear layer: its weight is the matrix transposed
            module = node.name.strip("/").rsplit("/MatMul_quant", 1)[0].replace("/", ".")
            state[module + ".weight"] = dequantized(node.input[1][: -len("_quantized")]).T.copy()
    return state


def compare(old: Path, new: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    def contents(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
        arrays = [numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer]
        return sorted((a.dtype.str, a.shape, hashlib.sha1(a.tobytes()).hexdigest()) for a in arrays)

    a, b = contents(old), contents(new)
    print(f"initializers: {len(a)} and {len(b)}; {len(set(a) - set(b))} of the old file's not in the new one")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in (old, new)]
    worst, same = 0.0, 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(20, 129))
        ids = rng.integers(100, 30000, (1, n)).astype(np.int64)
        types = np.zeros_like(ids)
        types[0, int(rng.integers(5, n - 2)):] = 1
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": types}
        x, y = (s.run(None, feeds)[0] for s in sessions)
        worst, same = max(worst, float(np.abs(x - y).max())), same + bool(np.array_equal(x, y))
    print(f"200 random windows: {same} with identical logits, the largest difference {worst:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "rag" / "models" / "reader" / "reader.onnx")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "reader-reexport")
    parser.add_argument("--calibrate", action="store_true", help="also refit the calibration in --out")
    args = parser.parse_args()
    import torch
    from transformers import AutoModel

    from rag.train_reader import QAModel, TrainConfig, calibrate, encoder_config, export

    cfg = TrainConfig()
    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    weights = work / "weights.pt"
    state = {k: torch.tensor(v) for k, v in weights_of(args.model).items()}
    # What the file does not hold (the pooler, which the reader never runs, and buffers) as a
    # fresh model has it: the export leaves the unused pooler out of the graph.
    for name, tensor in QAModel(AutoModel.from_config(encoder_config(cfg))).state_dict().items():
        state.setdefault(name, tensor)
    torch.save(state, weights)
    target = export(weights, cfg, args.out, work)
    compare(args.model, target)
    if args.calibrate:
        calibrate(args.out, work, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
