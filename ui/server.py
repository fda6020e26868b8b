"""`rag serve`: load (building if needed) the index, warm the model, serve with uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.build import ensure_index
from rag.embed import BatchingEmbedder
from rag.pipeline import Assistant
from ui.api import create_app
from ui.config import ServerConfig

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)


def load_assistant(
    index_dir: Path, docs_dir: Path | None, backend: str | None = None, model_cache: Path | None = None
) -> Assistant:
    """The assistant for `index_dir`, first building or updating it from `docs_dir` if given."""
    embedder, report = ensure_index(index_dir, docs_dir, backend, model_cache=model_cache)
    for error in report.errors if report else ():
        logger.warning("skipped %s", error)
    # Concurrent requests share model calls instead of queueing behind one another.
    return Assistant.load(index_dir, BatchingEmbedder(embedder))


def uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """How uvicorn runs the app. proxy_headers is off: uvicorn would otherwise take the
    X-Forwarded-For of a loopback peer as the client before the rate limiter sees it; the gate
    trusts that header from --trust-proxy peers only."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5,
                          proxy_headers=False, forwarded_allow_ips="", server_header=False)


def serve(assistant: Assistant, host: str, port: int, config: ServerConfig) -> None:
    import uvicorn

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    assistant.warm_up()
    app = create_app(assistant, config)
    print(f"serving {len(assistant.documents)} documents on http://{host}:{port}/  "
          f"(API: /api/ask, docs: /docs, widget: /widget.js)", flush=True)
    uvicorn.Server(uvicorn_config(app, host, port)).run()
