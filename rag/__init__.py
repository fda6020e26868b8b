"""Retrieval question answering with cited, extractive answers. Importing it loads no model."""

from rag.build import BuildReport, build_index
from rag.config import AnswerConfig, ChunkConfig, IngestConfig, RetrieveConfig, Settings
from rag.embed import Embedder, HashEmbedder, SentenceTransformerEmbedder
from rag.errors import (
    ConfigError,
    EmptyCorpusError,
    IndexMismatchError,
    IndexNotBuiltError,
    IngestError,
    InvalidQueryError,
    RagError,
)
from rag.pipeline import Assistant
from rag.types import Answer, Chunk, Citation, Document, Question

__all__ = [
    "Answer",
    "AnswerConfig",
    "Assistant",
    "BuildReport",
    "Chunk",
    "ChunkConfig",
    "Citation",
    "ConfigError",
    "Document",
    "Embedder",
    "EmptyCorpusError",
    "HashEmbedder",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "IngestConfig",
    "IngestError",
    "InvalidQueryError",
    "Question",
    "RagError",
    "RetrieveConfig",
    "SentenceTransformerEmbedder",
    "Settings",
    "build_index",
]
