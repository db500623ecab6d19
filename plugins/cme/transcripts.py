"""Learner transcripts: every award by credit type and date, totals per credit type,
where each was reported and how it stands (in the learner's words, not the ledger's),
the learner's profession and licenses, and why a repeated completion counted once.
PDF for the learner (cme.transcript_pdf), CSV for systems.

The files name the learner, so they are written readable by the owner only.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cme.bodies.base import write_atomically
from cme.textcells import neutralise
from cme.warehouse import connect, private_dir

# One row per award; `records` lists the body records that carry it (a MOC award rides
# on the PARS record of its board; CME credit on the first board's record or the
# CME-only one, so a non-MOC PARS award matches the records of that day carrying CME).
AWARDS_SQL = """
with awards as (
    select a.*, act.title, ct.report_label
    from main.fct_credit_awards as a
    inner join main.dim_activities as act using (activity_id)
    inner join main.dim_credit_types as ct using (credit_type)
    where a.person_id = $person and a.completed_on between $start and $end
),
reported as (
    -- a CPE Monitor record is matched by its UAN (an activity may have one per audience)
    select person_id, case when uan is null then activity_id end as activity_id, completed_on, uan,
           body, board, carries_cme, submission_state, written_on, body_message
    from main.fct_body_records
    where record_action = 'Add' and record_kind = 'learner' and person_id = $person
)
select
    awards.award_id, awards.completed_on, awards.activity_id, awards.title, awards.credit_type, awards.report_label,
    awards.unit, awards.credits_awarded, awards.body, awards.moc_board,
    -- one row per award and record carrying it (none: the record columns are null); `load`
    -- gathers an award's records (a list of structs is DuckDB's, not PostgreSQL's)
    reported.body as record_body,
    -- the board is named on MOC rows only: CME credit riding on a board's record is the body's
    case when awards.moc_board is not null then reported.board end as record_board,
    reported.submission_state as record_state, reported.written_on as record_written_on,
    reported.body_message as record_message
from awards
left join reported
    on reported.person_id = awards.person_id
    and reported.completed_on = awards.completed_on
    and (reported.activity_id = awards.activity_id or reported.uan = awards.uan)
    and (reported.body = awards.body
         or (reported.body in ('ACCME_PARS', 'JA_PARS') and awards.body in ('ACCME_PARS', 'JA_PARS')))
    and (reported.board = awards.moc_board
         or (awards.moc_board is null and reported.carries_cme))
order by awards.completed_on, awards.activity_id, awards.credit_type, awards.award_id,
         reported.body nulls last, reported.board nulls last
"""
_RECORD = {"record_body": "body", "record_board": "board", "record_state": "state",
           "record_written_on": "written_on", "record_message": "message"}

# Completions that earned nothing because the same credit was already counted: one
# note per activity and day, whose reason is the first of: another account, the
# activity's cap (the credit itself), ABP's once a day (its points only).
REPEATS_SQL = """
select d.activity_id, max(act.title) as title, d.completed_on,
       -- the first reason in that order (min of its rank, as DuckDB's arg_min would pick)
       case min(case d.reason_code when 'DUPLICATE_ACCOUNT_COMPLETION' then 1
                                   when 'CAP_REACHED' then 2 else 3 end)
            when 1 then 'DUPLICATE_ACCOUNT_COMPLETION' when 2 then 'CAP_REACHED'
            else 'ABP_ONCE_PER_DAY' end as reason_code
from main.fct_credit_decisions as d
inner join main.dim_activities as act using (activity_id)
where d.person_id = $person and d.completed_on between $start and $end
  and d.reason_code in ('DUPLICATE_ACCOUNT_COMPLETION', 'CAP_REACHED', 'ABP_ONCE_PER_DAY')
group by d.activity_id, d.completed_on
order by d.completed_on, d.activity_id
"""

PERSON_SQL = """
select p.person_id, p.first_name || ' ' || p.last_name
from main.dim_people as p
where p.person_id = $id or $id = any(p.learner_ids)
"""

LICENSES_SQL = """
select state, license_profession, license_number, expires_on
from main.dim_person_identifiers
where person_id = $person and identifier_kind = 'license'
order by state, license_profession, license_number
"""

COLUMNS = ("completed_on", "activity_id", "title", "credit_type", "report_label", "unit",
           "credits_awarded", "reported")

BODY_NAMES = {"ACCME_PARS": "ACCME", "JA_PARS": "Joint Accreditation (JA-PARS)",
              "CE_BROKER": "CE Broker", "CPE_MONITOR": "CPE Monitor"}
REPEAT_WHY = {"DUPLICATE_ACCOUNT_COMPLETION": "under another account",
              "CAP_REACHED": "", "ABP_ONCE_PER_DAY": "ABP counts an activity once a day"}


def status_text(body: str, record: dict | None) -> str:
    """What the learner reads about one award at one body: "reported to ACCME on
    11/17/2026", "accepted by ABIM" (a MOC row: the board decides), "rejected by CE
    Broker: <message>", "to be reported", "not reported (no body)"."""
    if body == "NONE":
        return "not reported (no body)"
    if record is None:
        return "to be reported"
    name = BODY_NAMES.get(record["body"], record["body"])
    board, state = record.get("board"), record["state"]
    written = record.get("written_on")
    on = f" on {written:%m/%d/%Y}" if written else ""
    for_board = f" for {board}" if board else ""
    if state == "accepted":
        return f"accepted by {board or name}"
    if state == "rejected":
        message = (record.get("message") or "").strip()
        return f"rejected by {name}" + (f": {message}" if message else "")
    if state in ("written", "sent"):
        return f"reported to {name}{on}{for_board}"
    if state == "sending":
        return f"being reported to {name}{for_board}"
    if state == "superseded":
        return f"reported to {name}{on}{for_board}; a correction is in progress"
    return "to be reported"


def reporting_year(con, timezone: str) -> tuple[date, date]:
    """The default period: the calendar year of the as-of date (the latest extract date
    the warehouse has loaded, which the rules' clock reads), or of today in the
    provider's time zone before anything has loaded."""
    latest = con.execute("select max(_extract_date) from raw.loaded_files").fetchone()[0]
    year = (latest or datetime.now(ZoneInfo(timezone)).date()).year
    return date(year, 1, 1), date(year, 12, 31)


@dataclass
class Transcript:
    person_id: str
    name: str
    start: date
    end: date
    rows: list[dict]
    profession: str | None = None
    licenses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[str, float]]:
        totals: dict[str, tuple[str, float]] = {}
        for r in self.rows:
            label, unit = r["report_label"], r["unit"]
            totals[label] = (unit, totals.get(label, (unit, 0.0))[1] + float(r["credits_awarded"]))
        return totals


