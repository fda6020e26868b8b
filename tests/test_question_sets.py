"""The frozen question sets pass their own validators: every gold answer and evidence is in its
document as a reader sees it, the schema holds, and a fifth or more is unanswerable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SETS = [
    ("eval/questions/validate.py", "docs/xian-hard-core-technology.txt"),  # xian-dev and xian-test
    ("eval/userdocs/validate.py", "eval/userdocs/questions.jsonl"),
    ("eval/userdocs/validate.py", "eval/userdocs/dev/questions.jsonl"),
    ("eval/userdocs/validate.py", "eval/userdocs/dev2/questions.jsonl"),
]


@pytest.mark.parametrize(("validator", "argument"), SETS, ids=[a for _, a in SETS])
def test_question_set_is_valid(validator: str, argument: str) -> None:
    done = subprocess.run(
        [sys.executable, validator, argument], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK"), done.stdout
