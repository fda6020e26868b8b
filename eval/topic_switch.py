"""A question that stands alone, asked after an unrelated turn, should read as it does alone: each
answerable question of a set is asked alone, then with one earlier question of another document
as its history (a chat that changes topic). Prints evidence@1 and F1 both ways and how many
answers changed. Through the whole pipeline with the index's embedder and the model reader.

    python eval/topic_switch.py [--questions Q] [--docs D] [--seed 7]

Default: squad-public (five articles; the earlier turn is a question about another article).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.build import build_index  # noqa: E402
from rag.config import default_embedder  # noqa: E402
from rag.embedders import make_embedder  # noqa: E402
from rag.metrics import best_f1, holds_answer  # noqa: E402
from rag.pipeline import Assistant  # noqa: E402

SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-public"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=SQUAD / "questions.jsonl")
    parser.add_argument("--docs", type=Path, default=SQUAD / "docs")
    parser.add_argument("--index", type=Path, help="default: eval/.cache/topic-switch-<docs folder name>")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    index = args.index or ROOT / "eval" / ".cache" / f"topic-switch-{args.docs.name}"
    build_index(args.docs, index, make_embedder(default_embedder()))
    assistant = Assistant.load(index, reader="model")
    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(args.seed)
    asked = [q for q in rows if not q.get("unanswerable") and q.get("answers") and not q.get("history")]
    totals = {"ev_alone": 0.0, "ev_after": 0.0, "f1_alone": 0.0, "f1_after": 0.0, "changed": 0.0}
    for q in asked:
        others = [o for o in rows if o.get("doc_id") and o["doc_id"] != q["doc_id"] and not o.get("history")]
        if not others:
            print("every question is about one document: no unrelated turn to ask first", file=sys.stderr)
            return 2
        earlier = rng.choice(others)["question"]
        alone, after = assistant.ask(q["question"]), assistant.ask(q["question"], history=[earlier])
        for key, answer in (("alone", alone), ("after", after)):
            quote = answer.citations[0].quote if answer.citations else ""
            totals[f"ev_{key}"] += holds_answer(quote, q["answers"])
            totals[f"f1_{key}"] += best_f1("" if answer.abstained else answer.answer, q["answers"])
        totals["changed"] += alone.answer != after.answer
    n = max(len(asked), 1)
    print(f"{len(asked)} answerable questions of {args.questions}")
    print(f"evidence@1 alone {totals['ev_alone'] / n:.3f}, after an unrelated turn {totals['ev_after'] / n:.3f}")
    print(f"F1 alone {totals['f1_alone'] / n:.3f}, after an unrelated turn {totals['f1_after'] / n:.3f}")
    print(f"answers changed by the unrelated turn: {int(totals['changed'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
