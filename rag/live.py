"""A server that follows its index: `LiveAssistant` switches to each new generation a build
writes, and `DocsWatcher` (`rag serve --watch`) re-ingests when the documents change.

A switch is one reference swap: a question in flight finishes on the generation it began
with (whose files stay on disk until the build after next, and stay readable while open), the
next question is answered from the new one. Nothing is dropped and nothing waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.build import build_index
from rag.config import QueryLimits
from rag.embed import Embedder
from rag.errors import IndexBusyError, RagError
from rag.formats import format_for
from rag.ingest import is_hidden, skipped_lines
from rag.pipeline import Assistant, Trace
from rag.store import live_generation
from rag.types import Answer, Document

logger = logging.getLogger(__name__)


class _Poller:
    """Calls `_poll` every `poll_seconds` from a background thread, from `start` to `close`;
    an exception is logged and the thread goes on."""

    poll_seconds: float
    _name = "rag-poller"

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Poll from a background thread until `close`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self._poll()
            except Exception:  # the thread must outlive any one bad poll
                logger.exception("%s", self._name)


class LiveAssistant(_Poller):
    """An `Assistant` that follows `index_dir`: `refresh` (or the thread `start` runs, every
    `poll_seconds`) loads the live generation when it is not the one loaded, warms it up, then
    switches to it. A generation that cannot be loaded (damaged, another embedder) is logged
    once and skipped; the loaded one keeps answering.

    Args:
        index_dir: the index folder to follow.
        load: loads the assistant of the index's live generation (it reuses the embedder).
        poll_seconds: how often the thread looks at the index's CURRENT pointer.
    """

    _name = "rag-live-index"

    def __init__(self, index_dir: Path | str, load: Callable[[], Assistant], poll_seconds: float = 0.5) -> None:
        super().__init__(poll_seconds)
        self.index_dir = Path(index_dir)
        self._load = load
        self._assistant = load()
        self._skipped = ""
        self._refreshing = threading.Lock()

    @property
    def current(self) -> Assistant:
        """The assistant answering now."""
        return self._assistant

    @property
    def documents(self) -> tuple[Document, ...]:
        return self._assistant.documents

    @property
    def limits(self) -> QueryLimits:
        return self._assistant.limits

    def ask(self, question: str, history: Sequence[str] = ()) -> Answer:
        return self._assistant.ask(question, history)

    def ask_traced(self, question: str, history: Sequence[str] = ()) -> Trace:
        return self._assistant.ask_traced(question, history)

    def document(self, doc_id: str) -> Document | None:
        return self._assistant.document(doc_id)

    def describe(self) -> dict[str, Any]:
        return self._assistant.describe()

    def warm_up(self) -> None:
        self._assistant.warm_up()

    def refresh(self) -> bool:
        """Switch to the index's live generation if another one is loaded; True when it switched."""
        with self._refreshing:
            name = live_generation(self.index_dir)
            if not name or name in (self._assistant.generation, self._skipped):
                return False
            try:
                fresh = self._load()
                fresh.warm_up()
            except (RagError, OSError) as exc:
                logger.warning("not switching to index generation %s (%s); still answering from %s",
                               name, exc, self._assistant.generation)
                self._skipped = name
                return False
            previous, self._assistant = self._assistant.generation, fresh
            logger.warning("switched from index generation %s to %s (%d documents)",
                           previous, fresh.generation, len(fresh.documents))
            return True

    def _poll(self) -> None:
        self.refresh()


Snapshot = tuple[tuple[str, int, int], ...]


class DocsWatcher(_Poller):
    """Re-ingests `docs_dir` into `index_dir` when a document is added, changed or removed
    (polled: each file's name, size and modification time, every `poll_seconds`; a change is
    built once it has held still for one more poll, so a file being copied is not read half
    written). Only changed documents are embedded again; `on_built` runs after each build
    that switched the index (the server's `LiveAssistant.refresh`).
    """

    _name = "rag-watch-docs"

    def __init__(self, docs_dir: Path | str, index_dir: Path | str, embedder: Embedder,
                 on_built: Callable[[], object] | None = None, poll_seconds: float = 2.0) -> None:
        super().__init__(poll_seconds)
        self.docs_dir = Path(docs_dir)
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self.on_built = on_built
        self._built: Snapshot = ()

    def snapshot(self) -> Snapshot:
        """(relative path, size, modification time) of every file a build would read."""
        found = []
        for path in self.docs_dir.rglob("*"):
            if is_hidden(path, self.docs_dir) or format_for(path) is None:
                continue
            try:
                st = path.stat()
            except OSError:  # gone, or a broken link: the build names it
                continue
            found.append((path.relative_to(self.docs_dir).as_posix(), st.st_size, st.st_mtime_ns))
        return tuple(sorted(found))

    def build(self) -> bool:
        """Ingest now; True when the index changed."""
        try:
            report = build_index(self.docs_dir, self.index_dir, self.embedder)
        except IndexBusyError:
            logger.warning("docs changed; another build holds %s, trying again", self.index_dir)
            raise
        except (RagError, OSError) as exc:
            logger.warning("docs changed, but the index was not rebuilt: %s", exc)
            return False
        for line in skipped_lines(report.errors, self.docs_dir):
            logger.warning("skipped %s", line)
        if report.changed:
            logger.warning("docs changed: re-indexed %d new or changed of %d documents in %.1f s",
                           len(report.embedded_documents), report.n_documents, report.seconds)
            if self.on_built is not None:
                self.on_built()
        return report.changed

    def start(self) -> None:
        """Watch from a background thread until `close`; changes from this call on count (the
        folder is looked at now, before the thread starts, not whenever it first runs)."""
        if self._thread is None:
            self._built = self.snapshot()
        super().start()

    def _poll(self) -> None:
        now = self.snapshot()
        if now == self._built or self._stop.wait(self.poll_seconds) or self.snapshot() != now:
            return  # unchanged, closing, or still being written: look again
        try:
            self.build()
        except IndexBusyError:
            return  # another build holds the index: try again
        self._built = now