def resolve_person(con, person_or_learner: str) -> tuple[str, str] | None:
    row = con.execute(PERSON_SQL, {"id": person_or_learner}).fetchone()
    return (row[0], row[1]) if row else None


def _license_line(state, profession, number, expires_on) -> str:
    words = [state, profession, "license", number]
    expiry = f" (expires {expires_on:%m/%d/%Y})" if expires_on else ""
    return " ".join(w for w in words if w) + expiry


def _repeat_note(title: str, completed_on: date, reason: str) -> str:
    how = REPEAT_WHY.get(reason, "")
    return (f"{title}: completed again on {completed_on:%m/%d/%Y}"
            f"{f' ({how})' if how else ''}; credit counted once")


def load(con, person_id: str, name: str, start: date, end: date) -> Transcript:
    params = {"person": person_id, "start": start, "end": end}
    result = con.execute(AWARDS_SQL, params)
    names = [d[0] for d in result.description]
    awards: dict[str, dict] = {}
    for raw in result.fetchall():  # one learner's awards in one period: a page, not a table
        r = dict(zip(names, raw))
        record = {key: r.pop(column) for column, key in _RECORD.items()}
        award = awards.setdefault(r["award_id"], {**r, "records": []})
        if record["body"] is not None:
            award["records"].append(record)
    rows = []
    for r in awards.values():
        texts = dict.fromkeys(status_text(r["body"], rec) for rec in (r.pop("records") or [None]))
        r["reported"] = "; ".join(texts)
        rows.append(r)
    profession = con.execute("select profession from main.dim_people where person_id = $person",
                             {"person": person_id}).fetchone()[0]
    licenses = [_license_line(*row) for row in con.execute(LICENSES_SQL, {"person": person_id}).fetchall()]
    notes = [_repeat_note(*row[1:]) for row in con.execute(REPEATS_SQL, params).fetchall()]
    return Transcript(person_id, name, start, end, rows, profession, licenses, list(dict.fromkeys(notes)))


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
    for note in t.notes:
        row("note", note)
    return buffer.getvalue().encode()


def to_pdf(t: Transcript, provider: str) -> bytes:
    from cme.transcript_pdf import render

    return render(t, provider)


def transcript_for(con, person_id: str, start: date, end: date) -> Transcript | None:
    found = resolve_person(con, person_id)
    return load(con, *found, start, end) if found else None


def write_transcripts(warehouse: Path, out_dir: Path, who: list[str] | None, start: date | None,
                      end: date | None, provider: str, timezone: str = "America/Chicago") -> list[Path]:
    """Write PDF + CSV for each person in `who` (person or learner ids), or, when `who`
    is None, for everyone with an award in the date range. No range: the reporting year."""
    folder = private_dir(Path(out_dir) / "transcripts")
    written = []
    with connect(Path(warehouse), read_only=True) as con:
        if start is None or end is None:
            year_start, year_end = reporting_year(con, timezone)
            if start is None:
                start = date(end.year, 1, 1) if end else year_start
            if end is None:
                end = max(year_end, date(start.year, 12, 31))
        if who is None:
            who = [p for (p,) in con.execute(
                "select distinct person_id from main.fct_credit_awards "
                "where completed_on between ? and ? order by 1", [start, end]).fetchall()]
        for ident in who:
            transcript = transcript_for(con, ident, start, end)
            if transcript is None:
                raise LookupError(f"no person or learner account {ident!r} in the warehouse")
            stem = folder / f"transcript_{transcript.person_id}_{start:%Y%m%d}_{end:%Y%m%d}"
            write_atomically(stem.with_suffix(".csv"), to_csv(transcript))
            write_atomically(stem.with_suffix(".pdf"), to_pdf(transcript, provider))
            written += [stem.with_suffix(".pdf"), stem.with_suffix(".csv")]
    return written
