"""Learner transcripts over the real 3-day run: PDF text and CSV totals for known people."""
from __future__ import annotations

import csv
import io
import stat

import pytest
from pypdf import PdfReader

from tests.conftest import run_cme

pytestmark = pytest.mark.e2e


def pdf_text(path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_a_physicians_transcript_shows_each_award_its_totals_and_where_it_went(pipeline_run):
    proc = run_cme("transcript", "GL-PHYS-1", "--out", pipeline_run.out)
    assert proc.returncode == 0, proc.stderr
    [pdf] = (pipeline_run.out / "transcripts").glob("transcript_P-*_19000101_29991231.pdf")
    text = pdf_text(pdf)
    assert "Ada Known" in text
    assert "AMA PRA Category 1: 1.50 credits" in text  # 1.6 claimed, rounded down
    assert "ABIM Medical Knowledge: 1.00 point" in text
    assert "ACCME_PARS: written" in text
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(pdf.with_suffix(".csv").read_text())))
    totals = {r[1]: r[3] for r in rows if r and r[0] == "total" and r[1] != "credit type"}
    assert totals == {"ABIM Medical Knowledge": "1.00", "AMA PRA Category 1": "1.50"}


def test_any_account_of_a_merged_person_finds_the_one_transcript(pipeline_run):
    out = pipeline_run.out
    assert run_cme("transcript", "GL-NURSE-1B", "--out", out, "--from", "2026-11-01",
                   "--to", "2026-11-30").returncode == 0
    [pdf] = (out / "transcripts").glob("transcript_*_20261101_20261130.pdf")
    text = pdf_text(pdf)
    assert "ANCC: 2.25 contact hours" in text  # the union of her overlapping live sessions
    assert "CE_BROKER: written" in text


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
