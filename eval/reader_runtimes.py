"""How fast the reader's weights run one window under each runtime and quantisation at hand.

    python eval/reader_runtimes.py [--tokens 64 96] [--threads 1 2]

The shipped file (ONNX Runtime, dynamic int8) always; fp32 and static int8 made from
build/reader/reader-fp32.onnx when `python -m rag.train_reader` has exported it there; OpenVINO
where it is installed (`pip install openvino`; not a dependency of rag). Random token ids: the
time of a window does not depend on its words. Keep the machine quiet while it runs."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "rag" / "models" / "reader" / "reader.onnx"
FP32 = ROOT / "build" / "reader" / "reader-fp32.onnx"


def feeds(tokens: int, seed: int = 0) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(seed).integers(1000, 20000, (1, tokens)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def per_call_ms(run: Callable[[], object], repeats: int = 50) -> float:
    for _ in range(5):
        run()
    began = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - began) / repeats * 1000


def onnxruntime_ms(path: Path, tokens: int, threads: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    f = feeds(tokens)
    return per_call_ms(lambda: session.run(None, f))


def openvino_ms(path: Path, tokens: int, threads: int) -> float:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                          "PERFORMANCE_HINT": "LATENCY"})
    request, f = compiled.create_infer_request(), feeds(tokens)
    return per_call_ms(lambda: request.infer(f))


def static_int8(fp32: Path, folder: Path) -> Path:
    """fp32 -> static int8 (per-channel weights, activations calibrated on 16 windows), QDQ."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Windows(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter([feeds(96, seed) for seed in range(16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.left, None)

    pre, out = folder / "pre.onnx", folder / "static-int8.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), Windows(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[64, 96])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = {"shipped (dynamic int8)": SHIPPED}
        if FP32.is_file():
            models["fp32"] = FP32
            models["static int8, QDQ"] = static_int8(FP32, Path(tmp))
        runtimes: dict[str, Callable[[Path, int, int], float]] = {"onnxruntime": onnxruntime_ms}
        try:
            import openvino  # noqa: F401

            runtimes["openvino"] = openvino_ms
        except ImportError:
            print("openvino is not installed: its rows are left out", file=sys.stderr)
        print("| runtime | weights | tokens | threads | ms a window |\n|---|---|---|---|---|")
        for runtime, measure in runtimes.items():
            for name, path in models.items():
                for tokens in args.tokens:
                    for threads in args.threads:
                        print(f"| {runtime} | {name} | {tokens} | {threads} | {measure(path, tokens, threads):.1f} |",
                              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
