#!/usr/bin/env python3
"""Build docs/lake-field-notes.pdf from lake-field-notes.source.txt with fpdf2 (or, with
--dev, the tuning set's dev/docs/hollins-bat-survey.pdf from dev/hollins-bat-survey.source.txt;
with --dev2, dev2/docs/saltmere-water-report.pdf from dev2/saltmere-water-report.source.txt).

Only needed to regenerate the PDF; the frozen PDF is committed. fpdf2 is not a
project dependency: install it anywhere, e.g.
    python -m pip install --target /tmp/pdftools fpdf2
    PYTHONPATH=/tmp/pdftools python eval/userdocs/make_pdf.py
Source markup: "# " title, "## " heading, "Key: value" lines kept one a line,
blank lines separate paragraphs.
"""
import os
import sys

from fpdf import FPDF

HERE = os.path.dirname(os.path.abspath(__file__))
PDFS = {
    "held-out": (os.path.join(HERE, "lake-field-notes.source.txt"),
                 os.path.join(HERE, "docs", "lake-field-notes.pdf"),
                 "Field Notes: Summer Survey of Lake Orlen", "Ruth Okafor"),
    "dev": (os.path.join(HERE, "dev", "hollins-bat-survey.source.txt"),
            os.path.join(HERE, "dev", "docs", "hollins-bat-survey.pdf"),
            "Bat Roost Survey: Hollins Barn, Summer 2026", "Mark Ellison"),
    "dev2": (os.path.join(HERE, "dev2", "saltmere-water-report.source.txt"),
             os.path.join(HERE, "dev2", "docs", "saltmere-water-report.pdf"),
             "Saltmere Water Quality Report, Second Quarter 2026", "Elliot Marsh"),
}


def main():
    which = next((a[2:] for a in sys.argv[1:] if a in ("--dev", "--dev2")), "held-out")
    SRC, OUT, title, author = PDFS[which]
    with open(SRC, encoding="utf-8") as f:
        blocks = f.read().strip().split("\n\n")
    pdf = FPDF(format="A4")
    pdf.set_creation_date(__import__("datetime").datetime(2025, 8, 14, 10, 0, 0,
                          tzinfo=__import__("datetime").timezone.utc))
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    for block in blocks:
        lines = block.split("\n")
        if lines[0].startswith("# "):
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 8, lines[0][2:], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
            continue
        if lines[0].startswith("## "):
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 7, lines[0][3:], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
            lines = lines[1:]
            if not lines:
                continue
        pdf.set_font("Helvetica", "", 10.5)
        if len(lines) == 1:
            pdf.multi_cell(0, 5.5, lines[0], new_x="LMARGIN", new_y="NEXT")
        else:
            for line in lines:
                pdf.multi_cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.output(OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
