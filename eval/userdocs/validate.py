#!/usr/bin/env python3
"""Validate the frozen user-documents question set (eval/userdocs/questions.jsonl).

Usage: python eval/userdocs/validate.py [QUESTIONS_JSONL]

The documents are the docs/ folder beside the questions file (eval/userdocs/docs for the
held-out set, eval/userdocs/dev/docs for the tuning set dev/questions.jsonl).

Standard library plus pypdf (for the PDF's text layer). Checks:
  * every line is a JSON object with exactly the schema of eval/questions/*.jsonl
    (plus "standalone" on followups), ids unique, questions unique;
  * doc_id names a file in docs/ (file name without extension); "" only for chit-chat;
  * every answer of an answerable question occurs in its document's text, and so does the
    evidence, which contains answers[0]:
      - HTML: visible text from a simple html.parser tag strip (no <head>, <script>, <style>),
        text nodes joined with single spaces, whitespace collapsed;
      - PDF: pypdf's extracted text, whitespace collapsed;
      - Word: python-docx's paragraphs and table rows (cells joined by a blank), collapsed;
      - Markdown / plain text: the raw file, whitespace collapsed;
  * .md/.txt: answer_start is the raw-file offset of answers[0] inside the evidence;
    HTML/PDF: answer_start is null;
  * unanswerable == (type == "unanswerable"), with answers [], evidence and answer_start null;
  * followups carry a non-empty history and a "standalone" rewrite that differs from the
    question and does not contain a gold answer; nothing else carries either;
  * at least 60 questions and at least a fifth unanswerable.
Exits 1 listing every problem; prints counts by type on success.
"""
import collections
import json
import os
import sys
from html.parser import HTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
TYPES = ("direct", "paraphrase", "multi_sentence", "followup", "unanswerable")
KEYS = {"id": str, "question": str, "history": list, "answers": list,
        "doc_id": str, "answer_start": (int, type(None)),
        "evidence": (str, type(None)), "type": str, "unanswerable": bool}
OPTIONAL_KEYS = {"standalone": str}
MIN_TOTAL = 60
MIN_UNANSWERABLE_FRACTION = 0.2


def collapse(s):
    return " ".join(s.split())


