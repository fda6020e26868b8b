"""The exception tree: every error the library raises on purpose derives from RagError.

    RagError
    ├── ConfigError (also ValueError)      a setting has a value it cannot take
    ├── UsageError                         a command was called the wrong way
    ├── MissingExtraError                  an optional part is not installed
    ├── IngestError                        one document could not be read (carries the path)
    ├── EmptyCorpusError                   nothing to index
    ├── QuestionFileError                  a question file is unreadable (carries the path)
    ├── ModelError                         the embedding model cannot be loaded or run
    ├── IndexNotBuiltError                 no index where one was asked for
    ├── IndexMismatchError                 the index was built differently, or is damaged
    ├── IndexBusyError                     another build is writing the index
    ├── IndexWriteError                    the index could not be written (full disk, read-only)
    └── InvalidQueryError (also ValueError) a question the assistant refuses
"""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting has a value it cannot take."""


class UsageError(RagError):
    """A command was called the wrong way (conflicting or inconsistent arguments)."""


class MissingExtraError(RagError):
    """An optional part (the web server, report charts) needs packages that are not installed."""


class IngestError(RagError):
    """A document could not be read; carries the path."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NotContentError(IngestError):
    """A file reads fine but holds nothing to answer from (a page of links: a table of contents,
    a site's index); it is left out quietly, and the ingest reports such files together. The
    index remembers it with its file's sha256, so that a rebuild does not read it again."""

    def __init__(self, path: Path | str, reason: str, sha256: str = "") -> None:
        super().__init__(path, reason)
        self.sha256 = sha256


class EmptyCorpusError(RagError):
    """There is nothing to index: the folder is missing or holds no readable document."""


class QuestionFileError(RagError):
    """A question file cannot be read or holds a malformed line; carries the path and line."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        self.line = line
        super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")


class ModelError(RagError):
    """The embedding model cannot be loaded, exported or run."""


class IndexNotBuiltError(RagError):
    """No index exists where one was asked for."""


class IndexMismatchError(RagError):
    """The index on disk was built differently (model, chunking, format) or is damaged."""


class IndexBusyError(RagError):
    """Another build holds the index's lock."""


class IndexWriteError(RagError):
    """Writing the index failed (a full disk, a read-only folder); the previous index is unchanged."""


class InvalidQueryError(RagError, ValueError):
    """A question the assistant refuses to answer: empty, too long, malformed."""
