"""How the learned reader chooses among the windows it reads, on the tuning sets only
(squad-public, xian-dev and the Python manual's dev.jsonl and dev2.jsonl), through the whole pipeline with MiniLM.

Every question is asked once; the model reads the windows around the rules' first
`--windows-recorded` sentences whatever its settings say, and each reading is kept. Then every
choice rule of the grid is replayed on what was read (no model run per rule): read up to W
windows, a further one only while the best margin is under T, and answer from the window whose
margin + R x (its sentence's rules score - the best sentence's) is highest. Prints evidence@1,
the F1 of its span (every span trusted, nothing declined: the rules compared, not the
pipeline's figures) and the windows read a question for each (W, T, R), the shipped settings
marked.

    python eval/window_choice.py [--set NAME] [--windows-recorded 5] [--model DIR]
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.reader_variants import SETS as VARIANT_SETS  # noqa: E402
from eval.reader_variants import index_for  # noqa: E402
from rag.build import build_index  # noqa: E402
from rag.config import ModelReaderConfig, default_embedder  # noqa: E402
from rag.embedders import make_embedder  # noqa: E402
from rag.evaluate import read_questions  # noqa: E402
from rag.metrics import best_f1, holds_answer  # noqa: E402
from rag.pipeline import Assistant  # noqa: E402
from rag.read_heuristic import HeuristicReader, SentenceIndex  # noqa: E402
from rag.read_model import MODEL_DIR, ModelReader  # noqa: E402
from rag.store import load_index  # noqa: E402
from rag.types import Query  # noqa: E402

# The tuning sets of `eval/reader_variants.py`, over the same indexes (the manual's is the one
# `make eval-docs` builds: run that first).
SETS = {name: (questions, docs, index_for(name)) for name, (questions, docs) in VARIANT_SETS.items()}
GRID = {"windows": (1, 2, 3, 4), "look_further_below": (0.0, 1.0, 2.0, 4.0, math.inf),
        "rules_weight": (0.0, 2.0, 4.0, 8.0)}


@dataclass(frozen=True, slots=True)
class Window:
    rank: int
    row: int
    rows: tuple[int, ...]
    rules: float
    """The rules' score of the sentence the window is centred on."""
    margin: float
    span: str | None
    evidence: str
    """The sentence holding the span, else the centre sentence."""
    centre: str


class RecordingReader(ModelReader):
    """Answers as the given settings say, and also reads the first `recorded` windows."""

    def __init__(self, *args: Any, recorded: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded = recorded
        self.last: list[Window] = []

    def read_scored(self, query: Query, passages: Any) -> Any:
        out = super().read_scored(query, passages)
        ranked = self.heuristic.score_sentences(query, passages)
        bonus = self.config.centre_bonus if query.text == query.question else 0.0
        self.last = []
        for rank, s in enumerate(ranked[: self.recorded]):
            r = self.read_window(query.question_first(), s.row, query.question, bonus)
            text = self.sentences.documents[int(self.sentences.table.doc[r.answer_row])].text
            span = None if r.answer is None else text[r.answer.start:r.answer.end]
            self.last.append(Window(rank, s.row, r.rows, s.score, r.margin, span, self.sentences.texts[r.answer_row],
                                   self.sentences.texts[s.row]))
        return out


def choose(windows: list[Window], n: int, further_below: float, weight: float) -> tuple[Window | None, int]:
    """The window answered from under one rule, and how many were read."""
    read: list[Window] = []
    for w in windows[:n]:
        if read and max(r.margin for r in read) >= further_below:
            break
        if any(w.row in r.rows for r in read):
            continue
        read.append(w)
    if not read:
        return None, 0
    top = windows[0].rules
    return max(read, key=lambda w: w.margin + weight * (w.rules - top)), len(read)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", choices=sorted(SETS), help="only these sets (default: all)")
    parser.add_argument("--windows-recorded", type=int, default=int(max(GRID["windows"])))
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="the model folder (default: the shipped one)")
    args = parser.parse_args()
    shipped = ModelReaderConfig()
    embedder = make_embedder(default_embedder())
    recorded: dict[str, list[tuple[list[str], list[Window]]]] = {}
    for name, (questions_path, docs, index) in SETS.items():
        if args.set and name not in args.set:
            continue
        if not docs.is_dir():
            print(f"{name}: no {docs} (run `make eval-docs` first); skipped", flush=True)
            continue
        build_index(docs, index, embedder)
        stored = load_index(index)
        sentences = SentenceIndex(stored.documents, stored.chunks, stored.sentences, stored.sentence_vectors,
                                  stored.sentence_terms)
        reader = RecordingReader(sentences, HeuristicReader(sentences), shipped, args.model,
                                 recorded=args.windows_recorded)
        assistant = Assistant.load(index, embedder, reader=reader)
        rows = []
        for q in read_questions(questions_path):
            reader.last = []
            assistant.ask(q.question, q.history)
            if not q.unanswerable and q.answers and reader.reads(q.question):
                rows.append((list(q.answers), reader.last))
        recorded[name] = rows
        print(f"{name}: {len(rows)} answerable questions read", flush=True)
    print(f"{'W':>2} {'T':>4} {'R':>4}  " + "  ".join(f"{n:>28}" for n in recorded))
    for n, t, w in itertools.product(*GRID.values()):
        cells = []
        for rows in recorded.values():
            ev = f1 = reads = 0.0
            for golds, windows in rows:
                best, count = choose(windows, n, t, w)
                reads += count
                if best is None:
                    continue
                # With no span, the evidence is the rules' best sentence (as `ModelReader` does).
                evidence = best.evidence if best.span is not None else windows[0].centre
                ev += holds_answer(evidence, golds)
                f1 += best_f1(best.span if best.span is not None else evidence, golds)
            k = max(len(rows), 1)
            cells.append(f"ev@1 {ev / k:.3f} F1 {f1 / k:.3f} read {reads / k:.2f}")
        mark = " <- shipped" if (n, t, w) == (shipped.windows, shipped.look_further_below, shipped.rules_weight) else ""
        print(f"{n:>2} {t:>4} {w:>4}  " + "  ".join(f"{c:>28}" for c in cells) + mark, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
