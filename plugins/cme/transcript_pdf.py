"""The transcript as a PDF a learner can print: Letter portrait, a table whose cells
wrap (an activity title is never cut), its heading repeated on every page.

DejaVu Sans (vendored in cme/fonts, Bitstream Vera licence) so names and titles
outside Latin-1 print as written; fpdf2's core fonts cannot.
"""
from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

FONTS = Path(__file__).parent / "fonts"
# Date, activity, credit type, amount, status: 195 mm, inside 10 mm margins on Letter
WIDTHS = (22, 62, 40, 24, 47)
HEADINGS = ("Date", "Activity", "Credit type", "Amount", "Status")


def _unit(unit: str, amount: float) -> str:
    return unit if amount == 1 or unit.endswith("s") else unit + "s"


def new_pdf() -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="Letter")
    pdf.set_margins(10, 12, 10)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
    return pdf


def _line(pdf: FPDF, text: str, size: float = 10, style: str = "", height: float = 5.5) -> None:
    pdf.set_font("DejaVu", style, size)
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def render(t, provider: str) -> bytes:
    """`t` is a cme.transcripts.Transcript."""
    pdf = new_pdf()
    pdf.add_page()
    _line(pdf, "Continuing education transcript", 15, "B", 8)
    _line(pdf, t.name, 12, "B", 7)
    _line(pdf, provider)
    _line(pdf, f"Period: {t.start:%m/%d/%Y} to {t.end:%m/%d/%Y}")
    _line(pdf, f"Profession: {t.profession or 'not on record'}")
    for license_ in t.licenses or ["License: none on record"]:
        _line(pdf, license_ if license_.startswith("License") else f"License: {license_}")
    _line(pdf, f"Learner id: {t.person_id}", 8)
    pdf.ln(3)
    if t.rows:
        pdf.set_font("DejaVu", "", 8.5)
        with pdf.table(col_widths=WIDTHS, width=sum(WIDTHS), line_height=4.4, padding=1.2,
                       text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "LEFT"),
                       headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
                       repeat_headings=1) as table:
            table.row(HEADINGS)
            for r in t.rows:
                amount = float(r["credits_awarded"])
                table.row((f"{r['completed_on']:%m/%d/%Y}", str(r["title"]), str(r["report_label"]),
                           f"{amount:.2f} {_unit(str(r['unit']), amount)}", str(r["reported"])))
    else:
        _line(pdf, "No credit awarded in this period.")
    pdf.ln(4)
    _line(pdf, "Totals by credit type", 10, "B", 7)
    for label, (unit, amount) in t.totals().items():
        _line(pdf, f"{label}: {amount:.2f} {_unit(unit, amount)}")
    if t.notes:
        pdf.ln(3)
        _line(pdf, "Notes", 10, "B", 7)
        for note in t.notes:
            _line(pdf, note, 8.5, height=4.6)
    return bytes(pdf.output())
