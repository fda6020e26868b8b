"""Retrieval question answering with cited, extractive answers. Importing it loads no model."""

from rag.answer import compose_answer
from rag.build import BuildReport, build_index
from rag.config import (
    LIMITS,
    AnswerPolicy,
    ChunkConfig,
    HeuristicReaderConfig,
    IndexConfig,
    IngestConfig,
    QueryLimits,
    RetrieveConfig,
    Settings,
)
from rag.embed import BatchingEmbedder, Embedder
from rag.embed_hash import HashEmbedder
from rag.embed_onnx import OnnxEmbedder
from rag.embed_torch import SentenceTransformerEmbedder
from rag.embedders import make_embedder
from rag.errors import (
    ConfigError,
    EmptyCorpusError,
    IndexBusyError,
    IndexMismatchError,
    IndexNotBuiltError,
    IndexWriteError,
    IngestError,
    InvalidQueryError,
    MissingExtraError,
    ModelError,
    QuestionFileError,
    RagError,
    UsageError,
)
from rag.index import VectorIndex
from rag.index_faiss import FaissFlatIndex, FaissHnswIndex, FaissIvfIndex
from rag.index_numpy import NumpyIndex
from rag.indexes import build_vector_index
from rag.pipeline import Assistant
from rag.read import Reader
from rag.read_heuristic import HeuristicReader, SentenceIndex
from rag.retrieve import HybridRetriever, Retriever
from rag.types import Answer, Chunk, Citation, Document, Extraction, Passage, Query, Question, Span

__all__ = [
    "LIMITS",
    "Answer",
    "AnswerPolicy",
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
    "Extraction",
    "FaissFlatIndex",
    "FaissHnswIndex",
    "FaissIvfIndex",
    "HashEmbedder",
    "HeuristicReader",
    "HeuristicReaderConfig",
    "HybridRetriever",
    "IndexBusyError",
    "IndexConfig",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "IndexWriteError",
    "IngestConfig",
    "IngestError",
    "InvalidQueryError",
    "MissingExtraError",
    "ModelError",
    "NumpyIndex",
    "OnnxEmbedder",
    "Passage",
    "Query",
    "QueryLimits",
    "Question",
    "QuestionFileError",
    "RagError",
    "Reader",
    "RetrieveConfig",
    "Retriever",
    "SentenceIndex",
    "SentenceTransformerEmbedder",
    "Settings",
    "Span",
    "UsageError",
    "VectorIndex",
    "build_index",
    "build_vector_index",
    "compose_answer",
    "make_embedder",
]
