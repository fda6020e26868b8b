"""How fast a long PDF is read: a 5,000-page PDF made by repeating the pages of a real one,
read by rag's PDF reader (PDFium) and, for comparison, by pypdf (the reader before).

    python eval/bench_pdf.py [--pdf FILE] [--pages 5000]

Prints seconds and milliseconds a page for each. The default PDF is the field notes of the
userdocs set (fpdf2, two pages of text); any PDF can be given, e.g. Debian's
/usr/share/doc/libtasn1-doc/libtasn1.pdf (a Texinfo manual, 36 pages).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def repeated(pdf: bytes, pages: int) -> bytes:
    """A PDF of `pages` pages: the pages of `pdf`, over and over."""
    from pypdf import PdfReader, PdfWriter

    source = PdfReader(io.BytesIO(pdf)).pages
    writer = PdfWriter()
    for number in range(pages):
        writer.add_page(source[number % len(source)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf", type=Path, default=HERE / "userdocs" / "docs" / "lake-field-notes.pdf")
    parser.add_argument("--pages", type=int, default=5000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from pypdf import PdfReader

    from rag.format_pdf import read_pdf

    data = repeated(args.pdf.read_bytes(), args.pages)
    print(f"{args.pages:,} pages from {args.pdf.name} ({len(data) / 1e6:.1f} MB)")
    began = time.perf_counter()
    text = read_pdf(args.pdf, data).text
    ours = time.perf_counter() - began
    print(f"rag (PDFium): {ours:6.1f} s, {1000 * ours / args.pages:5.2f} ms a page, {len(text):,} characters")
    began = time.perf_counter()
    old = [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
    theirs = time.perf_counter() - began
    print(f"pypdf:        {theirs:6.1f} s, {1000 * theirs / args.pages:5.2f} ms a page, "
          f"{sum(map(len, old)):,} characters")
    same = "".join("".join(old).split()) == "".join(text.split())
    print(f"same text up to whitespace: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
