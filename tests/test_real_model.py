"""With the real all-MiniLM-L6-v2 model on the default corpus (slow: loads torch)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from rag.pipeline import Assistant

pytestmark = pytest.mark.slow


def test_bundled_weights_are_the_official_ones() -> None:
    from rag.embed import bundled_model_path

    data = (Path(bundled_model_path()) / "model.safetensors").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest.startswith("53aa5117") and digest.endswith("d9db")


def test_concept_question_answers_2010_citing_the_sentence(minilm_default_assistant: Assistant) -> None:
    answer = minilm_default_assistant.ask("When was the hard and core technology concept first proposed?")
    assert not answer.abstained
    assert answer.answer == "2010"
    assert answer.citations[0].quote == "The hard and core technology concept was first proposed in Xi’an in 2010."


def test_capital_of_france_abstains(minilm_default_assistant: Assistant) -> None:
    answer = minilm_default_assistant.ask("What is the capital of France?")
    assert answer.abstained
    assert answer.answer == ""
    assert answer.citations


def test_follow_up_with_history(minilm_default_assistant: Assistant) -> None:
    answer = minilm_default_assistant.ask(
        "When did they list?",
        history=["Which two Xi’an companies debuted on the STAR Market?"],
    )
    assert not answer.abstained
    assert answer.answer == "July 22, 2019"


def test_embeddings_are_unit_float32_and_meaningful(minilm_default_assistant: Assistant) -> None:
    vectors = minilm_default_assistant.embedder.embed(
        ["A rocket engine burns kerosene.", "Rocket motors use kerosene fuel.", "Cheese is made from milk."]
    )
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
