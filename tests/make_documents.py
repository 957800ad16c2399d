"""Small PDF, DOCX and HTML statements made on the fly for the reader tests (fpdf2, python-docx)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

PDF_PARAGRAPHS = [
    "The water supply in our towns has been a worry for many families this spring, and we understand "
    "why people are anxious about what comes out of their taps every morning before work and school.",
    "We will repair the old pipes in the northern districts before the summer, and we will publish the "
    "laboratory results every week so that anyone can check them without asking for permission first.",
    "Every household will receive a letter explaining where its water comes from, which pipes serve its "
    "street, and whom to call when the colour or the taste of the water changes unexpectedly.",
]
PDF_HEADING = "What we will do"
PDF_RUNNING_HEADER = "Ministry of Water - Press Office"


def make_pdf(path: Path, paragraphs: list[str] = PDF_PARAGRAPHS, repeat: int = 10, title: str = "Water supply",
             author: str = "Jane Roe", hyphenate: str | None = "accountability", password: str | None = None,
             text: bool = True) -> Path:
    """A multi-page PDF with a running header, page-number footers and (optionally) a hyphenated word."""
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self):
            if not text:
                return
            self.set_font("Helvetica", size=8)
            self.cell(0, 5, PDF_RUNNING_HEADER)
            self.ln(10)

        def footer(self):
            if not text:
                return
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 5, f"Page {self.page_no()}", align="C")

    pdf = Doc()
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creation_date(dt.datetime(2022, 3, 4, 10, 0, tzinfo=dt.timezone.utc))
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    pdf.add_page()
    if text:
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 7, PDF_HEADING)
        pdf.ln(4)
        pdf.set_font("Helvetica", size=11)
        for _ in range(repeat):
            for p in paragraphs:
                pdf.multi_cell(0, 5.5, p)
                pdf.ln(4)
        if hyphenate:
            # A word broken by hand at a line end, as typesetters do: "account-" / "ability".
            head, tail = hyphenate[: len(hyphenate) // 2], hyphenate[len(hyphenate) // 2:]
            pdf.multi_cell(0, 5.5, f"We owe the public full {head}-\n{tail} for every decision we take.")
    else:
        pdf.rect(20, 20, 100, 100, style="F")  # a picture and no text layer: what a scanner produces
    pdf.output(str(path))
    return path


def make_docx(path: Path, title: str = "Statement on school meals", author: str = "Amal Haddad") -> Path:
    """A Word file with a title, headings, body paragraphs, a soft line break and a table."""
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.core_properties.author = author
    d.core_properties.created = dt.datetime(2023, 9, 1, 9, 0)
    d.add_heading("School meals", level=1)
    d.add_paragraph("From the first day of the autumn term every pupil in a state primary school will be "
                    "offered a free hot lunch, whatever the income of the family.")
    d.add_heading("Why now", level=2)
    p = d.add_paragraph("Teachers told us that hungry children cannot learn.")
    p.add_run().add_break()
    p.add_run("Parents told us that the forms to claim a free meal were humiliating and slow.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Pupils", "Meals a day"
    table.cell(1, 0).text, table.cell(1, 1).text = "310,000", "one"
    d.add_paragraph("We will review the scheme after one year and publish what it cost and what it changed.")
    d.save(str(path))
    return path


HTML_PAGE = """<!doctype html><html lang="en"><head><title>Statement on the water supply | Ministry of Water</title>
<meta name="author" content="Jane Roe"><meta property="og:title" content="Statement on the water supply">
<meta name="date" content="2023-04-05"><link rel="canonical" href="https://water.example.gov/press/supply">
<meta property="og:site_name" content="Ministry of Water"></head><body>
<nav><a href="/">Home</a> <a href="/press">Press releases</a> <a href="/contact">Contact</a></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<main><article><h1>Statement on the water supply</h1>
<p>Today I want to speak plainly about the water supply in our towns and villages, which has been a worry
for many families this spring.</p>
<h2>Our plan</h2>
<p>We will repair the old pipes in the northern districts before the summer, and we will publish the test
results every week so that anyone can check them.</p>
<ul><li>Repairs begin in May in every northern district.</li><li>Weekly results are published online.</li></ul>
<p>No family should have to wonder whether the water from the tap is safe to drink.</p>
</article></main>
<footer>© Ministry of Water. All rights reserved. Privacy policy. Terms of use.</footer></body></html>
"""


def text_image(paragraphs: list[str], width: int = 1240, size: int = 30):
    """A scan-like greyscale page (Pillow's bundled font, no text layer) with `paragraphs` drawn on it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    margin, line_height = 60, int(size * 1.45)
    lines: list[str | None] = []
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if probe.textlength(trial, font=font) > width - 2 * margin and line:
                lines.append(line)
                line = word
            else:
                line = trial
        lines += [line, None]  # None: the blank line between paragraphs
    page = Image.new("L", (width, 2 * margin + line_height * len(lines)), 246)
    draw = ImageDraw.Draw(page)
    for i, line in enumerate(lines):
        if line:
            draw.text((margin, margin + i * line_height), line, fill=25, font=font)
    return page


def make_scanned_pdf(path: Path, image, text_page: list[str] | None = None, password: str | None = None) -> Path:
    """A PDF whose page is only `image` (a scan); with `text_page`, a first page with a text layer before it."""
    from fpdf import FPDF

    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    if text_page:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for p in text_page:
            pdf.multi_cell(0, 5.5, p)
            pdf.ln(4)
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=190)
    pdf.output(str(path))
    return path
