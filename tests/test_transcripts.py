"""Learner transcripts over the real 3-day run: PDF text and CSV totals for known people,
and the layout read back from the PDF (wrapped titles, status in the learner's words,
the period printed)."""
from __future__ import annotations

import csv
import io
import re
import stat
from datetime import date

import pytest
from pypdf import PdfReader

from cme.transcripts import Transcript, status_text, to_pdf
from tests.conftest import copy_run, run_cme

pytestmark = pytest.mark.e2e

# the reporting year of the session's run (its extract dates are in November 2026)
YEAR_FILES = "transcript_P-*_20260101_20261231.pdf"


@pytest.fixture(scope="module")
def pipeline_run(pipeline_run, tmp_path_factory):
    """The session's run, copied: `cme transcript` writes OUT/transcripts/, which no
    other file's tests may find there."""
    return copy_run(pipeline_run, tmp_path_factory.mktemp("transcripts") / "out")


def pdf_text(source) -> str:
    reader = PdfReader(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """The text with line breaks as spaces: a wrapped cell reads as one line."""
    return " ".join(text.split())


def test_a_physicians_transcript_shows_each_award_its_totals_and_where_it_went(pipeline_run, db):
    proc = run_cme("transcript", "GL-PHYS-1", "--out", pipeline_run.out)
    assert proc.returncode == 0, proc.stderr
    [pdf] = (pipeline_run.out / "transcripts").glob(YEAR_FILES)  # default: the reporting year
    text = pdf_text(pdf)
    assert "Ada Known" in text
    assert "Period: 01/01/2026 to 12/31/2026" in text
    assert "Profession: physician" in text
    assert "License: FL MD license ME123456 (expires 01/31/2028)" in text
    assert "AMA PRA Category 1: 1.50 credits" in text  # 1.6 claimed, rounded down
    assert "ABIM Medical Knowledge: 1.00 point" in text
    # where each award went, as the marts have it, in words: the ABIM row's record names its board
    written = {board: day for board, day, state in db.execute(
        "select coalesce(r.board, 'CME'), r.written_on, r.submission_state from fct_pars_records r "
        "join dim_people p using (person_id) where list_contains(p.learner_ids, 'GL-PHYS-1') "
        "and r.record_action = 'Add'").fetchall() if state == "written"}
    assert "ABIM" in written
    assert f"reported to ACCME on {written['ABIM']:%m/%d/%Y} for ABIM" in flat(text)
    assert flat(text).count("for ABIM") == 1  # the AMA credit on that record is ACCME's, not ABIM's
    assert "ACCME_PARS" not in text and ": written" not in text  # no internal states
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(pdf.with_suffix(".csv").read_text())))
    totals = {r[1]: r[3] for r in rows if r and r[0] == "total" and r[1] != "credit type"}
    assert totals == {"ABIM Medical Knowledge": "1.00", "AMA PRA Category 1": "1.50"}


def test_any_account_of_a_merged_person_finds_the_one_transcript(pipeline_run):
    out = pipeline_run.out
    assert run_cme("transcript", "GL-NURSE-1B", "--out", out, "--from", "2026-11-01",
                   "--to", "2026-11-30").returncode == 0
    [pdf] = (out / "transcripts").glob("transcript_*_20261101_20261130.pdf")
    text = flat(pdf_text(pdf))
    assert "Period: 11/01/2026 to 11/30/2026" in text
    assert "ANCC: 2.25 contact hours" in text  # the union of her overlapping live sessions
    assert re.search(r"reported to CE Broker on 11/1[678]/2026", text)
    assert "FL RN license RN9876543" in text


