"""Count right answers in saved answers: answerable questions answered (not declined) with
EM, or F1 >= 0.5, against the gold answers; unanswerable questions declined.

    rag eval --questions Q --docs D --reader model --save-answers A.jsonl
    python eval/right_answers.py Q A.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.metrics import best_f1, exact_match


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    questions = [json.loads(line) for line in Path(argv[0]).read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = [json.loads(line) for line in Path(argv[1]).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(questions) != len(answers):
        print(f"{len(answers)} answers for {len(questions)} questions", file=sys.stderr)
        return 2
    right = declined = answerable = unanswerable = 0
    for q, a in zip(questions, answers, strict=True):
        if q.get("unanswerable"):
            unanswerable += 1
            declined += bool(a["abstained"])
        else:
            answerable += 1
            golds = q["answers"]
            right += not a["abstained"] and (exact_match(a["answer"], golds) > 0 or best_f1(a["answer"], golds) >= 0.5)
    print(f"answerable right: {right} of {answerable} ({right / max(answerable, 1):.1%}); "
          f"unanswerable declined: {declined} of {unanswerable}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
