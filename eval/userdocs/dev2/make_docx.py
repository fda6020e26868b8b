"""Build docs/hillcrest-parents.docx, the Word file of this tuning set, with python-docx (a
project dependency): `python eval/userdocs/dev2/make_docx.py`. The committed file is the frozen
one; a rebuilt file may differ in its bytes (Word's zip timestamps), not its text."""

from pathlib import Path

import docx

HERE = Path(__file__).resolve().parent


def main() -> None:
    document = docx.Document()
    document.core_properties.title = "Hillcrest Primary School: Information for Parents 2026-27"
    document.core_properties.author = "Hillcrest Primary School office"
    document.add_heading("Hillcrest Primary School", level=1)
    document.add_paragraph(
        "Hillcrest is a primary school for children aged 4 to 11 in the village of Ashcombe. It has "
        "210 pupils in seven classes. The headteacher is Mrs Joanna Pryce, who joined the school in 2019.")
    document.add_heading("The school day", level=2)
    document.add_paragraph(
        "The gates open at 8.40am and lessons start at 8.50am. The school day ends at 3.15pm for all "
        "classes. Breakfast club runs from 7.45am in the hall and costs £3.50 a morning.")
    document.add_heading("Term dates", level=2)
    terms = (("Term", "Starts", "Ends"), ("Autumn", "3 September 2026", "18 December 2026"),
             ("Spring", "5 January 2027", "26 March 2027"), ("Summer", "12 April 2027", "21 July 2027"))
    _table(document, terms)
    document.add_paragraph("Half-term holidays are one week each, in October, February and May.")
    document.add_heading("After-school clubs", level=2)
    clubs = (("Club", "Day", "Cost per term"), ("Football", "Monday", "£30"), ("Choir", "Tuesday", "free"),
             ("Coding", "Thursday", "£45"))
    _table(document, clubs)
    document.add_paragraph("Clubs finish at 4.30pm; children must be collected from the main entrance.")
    document.add_heading("Uniform", level=2)
    document.add_paragraph(
        "The uniform is a green sweatshirt with the school badge, a white polo shirt and grey or "
        "black trousers, skirt or shorts. Sweatshirts can be bought from the school office for £12.")
    document.add_heading("Absence", level=2)
    document.add_paragraph(
        "If your child is ill, phone the office before 9.15am on the first day of absence. Holidays "
        "in term time are not authorised except in exceptional circumstances.")
    document.save(HERE / "docs" / "hillcrest-parents.docx")


def _table(document: "docx.document.Document", rows: tuple[tuple[str, ...], ...]) -> None:
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for row, cells in zip(table.rows, rows, strict=True):
        for cell, words in zip(row.cells, cells, strict=True):
            cell.text = words


if __name__ == "__main__":
    main()
