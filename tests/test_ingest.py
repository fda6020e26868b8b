"""Reading a folder into Documents: each format, the ids and hashes, and every kind of bad file."""

from __future__ import annotations

import hashlib
import io
import os
import random
import unicodedata
from pathlib import Path

import pytest

import rag.ingest
from rag.config import IngestConfig
from rag.errors import EmptyCorpusError, IngestError
from rag.ingest import load_documents, normalize_text, read_document
from rag.sentence import split_sentences
from rag.types import Document
from tests.conftest import SMALL_CORPUS, write_corpus


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal, valid PDF: one Helvetica text line per string, xref offsets computed here."""

    def escape(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td", *(f"({escape(line)}) Tj T*" for line in lines), "ET"]
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = ""
    if title is not None:
        objects.append(f"<< /Title ({escape(title)}) >>".encode("latin-1"))
        info = f" /Info {len(objects)} 0 R"
    return pdf_file(objects, info)


def pdf_file(objects: list[bytes], trailer: str = "") -> bytes:
    """A PDF file of `objects` (numbered from 1, the first the catalog), xref offsets computed."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{trailer} >>\n".encode()
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


PDF_PAGES = [
    ["The Long March 5 rocket first flew", "in 2016. Its boosters burn kero-", "sene and liquid oxygen."],
    ["Its core stage uses liquid hydrogen."],
]


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PDF_PAGES))))
    writer.encrypt("secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def load_one(tmp_path: Path, name: str, content: str | bytes, config: IngestConfig | None = None) -> Document:
    root = write_corpus(tmp_path / "docs", {name: content})
    return read_document(root / name, root, config)


def by_id(docs: tuple[Document, ...]) -> dict[str, Document]:
    return {d.doc_id: d for d in docs}


# --- formats -----------------------------------------------------------------------------


def test_small_corpus_loads_every_format(small_docs: Path) -> None:
    report = load_documents(small_docs)
    assert report.errors == ()
    assert report.skipped == ()
    docs = by_id(report.documents)
    assert sorted(docs) == ["cheese", "chips", "rockets"]
    for name in SMALL_CORPUS:
        doc = docs[Path(name).stem]
        assert doc.source == name
        assert doc.sha256 == hashlib.sha256((small_docs / name).read_bytes()).hexdigest()
        assert doc.text == normalize_text(doc.text), "document text is normalised once, for good"


def test_txt_date_line_becomes_metadata_and_leaves_the_text(small_docs: Path) -> None:
    doc = by_id(load_documents(small_docs).documents)["rockets"]
    assert doc.meta("date") == "2021-03-04"
    assert doc.text.startswith("The Long March 5 rocket first flew in 2016.")
    assert "2021-03-04" not in doc.text
    assert doc.title == "Rockets"


@pytest.mark.parametrize(
    ("content", "date", "text"),
    [
        ("date: 2020-09-23 Body text here.", "2020-09-23", "Body text here."),
        ("\ufeff date 2020-09-23 Body text here.", "2020-09-23", "Body text here."),
        ("Body first. date 2020-09-23 later.", None, "Body first. date 2020-09-23 later."),
        ("dated 2020-09-23 is not a date line.", None, "dated 2020-09-23 is not a date line."),
    ],
)
def test_date_line_only_at_the_start(tmp_path: Path, content: str, date: str | None, text: str) -> None:
    doc = load_one(tmp_path, "note.txt", content)
    assert doc.meta("date") == date
    assert doc.text == text


def test_date_on_its_own_line_leaves_normalised_text(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "note.txt", "date 2020-09-23\n\nBody text here.")
    assert doc.meta("date") == "2020-09-23"
    assert doc.text == "Body text here."


def test_markdown_heading_is_the_title_and_hash_marks_go(small_docs: Path) -> None:
    doc = by_id(load_documents(small_docs).documents)["chips"]
    assert doc.title == "Chip industry"
    assert "#" not in doc.text
    assert doc.text.startswith("Chip industry\n\nSamsung opened a memory chip plant in Xi'an in 2012.")


def test_markdown_front_matter_gives_title_and_metadata(tmp_path: Path) -> None:
    content = (
        '---\ntitle: "Rocket notes"\nAuthor: Ann Lee\ndate: 2021-01-02\n---\n'
        "# A heading\n\nSome body text.\n\n## Second level ##\n\nMore text."
    )
    doc = load_one(tmp_path, "notes.md", content)
    assert doc.title == "Rocket notes"
    assert doc.meta("author") == "Ann Lee"
    assert doc.meta("date") == "2021-01-02"
    assert doc.meta("title") is None
    assert doc.text == "A heading\n\nSome body text.\n\nSecond level\n\nMore text."


def test_markdown_heading_keeps_a_hash_that_belongs_to_a_word(tmp_path: Path) -> None:
    # CommonMark: a closing run of #s must be preceded by a space; 'C#' is a word.
    doc = load_one(tmp_path, "csharp.md", "# Learn C#\n\nC# is a language.")
    assert doc.title == "Learn C#"
    assert doc.text == "Learn C#\n\nC# is a language."


def test_markdown_is_read_as_rendered_no_markup_in_the_text(tmp_path: Path) -> None:
    """Emphasis, code spans, links and images leave their words, not their marks; a table row is
    a line of its cells; a code block keeps its lines, and a "# comment" in it is no heading."""
    content = (
        "# Cycling *club*\n\n"
        "Meet at **Old Fig** cafe, see [the map](https://example.org/map \"Map\") and run `ride --list`.\n"
        "Bring ![a helmet](helmet.png) and <span>water</span>.\n\n"
        "| Ride | Distance |\n|---|---|\n| Wednesday hills | 38 km |\n| Sunday *flat* | 60 km |\n\n"
        "- first item\n- second __item__\n\n"
        "> Quoted words.\n\n"
        "```sh\n# not a heading\nride --list\n```\n\n"
        "<div class=\"note\">A <b>boxed</b> note.</div>\n\n"
        "<table><tr><th>Ride</th><th>Climb</th></tr><tr><td>Friday loop</td><td>400 m</td></tr></table>\n\n"
        "<script>alert(1)</script>\n\n"
        "## Rules ##\n\nStay ~~left~~ right.\n"
    )
    doc = load_one(tmp_path, "club.md", content)
    assert doc.title == "Cycling club"
    assert doc.text.split("\n\n") == [
        "Cycling club",
        "Meet at Old Fig cafe, see the map and run ride --list. Bring a helmet and water.",
        "Ride Distance", "Wednesday hills 38 km", "Sunday flat 60 km",
        "first item", "second item",
        "Quoted words.",
        "# not a heading\nride --list",
        "A boxed note.",
        "Ride Climb", "Friday loop 400 m",
        "Rules",
        "Stay left right.",
    ]
    assert [path for _, path in doc.sections] == ["Cycling club", "Cycling club › Rules"]
    assert not set("*_[]()`|<>~") & set(doc.text.replace("# not a heading", "").replace("ride --list", ""))


def test_html_drops_script_and_style_and_uses_the_title(small_docs: Path) -> None:
    doc = by_id(load_documents(small_docs).documents)["cheese"]
    assert doc.title == "Cheese making"
    assert "alert" not in doc.text
    assert "<" not in doc.text
    assert doc.text == (
        "Cheese\n\nCheddar cheese comes from the village of Cheddar in Somerset.\n\n"
        "It is aged for nine months or longer."
    )


def test_html_blocks_are_paragraphs_and_inline_tags_stay_in_the_sentence(tmp_path: Path) -> None:
    html = (
        "<!doctype html><html><head><title> Plant &amp; people </title>"
        "<style>p { color: red; }</style><script>var secret = 1;</script></head><body>"
        "<nav>Home</nav><div>Samsung opened a <b>memory</b> chip\n   plant in <i>Xi'an</i>.</div>"
        "<ul><li>First item</li><li>Second item</li></ul>"
        "<noscript>enable scripts</noscript><p>Line one<br>line two</p></body></html>"
    )
    doc = load_one(tmp_path, "page.html", html)
    assert doc.title == "Plant & people"
    for hidden in ("color", "secret", "enable scripts", "Home"):  # navigation is not content
        assert hidden not in doc.text
    assert doc.text.split("\n\n") == [
        "Samsung opened a memory chip plant in Xi'an.",
        "First item",
        "Second item",
        "Line one",
        "line two",
    ]
    sentence = [doc.text[s.start:s.end] for s in split_sentences(doc.text)]
    assert "Samsung opened a memory chip plant in Xi'an." in sentence


CLUB_PAGE = """<!doctype html><html><head><title>Riverside Cycling Club</title></head><body>
<header role="banner"><a href="/">Riverside CC</a></header>
<nav><a href="/">Home</a> | <a href="/rides">Rides</a> | <a href="/join">Join</a></nav>
<main>
<h1>Riverside Cycling Club</h1>
<p>We ride from the boathouse.</p>
<h2>Weekly rides</h2>
<table><thead><tr><th>Ride</th><th>Distance</th></tr></thead>
<tbody><tr><td>Wednesday hills</td><td>38 km</td></tr><tr><td>Sunday social</td><td>25 km</td></tr></tbody></table>
<h3>Settings</h3>
<dl><dt><code>max_riders</code></dt><dd><p>The default is 24 riders.</p><p>Set it per ride.</p></dd></dl>
<pre>ride --start 6pm
  --route hills</pre>
<h2>Join</h2><p>Membership costs 30 pounds.</p>
</main>
<div role="contentinfo">© 2024 Riverside CC. Cookie settings.</div>
<footer>Privacy</footer></body></html>"""


def test_html_keeps_main_content_rows_terms_code_lines_and_sections(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "club.html", CLUB_PAGE)
    for boilerplate in ("Home", "Rides | Join", "Cookie settings", "Privacy", "Riverside CC"):
        assert boilerplate not in doc.text
    paragraphs = doc.text.split("\n\n")
    assert "Ride Distance" in paragraphs and "Wednesday hills 38 km" in paragraphs  # a row a line
    assert "max_riders The default is 24 riders." in paragraphs  # the term beside its description
    assert "ride --start 6pm\n --route hills" in doc.text or "ride --start 6pm\n--route hills" in doc.text
    sections = {path: doc.text[start:start + 20] for start, path in doc.sections}
    assert list(sections) == ["Riverside Cycling Club", "Riverside Cycling Club › Weekly rides",
                              "Riverside Cycling Club › Weekly rides › Settings", "Riverside Cycling Club › Join"]
    assert sections["Riverside Cycling Club › Join"].startswith("Join")
    assert doc.section_at(doc.text.index("38 km")) == "Riverside Cycling Club › Weekly rides"
    assert doc.section_at(doc.text.index("30 pounds")) == "Riverside Cycling Club › Join"


def test_a_table_whose_cells_hold_paragraphs_is_still_a_row_a_line(tmp_path: Path) -> None:
    # Sphinx (the Python manual) and MkDocs wrap every cell's text in <p>.
    page = ("<html><body><main><table><thead><tr><th><p>Type code</p></th><th><p>C Type</p></th>"
            "<th><p>Minimum size in bytes</p></th></tr></thead><tbody><tr><td><p>'d'</p></td>"
            "<td><p>double</p></td><td><p>8</p></td></tr></tbody></table><p>After.</p></main></body></html>")
    doc = load_one(tmp_path, "array.html", page)
    assert doc.text.split("\n\n") == ["Type code C Type Minimum size in bytes", "'d' double 8", "After."]


def test_a_table_knows_its_header_row_and_its_rows(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "club.html", CLUB_PAGE)
    (head_start, head_end, end), = doc.tables
    assert doc.text[head_start:head_end] == "Ride Distance"
    assert doc.text[head_end:end].split("\n\n")[1:] == ["Wednesday hills 38 km", "Sunday social 25 km"]
    assert doc.in_table_header(head_start, head_end) and doc.table_of(head_start, head_end) == -1
    cells = [(doc.text[a:b], column) for a, b, column in doc.cells_in(head_start, end)]
    assert cells == [("Ride", 0), ("Distance", 1), ("Wednesday hills", 0), ("38 km", 1), ("Sunday social", 0),
                     ("25 km", 1)]
    row = doc.text.index("Sunday social")
    assert [doc.text[a:b] for a, b, _ in doc.cells_in(row, row + len("Sunday social 25 km"))] == ["Sunday social", "25 km"]
    for row in ("Wednesday hills 38 km", "Sunday social 25 km"):
        at = doc.text.index(row)
        assert doc.table_of(at, at + len(row)) == 0 and not doc.in_table_header(at, at + len(row))
    for other in ("We ride from the boathouse.", "Membership costs 30 pounds."):
        at = doc.text.index(other)
        assert doc.table_of(at, at + len(other)) == -1 and not doc.in_table_header(at, at + len(other))
    assert Document.from_dict(doc.to_dict()) == doc
    assert "tables" not in load_one(tmp_path / "plain", "notes.md", "# Notes\n\nA note.").to_dict()


def test_each_sentence_of_a_description_knows_its_term(tmp_path: Path) -> None:
    page = ("<html><body><main><h1>Settings</h1><dl>"
            "<dt><code>max_riders</code>\u00b6</dt><dd><p>How many may ride.</p><p>The default is 24.</p>"
            "<dl><dt>max_riders.per_ride</dt><dd><p>A limit for one ride.</p><p>The default is 12.</p></dd></dl>"
            "<p>Set it per club.</p></dd>"
            "<dt>route</dt><dd><p>Where it goes.</p></dd></dl><p>After the list.</p></main></body></html>")
    doc = load_one(tmp_path, "settings.html", page)
    terms = [(doc.text[a:b], parent) for a, b, _, parent in doc.definitions]
    assert terms == [("max_riders\u00b6", -1), ("max_riders.per_ride", 0), ("route", -1)]

    def term(sentence: str) -> str | None:
        found = doc.term_of(doc.text.index(sentence))
        return None if found is None else doc.text[found[0]:found[1]]

    assert term("The default is 24.") == "max_riders\u00b6"
    assert term("The default is 12.") == "max_riders.per_ride", "the innermost term"
    assert term("Set it per club.") == "max_riders\u00b6", "after the inner list, the outer term again"
    assert term("Where it goes.") == "route"
    assert term("After the list.") is None and term("Settings") is None
    assert term("max_riders\u00b6 How many may ride.") is None, "the term's own sentence holds it"
    assert Document.from_dict(doc.to_dict()) == doc


def test_a_markdown_table_knows_its_header_row_too(tmp_path: Path) -> None:
    text = ("# Rides\n\n| Ride | Distance |\n|---|---|\n| Wednesday hills | 38 km |\n| Sunday social | 25 km |\n\n"
            "After.\n\n<table><tr><th>Level</th><th>Value</th></tr><tr><td>ERROR</td><td>40</td></tr></table>\n")
    doc = load_one(tmp_path, "rides.md", text)
    assert [(doc.text[a:b], doc.text[b:end].split("\n\n")[1:]) for a, b, end in doc.tables] == [
        ("Ride Distance", ["Wednesday hills 38 km", "Sunday social 25 km"]), ("Level Value", ["ERROR 40"])]
    assert [(doc.text[a:b], column) for a, b, column in doc.cells][:4] == [
        ("Ride", 0), ("Distance", 1), ("Wednesday hills", 0), ("38 km", 1)]
    assert [doc.text[a:b] for a, b, _ in doc.cells][-4:] == ["Level", "Value", "ERROR", "40"]


@pytest.mark.parametrize(("page", "expected"), [
    # <th> cells without a <thead>, and a first column of <th> in the body: still one header.
    ("<table><tr><th>Level</th><th>Value</th></tr><tr><th>ERROR</th><td>40</td></tr>"
     "<tr><th>INFO</th><td>20</td></tr></table>", [("Level Value", ["ERROR 40", "INFO 20"])]),
    # No header row (a layout table): no table context.
    ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>", []),
    # A header and no rows, then a table of two rows: only the second.
    ("<table><thead><tr><th>Empty</th></tr></thead></table><p>Between.</p>"
     "<table><thead><tr><th>Code</th><th>Size</th></tr></thead><tbody><tr><td>'q'</td><td>8</td></tr>"
     "<tr><td></td><td></td></tr><tr><td>'d'</td><td>8</td></tr></tbody></table><p>After.</p>",
     [("Code Size", ["'q' 8", "'d' 8"])]),
])
def test_tables_are_found_by_their_header_row(tmp_path: Path, page: str, expected: list[tuple[str, list[str]]]) -> None:
    doc = load_one(tmp_path, "t.html", f"<html><body><main>{page}</main></body></html>")
    found = [(doc.text[a:b], doc.text[b:end].split()) for a, b, end in doc.tables]
    assert [(h, " ".join(rows)) for h, rows in found] == [(h, " ".join(" ".join(rows).split())) for h, rows in expected]


def test_many_files_are_parsed_by_a_pool_with_the_same_documents_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files: dict[str, str | bytes] = {f"page{i:02d}.html": f"<html><body><main><h1>Page {i}</h1>"
                                     f"<p>Page {i} says {i * 7}.</p></main></body></html>" for i in range(40)}
    files.update({"notes.md": "# Notes\n\nA note.", "empty.txt": "   ", "bad.pdf": b"%PDF-1.4 not really"})
    root = write_corpus(tmp_path / "docs", files)
    monkeypatch.setattr(rag.ingest, "PARALLEL_FROM", 10_000)
    serial = load_documents(root)
    spawned: list[object] = []
    import concurrent.futures

    original = concurrent.futures.ProcessPoolExecutor

    def counting(*args: object, **kwargs: object) -> concurrent.futures.ProcessPoolExecutor:
        spawned.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", counting)
    monkeypatch.setattr(rag.ingest, "PARALLEL_FROM", 32)
    assert load_documents(root).documents == serial.documents and not spawned, "one worker: no pool"
    pooled = load_documents(root, IngestConfig(parse_workers=2))
    assert spawned, "43 files to parse went to the pool"
    assert pooled.documents == serial.documents and len(pooled.documents) == 41
    assert [(e.path, e.reason) for e in pooled.errors] == [(e.path, e.reason) for e in serial.errors]
    assert {e.path.name for e in pooled.errors} == {"empty.txt", "bad.pdf"}


def test_html_without_title_uses_h1(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "page.htm", "<html><body><h1>Big <em>news</em></h1><p>Body.</p></body></html>")
    assert doc.title == "Big news"
    assert doc.text == "Big news\n\nBody."


def test_a_page_of_links_is_skipped_and_a_page_with_links_is_read(tmp_path: Path) -> None:
    """A table of contents or a site's index holds names, not answers: not indexed, and said so."""
    toc = "".join(f'<li><a href="ch{i}.html">Chapter {i}: the {i}th part</a></li>' for i in range(12))
    docs = write_corpus(tmp_path / "docs", {
        "contents.html": f"<html><body><main><h1>Contents</h1><ul>{toc}</ul></main></body></html>",
        "few.html": "<html><body><main><h1>Links</h1><ul>"
                    + "".join(f'<li><a href="{i}.html">Page {i}</a></li>' for i in range(5))
                    + "</ul></main></body></html>",
        "prose.html": "<html><body><main><h1>Rides</h1><p>The Wednesday ride leaves at six from the "
                      "bridge; see " + " and ".join(f'<a href="r{i}.html">route {i}</a>' for i in range(12))
                      + " for the maps, which the club updates every spring before the season opens.</p>"
                      "</main></body></html>",
    })
    report = load_documents(docs)
    assert sorted(d.doc_id for d in report.documents) == ["few", "prose"]  # few links: kept
    (error,) = report.errors
    assert error.path.name == "contents.html" and "page of links" in error.reason
    with pytest.raises(IngestError, match="page of links"):
        read_document(docs / "contents.html", docs)


def test_pdf_text_is_extracted_unwrapped_and_paged(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "report.pdf", make_pdf(PDF_PAGES, title="Rocket facts"))
    assert doc.title == "Rocket facts"
    assert doc.text == (
        "The Long March 5 rocket first flew in 2016. Its boosters burn kerosene and liquid oxygen."
        "\n\nIts core stage uses liquid hydrogen."
    )
    assert doc.doc_id == "report"


def test_pdf_without_title_is_named_after_its_file(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "launch_report-2016.pdf", make_pdf([["Hello (world)."]]))
    assert doc.title == "Launch report 2016"
    assert doc.text == "Hello (world)."


def test_doc_id_is_the_relative_path_without_suffix_and_sha256_is_of_the_raw_bytes(tmp_path: Path) -> None:
    raw = "\ufeffdate 2020-01-02 Windows\r\nline\tendings.\r\n".encode()
    root = write_corpus(tmp_path / "docs", {"a/b/notes.v2.txt": raw, "top.md": "# T\n\nx y z."})
    docs = by_id(load_documents(root).documents)
    assert sorted(docs) == ["a/b/notes.v2", "top"]
    nested = docs["a/b/notes.v2"]
    assert nested.source == "a/b/notes.v2.txt"
    assert nested.sha256 == hashlib.sha256(raw).hexdigest()
    assert nested.text == "Windows\nline endings."


def test_same_stem_in_two_formats_gets_two_ids(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "docs", {"same.txt": "From text.", "same.md": "From markdown."})
    docs = load_documents(root).documents
    assert len({d.doc_id for d in docs}) == 2
    assert {d.text for d in docs} == {"From text.", "From markdown."}


# --- normalize_text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cafe\u0301", "caf\u00e9"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("a \t  b\t\tc", "a b c"),
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("a  \n  b", "a\nb"),
        ("a \n \n \n b", "a\n\nb"),
        ("  \n lead and trail \n\t ", "lead and trail"),
        ("x\u00a0\u3000y", "x y"),
        ("bell\x07here", "bell here"),
        ("zero\u200bwidth", "zero\u200bwidth"),
        ("line\u2028sep\u2029para", "line\nsep\n\npara"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize("seed", range(10))
def test_normalize_text_is_idempotent_and_clean(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [
        "a", "B", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "e\u0301", "\x0b", "\x00", "é", "東", "🚀",
    ]
    raw = "".join(rng.choice(alphabet) for _ in range(400))
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert once == unicodedata.normalize("NFC", once)
    assert "\r" not in once and "\t" not in once and "  " not in once and "\n\n\n" not in once
    assert once == once.strip()


# --- bad input -----------------------------------------------------------------------------

GOOD = {"good.txt": "A readable document about rockets.", "also/good.md": "# Fine\n\nStill readable."}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("binary.txt", b"GIF89a\x00\x01\x02\x00binary", "binary"),
        ("latin1.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"), "not UTF-8"),
        ("garbage.pdf", bytes(random.Random(7).getrandbits(8) for _ in range(3000)), "not a readable PDF"),
        ("truncated.pdf", make_pdf(PDF_PAGES)[:300], "not a readable PDF"),
        ("empty.pdf", b"", "not a readable PDF"),
        ("encrypted.pdf", encrypted_pdf(), "encrypted"),
        ("blank.pdf", make_pdf([[]]), "no text"),
        ("empty.txt", b"", "no text"),
        ("spaces.md", " \n\t\r\n  \n", "no text"),
        ("only-date.txt", "date 2020-01-01   \n", "no text"),
        ("scripts.html", "<html><head><script>x()</script></head><body> </body></html>", "no text"),
    ],
)
def test_a_bad_file_is_reported_and_the_others_still_load(
    tmp_path: Path, name: str, content: bytes | str, reason: str
) -> None:
    root = write_corpus(tmp_path / "docs", {**GOOD, name: content})
    report = load_documents(root)
    assert sorted(d.doc_id for d in report.documents) == ["also/good", "good"]
    assert len(report.errors) == 1
    error = report.errors[0]
    assert isinstance(error, IngestError)
    assert error.path == root / name
    assert name in str(error)
    assert reason in error.reason