def test_a_repeated_completion_is_explained_once_in_a_note(pipeline_run):
    # GL-ABP completed one activity twice on a day: its AMA credit is capped (CAP_REACHED)
    # and its ABP points count once a day (ABP_ONCE_PER_DAY); one note says so
    assert run_cme("transcript", "GL-ABP", "--out", pipeline_run.out).returncode == 0
    pdfs = [p for p in (pipeline_run.out / "transcripts").glob(YEAR_FILES)
            if "Pia Peds" in pdf_text(p)]
    [pdf] = pdfs
    text = flat(pdf_text(pdf))
    assert re.search(r"Notes .*: completed again on \d\d/\d\d/2026; credit counted once", text)
    assert text.count("completed again on") == 1
    assert any(r[:1] == ["note"] for r in csv.reader(io.StringIO(pdf.with_suffix(".csv").read_text())))


def test_batch_mode_writes_one_transcript_per_person_with_credit_in_the_range(pipeline_run, db):
    expected = db.execute("select count(distinct person_id) from fct_credit_awards "
                          "where completed_on = '2026-11-15'").fetchone()[0]
    proc = run_cme("transcript", "--all", "--out", pipeline_run.out, "--from", "2026-11-15",
                   "--to", "2026-11-15")
    assert proc.returncode == 0, proc.stderr
    written = list((pipeline_run.out / "transcripts").glob("transcript_*_20261115_20261115.pdf"))
    assert len(written) == expected > 10


def test_an_unknown_id_is_a_clear_error(pipeline_run):
    proc = run_cme("transcript", "NOBODY", "--out", pipeline_run.out)
    assert proc.returncode == 1 and "no person or learner account 'NOBODY'" in proc.stderr


# --- layout, read back from the PDF (no warehouse needed) ---------------------------

LONG_TITLE = ("Chronic kidney disease in older adults with diabetes, hypertension and heart "
              "failure: a case-based review of screening, staging, referral and shared "
              "decision-making for primary care teams, 2026 edition")


def _row(title: str, reported: str = "reported to ACCME on 11/17/2026") -> dict:
    return dict(completed_on=date(2026, 11, 16), activity_id="A1", title=title,
                credit_type="AMA_PRA_1", report_label="AMA PRA Category 1", unit="credit",
                credits_awarded=1.5, reported=reported)


def test_a_200_character_title_is_wrapped_whole_and_many_rows_run_onto_further_pages():
    assert len(LONG_TITLE) >= 190
    rows = [_row(f"{LONG_TITLE} (part {i})") for i in range(1, 41)]
    pdf = to_pdf(Transcript("P-1", "Zoë Łukasiewicz", date(2026, 1, 1), date(2026, 12, 31), rows,
                            "physician", ["FL MD license ME1 (expires 01/31/2028)"]), "Example CME Provider")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    text = flat(pdf_text(pdf))
    for i in range(1, 41):  # every title whole, not cut at a column's width
        assert f"{LONG_TITLE} (part {i})" in text
    assert "Zoë Łukasiewicz" in text  # beyond Latin-1: the vendored font prints it
    assert "Period: 01/01/2026 to 12/31/2026" in text
    assert "AMA PRA Category 1: 60.00 credits" in text
    for page in reader.pages[1:]:  # the heading repeats on every page of the table
        assert "Date Activity Credit type Amount Status" in flat(page.extract_text())


@pytest.mark.parametrize("body, record, expected", [
    ("ACCME_PARS", {"body": "ACCME_PARS", "board": None, "state": "written",
                    "written_on": date(2026, 11, 17)}, "reported to ACCME on 11/17/2026"),
    ("ACCME_PARS", {"body": "ACCME_PARS", "board": "ABIM", "state": "accepted",
                    "written_on": date(2026, 11, 17)}, "accepted by ABIM"),
    ("ACCME_PARS", {"body": "ACCME_PARS", "board": None, "state": "accepted"}, "accepted by ACCME"),
    ("CE_BROKER", {"body": "CE_BROKER", "state": "rejected", "message": "License not found"},
     "rejected by CE Broker: License not found"),
    ("CPE_MONITOR", {"body": "CPE_MONITOR", "state": "pending"}, "to be reported"),
    ("CPE_MONITOR", None, "to be reported"),
    ("NONE", None, "not reported (no body)"),
])
def test_status_is_said_in_the_learners_words(body, record, expected):
    assert status_text(body, record) == expected
