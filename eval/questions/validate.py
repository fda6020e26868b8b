#!/usr/bin/env python3
"""Validate the Xi'an held-out QA question sets (xian-dev.jsonl, xian-test.jsonl).

Usage: python3 validate.py [PATH_TO_DOCUMENT]

Default document: ../../docs/xian-hard-core-technology.txt relative to this
script, falling back to /work/shared/corpus/xian-hard-core-technology.txt.
Standard library only. Exits non-zero with a message on the first batch of errors.
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPLITS = ("dev", "test")
DOC_ID = "xian-hard-core-technology"
TYPES = ("direct", "paraphrase", "multi_sentence", "followup", "unanswerable")
MINIMUMS = {"direct": 20, "paraphrase": 20, "multi_sentence": 8,
            "followup": 12, "unanswerable": 16}
MIN_TOTAL = 85
KEYS = {"id": str, "question": str, "history": list, "answers": list,
        "doc_id": str, "answer_start": (int, type(None)),
        "evidence": (str, type(None)), "type": str, "unanswerable": bool}
# Present exactly on followup questions: the question rewritten to be
# self-contained (pronouns/ellipsis resolved from the history).
OPTIONAL_KEYS = {"standalone": str}
# Leading metadata such as " date 2020-09-23 " is not article text.
META_RE = re.compile(r"^\s*date \d{4}-\d{2}-\d{2} ")


def default_doc_path():
    primary = os.path.normpath(os.path.join(HERE, "..", "..", "docs", DOC_ID + ".txt"))
    if os.path.exists(primary):
        return primary
    return "/work/shared/corpus/" + DOC_ID + ".txt"


def occurrences(text, sub):
    out, i = [], text.find(sub)
    while i >= 0:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def check_record(rec, raw, body_start, where, errors):
    def err(msg):
        errors.append(f"{where}: {msg}")

    missing = [k for k in KEYS if k not in rec]
    extra = [k for k in rec if k not in KEYS and k not in OPTIONAL_KEYS]
    if missing:
        err(f"missing keys {missing}")
    if extra:
        err(f"unexpected keys {extra}")
    if missing:
        return
    for k, t in KEYS.items():
        # bool is a subclass of int: reject it for answer_start
        if not isinstance(rec[k], t) or (k == "answer_start" and isinstance(rec[k], bool)):
            err(f"key {k!r} has wrong type {type(rec[k]).__name__}")
    if any(not isinstance(x, str) for x in rec["history"]):
        err("history must be a list of strings")
    if any(not isinstance(x, str) or not x for x in rec["answers"]):
        err("answers must be a list of non-empty strings")
    if errors and errors[-1].startswith(where):
        return
    if not rec["question"].strip():
        err("empty question")
    if rec["doc_id"] != DOC_ID:
        err(f"doc_id must be {DOC_ID!r}")
    if rec["type"] not in TYPES:
        err(f"unknown type {rec['type']!r}")
    if rec["type"] == "followup" and not rec["history"]:
        err("followup question needs a non-empty history")
    if rec["type"] != "followup" and rec["history"]:
        err("only followup questions carry history")
    if rec["type"] == "followup":
        sa = rec.get("standalone")
        if sa is None:
            err("followup question needs a 'standalone' rewrite")
        elif not isinstance(sa, str) or not sa.strip():
            err("'standalone' must be a non-empty string")
        else:
            if " ".join(sa.lower().split()) == " ".join(rec["question"].lower().split()):
                err("'standalone' must differ from 'question'")
            for a in rec["answers"]:
                if a.lower() in sa.lower():
                    err(f"'standalone' contains gold answer {a!r}")
    elif "standalone" in rec:
        err("only followup questions carry 'standalone'")

    is_unans = rec["unanswerable"]
    if is_unans != (rec["type"] == "unanswerable"):
        err("unanswerable flag must be true exactly when type == 'unanswerable'")
    if is_unans:
        if rec["answers"] != [] or rec["evidence"] is not None or rec["answer_start"] is not None:
            err("unanswerable requires answers == [], evidence is None, answer_start is None")
        return
    if not rec["answers"] or rec["evidence"] is None or rec["answer_start"] is None:
        err("answerable question requires answers, evidence and answer_start")
        return

    answers, evidence, start = rec["answers"], rec["evidence"], rec["answer_start"]
    if len(set(answers)) != len(answers):
        err("duplicate answer strings")
    for a in answers:
        if not any(o >= body_start for o in occurrences(raw, a)):
            err(f"answer not found verbatim in document body: {a!r}")
    ev_occ = [o for o in occurrences(raw, evidence) if o >= body_start]
    if not ev_occ:
        err(f"evidence not found verbatim in document body: {evidence[:80]!r}...")
        return
    if evidence != evidence.strip():
        err("evidence has leading/trailing whitespace")
    if answers[0] not in evidence:
        err(f"answers[0] {answers[0]!r} not inside evidence")
        return
    if raw[start:start + len(answers[0])] != answers[0]:
        err(f"raw[answer_start:...] = {raw[start:start + len(answers[0])]!r} != {answers[0]!r}")
        return
    # answer_start must be the FIRST occurrence of answers[0] inside an occurrence of the evidence
    if not any(start == o + evidence.find(answers[0]) for o in ev_occ):
        err("answer_start is not the first occurrence of answers[0] inside the evidence occurrence")
    # crude check: at least two sentence ends in the evidence span
    if rec["type"] == "multi_sentence" and len(re.findall(r"[.!?][”\"]?(?=\s|$)", evidence)) < 2:
        err("multi_sentence evidence should span two sentences")


def main():
    doc_path = sys.argv[1] if len(sys.argv) > 1 else default_doc_path()
    if not os.path.exists(doc_path):
        sys.exit(f"FAIL: document not found: {doc_path}")
    with open(doc_path, encoding="utf-8") as f:
        raw = f.read()
    m = META_RE.match(raw)
    body_start = m.end() if m else 0

    errors = []
    counts = {s: collections.Counter() for s in SPLITS}
    ids, questions = {}, {}
    for split in SPLITS:
        path = os.path.join(HERE, f"xian-{split}.jsonl")
        if not os.path.exists(path):
            sys.exit(f"FAIL: missing file {path}")
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                where = f"{os.path.basename(path)}:{lineno}"
                if not line.strip():
                    errors.append(f"{where}: blank line")
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    errors.append(f"{where}: invalid JSON ({e})")
                    continue
                if not isinstance(rec, dict):
                    errors.append(f"{where}: not a JSON object")
                    continue
                n_err = len(errors)
                check_record(rec, raw, body_start, where, errors)
                rid = rec.get("id")
                if isinstance(rid, str):
                    if rid in ids:
                        errors.append(f"{where}: duplicate id {rid!r} (also {ids[rid]})")
                    ids[rid] = where
                    if not rid.startswith(f"xian-{split}-"):
                        errors.append(f"{where}: id {rid!r} should start with 'xian-{split}-'")
                q = rec.get("question")
                if isinstance(q, str):
                    key = " ".join(q.lower().split())
                    questions.setdefault(key, set()).add(split)
                if len(errors) == n_err and rec.get("type") in TYPES:
                    counts[split][rec["type"]] += 1

    for q, splits in questions.items():
        if len(splits) > 1:
            errors.append(f"question appears in both splits: {q!r}")

    totals = counts["dev"] + counts["test"]
    for t, mn in MINIMUMS.items():
        if totals[t] < mn:
            errors.append(f"type {t!r}: {totals[t]} questions in total, need >= {mn}")
        for s in SPLITS:
            if counts[s][t] == 0:
                errors.append(f"split {s!r} has no {t!r} questions")
    if sum(totals.values()) < MIN_TOTAL:
        errors.append(f"only {sum(totals.values())} valid questions, need >= {MIN_TOTAL}")

    if errors:
        print(f"FAIL: {len(errors)} problem(s) (document: {doc_path})", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        sys.exit(1)

    parts = []
    for s in SPLITS:
        c = counts[s]
        parts.append(f"{s}={sum(c.values())} (" + ", ".join(f"{t}={c[t]}" for t in TYPES) + ")")
    print("OK: " + "; ".join(parts) + f"; total={sum(totals.values())}")


if __name__ == "__main__":
    main()