def test_file_over_the_size_limit_is_reported(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "docs", {"small.txt": "Tiny.", "big.txt": "Big file. " * 20})
    report = load_documents(root, IngestConfig(max_file_bytes=100))
    assert [d.doc_id for d in report.documents] == ["small"]
    assert [e.path.name for e in report.errors] == ["big.txt"]
    assert "over the 100 limit" in report.errors[0].reason
    # At the limit exactly, a file is read.
    exact = load_documents(root, IngestConfig(max_file_bytes=(root / "big.txt").stat().st_size))
    assert sorted(d.doc_id for d in exact.documents) == ["big", "small"]


def test_missing_folder_raises_empty_corpus(tmp_path: Path) -> None:
    with pytest.raises(EmptyCorpusError, match="does not exist"):
        load_documents(tmp_path / "nowhere")


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    path = write_corpus(tmp_path / "docs", {"a.txt": "Text."}) / "a.txt"
    with pytest.raises(EmptyCorpusError, match="is not a folder"):
        load_documents(path)


def test_empty_folder_raises_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    with pytest.raises(EmptyCorpusError, match=r"nothing to index .*no \.txt, \.md, \.html, \.htm, \.pdf or \.docx file"):
        load_documents(tmp_path / "docs")


def test_folder_of_only_unsupported_files_raises_empty_corpus(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "docs", {"report.docx": b"PK\x03\x04", "data.csv": "a,b\n1,2\n"})
    with pytest.raises(EmptyCorpusError, match="nothing to index"):
        load_documents(root)


