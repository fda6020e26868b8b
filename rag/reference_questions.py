"""Training questions over reference documentation, for the reader's second stage
(`make train-reader`): templated questions whose answers sit where manuals keep them, in a
parameter's line ("flag <string> ... Default: 'r'."), a table row ("S DOTALL Makes the '.'
..."), a version-history row.

    python -m rag.reference_questions --docs /usr/share/doc/nodejs/api --out build/reader/reference-qa.jsonl.gz

The pages are Node.js's API manual (MIT licence) as the `nodejs` package installs it in
/usr/share/doc/nodejs/api (NodeSource's build 20.20.2 on this project's machine; Debian's
`nodejs-doc` brings the same manual for its own Node.js version), read with the ingest's own
HTML reader, so that the text looks as the reader will see documentation at `ask` time.
It is not the Python manual, whose questions judge the reader. Each row has the shape of
`../shared/qa-train` (id, question, context, answers [{text, start}], source); the context is
a stretch of whole paragraphs around the answer, the neighbouring entries included, so that
the other parameters' defaults and the other rows are there to be told apart. Seeded: the same
pages give the same file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import NotContentError
from rag.format_html import read_html

SOURCE = "nodejs-api-docs"
PARAM = re.compile(r"^([\w$.\-\[\]]+) <[^>]+>(?: \| <[^>]+>)*(?: (.*))?$")
DEFAULT = re.compile(r"Default: (.+?)\.?$")
CALL = re.compile(r"^(?:Static method: |Class: |new )?([\w$.\[\]'\"]+)\(")
DESCRIBED = frozenset({"description", "meaning", "notes", "changes", "needed for"})
MARKS = "#¶ "


@dataclass(frozen=True)
class Paragraph:
    start: int
    end: int
    text: str
    section: str
    """The nearest heading before it, marks stripped."""


def paragraphs(text: str, headings: set[str]) -> list[Paragraph]:
    out: list[Paragraph] = []
    section = ""
    for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", text):
        words = m.group().strip()
        if words in headings:
            section = words.strip(MARKS)
            continue
        out.append(Paragraph(m.start(), m.end(), m.group(), section))
    return out


def subject(section: str) -> str:
    """How a question names the entry: "fs.readFile()" for a call, else the heading."""
    m = CALL.match(section)
    return f"{m.group(1)}()" if m else section


def lower_first(words: str) -> str:
    return words[:1].lower() + words[1:] if words[:2] != words[:2].upper() else words


def context_around(text: str, paras: list[Paragraph], i: int, rng: random.Random) -> tuple[int, int]:
    """A stretch of whole paragraphs holding paragraph i, 1-6 before it and 1-5 after."""
    lo = paras[max(0, i - rng.randint(1, 6))].start
    hi = paras[min(len(paras) - 1, i + rng.randint(1, 5))].end
    return lo, hi


def default_questions(p: str, what: str, rng: random.Random) -> str:
    templates = (
        "What is the default value of the {p} option of {w}?",
        "What is the default {p} of {w}?",
        "What does {p} default to in {w}?",
        "By default, what is {p} set to in {w}?",
        "If {p} is not given to {w}, what value is used?",
        "What is {w}'s default for {p}?",
        "default {p} {w}",
    )
    return rng.choice(templates).format(p=p, w=what)


def first_sentence(words: str, most: int = 25) -> str | None:
    """The description's first sentence, if it is short enough to ask with."""
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", words, maxsplit=1)[0].rstrip(". ")
    return sentence if 3 <= len(sentence.split()) <= most else None


def term_question(kind: str, where: str, description: str, rng: random.Random) -> str:
    d = lower_first(description)
    first = d.split(" ", 1)[0]
    templates: tuple[str, ...]
    if first.endswith("s") and not first.endswith("ss") and first.isalpha():
        templates = ("Which {k} of {w} {d}?", "What {k} {d} in {w}?", "In {w}, which {k} {d}?")
    else:
        templates = ("Which {k} of {w} is {d}?", "What is the {k} of {w} for {d}?",
                     "In {w}, which {k} means {d}?", "Which {k} is described as \"{d}\" in {w}?")
    return rng.choice(templates).format(k=kind, w=where, d=d)


