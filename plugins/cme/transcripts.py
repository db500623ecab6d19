"""Learner transcripts: every award by credit type and date, totals per credit type,
and where each was reported and how it stands. PDF for the learner, CSV for systems.

The files name the learner, so they are written readable by the owner only.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cme.bodies.base import write_atomically
from cme.textcells import neutralise
from cme.warehouse import connect, private_dir

AWARDS_SQL = """
with awards as (
    select a.*, act.title, ct.report_label
    from main.fct_credit_awards as a
    inner join main.dim_activities as act using (activity_id)
    inner join intermediate.int_credit_types_configured as ct using (credit_type)
    where a.person_id = $person and a.completed_on between $start and $end
),
reported as (
    select person_id, activity_id, completed_on, null as uan, body, submission_state
    from main.fct_pars_records where record_action = 'Add'
    union all
    select person_id, activity_id, completed_on, null, body, submission_state from main.fct_cebroker_records
    union all
    select person_id, null, completed_on, uan, body, submission_state from main.fct_cpe_monitor_records
)
select
    awards.completed_on, awards.activity_id, awards.title, awards.credit_type, awards.report_label,
    awards.unit, awards.credits_awarded,
    coalesce(string_agg(distinct reported.body || ': ' || reported.submission_state, '; '),
             case when awards.body = 'NONE' then 'not reported (no body in v1)' else 'not reported yet' end)
        as reported
from awards
left join reported
    on reported.person_id = awards.person_id
    and reported.completed_on = awards.completed_on
    and (reported.activity_id = awards.activity_id or reported.uan = awards.uan)
    and (reported.body = awards.body
         or (reported.body in ('ACCME_PARS', 'JA_PARS') and awards.body in ('ACCME_PARS', 'JA_PARS')))
group by awards.completed_on, awards.activity_id, awards.title, awards.credit_type,
         awards.report_label, awards.unit, awards.credits_awarded, awards.body
order by awards.completed_on, awards.activity_id, awards.credit_type
"""

COLUMNS = ("completed_on", "activity_id", "title", "credit_type", "report_label", "unit",
           "credits_awarded", "reported")


@dataclass
class Transcript:
    person_id: str
    name: str
    start: date
    end: date
    rows: list[dict]

    def totals(self) -> dict[str, tuple[str, float]]:
        totals: dict[str, tuple[str, float]] = {}
        for r in self.rows:
            label, unit = r["report_label"], r["unit"]
            totals[label] = (unit, totals.get(label, (unit, 0.0))[1] + float(r["credits_awarded"]))
        return totals


def resolve_person(con, person_or_learner: str) -> tuple[str, str] | None:
    row = con.execute(
        "select person_id, first_name || ' ' || last_name from main.dim_people "
        "where person_id = $id or list_contains(learner_ids, $id)", {"id": person_or_learner}).fetchone()
    return (row[0], row[1]) if row else None


def load(con, person_id: str, name: str, start: date, end: date) -> Transcript:
    result = con.execute(AWARDS_SQL, {"person": person_id, "start": start, "end": end})
    rows = [dict(zip(COLUMNS, r)) for r in result.fetchall()]
    return Transcript(person_id, name, start, end, rows)


def to_csv(t: Transcript) -> bytes:
    """Text cells neutralised (cme.textcells); dates and credits keep their form."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")

    def row(*cells):
        writer.writerow([neutralise(c) for c in cells])

    row("person_id", *COLUMNS)
    for r in t.rows:
        row(t.person_id, *[r[c] for c in COLUMNS])
    row()
    row("total", "credit type", "unit", "credits")
    for label, (unit, amount) in t.totals().items():
        writer.writerow(["total", neutralise(label), neutralise(unit), f"{amount:.2f}"])
    return buffer.getvalue().encode()


def to_pdf(t: Transcript, provider: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="Letter")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, f"Continuing education transcript: {t.name}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, f"{provider}  |  person {t.person_id}  |  {t.start:%m/%d/%Y} to {t.end:%m/%d/%Y}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = (24, 80, 58, 22, 88)
    pdf.set_font("Helvetica", "B", 9)
    for width, head in zip(widths, ("Date", "Activity", "Credit type", "Credits", "Reported to")):
        pdf.cell(width, 7, head, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for r in t.rows:
        cells = (f"{r['completed_on']:%m/%d/%Y}", str(r["title"])[:48], str(r["report_label"])[:36],
                 f"{float(r['credits_awarded']):.2f}", str(r["reported"])[:60])
        for width, value in zip(widths, cells):
            pdf.cell(width, 6, value, border=1)
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, "Totals by credit type", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for label, (unit, amount) in t.totals().items():
        pdf.cell(0, 6, f"{label}: {amount:.2f} {unit}{'s' if amount != 1 else ''}",
                 new_x="LMARGIN", new_y="NEXT")
    if not t.rows:
        pdf.cell(0, 6, "No credit awarded in this period.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write_transcripts(warehouse: Path, out_dir: Path, who: list[str] | None, start: date, end: date,
                      provider: str) -> list[Path]:
    """Write PDF + CSV for each person in `who` (person or learner ids), or, when `who`
    is None, for everyone with an award in the date range."""
    folder = private_dir(Path(out_dir) / "transcripts")
    written = []
    with connect(Path(warehouse), read_only=True) as con:
        if who is None:
            who = [p for (p,) in con.execute(
                "select distinct person_id from main.fct_credit_awards "
                "where completed_on between ? and ? order by 1", [start, end]).fetchall()]
        for ident in who:
            found = resolve_person(con, ident)
            if not found:
                raise LookupError(f"no person or learner account {ident!r} in the warehouse")
            transcript = load(con, *found, start, end)
            stem = folder / f"transcript_{transcript.person_id}_{start:%Y%m%d}_{end:%Y%m%d}"
            write_atomically(stem.with_suffix(".csv"), to_csv(transcript))
            write_atomically(stem.with_suffix(".pdf"), to_pdf(transcript, provider))
            written += [stem.with_suffix(".pdf"), stem.with_suffix(".csv")]
    return written
