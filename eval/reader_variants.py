"""How the learned reader's settings trade quality for time: each `ModelReaderConfig` variant
(windows read, window length) and the heuristic reader, on the tuning sets only
(squad-public, xian-dev, the user documents' two dev sets and the Python manual's dev.jsonl and
dev2.jsonl), through the whole pipeline with MiniLM. Prints a table; `--json` writes it too.

    python eval/reader_variants.py [--json FILE] [--model DIR] [--set NAME] [--only VARIANT]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.build import build_index  # noqa: E402
from rag.config import HeuristicReaderConfig, ModelReaderConfig, default_embedder  # noqa: E402
from rag.embedders import make_embedder  # noqa: E402
from rag.evaluate import evaluate, read_questions, read_sources  # noqa: E402
from rag.pipeline import Assistant  # noqa: E402
from rag.read import Reader  # noqa: E402
from rag.read_heuristic import HeuristicReader, SentenceIndex  # noqa: E402
from rag.read_model import MODEL_DIR, ModelReader  # noqa: E402
from rag.store import load_index  # noqa: E402

SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-public"
USERDOCS_DEV = ROOT / "eval" / "userdocs" / "dev"
SETS = {
    "squad-public": (SQUAD / "questions.jsonl", SQUAD / "docs"),
    "xian-dev": (ROOT / "eval" / "questions" / "xian-dev.jsonl", ROOT / "docs"),
    "userdocs-dev": (USERDOCS_DEV / "questions.jsonl", USERDOCS_DEV / "docs"),
    "userdocs-dev2": (USERDOCS_DEV.parent / "dev2" / "questions.jsonl", USERDOCS_DEV.parent / "dev2" / "docs"),
    # The Python manual's tuning sets, over the index `make eval-docs` builds (run that first).
    "pydocs-dev": (ROOT / "eval" / "pydocs" / "dev.jsonl", ROOT / "build" / "pydocs" / "docs"),
    "pydocs-dev2": (ROOT / "eval" / "pydocs" / "dev2.jsonl", ROOT / "build" / "pydocs" / "docs"),
}
BUILT_ELSEWHERE = {"pydocs-dev": ROOT / "build" / "pydocs" / "index"}
BUILT_ELSEWHERE["pydocs-dev2"] = BUILT_ELSEWHERE["pydocs-dev"]
"""Sets read over an index another command builds; the others get one of their own here."""


def index_for(set_name: str) -> Path:
    """The index a tuning set is read over (`eval/window_choice.py` reads the same ones)."""
    return BUILT_ELSEWHERE.get(set_name, ROOT / "eval" / ".cache" / f"variants-{set_name}")
VARIANTS: dict[str, ModelReaderConfig | tuple[ModelReaderConfig, HeuristicReaderConfig | None]
               | tuple[ModelReaderConfig, HeuristicReaderConfig | None, dict[str, Any]] | None] = {
    "heuristic": None,
    "model, 1 window of 64": ModelReaderConfig(windows=1, window_tokens=64),
    "model, 1 window of 96": ModelReaderConfig(windows=1, window_tokens=96),
    "model, 1 window of 128": ModelReaderConfig(windows=1, window_tokens=128),
    "model, up to 2 windows of 96": ModelReaderConfig(windows=2, window_tokens=96),
    "model, as shipped until 2026-11-27 (2 windows, the best margin)":
        ModelReaderConfig(windows=2, look_further_below=2.0, rules_weight=0.0),
    "model, up to 3 windows of 96": ModelReaderConfig(windows=3, window_tokens=96),
    "model, always 2 windows of 96": ModelReaderConfig(windows=2, window_tokens=96, look_further_below=1e9),
    "model, default, every span trusted": ModelReaderConfig(trust_span_from=0.0),
    "model, default, span trusted from 0.2": ModelReaderConfig(trust_span_from=0.2),
    "model, default, 2 threads": ModelReaderConfig(threads=2),
    "model, default, span trusted from 0.3": ModelReaderConfig(trust_span_from=0.3),
    "model, default, no centre bonus": ModelReaderConfig(centre_bonus=0.0),
    "model, default, centre bonus 0.5": ModelReaderConfig(centre_bonus=0.5),
    "model, default, centre bonus 1": ModelReaderConfig(centre_bonus=1.0),
    "model, default, centre bonus 2": ModelReaderConfig(centre_bonus=2.0),
    "model, default, centre bonus 4": ModelReaderConfig(centre_bonus=4.0),
    "model, default, a table's row as the model reads it": ModelReaderConfig(table_rows_by_rules=False),
    "model, default, a table's row answered as read in the window": ModelReaderConfig(table_cells=False),
    "model, default, an entry's term read both ways": ModelReaderConfig(entry_forward=False),
    "model, default, no defaults read from signatures": ModelReaderConfig(signature_defaults=False),
    "model, default, sentences ranked without their section":
        (ModelReaderConfig(), HeuristicReaderConfig(read_in_section=False)),
    "model, default, headings may be the evidence":
        (ModelReaderConfig(), HeuristicReaderConfig(headings_as_evidence=True)),
    "model, default, unknown identifiers answered": (ModelReaderConfig(), None, {"decline_unknown_identifiers": False}),
}
"""The model's settings, or its settings and the rules' (which rank the sentences it reads
around; None: the default) and changes to the answer policy, or None for the heuristic reader
alone."""
KEYS = {"evidence@1": "ev@1", "EM": "EM", "F1": "F1", "false_abstention": "false-abst",
        "abstention_recall": "abst-R", "abstention_f1": "abst-F1", "citation_validity": "cit",
        "latency_p50_ms": "p50ms", "reader_p50_ms": "reader-p50ms"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--only", action="append", help="run only these variants (by name)")
    parser.add_argument("--set", action="append", choices=sorted(SETS),
                        help="run only these question sets (default: all; pydocs-dev needs `make eval-docs`)")
    parser.add_argument("--model", type=Path, default=MODEL_DIR,
                        help="the model folder to read with (default: the shipped one)")
    args = parser.parse_args()
    embedder = make_embedder(default_embedder())
    rows = []
    for set_name, (questions_path, docs) in SETS.items():
        if args.set and set_name not in args.set:
            continue
        index = index_for(set_name)
        if set_name in BUILT_ELSEWHERE and not docs.is_dir():
            print(f"{set_name}: no {docs} (run `make eval-docs` first); skipped", flush=True)
            continue
        build_index(docs, index, embedder)
        stored = load_index(index)
        sentences = SentenceIndex(stored.documents, stored.chunks, stored.sentences, stored.sentence_vectors)
        heuristic = HeuristicReader(sentences)
        questions = read_questions(questions_path)
        for name, variant in VARIANTS.items():
            if args.only and name not in args.only:
                continue
            cfg, rules, policy = (*variant, {})[:3] if isinstance(variant, tuple) else (variant, None, {})
            ranks = heuristic if rules is None else HeuristicReader(sentences, rules)
            reader: Reader = heuristic if cfg is None else ModelReader(sentences, ranks, cfg, args.model)
            assistant = Assistant.load(index, embedder, reader=reader)  # the reader's own policy
            assistant.policy = replace(assistant.policy, **policy)
            assistant.warm_up()
            result = evaluate(assistant, questions, read_sources(docs, assistant), set_name)
            row = {"set": set_name, "variant": name, "config": None if cfg is None else asdict(cfg),
                   "rules": None if rules is None else asdict(rules),
                   **{k: result.overall.get(k) for k in KEYS}}
            rows.append(row)
            print(f"{set_name:13} {name:32} " + " ".join(
                f"{label}={row[k]:.3f}" if isinstance(row[k], float) else f"{label}=-" for k, label in KEYS.items()),
                flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
