"""The reader seam: a `Reader` reads a query and the retrieved passages and returns extractions.

Readers are swapped, not patched: the hand-written rules (`rag.read_heuristic.HeuristicReader`)
and any learned reader return the same `Extraction`s, and one policy (`rag.answer`) turns
them into the answer. "No answer here" is a low confidence, not an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag.types import Extraction, Passage, Query


class Reader(Protocol):
    """Reads passages for a query; extractions come best first, evidence not overlapping."""

    @property
    def name(self) -> str: ...

    def read(self, query: Query, passages: Sequence[Passage]) -> tuple[Extraction, ...]: ...