def test_folder_where_every_file_is_bad_names_each_reason(tmp_path: Path) -> None:
    root = write_corpus(
        tmp_path / "docs",
        {
            "binary.txt": b"\x00\x01\x02",
            "latin1.txt": "caf\u00e9".encode("latin-1"),
            "broken.pdf": b"%PDF-1.4\n",
        },
    )
    with pytest.raises(EmptyCorpusError) as info:
        load_documents(root)
    message = str(info.value)
    reasons = [("binary.txt", "binary"), ("latin1.txt", "not UTF-8"), ("broken.pdf", "not a readable PDF")]
    for name, reason in reasons:
        assert name in message
        assert reason in message


def test_unsupported_extension_is_skipped_and_reported(tmp_path: Path) -> None:
    root = write_corpus(
        tmp_path / "docs",
        {
            "keep.txt": "Kept.",
            "slides.pptx": b"PK\x03\x04",
            "README": "read me",
            ".hidden.txt": "secret text",
        },
    )
    report = load_documents(root)
    assert [d.doc_id for d in report.documents] == ["keep"]
    assert report.skipped == (root / "slides.pptx",)
    assert report.errors == ()


def test_symlink_outside_the_folder_is_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret text outside the corpus.", encoding="utf-8")
    root = write_corpus(tmp_path / "docs", {"inside.txt": "Inside text."})
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    report = load_documents(root)
    assert [d.doc_id for d in report.documents] == ["inside"]
    assert all("Secret" not in d.text for d in report.documents)
    assert set(report.skipped) == {root / "link.txt", root / "linkdir"}


