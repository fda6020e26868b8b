"""The ONNX Runtime backend: the same vectors as the torch model, and no torch at query time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TEXTS = [
    "When was the hard and core technology concept first proposed?",
    "The hard and core technology concept was first proposed in Xi’an in 2010.",
    "Cheese",
    "word " * 400,  # longer than the 256-token window: truncated like sentence-transformers does
]


def test_onnx_vectors_match_the_torch_model() -> None:
    code = (
        "import sys, json, numpy as np\n"
        "from rag.embed_torch import SentenceTransformerEmbedder\n"
        "texts = json.loads(sys.argv[1])\n"
        "np.save(sys.stdout.buffer, SentenceTransformerEmbedder().embed(texts))\n"
    )
    import io
    import json

    # torch in its own process: two runtimes in one process fight over the cores.
    done = subprocess.run([sys.executable, "-c", code, json.dumps(TEXTS)], capture_output=True, check=True,
                          timeout=300)
    reference = np.load(io.BytesIO(done.stdout))
    from rag.embed_onnx import OnnxEmbedder

    vectors = OnnxEmbedder().embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() > 0.9999, cosines


def test_onnx_backend_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from rag.embed_onnx import OnnxEmbedder\n"
        "OnnxEmbedder().embed(['a question'])\n"
        "print(','.join(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.strip() == ""


def test_a_long_text_gets_a_batch_of_its_own_and_these_vectors_do_not_depend_on_batching() -> None:
    from rag.embed_onnx import OnnxEmbedder

    embedder = OnnxEmbedder(batch_size=4)
    texts = ["short one?", "x" * 2_000, "another short?", "tiny", "a medium question about things?", "q"]
    batches = embedder._batches(texts)
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    assert [1] in batches, "the 2,000-character text is batched alone"
    assert all(len(b) <= 4 for b in batches)
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.array_equal(together, alone)
