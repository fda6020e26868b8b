"""The learned sentence ranker: a small cross-encoder (all-MiniLM-L6-v2's first layers,
fine-tuned by `rag.train_ranker`) that reads the question beside each candidate sentence and
scores how well the sentence answers it. It runs on ONNX Runtime: no torch."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.reader_windows import load_tokenizer, question_ids

MODEL_DIR = Path(__file__).parent / "models" / "ranker"
"""The shipped model: ranker.onnx, tokenizer.json, ranker.json, MODEL_CARD.md."""


class SentenceRanker:
    """Scores (question, sentence) pairs with the shipped ranker, all of a question's in one run."""

    def __init__(self, model_dir: Path | str = MODEL_DIR, threads: int = 1) -> None:
        model_dir = Path(model_dir)
        try:
            meta = json.loads((model_dir / "ranker.json").read_text(encoding="utf-8"))
            self.max_len = int(meta["max_len"])
            self.tokenizer = load_tokenizer(model_dir / "tokenizer.json")
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(model_dir / "ranker.onnx"), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # a missing or damaged file: say which, not a traceback
            raise ModelError(f"cannot load the ranker model in {model_dir}: {type(exc).__name__}: {exc}") from exc
        self._encode_lock = threading.Lock()

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One score a sentence, higher for a better answer (logits: compare within a question)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        from rag.train_ranker import encode_pair

        with self._encode_lock:  # the tokenizer is not safe to share between threads
            q = question_ids(self.tokenizer, question)
            encoded = self.tokenizer.encode_batch(list(sentences), add_special_tokens=False)
        pairs = [encode_pair(q, e.ids, self.max_len) for e in encoded]
        width = max(len(ids) for ids, _ in pairs)
        ids = np.zeros((len(pairs), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for i, (p_ids, p_types) in enumerate(pairs):
            ids[i, :len(p_ids)] = p_ids
            types[i, :len(p_types)] = p_types
            mask[i, :len(p_ids)] = 1
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)