def test_symlink_inside_the_folder_is_read(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "docs", {"real.txt": "Real text."})
    (root / "alias.txt").symlink_to(root / "real.txt")
    report = load_documents(root)
    # A link inside the folder is followed; its text duplicates the target's, so it is indexed once.
    assert [d.doc_id for d in report.documents] == ["alias"]
    assert [(e.path.name, "same text" in e.reason) for e in report.errors] == [("real.txt", True)]
    assert report.skipped == ()


def test_read_document_on_a_directory_cannot_be_read(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "folder.txt").mkdir(parents=True)
    with pytest.raises(IngestError, match="cannot be read") as info:
        read_document(root / "folder.txt", root)
    assert info.value.path == root / "folder.txt"


def test_markdown_headings_are_sections_and_paragraphs_of_their_own(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "faq.md", "# Ferrylog FAQ\n\nIntro.\n\n## Settings\n### max_connections\n"
                                        "The default is 256 connections.\n\n## Install\nRun the installer.\n")
    assert doc.text.split("\n\n") == ["Ferrylog FAQ", "Intro.", "Settings", "max_connections",
                                      "The default is 256 connections.", "Install", "Run the installer."]
    assert [path for _, path in doc.sections] == [
        "Ferrylog FAQ", "Ferrylog FAQ › Settings", "Ferrylog FAQ › Settings › max_connections",
        "Ferrylog FAQ › Install"]
    assert doc.section_at(doc.text.index("256")) == "Ferrylog FAQ › Settings › max_connections"
    assert doc.section_at(0) == "Ferrylog FAQ"


