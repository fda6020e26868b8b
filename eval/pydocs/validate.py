#!/usr/bin/env python3
"""Validate eval/pydocs/questions.jsonl against the Python 3.11 HTML manual.

Usage:
    python eval/pydocs/validate.py [--html DIR] [--questions FILE]

DIR defaults to /usr/share/doc/python3.11/html (Debian's python3.11-doc package).
Needs only the standard library and BeautifulSoup (bs4). Exits 0 when every check
passes, 1 with a list of failures otherwise.

Checks:
  * every line is a JSON object with exactly the schema's keys and types;
  * ids are unique and look like "pydocs-NNN" (the tuning set: "pydocs-dev-NNN");
  * at least 60 questions (--min-questions), at least 20% of them unanswerable;
  * answerable questions name an existing page (doc_id = path without ".html");
  * the page's visible text (BeautifulSoup(html, "html.parser").get_text(" "),
    html-unescaped, whitespace collapsed) contains every answer and the evidence,
    compared with whitespace collapsed, or failing that with all whitespace removed;
  * the evidence contains at least one of the answers, and answers[0] (the
    preferred answer) is among those it contains;
  * followups have a non-empty history and a "standalone" question;
  * unanswerable questions have doc_id "", answers [] and evidence null.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections import Counter
from pathlib import Path

from bs4 import BeautifulSoup

HERE = Path(__file__).resolve().parent
DEFAULT_HTML = "/usr/share/doc/python3.11/html"
TYPES = {"direct", "reference", "table", "paraphrase", "followup", "unanswerable"}
BASE_KEYS = {"id", "question", "history", "answers", "doc_id", "answer_start",
             "evidence", "type", "unanswerable"}
MIN_QUESTIONS = 60
MIN_UNANSWERABLE_SHARE = 0.20
SKIP_DIRS = {"_sources", "_static", "_images", "_downloads"}


def collapse(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


class Pages:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, tuple[str, str] | None] = {}

    def get(self, doc_id: str) -> tuple[str, str] | None:
        """(collapsed text, whitespace-free text) of a page, or None if it does not exist."""
        if doc_id not in self._cache:
            path = self.root / f"{doc_id}.html"
            bad = (not doc_id or doc_id.endswith(".html") or doc_id.startswith("/")
                   or ".." in doc_id.split("/") or doc_id.split("/")[0] in SKIP_DIRS)
            if bad or not path.is_file():
                self._cache[doc_id] = None
            else:
                raw = path.read_text(encoding="utf-8", errors="replace")
                text = BeautifulSoup(raw, "html.parser").get_text(" ")
                text = collapse(html.unescape(text))
                self._cache[doc_id] = (text, squash(text))
        return self._cache[doc_id]


def contains(hay: tuple[str, str], needle: str) -> bool:
    return collapse(needle) in hay[0] or squash(needle) in hay[1]


def check_schema(q: dict, where: str, fail) -> bool:
    ok = True
    keys = set(q)
    allowed = BASE_KEYS | ({"standalone"} if q.get("type") == "followup" else set())
    if missing := BASE_KEYS - keys:
        fail(f"{where}: missing keys {sorted(missing)}")
        ok = False
    if extra := keys - allowed:
        fail(f"{where}: unexpected keys {sorted(extra)}")
        ok = False
    if not ok:
        return False
    if not isinstance(q["id"], str) or not re.fullmatch(r"pydocs-(dev-)?\d{3,}", q["id"]):
        fail(f"{where}: id must look like 'pydocs-001' (or 'pydocs-dev-001'), got {q['id']!r}")
        ok = False
    if not isinstance(q["question"], str) or not q["question"].strip():
        fail(f"{where}: question must be a non-empty string")
        ok = False
    if not isinstance(q["history"], list) or not all(isinstance(h, str) and h.strip() for h in q["history"]):
        fail(f"{where}: history must be a list of non-empty strings")
        ok = False
    if not isinstance(q["answers"], list) or not all(isinstance(a, str) and a.strip() for a in q["answers"]):
        fail(f"{where}: answers must be a list of non-empty strings")
        ok = False
    if not isinstance(q["doc_id"], str):
        fail(f"{where}: doc_id must be a string")
        ok = False
    if q["answer_start"] is not None:
        fail(f"{where}: answer_start must be null")
        ok = False
    if q["evidence"] is not None and not isinstance(q["evidence"], str):
        fail(f"{where}: evidence must be a string or null")
        ok = False
    if q["type"] not in TYPES:
        fail(f"{where}: type {q['type']!r} not one of {sorted(TYPES)}")
        ok = False
    if not isinstance(q["unanswerable"], bool):
        fail(f"{where}: unanswerable must be a boolean")
        ok = False
    elif q["unanswerable"] != (q["type"] == "unanswerable"):
        fail(f"{where}: unanswerable={q['unanswerable']} but type={q['type']!r}")
        ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--html", default=DEFAULT_HTML, help=f"manual root (default {DEFAULT_HTML})")
    ap.add_argument("--questions", default=str(HERE / "questions.jsonl"))
    ap.add_argument("--min-questions", type=int, default=MIN_QUESTIONS,
                    help=f"fewest questions the set may have (default {MIN_QUESTIONS}; dev.jsonl has 40)")
    args = ap.parse_args(argv)

    root = Path(args.html)
    if not root.is_dir():
        print(f"FAIL: HTML directory {root} not found (apt install python3.11-doc)")
        return 1
    pages = Pages(root)
    failures: list[str] = []
    fail = failures.append

    questions: list[dict] = []
    with open(args.questions, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                fail(f"line {n}: blank line")
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"line {n}: invalid JSON ({e})")
                continue
            if not isinstance(q, dict):
                fail(f"line {n}: not a JSON object")
                continue
            where = f"line {n} ({q.get('id', '?')})"
            if check_schema(q, where, fail):
                questions.append((where, q))

    ids = Counter(q["id"] for _, q in questions)
    for i, c in ids.items():
        if c > 1:
            fail(f"duplicate id {i} ({c} times)")

    for where, q in questions:
        if q["type"] == "followup":
            if not q["history"]:
                fail(f"{where}: followup needs a non-empty history")
            if not isinstance(q.get("standalone"), str) or not q["standalone"].strip():
                fail(f"{where}: followup needs a non-empty 'standalone' string")
        if q["unanswerable"]:
            if q["answers"]:
                fail(f"{where}: unanswerable question has answers")
            if q["doc_id"] != "":
                fail(f"{where}: unanswerable question must have doc_id ''")
            if q["evidence"] is not None:
                fail(f"{where}: unanswerable question must have evidence null")
            continue
        if not q["answers"]:
            fail(f"{where}: answerable question has no answers")
            continue
        if not q["evidence"]:
            fail(f"{where}: answerable question has no evidence")
            continue
        page = pages.get(q["doc_id"])
        if page is None:
            fail(f"{where}: doc_id {q['doc_id']!r} is not a page under {root}")
            continue
        for a in q["answers"]:
            if not contains(page, a):
                fail(f"{where}: answer {a!r} not in the text of {q['doc_id']}")
        if not contains(page, q["evidence"]):
            fail(f"{where}: evidence not in the text of {q['doc_id']}: {q['evidence']!r}")
        ev = (collapse(q["evidence"]), squash(q["evidence"]))
        if not any(contains(ev, a) for a in q["answers"]):
            fail(f"{where}: evidence contains none of the answers")
        elif not contains(ev, q["answers"][0]):
            fail(f"{where}: answers[0] (the preferred answer) is not inside the evidence")

    total = len(questions)
    unans = sum(q["unanswerable"] for _, q in questions)
    if total < args.min_questions:
        fail(f"only {total} valid questions (need at least {args.min_questions})")
    if total and unans / total < MIN_UNANSWERABLE_SHARE:
        fail(f"only {unans}/{total} unanswerable ({unans / total:.0%}; need at least "
             f"{MIN_UNANSWERABLE_SHARE:.0%})")

    types = Counter(q["type"] for _, q in questions)
    docs = sorted({q["doc_id"] for _, q in questions if q["doc_id"]})
    print(f"{total} questions, {unans} unanswerable ({(unans / total if total else 0):.1%}), "
          f"{len(docs)} pages")
    print("by type: " + ", ".join(f"{t}={types[t]}" for t in sorted(TYPES)))
    if failures:
        print(f"\nFAIL: {len(failures)} problem(s):")
        for msg in failures:
            print(f"  - {msg}")
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