def questions(path: Path, rng: random.Random) -> Iterator[dict[str, object]]:
    try:
        page = read_html(path, path.read_bytes())
    except NotContentError:
        return
    text = page.text
    paras = paragraphs(text, {h for _, h in page.headings})
    at = {p.start: i for i, p in enumerate(paras)}
    n = 0

    def row(i: int, question: str, answer_start: int, answer: str) -> dict[str, object]:
        nonlocal n
        assert text[answer_start:answer_start + len(answer)] == answer
        lo, hi = context_around(text, paras, i, rng)
        n += 1
        return {"id": f"{SOURCE}-{path.stem}-{n}", "question": question, "context": text[lo:hi],
                "answers": [{"text": answer, "start": answer_start - lo}], "source": SOURCE}

    for i, para in enumerate(paras):
        m = PARAM.match(para.text)
        if not m or not para.section:
            continue
        name, rest = m.group(1), (m.group(2) or "").strip()
        what = subject(para.section)
        d = DEFAULT.search(rest)
        if d:
            value = d.group(1).split(". ")[0].strip()
            if 0 < len(value) <= 40:
                start = para.start + para.text.rindex("Default: ") + len("Default: ")
                yield row(i, default_questions(name, what, rng), start, value)
        description = first_sentence(DEFAULT.sub("", rest).strip())
        if description and len(description.split()) >= 4 and rng.random() < 0.6:
            kind = "option" if rng.random() < 0.5 else "parameter"
            yield row(i, term_question(kind, what, description, rng), para.start, name)

    for table in page.tables:
        header, rows = table[0], table[1:]
        if len(header) < 2:
            continue
        cursor = 0
        for cells in rows:
            line = " ".join(cells)
            pos = text.find(line, cursor)
            if pos < 0 or pos not in at:
                continue
            cursor = pos + len(line)
            i = at[pos]
            offsets, c = [], 0
            for cell in cells:
                c = line.find(cell, c)
                offsets.append(pos + c)
                c += len(cell)
            where = subject(paras[i].section) or path.stem
            if header[:2] == ("Version", "Changes"):
                if rng.random() > 0.3:
                    continue
                change = cells[1]
                if change.startswith("Added in"):
                    q = rng.choice(("In which version was {w} added?", "Since which Node.js version has {w} existed?",
                                    "When was {w} added?")).format(w=where)
                else:
                    q = rng.choice(("In which version of {w}: {c}?", "Which version changed {w} so that {c}?",
                                    "When did this change to {w} come: {c}?"))
                    q = q.format(w=where, c=lower_first(change.rstrip(".")))
                yield row(i, q, offsets[0], cells[0])
                continue
            description = first_sentence(cells[-1])
            if description and header[-1].lower() in DESCRIBED:
                yield row(i, term_question(header[0].lower(), where, description, rng), offsets[0], cells[0])
            for j in range(1, len(cells)):
                if 0 < len(cells[j].split()) <= 5 and rng.random() < 0.5:
                    q = rng.choice(("What is the {h} of {k} in {w}?", "In {w}, what {h} does {k} have?",
                                    "{k}: what is its {h}?")).format(h=header[j].lower(), k=cells[0], w=where)
                    yield row(i, q, offsets[j], cells[j])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.reference_questions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=Path("/usr/share/doc/nodejs/api"))
    parser.add_argument("--out", type=Path, default=Path("build/reader/reference-qa.jsonl.gz"))
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    pages = sorted(args.docs.glob("*.html"))
    if not pages:
        print(f"no HTML pages in {args.docs}: install Debian's nodejs package "
              "(apt-get install nodejs), which brings Node.js's API manual there", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with args.out.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as raw:
        for path in pages:
            for r in questions(path, rng):
                raw.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
                count += 1
    print(f"{count} questions from {len(pages)} pages -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
