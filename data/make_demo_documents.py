"""Write the demo corpus's PDF, DOCX and scanned statements (run once; the outputs are committed, see PROVENANCE.md)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

HERE = Path(__file__).resolve().parent / "statements"

# Abraham Lincoln, Gettysburg Address, 19 November 1863 (the "Bliss copy"); public domain.
GETTYSBURG = [
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
    "Liberty, and dedicated to the proposition that all men are created equal.",
    "Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so "
    "dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a "
    "portion of that field, as a final resting place for those who here gave their lives that that nation might "
    "live. It is altogether fitting and proper that we should do this.",
    "But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground. "
    "The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add or "
    "detract. The world will little note, nor long remember what we say here, but it can never forget what they "
    "did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who fought "
    "here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task remaining "
    "before us -- that from these honored dead we take increased devotion to that cause for which they gave the "
    "last full measure of devotion -- that we here highly resolve that these dead shall not have died in vain -- "
    "that this nation, under God, shall have a new birth of freedom -- and that government of the people, by "
    "the people, for the people, shall not perish from the earth.",
]

# Self-written for this demo (fictional speaker and town); see PROVENANCE.md.
LIBRARY = [
    ("heading", "Opening hours"),
    ("text", "From the first of October the town library will open every evening until nine o'clock, including "
             "Sundays, so that people who work during the day can borrow books and use the reading room."),
    ("heading", "Why we are doing this"),
    ("text", "In our survey last spring more than half of the residents who never visit the library said that it "
             "was simply closed whenever they were free. Longer hours cost less than a new branch would."),
    ("text", "The extra hours are paid for by closing the old photocopying service, which almost nobody used "
             "after the council put the forms online."),
]

# Self-written for this demo (fictional harbour master of the fictional town); rendered as a scan.
LETTER_TITLE = "Letter to the boat owners of the inner basin"
LETTER_AUTHOR = "Edmund Carrow"
LETTER = [
    "Eastbrook Harbour Office, 14 November 1951",
    "To the owners of boats moored in the inner basin,",
    "The storm of last week has shown that the old timber pontoon on the east side can no longer be "
    "trusted. Two of its moorings broke loose in the night and the fishing boat Mary Ellen was driven "
    "against the quay wall.",
    "Until the pontoon is rebuilt in the spring, no boat may be left on the east side overnight. The harbour "
    "office will find every owner a berth on the west wall or beside the lifeboat slip, free of charge.",
    "I ask you to move your boats before Saturday noon. My clerk, Mr. Halvorsen, will be on the quay all "
    "Friday to help with ropes and fenders.",
    "Yours faithfully,",
    "Edmund Carrow, Harbour Master",
]


def render_page(paragraphs: list[str], width: int = 1240, height: int = 1754, size: int = 30, margin: int = 110):
    """An A4 page at 150 dpi as a greyscale Pillow image: `paragraphs` wrapped in Pillow's bundled font
    (no system font needed), slightly grey paper, so the page looks like a scan and has no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    page = Image.new("L", (width, height), 246)
    draw = ImageDraw.Draw(page)
    y, line_height = margin, int(size * 1.45)
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if draw.textlength(trial, font=font) > width - 2 * margin and line:
                draw.text((margin, y), line, fill=25, font=font)
                y, line = y + line_height, word
            else:
                line = trial
        draw.text((margin, y), line, fill=25, font=font)
        y += line_height * 2
    return page


def write_scanned_letter(path: Path) -> None:
    """An image-only PDF (no text layer): what a scanner gives; the indexer reads it by OCR."""
    page = render_page(LETTER)
    page.save(str(path), "PDF", resolution=150.0, title=LETTER_TITLE, author=LETTER_AUTHOR,
              creationDate=dt.datetime(1951, 11, 14).timetuple())


def write_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Address Delivered at the Dedication of the Cemetery at Gettysburg")
    pdf.set_author("Abraham Lincoln")
    pdf.set_creation_date(dt.datetime(1863, 11, 19, tzinfo=dt.timezone.utc))
    pdf.add_page()
    pdf.set_font("Times", "B", 15)
    pdf.multi_cell(0, 8, "Gettysburg")
    pdf.ln(4)
    pdf.set_font("Times", size=12)
    for p in GETTYSBURG:
        pdf.multi_cell(0, 6, p)
        pdf.ln(4)
    pdf.output(str(path))


def write_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "Library opening hours"
    d.core_properties.author = "Ines Moreau"
    d.core_properties.created = dt.datetime(2024, 9, 12, 10, 0)
    for kind, text in LIBRARY:
        d.add_heading(text, level=2) if kind == "heading" else d.add_paragraph(text)
    d.save(str(path))


if __name__ == "__main__":
    write_pdf(HERE / "1863-11-19_gettysburg-address.pdf")
    write_docx(HERE / "library-opening-hours.docx")
    write_scanned_letter(HERE / "1951-11-14_harbour-master-letter-scan.pdf")
