"""`rag serve`: load (building if needed) the index, warm the model, serve with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.build import Progress, ensure_index
from rag.config import Settings
from rag.embed import BatchingEmbedder
from rag.live import DocsWatcher, LiveAssistant
from rag.pipeline import Assistant
from ui.api import create_app
from ui.config import ServerConfig

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)


def load_assistant(
    index_dir: Path, docs_dir: Path | None, backend: str | None = None, model_cache: Path | None = None,
    progress: Progress | None = None, reader: str | None = None, base_url: str = "",
    settings: Settings | None = None,
) -> LiveAssistant:
    """The assistant for `index_dir`, first building or updating it from `docs_dir` if given;
    `reader` names the reader (default: the shipped model). It follows the index: a build by
    `rag ingest` or `--watch` is answered from as soon as it is written."""
    embedder, report = ensure_index(index_dir, docs_dir, backend, progress, model_cache, settings)
    for error in report.errors if report else ():
        logger.warning("skipped %s", error)
    if report is not None and report.changed:
        print(f"indexed {len(report.embedded_documents)} new or changed (of {report.n_documents}) "
              f"document{'' if report.n_documents == 1 else 's'} in {report.seconds:.0f} s", flush=True)
    # Concurrent requests share model calls instead of queueing behind one another.
    batching = BatchingEmbedder(embedder)
    return LiveAssistant(index_dir, lambda: Assistant.load(index_dir, batching, reader=reader, base_url=base_url))


HEAD_SECONDS = 10.0
"""A request line and its headers must arrive within this (idle keep-alive connections close after 5 s)."""


def uvicorn_config(app: Any, host: str, port: int, head_seconds: float = HEAD_SECONDS) -> uvicorn.Config:
    """How uvicorn runs the app. proxy_headers is off: uvicorn would otherwise take the
    X-Forwarded-For of a loopback peer as the client before the rate limiter sees it; the gate
    trusts that header from --trust-proxy peers only. A connection that sends its headers a byte
    at a time is closed after `head_seconds` (uvicorn alone waits for ever)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5,
                          proxy_headers=False, forwarded_allow_ips="", server_header=False,
                          http=head_timeout_protocol(head_seconds), timeout_keep_alive=5)


def head_timeout_protocol(head_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing connections whose request head is slower than `head_seconds`."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeadTimeoutProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._head_timer is None:  # a later request on a kept-alive connection
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutProtocol


def serve(assistant: LiveAssistant, host: str, port: int, config: ServerConfig,
          watch_docs: Path | None = None) -> None:
    """Serve until stopped, following the index; with `watch_docs`, re-ingest that folder
    whenever its documents change."""
    import uvicorn

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    assistant.warm_up()
    app = create_app(assistant, config)
    assistant.start()
    watcher = None
    if watch_docs is not None:
        watcher = DocsWatcher(watch_docs, assistant.index_dir, assistant.current.embedder, assistant.refresh)
        watcher.start()
    print(f"serving {len(assistant.documents)} documents on http://{host}:{port}/  "
          f"(API: /api/ask, docs: /docs, widget: /widget.js)"
          + (f"; watching {watch_docs}/ for changes" if watch_docs is not None else ""), flush=True)
    try:
        uvicorn.Server(uvicorn_config(app, host, port)).run()
    finally:
        if watcher is not None:
            watcher.close()
        assistant.close()
