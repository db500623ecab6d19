"""The certificate page (fpdf2): one Letter landscape page per person and activity.

DejaVu Sans is vendored (plugins/cme/fonts, Bitstream Vera licence) because fpdf2's core
fonts are Latin-1 only: AMA's statement needs "™", and learners' names any script.
"""
from __future__ import annotations

import re
from pathlib import Path

from cme.certificates import FORMATS, Certificate, printable

FONTS = Path(__file__).resolve().parent / "fonts"

ACCREDITATION_STATEMENTS = {
    "ACCME": "{provider} is accredited by the Accreditation Council for Continuing Medical "
             "Education (ACCME) to provide continuing medical education for physicians.",
    "JA": "In support of improving patient care, {provider} is jointly accredited by the "
          "Accreditation Council for Continuing Medical Education (ACCME), the Accreditation "
          "Council for Pharmacy Education (ACPE), and the American Nurses Credentialing Center "
          "(ANCC), to provide continuing education for the healthcare team.",
}
PROVIDER_ID_LABEL = {"ACCME": "ACCME provider ID", "JA": "Joint Accreditation provider ID"}
NAVY = (20, 40, 110)


def accreditation_statement(settings) -> str:
    template = settings.certificate_accreditation_statement or ACCREDITATION_STATEMENTS[settings.accreditor]
    return template.format(provider=settings.provider_name)


def designation(template: str, amount: str, provider: str, format_words: str) -> str:
    """The seed's statement with its placeholders filled; other braces are left as written."""
    values = {"amount": amount, "provider": provider, "format": format_words}
    return re.sub(r"\{(amount|provider|format)\}", lambda m: values[m.group(1)], template)


def _units(amount: str, unit: str) -> str:
    return f"{amount} {unit}{'' if float(amount) == 1 else 's'}"


def is_participation(credit) -> bool:
    """A non-credit type (a participation certificate): printed without an amount."""
    return float(credit.amount) == 0 or "particip" in credit.unit.lower()


def _dates(cert: Certificate) -> str:
    start, end = cert.start_date, cert.end_date
    if start and end and start != end:
        return f"{start:%m/%d/%Y} to {end:%m/%d/%Y}"
    return f"{(start or end):%m/%d/%Y}" if (start or end) else ""


def render(cert: Certificate, settings) -> bytes:
    from fpdf import FPDF

    from cme.settings import signature_path

    provider = printable(settings.provider_name)
    shown_format, format_words = FORMATS.get(cert.activity_format, (cert.activity_format, "activity"))
    class Page(FPDF):
        def header(self):  # a double frame on every page (many credit types can take two)
            self.set_draw_color(*NAVY)
            self.set_line_width(1.2)
            self.rect(8, 8, self.w - 16, self.h - 16)
            self.set_line_width(0.3)
            self.rect(11, 11, self.w - 22, self.h - 22)

    pdf = Page(orientation="L", format="Letter")
    pdf.set_title(f"Certificate {cert.verification_code}")
    pdf.set_author(provider)
    pdf.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.set_margins(22, 18, 22)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    def line(text: str, size: float, style: str = "", height: float | None = None,
             align: str = "C", color=(0, 0, 0), to=pdf) -> None:
        to.set_font("DejaVu", style, size)
        to.set_text_color(*color)
        to.multi_cell(0, height or size * 0.5, text, align=align, new_x="LMARGIN", new_y="NEXT")

    line(provider, 18, "B", color=NAVY)
    if settings.accme_provider_id:
        line(f"{PROVIDER_ID_LABEL[settings.accreditor]} {settings.accme_provider_id}", 9)
    pdf.ln(3)
    participation = all(is_participation(c) for c in cert.credits)
    line("Certificate of Participation" if participation else "Certificate of Completion",
         24, "B", color=NAVY)
    pdf.ln(2)
    line("This certifies that", 11)
    line(cert.name, 22, "B", height=12)
    line("participated in" if participation else "completed", 11)
    line(cert.title, 14, "B", height=7)
    details = [f"Format: {shown_format}"]
    if _dates(cert):
        details.append(f"Dates: {_dates(cert)}")
    if cert.location:
        details.append(f"Location: {cert.location}")
    line("   ·   ".join(details), 10)
    line(f"Completed on {cert.completed_on:%m/%d/%Y}", 10)
    pdf.ln(3)

    # up to four credit types fit one page at full size; more are set smaller
    heading, body = (11, 9) if len(cert.credits) <= 4 else (9.5, 7.5)
    for credit in cert.credits:
        # a credit's line and its statement stay on one page; drawn through the recorder,
        # which replays them on the next page when they do not fit
        with pdf.unbreakable() as block:
            line(credit.report_label if is_participation(credit)
                 else f"{credit.report_label}: {_units(credit.amount, credit.unit)} awarded",
                 heading, "B", align="L", to=block)
            statement = designation(credit.statement, credit.designated, provider, format_words)
            if statement:
                line(statement, body, align="L", to=block)
            block.ln(1.5)
    pdf.ln(1)
    line(accreditation_statement(settings), body, align="L", color=(60, 60, 60))

    # signature (left) and issue date with the verification code (right), kept together
    if pdf.get_y() > pdf.h - 16 - 38:
        pdf.add_page()
    top = max(pdf.get_y() + 4, pdf.h - 16 - 38)
    left = pdf.l_margin
    pdf.image(str(signature_path(settings.certificate_signature_image)), x=left, y=top, w=62, h=16)
    pdf.set_draw_color(0, 0, 0)
    pdf.line(left, top + 18, left + 80, top + 18)
    pdf.set_xy(left, top + 19)
    pdf.set_font("DejaVu", "B", 9)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(80, 5, printable(settings.certificate_signer_name) or provider,
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(80, 5, printable(settings.certificate_signer_title), new_x="LMARGIN", new_y="NEXT")
    right = pdf.w - pdf.r_margin - 110
    pdf.set_xy(right, top + 4)
    pdf.set_font("DejaVu", "", 9)
    issued = cert.issued_on
    pdf.cell(110, 5, f"Issued {issued:%m/%d/%Y}" if issued else "", align="R",
             new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(110, 7, f"Verification code: {cert.verification_code}", align="R",
             new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    pdf.cell(110, 5, f"Check it at {settings.certificate_verify_url.rstrip('/')}/{cert.verification_code}",
             align="R", new_x="LEFT", new_y="NEXT")
    return bytes(pdf.output())
