"""Retrieval question answering with cited, extractive answers. Importing it loads no model."""

from rag.build import BuildReport, build_index
from rag.config import AnswerConfig, ChunkConfig, IngestConfig, RetrieveConfig, Settings
from rag.embed import BatchingEmbedder, Embedder, HashEmbedder, SentenceTransformerEmbedder, make_embedder
from rag.embed_onnx import OnnxEmbedder
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
    "BatchingEmbedder",
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
    "OnnxEmbedder",
    "Question",
    "RagError",
    "RetrieveConfig",
    "SentenceTransformerEmbedder",
    "Settings",
    "build_index",
    "make_embedder",
]
