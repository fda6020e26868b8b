"""The registry of readers, by name: a new one is one module, one line here and its name in
`rag.config.READERS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rag.config import DEFAULT_READER, READERS, AnswerPolicy, Settings
from rag.errors import ConfigError
from rag.read import Reader
from rag.read_heuristic import HeuristicReader, SentenceIndex


def _model(sentences: SentenceIndex, settings: Settings) -> Reader:
    from rag.read_model import ModelReader

    return ModelReader(sentences, HeuristicReader(sentences, settings.reader), settings.model_reader)


def _heuristic(sentences: SentenceIndex, settings: Settings) -> Reader:
    return HeuristicReader(sentences, settings.reader)


FACTORIES: dict[str, Callable[[SentenceIndex, Settings], Reader]] = {
    "model": _model,
    "heuristic": _heuristic,
}
__all__ = ["DEFAULT_READER", "FACTORIES", "READERS", "make_reader", "policy_for"]
assert set(FACTORIES) == set(READERS), "rag.config.READERS names every reader"


def policy_for(reader: Reader, policy: AnswerPolicy) -> AnswerPolicy:
    """The answer policy to use with `reader`: the model brings the abstention threshold chosen
    when it was calibrated (at most 5% of answerable calibration questions declined)."""
    from rag.read_model import ModelReader

    if isinstance(reader, ModelReader):
        return replace(policy, abstain_below=reader.abstain_below)
    return policy


def make_reader(name: str, sentences: SentenceIndex, settings: Settings | None = None) -> Reader:
    factory = FACTORIES.get(name)
    if factory is None:
        raise ConfigError(f"unknown reader {name!r}; expected one of {list(READERS)}")
    return factory(sentences, Settings() if settings is None else settings)
