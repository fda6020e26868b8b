"""`rag serve`: load (building if needed) the index, warm the model, serve with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.build import Progress, ensure_index
from rag.config import Settings
from rag.embed import BatchingEmbedder, Embedder
from rag.ingest import skipped_lines
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
    embedder = prepare_index(index_dir, docs_dir, backend, model_cache, progress, settings)
    # Concurrent requests share model calls instead of queueing behind one another.
    batching = BatchingEmbedder(embedder)
    return LiveAssistant(index_dir, lambda: Assistant.load(index_dir, batching, reader=reader, base_url=base_url))


def prepare_index(
    index_dir: Path, docs_dir: Path | None, backend: str | None = None, model_cache: Path | None = None,
    progress: Progress | None = None, settings: Settings | None = None,
) -> Embedder:
    """The index's embedder, after building or updating the index from `docs_dir` if given."""
    embedder, report = ensure_index(index_dir, docs_dir, backend, progress, model_cache, settings)
    for line in skipped_lines(report.errors, docs_dir) if report and docs_dir else ():
        logger.warning("skipped %s", line)
    if report is not None and report.changed:
        print(f"indexed {len(report.embedded_documents)} new or changed (of {report.n_documents}) "
              f"document{'' if report.n_documents == 1 else 's'} in {report.seconds:.0f} s", flush=True)
    return embedder


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
          watch_docs: Path | None = None, sockets: list[socket.socket] | None = None) -> None:
    """Serve until stopped, following the index; with `watch_docs`, re-ingest that folder
    whenever its documents change; with `sockets`, accept on them (a replica's share of one
    listening socket) instead of binding `host`:`port`."""
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
        uvicorn.Server(uvicorn_config(app, host, port)).run(sockets=sockets)
    finally:
        if watcher is not None:
            watcher.close()
        assistant.close()


REPLICA_RESTARTS = 3
"""A replica that dies this many times within `REPLICA_QUICK_DEATH` seconds of starting stops the server."""
REPLICA_QUICK_DEATH = 10.0


def replica_config(config: ServerConfig, replicas: int) -> ServerConfig:
    """Each replica's share of the per-client limits: a client's connections are spread over the
    replicas by the kernel, so together they never allow more than the server's --rate and --burst."""
    return replace(config, rate_per_minute=config.rate_per_minute / replicas,
                   rate_burst=max(1, math.ceil(config.rate_burst / replicas)))


def _replica(index_dir: Path, backend: str | None, model_cache: Path | None, reader: str | None,
             base_url: str, config: ServerConfig, sock: socket.socket, host: str, port: int) -> None:
    """One replica (a spawned process): its own assistant over the shared read-only index, its
    own uvicorn on the listening socket all replicas share."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops replicas with SIGTERM
    assistant = load_assistant(index_dir, None, backend, model_cache, None, reader, base_url)
    serve(assistant, host, port, config, sockets=[sock])


def serve_replicas(index_dir: Path, replicas: int, host: str, port: int, config: ServerConfig,
                   backend: str | None = None, model_cache: Path | None = None, reader: str | None = None,
                   base_url: str = "", watch: tuple[Path, Embedder] | None = None) -> int:
    """Serve with `replicas` processes over one index (built before): each loads the index
    itself, all accept on one socket, each follows the index's generations. `watch`: the docs
    folder and the index's embedder; this process re-ingests the folder for all of them (one
    writer). Returns the exit status: 0 when stopped, 1 when replicas kept dying."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    share = replica_config(config, replicas)
    context = multiprocessing.get_context("spawn")  # never fork a process with model threads

    def start() -> tuple[Any, float]:
        process = context.Process(target=_replica, daemon=True, name="rag-replica", args=(
            index_dir, backend, model_cache, reader, base_url, share, sock, host, port))
        process.start()
        return process, time.monotonic()

    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    watcher = None
    if watch is not None:
        watcher = DocsWatcher(watch[0], index_dir, watch[1])  # the replicas see each new generation
        watcher.start()
    running = [start() for _ in range(replicas)]
    print(f"serving {index_dir}/ with {replicas} replicas on http://{host}:{port}/ "
          f"(each: {share.rate_per_minute:g} questions a minute and a burst of {share.rate_burst} per client)"
          + (f"; watching {watch[0]}/ for changes" if watch is not None else ""), flush=True)
    quick_deaths, status = 0, 0
    try:
        while not stopping:
            time.sleep(0.5)
            for i, (process, began) in enumerate(running):
                if process.is_alive():
                    continue
                quick_deaths = quick_deaths + 1 if time.monotonic() - began < REPLICA_QUICK_DEATH else 0
                logger.warning("replica %d exited with %s; starting another", process.pid, process.exitcode)
                if quick_deaths >= REPLICA_RESTARTS:
                    logger.error("replicas keep dying on start: stopping")
                    stopping, status = True, 1
                    break
                running[i] = start()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process, _ in running:
            if process.is_alive():
                process.terminate()
        for process, _ in running:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        if watcher is not None:
            watcher.close()
        sock.close()
    return status
