"""The exception tree: every error the library raises on purpose derives from RagError."""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting has a value it cannot take."""


class IngestError(RagError):
    """A document could not be read; carries the path."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class EmptyCorpusError(RagError):
    """There is nothing to index: the folder is missing or holds no readable document."""


class IndexNotBuiltError(RagError):
    """No index exists where one was asked for."""


class IndexMismatchError(RagError):
    """The index on disk was built differently (model, chunking, format) or is damaged."""


class InvalidQueryError(RagError, ValueError):
    """A question the assistant refuses to answer: empty, too long, malformed."""