def layout_pdf(lines: list[tuple[float, float, str]]) -> bytes:
    """A one-page PDF of (font size, baseline y, text) lines, Helvetica, at x = 72."""
    ops = ["BT"] + [f"/F1 {size} Tf 1 0 0 1 72 {y} Tm ({text}) Tj" for size, y, text in lines] + ["ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    return pdf_file(objects)


def test_pdf_paragraphs_and_headings_come_from_the_layout(tmp_path: Path) -> None:
    """The title no longer runs into the first sentence: a larger line is a heading, a wider
    gap a paragraph break; the first heading is the title when the metadata has none."""
    pdf = layout_pdf([
        (18, 740, "Field Notes of Mount Orrin"),
        (10, 712, "The survey began at dawn and"), (10, 698, "ended at noon."),
        (10, 670, "Mount Orrin is 1,204 m high."),
        (14, 640, "Weather"),
        (10, 616, "It rained after lunch."),
    ])
    doc = load_one(tmp_path, "notes.pdf", pdf)
    assert doc.title == "Field Notes of Mount Orrin"
    assert doc.text.split("\n\n") == ["Field Notes of Mount Orrin", "The survey began at dawn and ended at noon.",
                                      "Mount Orrin is 1,204 m high.", "Weather", "It rained after lunch."]
    assert [path for _, path in doc.sections] == ["Field Notes of Mount Orrin", "Field Notes of Mount Orrin › Weather"]


def _docx(title: str | None = None) -> bytes:
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    document.add_heading("Riverside rides", level=1)
    document.add_paragraph("We ride from the boathouse.")
    document.add_heading("Weekly rides", level=2)
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, (("Ride", "Distance"), ("Wednesday hills", "38 km")), strict=True):
        for cell, words in zip(row.cells, cells, strict=True):
            cell.text = words
    document.add_paragraph("Bring   lights.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_paragraphs_tables_and_heading_styles(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "club.docx", _docx(title="Club handbook"))
    assert doc.title == "Club handbook"
    assert doc.text.split("\n\n") == ["Riverside rides", "We ride from the boathouse.", "Weekly rides",
                                      "Ride Distance", "Wednesday hills 38 km", "Bring lights."]
    assert doc.section_at(doc.text.index("38 km")) == "Riverside rides › Weekly rides"
    assert load_one(tmp_path / "b", "club.docx", _docx()).title == "Riverside rides"


def _docx_tables(*tables: tuple[tuple[str, ...], ...], repeat_header: bool = False) -> bytes:
    import docx
    from docx.oxml import OxmlElement

    document = docx.Document()
    document.add_paragraph("Club facts.")
    for rows in tables:
        table = document.add_table(rows=len(rows), cols=len(rows[0]))  # Word's look: a header row
        for row, cells in zip(table.rows, rows, strict=True):
            for cell, words in zip(row.cells, cells, strict=True):
                cell.text = words
        if repeat_header:
            table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_docx_tables_header_row_is_known(tmp_path: Path) -> None:
    """The first row names the columns when Word formats it as a header and it holds no digit
    where the rows below do, or when it is marked to repeat as a header row; a table of facts
    whose first row is one (Word formats every new table's first row so) has none."""
    rides = (("Ride", "Distance", "Start"), ("Wednesday hills", "38 km", "6 pm"), ("Sunday social", "25 km", "10 am"))
    facts = (("Founded", "1987"), ("Members", "240"))
    doc = load_one(tmp_path, "club.docx", _docx_tables(rides, facts))
    assert "Ride Distance Start\n\nWednesday hills 38 km 6 pm" in doc.text and "Founded 1987" in doc.text
    assert len(doc.tables) == 1
    head = doc.text.index("Ride Distance Start")
    assert doc.in_table_header(head, head + len("Ride Distance Start"))
    row = doc.text.index("Sunday social")
    assert doc.table_of(row, row + len("Sunday social 25 km 10 am")) == 0
    assert [doc.text[a:b] for a, b, _ in doc.cells_in(row, row + len("Sunday social 25 km 10 am"))] == [
        "Sunday social", "25 km", "10 am"]
    fact = doc.text.index("Founded")
    assert not doc.in_table_header(fact, fact + len("Founded 1987")) and doc.table_of(fact, fact + 12) == -1
    names = (("Name", "Role"), ("Tom Adeyemi", "Practice manager"))  # no digits: no telling
    assert not load_one(tmp_path / "b", "staff.docx", _docx_tables(names)).tables
    assert len(load_one(tmp_path / "c", "staff.docx", _docx_tables(names, repeat_header=True)).tables) == 1


def test_a_broken_docx_is_named_not_fatal(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not a readable Word file"):
        load_one(tmp_path, "broken.docx", b"PK\x03\x04 not really a zip")


PYTHON_MANUAL = Path("/usr/share/doc/python3.11/html")
NAVIGATION = ("Previous topic", "Next topic", "Navigation", "Quick search", "This Page", "Report a Bug")


@pytest.mark.skipif(not PYTHON_MANUAL.is_dir() and not os.environ.get("CI"),
                    reason="Debian's python3.11-doc is not installed (CI installs it)")
def test_no_chunk_of_python_manual_pages_holds_navigation(tmp_path: Path) -> None:
    """Pages of a real documentation site (Sphinx): the sidebar, the related-pages bars and the
    search box are navigation, never content; the API reference terms keep their descriptions."""
    from rag.chunk import chunk_document

    pages = ["library/functools", "library/json", "library/os.path", "tutorial/controlflow", "glossary",
             "reference/datamodel", "howto/logging", "library/datetime", "faq/general", "using/cmdline"]
    for page in pages:
        doc = read_document(PYTHON_MANUAL / f"{page}.html", PYTHON_MANUAL)
        assert doc.doc_id == page and doc.title
        for chunk in chunk_document(doc):
            for words in NAVIGATION:
                assert words not in chunk.text, (page, words, chunk.text[:200])
        assert doc.sections, page
    for page in ("genindex-all", "contents", "library/index", "library/datatypes"):  # pages of links
        with pytest.raises(IngestError, match="page of links"):
            read_document(PYTHON_MANUAL / f"{page}.html", PYTHON_MANUAL)
    functools = read_document(PYTHON_MANUAL / "library/functools.html", PYTHON_MANUAL)
    assert "@functools.lru_cache(maxsize=128, typed=False) Decorator to wrap a function" in functools.text
    assert functools.section_at(functools.text.index("class functools.partialmethod")) == (
        "functools — Higher-order functions and operations on callable objects")


def test_a_plain_notice_shows_its_title_and_sections_by_its_lines(tmp_path: Path) -> None:
    """A short first line is the title; a short line in capitals, or numbered in title case, with
    text after it is a heading; numbered steps, sentences and a last line are not."""
    notice = ("MAPLE COURT RESIDENTS' ASSOCIATION\nRules for residents (updated 9 March 2026)\n\n"
              "1. SERVICE CHARGE\nThe service charge is £65 a month.\n\n"
              "2. Guest Parking\nVisitors may park for 48 hours.\n\n"
              "To report a repair:\n1. Call the agent\n2. Write it down\n\nCONTACTS\nChair: Daniel Okoro.\nTHE END\n")
    doc = load_one(tmp_path, "rules.txt", notice)
    assert doc.title == "MAPLE COURT RESIDENTS' ASSOCIATION"
    assert [path for _, path in doc.sections] == [
        "MAPLE COURT RESIDENTS' ASSOCIATION", "MAPLE COURT RESIDENTS' ASSOCIATION › 1. SERVICE CHARGE",
        "MAPLE COURT RESIDENTS' ASSOCIATION › 2. Guest Parking", "MAPLE COURT RESIDENTS' ASSOCIATION › CONTACTS"]
    fee = doc.text.index("£65")
    assert doc.section_at(fee) == "MAPLE COURT RESIDENTS' ASSOCIATION › 1. SERVICE CHARGE"
    assert doc.in_heading(doc.text.index("1. SERVICE"), doc.text.index("1. SERVICE") + 17)
    assert doc.text == normalize_text(notice), "the text is the file's"
    article = load_one(tmp_path / "b", "news.txt", "date 2020-09-23\nThe week was busy. It rained.\n\nMore followed.\n")
    assert article.title == "News" and article.sections == ()
