"""How the learned reader sees text: `[CLS] question [SEP] context window [SEP]` in MiniLM's
WordPiece vocabulary, with each context token's character offsets. Training
(`rag.train_reader`) and reading (`rag.read_model`) both cut windows here, so the model reads
at query time exactly what it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLS, SEP, PAD = 101, 102, 0
MAX_QUESTION_TOKENS = 40
"""A longer question keeps its last 40 tokens (the end of a question names what it asks)."""


@dataclass(frozen=True, slots=True)
class Window:
    """One model input. Context token `i` sits at position `first + i` and covers
    `context[offsets[i][0]:offsets[i][1]]`."""

    ids: list[int]
    type_ids: list[int]
    first: int
    offsets: list[tuple[int, int]]


def load_tokenizer(path: Path | str) -> Any:
    """The WordPiece tokenizer of `tokenizer.json`, with no truncation or padding of its own."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def question_ids(tokenizer: Any, question: str) -> list[int]:
    ids: list[int] = tokenizer.encode(question, add_special_tokens=False).ids
    return ids[-MAX_QUESTION_TOKENS:]


def windows(
    question: list[int],
    context_ids: list[int],
    context_offsets: list[tuple[int, int]],
    max_len: int,
    stride: int,
) -> list[Window]:
    """Windows of at most `max_len` tokens covering the context, consecutive ones sharing
    `stride` tokens. An empty context gives one window with no context tokens."""
    room = max_len - len(question) - 3
    if room < 8:
        raise ValueError(f"max_len {max_len} leaves {room} context tokens after the question")
    step = max(room - stride, 1)
    out = []
    start = 0
    while True:
        end = min(start + room, len(context_ids))
        out.append(assemble(question, context_ids[start:end], context_offsets[start:end]))
        if end >= len(context_ids):
            return out
        start += step


def assemble(question: list[int], context_ids: list[int], context_offsets: list[tuple[int, int]]) -> Window:
    """`[CLS] question [SEP] context [SEP]`, type ids 0 then 1."""
    head = [CLS, *question, SEP]
    return Window(head + list(context_ids) + [SEP], [0] * len(head) + [1] * (len(context_ids) + 1), len(head),
                  list(context_offsets))