class _TextStripper(HTMLParser):
    SKIP = frozenset({"head", "script", "style", "noscript", "template", "svg"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def html_text(raw):
    p = _TextStripper()
    p.feed(raw)
    p.close()
    return collapse(" ".join(p.parts))


def pdf_text(path):
    from pypdf import PdfReader
    reader = PdfReader(path)
    return collapse("\n".join(page.extract_text() or "" for page in reader.pages))


def docx_text(path):
    """python-docx's paragraphs and table rows (a row's cells joined by a blank), collapsed."""
    import docx
    from docx.table import Table
    parts = []
    for block in docx.Document(path).iter_inner_content():
        if isinstance(block, Table):
            parts += [" ".join(dict.fromkeys(c.text for c in row.cells)) for row in block.rows]
        else:
            parts.append(block.text)
    return collapse("\n".join(parts))


def load_docs(folder=DOCS):
    """doc_id -> (kind, raw text or None, collapsed text)."""
    docs = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        stem, ext = os.path.splitext(name)
        ext = ext.lower()
        if ext in (".html", ".htm"):
            with open(path, encoding="utf-8") as f:
                docs[stem] = ("html", None, html_text(f.read()))
        elif ext == ".pdf":
            docs[stem] = ("pdf", None, pdf_text(path))
        elif ext == ".docx":
            docs[stem] = ("docx", None, docx_text(path))
        elif ext in (".md", ".txt"):
            with open(path, encoding="utf-8") as f:
                raw = f.read()
            docs[stem] = ("raw", raw, collapse(raw))
    return docs


def occurrences(text, sub):
    out, i = [], text.find(sub)
    while i >= 0:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def check(rec, docs, where, errors):
    def err(msg):
        errors.append(f"{where}: {msg}")

    missing = [k for k in KEYS if k not in rec]
    extra = [k for k in rec if k not in KEYS and k not in OPTIONAL_KEYS]
    if missing:
        err(f"missing keys {missing}")
    if extra:
        err(f"unexpected keys {extra}")
    if missing:
        return False
    ok = True
    for k, t in KEYS.items():
        if not isinstance(rec[k], t) or (k == "answer_start" and isinstance(rec[k], bool)):
            err(f"key {k!r} has wrong type {type(rec[k]).__name__}")
            ok = False
    if not ok:
        return False
    if any(not isinstance(x, str) or not x.strip() for x in rec["history"]):
        err("history must be a list of non-empty strings")
    if any(not isinstance(x, str) or not x.strip() for x in rec["answers"]):
        err("answers must be a list of non-empty strings")
        return False
    if not rec["question"].strip():
        err("empty question")
    if rec["type"] not in TYPES:
        err(f"unknown type {rec['type']!r}")
        return False

    # followups: history and standalone
    if rec["type"] == "followup":
        if not rec["history"]:
            err("followup needs a non-empty history")
        sa = rec.get("standalone")
        if not isinstance(sa, str) or not sa.strip():
            err("followup needs a non-empty 'standalone' string")
        else:
            if collapse(sa.lower()) == collapse(rec["question"].lower()):
                err("'standalone' must differ from 'question'")
            for a in rec["answers"]:
                if a.lower() in sa.lower():
                    err(f"'standalone' contains gold answer {a!r}")
    else:
        if rec["history"]:
            err("only followup questions carry history")
        if "standalone" in rec:
            err("only followup questions carry 'standalone'")

    if rec["unanswerable"] != (rec["type"] == "unanswerable"):
        err("unanswerable must be true exactly when type == 'unanswerable'")
    doc_id = rec["doc_id"]
    if doc_id and doc_id not in docs:
        err(f"doc_id {doc_id!r} is not a file in docs/")
        return False

    if rec["unanswerable"]:
        if rec["answers"] or rec["evidence"] is not None or rec["answer_start"] is not None:
            err("unanswerable requires answers == [], evidence null, answer_start null")
        return not errors or not errors[-1].startswith(where)

    if not doc_id:
        err("answerable question needs a doc_id")
        return False
    answers, evidence, start = rec["answers"], rec["evidence"], rec["answer_start"]
    if not answers or evidence is None:
        err("answerable question needs answers and evidence")
        return False
    if len(set(answers)) != len(answers):
        err("duplicate answer strings")
    kind, raw, flat = docs[doc_id]
    for a in answers:
        if collapse(a) not in flat:
            err(f"answer not found in {doc_id} text: {a!r}")
    if evidence != evidence.strip() or not evidence:
        err("evidence is empty or has leading/trailing whitespace")
    if collapse(evidence) not in flat:
        err(f"evidence not found in {doc_id} text: {evidence[:80]!r}")
        return False
    if not any(collapse(a) in collapse(evidence) for a in answers):
        err("evidence contains none of the answers")
    if collapse(answers[0]) not in collapse(evidence):
        err(f"answers[0] {answers[0]!r} is not inside the evidence")
        return False

    if kind == "raw":
        if start is None:
            err("answer_start must be the raw-file offset for .md/.txt documents")
            return False
        ev_occ = occurrences(raw, evidence)
        if not ev_occ:
            err("evidence must be verbatim in the raw .md/.txt file (same line breaks)")
            return False
        if raw[start:start + len(answers[0])] != answers[0]:
            err(f"raw[answer_start:] = {raw[start:start + len(answers[0])]!r} != {answers[0]!r}")
            return False
        if not any(start == o + evidence.find(answers[0]) for o in ev_occ):
            err("answer_start is not the first occurrence of answers[0] inside the evidence")
            return False
    elif start is not None:
        err("answer_start must be null for HTML and PDF documents")
        return False
    return not errors or not errors[-1].startswith(where)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "questions.jsonl")
    folder = os.path.join(os.path.dirname(os.path.abspath(path)), "docs")
    docs = load_docs(folder)
    if not docs:
        sys.exit(f"FAIL: no documents in {folder}")
    errors, ids, questions = [], {}, {}
    counts, per_doc = collections.Counter(), collections.Counter()
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
            rid = rec.get("id")
            if isinstance(rid, str):
                if rid in ids:
                    errors.append(f"{where}: duplicate id {rid!r} (also {ids[rid]})")
                ids[rid] = where
            q = rec.get("question")
            if isinstance(q, str):
                key = (collapse(q.lower()), tuple(rec.get("history") or ()))
                if key in questions:
                    errors.append(f"{where}: duplicate question (also {questions[key]})")
                questions[key] = where
            if check(rec, docs, where, errors):
                counts[rec["type"]] += 1
                per_doc[rec["doc_id"] or "(chit-chat)"] += 1

    total = sum(counts.values())
    if total < MIN_TOTAL:
        errors.append(f"only {total} valid questions, need >= {MIN_TOTAL}")
    if counts["unanswerable"] < MIN_UNANSWERABLE_FRACTION * total:
        errors.append(f"{counts['unanswerable']} unanswerable of {total}: need at least a fifth")
    if errors:
        print(f"FAIL: {len(errors)} problem(s)", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        sys.exit(1)
    print(f"OK: {total} questions, {len(docs)} documents ({', '.join(sorted(docs))})")
    print("by type: " + ", ".join(f"{t} {counts[t]}" for t in TYPES))
    print("by document: " + ", ".join(f"{d} {n}" for d, n in sorted(per_doc.items())))


if __name__ == "__main__":
    main()
