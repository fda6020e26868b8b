"""The ONNX Runtime backend: the same vectors as the torch model, and no torch at query time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_int8_embedder_is_its_own_model_near_minilm_and_refused_on_torch(tmp_path: Path) -> None:
    """`...:int8` quantises the export once, into the model cache; its vectors are near MiniLM's
    (not equal: an index records which), an index built with it names it and is queried by it,
    and the torch backend refuses it rather than embed queries with another model."""
    from rag.build import build_index, ensure_index
    from rag.config import MINILM, MINILM_INT8
    from rag.embedders import make_embedder
    from rag.errors import ConfigError
    from rag.store import read_manifest

    int8 = make_embedder(MINILM_INT8, model_cache=tmp_path / "cache")
    fp32 = make_embedder(MINILM, model_cache=tmp_path / "cache")
    assert int8.name == MINILM_INT8 and int8.dim == 384
    a, b = int8.embed(TEXTS), fp32.embed(TEXTS)
    cosines = np.sum(a * b, axis=1)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert cosines.min() > 0.95 and not np.allclose(a, b), cosines
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.onnx")) == ["model-int8.onnx", "model.onnx"]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kites.md").write_text("# Kites\n\nThe red kite nests in tall trees.\n", encoding="utf-8")
    build_index(docs, tmp_path / "index", int8)
    assert read_manifest(tmp_path / "index").embedder == MINILM_INT8
    again, _ = ensure_index(tmp_path / "index", docs, model_cache=tmp_path / "cache")
    assert again.name == MINILM_INT8
    with pytest.raises(ConfigError, match="ONNX Runtime only"):
        make_embedder(MINILM_INT8, backend="torch")
    # Each text alone: a build's vectors do not depend on which texts were embedded beside them,
    # nor on how many runs went side by side.
    from rag.embed_onnx import OnnxEmbedder

    beside = ["Short.", "Consultations are booked in 15-minute slots.", "word " * 200, *TEXTS] * 30
    counted: list[int] = []
    together = OnnxEmbedder(cache_dir=tmp_path / "cache", int8=True, threads=2).embed(beside, progress=counted.append)
    assert sum(counted) == len(beside) and len(counted) > 1
    one_thread = OnnxEmbedder(cache_dir=tmp_path / "cache", int8=True, threads=1).embed(beside)
    alone = np.stack([int8.embed([t])[0] for t in beside[:7]])
    assert np.array_equal(together, one_thread) and np.array_equal(together[:7], alone)


def test_a_new_index_gets_the_int8_embedder_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """The default for a new index is MiniLM's int8 copy (MiniLM itself on the torch backend,
    which runs no int8 model); an index built with MiniLM goes on with MiniLM."""
    from rag.build import build_index, ensure_index, index_embedder
    from rag.config import MINILM, MINILM_INT8
    from rag.embed_hash import HashEmbedder
    from rag.store import read_manifest

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kites.md").write_text("# Kites\n\nThe red kite nests in tall trees.\n", encoding="utf-8")
    assert index_embedder(tmp_path / "new") == MINILM_INT8
    assert index_embedder(tmp_path / "new", "onnx") == MINILM_INT8
    assert index_embedder(tmp_path / "new", "torch") == MINILM
    embedder, _ = ensure_index(tmp_path / "index", docs, model_cache=tmp_path / "cache")
    assert embedder.name == MINILM_INT8 and read_manifest(tmp_path / "index").embedder == MINILM_INT8

    class NamedMiniLM(HashEmbedder):  # an index of MiniLM's, without embedding with it here
        @property
        def name(self) -> str:
            return MINILM

    build_index(docs, tmp_path / "old", NamedMiniLM())
    assert index_embedder(tmp_path / "old") == MINILM
