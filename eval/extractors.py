"""HTML main-content extraction measured on real pages: the ingest's own reader (the page's
landmarks, `rag.format_html`) against maintained boilerplate removers, where installed
(trafilatura, readability-lxml).

    python eval/extractors.py [--manual /usr/share/doc/python3.11/html]

For every page of the Python 3.11 manual it reports the time per page, the pages whose text
holds the manual's navigation words, and how many of the evidence sentences of the frozen
eval/pydocs questions are still in the text of their page (whitespace ignored): text an
extractor drops can never be cited. The userdocs club page (a nav bar, a footer, two tables)
is checked the same way against its own questions' evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.docs_bench import MANUAL, SKIP_DIRS, has_navigation  # noqa: E402

PYDOCS = ROOT / "eval" / "pydocs" / "questions.jsonl"
USERDOCS = ROOT / "eval" / "userdocs"
CLUB_NAV = ("Join us", "Privacy policy", "Club constitution", "Site map", "club number 40912")
"""Words of the club page's navigation and footer (its body never uses them)."""


def fold(text: str) -> str:
    """All whitespace removed: extractors space table cells and signatures differently."""
    return "".join(text.split())


def ours(path: Path, data: bytes) -> str:
    from rag.format_html import read_html
    from rag.ingest import normalize_text

    return normalize_text(read_html(path, data).text)


def trafilatura_text(path: Path, data: bytes) -> str:
    import trafilatura

    return trafilatura.extract(data.decode("utf-8", "replace"), include_tables=True, include_comments=False,
                               favor_recall=True) or ""


def readability_text(path: Path, data: bytes) -> str:
    from bs4 import BeautifulSoup
    from readability import Document

    summary = Document(data.decode("utf-8", "replace")).summary(html_partial=True)
    return BeautifulSoup(summary, "html.parser").get_text(" ")


def extractors() -> dict[str, Callable[[Path, bytes], str]]:
    found: dict[str, Callable[[Path, bytes], str]] = {"landmarks (rag.format_html)": ours}
    try:
        import trafilatura  # noqa: F401

        found["trafilatura"] = trafilatura_text
    except ImportError:
        print("trafilatura not installed: pip install trafilatura", file=sys.stderr)
    try:
        import readability  # noqa: F401

        found["readability-lxml"] = readability_text
    except ImportError:
        print("readability-lxml not installed: pip install readability-lxml", file=sys.stderr)
    return found


def evidence_by_page(path: Path) -> dict[str, list[str]]:
    pages: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            if not q.get("unanswerable") and q.get("evidence") and q.get("doc_id"):
                pages.setdefault(q["doc_id"], []).append(fold(q["evidence"]))
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manual", type=Path, default=MANUAL)
    args = parser.parse_args()
    pages = sorted(p for p in args.manual.rglob("*.html") if p.relative_to(args.manual).parts[0] not in SKIP_DIRS)
    evidence = evidence_by_page(PYDOCS)
    club = next((USERDOCS / "docs").glob("*.html"))
    club_evidence = evidence_by_page(USERDOCS / "questions.jsonl").get(club.stem, [])
    print(f"{len(pages)} pages of {args.manual}; {sum(map(len, evidence.values()))} pydocs evidence sentences; "
          f"club page {club.name}")
    print("| extractor | ms a page | pages with navigation words | pydocs evidence kept | club page: nav/footer words,"
          " evidence kept |")
    print("|---|---|---|---|---|")
    for name, extract in extractors().items():
        began = time.perf_counter()
        with_nav = kept = 0
        for page in pages:
            raw = extract(page, page.read_bytes())
            text = fold(raw)
            with_nav += has_navigation(raw)
            doc_id = page.relative_to(args.manual).with_suffix("").as_posix()
            kept += sum(e in text for e in evidence.get(doc_id, []))
        ms = (time.perf_counter() - began) * 1000 / len(pages)
        club_text = fold(extract(club, club.read_bytes()))
        club_nav = sum(word in club_text for word in CLUB_NAV)
        club_kept = sum(e in club_text for e in club_evidence)
        print(f"| {name} | {ms:.0f} | {with_nav} of {len(pages)} | {kept} of {sum(map(len, evidence.values()))} | "
              f"{club_nav}, {club_kept} of {len(club_evidence)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
