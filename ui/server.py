"""`rag serve`: load (building if needed) the index, warm the model, serve with uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rag.embed import BatchingEmbedder
from rag.pipeline import Assistant
from ui.api import ServerConfig, create_app

logger = logging.getLogger(__name__)


def load_assistant(index_dir: Path, docs_dir: Path | None, backend: str | None = None) -> Assistant:
    """The assistant for `index_dir`, first building or updating it from `docs_dir` if given."""
    from rag.build import build_index
    from rag.config import MINILM
    from rag.embed import make_embedder
    from rag.store import index_exists, read_manifest

    name = read_manifest(index_dir).embedder if index_exists(index_dir) or docs_dir is None else MINILM
    embedder = make_embedder(name, backend)
    if docs_dir is not None:
        report = build_index(docs_dir, index_dir, embedder)
        for error in report.errors:
            logger.warning("skipped %s", error)
    # Concurrent requests share model calls instead of queueing behind one another.
    return Assistant.load(index_dir, BatchingEmbedder(embedder))


def serve(assistant: Assistant, host: str, port: int, config: ServerConfig) -> None:
    import uvicorn

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    assistant.warm_up()
    app = create_app(assistant, config)
    print(f"serving {len(assistant.stored.documents)} documents on http://{host}:{port}/  "
          f"(API: /api/ask, docs: /docs, widget: /widget.js)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
