"""Submission files, gates, ledger and exceptions over the real 3-day DAG run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import load_workbook

from cme.bodies.cebroker import SCHEMA

pytestmark = pytest.mark.e2e


def submissions(out: Path, body: str, pattern: str) -> list[Path]:
    return sorted((out / "submissions" / body).glob(f"*/{pattern}"))


def pars_rows(out: Path) -> list[dict]:
    rows = []
    for path in submissions(out, "ACCME_PARS", "*.xlsx"):
        sheet = load_workbook(path).active
        values = list(sheet.iter_rows(values_only=True))
        header = values[0]
        # the template repeats "Credit Type" pairs: keep the first of each name
        for row in values[1:]:
            record = {}
            for name, value in zip(header, row):
                record.setdefault(name, value)
            record["_file"] = path.name
            rows.append(record)
    return rows


def test_pars_template_has_a_moc_row_with_board_and_points(pipeline_run):
    rows = [r for r in pars_rows(pipeline_run.out) if r["Last Name"] == "Known"]
    assert rows == [{
        "Record Action": "Add", "ACCME Activity ID": "PARS-100001", "Completion Date": "11/15/2026",
        "First Name": "Ada", "Last Name": "Known", "Date of Birth": "03/14",
        "Licensing State": "FL", "Licensing ID or NPI": "ME123456", "Number of CME Credits": 1.5,
        "Certifying Board": "ABIM", "Certifying Board ID": "ABIM-331100", "Total Board Credits": 1,
        "Credit Type": "ABIM Medical Knowledge", "Credits Awarded for Credit Type": 1,
        "_file": "ACCME_PARS-20261116-001.xlsx"}]


def test_pars_template_has_a_cme_row_reported_by_npi(pipeline_run):
    rows = [r for r in pars_rows(pipeline_run.out) if r["Last Name"] == "Pair"]
    assert len(rows) == 1  # two accounts, one person, one record
    row = rows[0]
    assert (row["Licensing State"], row["Licensing ID or NPI"]) == (None, "1003000126")
    assert row["Number of CME Credits"] == 3
    assert row["Certifying Board"] is None
    assert row["Date of Birth"] == "12/01"


def test_cebroker_roster_validates_and_lists_the_nurses_florida_license(pipeline_run):
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    files = submissions(pipeline_run.out, "CE_BROKER", "*.xml")
    assert files
    found = []
    for path in files:
        doc = etree.parse(str(path))
        assert schema.validate(doc), schema.error_log
        for attendee in doc.iterfind("roster/attendees/attendee"):
            if attendee.findtext("license") == "RN9876543":
                roster = attendee.getparent().getparent()
                found.append({
                    "course": roster.findtext("id_course"), "end_date": roster.findtext("end_date"),
                    "profession": attendee.findtext("licensee_profession"),
                    "state": attendee.findtext("cebroker_state"),
                    "completed": attendee.findtext("date_completed"),
                    "hours": attendee.findtext("ce_credit_hours")})
    assert found == [{"course": "700002", "end_date": "11/15/2026", "profession": "RN",
                      "state": "FL", "completed": "11/15/2026", "hours": "2.25"}]


def test_cpe_monitor_request_for_the_pharmacist(pipeline_run):
    requests = [json.loads(line) for path in submissions(pipeline_run.out, "CPE_MONITOR", "*-requests.jsonl")
                for line in path.read_text().splitlines()]
    mine = [r for r in requests if r["epid"] == "123456"]
    assert mine == [{"provider_number": "0204", "epid": "123456", "date_of_birth": "0520",
                     "uan": "0204-0000-26-001-H01-P", "date_of_participation": "11/15/2026",
                     "action": "I", "contact_hours": "1.5"}]
    batch = submissions(pipeline_run.out, "CPE_MONITOR", "*-batch.csv")
    assert sum(len(p.read_text().splitlines()) - 1 for p in batch) == len(requests)


def test_every_file_has_a_manifest_whose_hashes_and_counts_match(pipeline_run, db):
    import hashlib

    manifests = list((pipeline_run.out / "submissions").glob("*/*/*.manifest.json"))
    assert len(manifests) >= 3
    for path in manifests:
        manifest = json.loads(path.read_text())
        keys = [k for f in manifest["files"] for k in f["record_keys"]]
        assert len(keys) == manifest["record_count"] == len(set(keys))
        for f in manifest["files"]:
            data = (path.parent / f["name"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
            ledger = db.execute("select count(*) from ledger.submission_events where event = 'written' "
                                "and file_name = ? and file_sha256 = ?", [f["name"], f["sha256"]]).fetchone()[0]
            assert ledger == len(f["record_keys"])


def test_no_record_is_ever_written_twice(db):
    twice = db.execute(
        "select body, record_key, record_hash, count(*) from ledger.submission_events "
        "where event = 'written' and record_action = 'Add' group by all having count(*) > 1").fetchall()
    assert twice == []


def test_a_missing_birth_date_holds_the_record_until_a_later_extract_brings_it(db, pipeline_run):
    key = db.execute("select record_key from fct_pars_records where first_name = 'Hal' "
                     "and last_name = 'Waits'").fetchone()[0]
    exception = db.execute(
        "select first_seen_on, status, closed_on from fct_compliance_exceptions "
        "where record_key = ? and reason_code = 'MISSING_DOB'", [key]).fetchone()
    assert tuple(map(str, exception)) == ("2026-11-16", "closed", "2026-11-17")
    written = db.execute("select run_date, file_name from ledger.submission_events "
                         "where record_key = ? and event = 'written'", [key]).fetchall()
    assert [(str(d), f) for d, f in written] == [("2026-11-17", "ACCME_PARS-20261117-001.xlsx")]
    gate_day1 = json.loads((pipeline_run.out / "gates" / "ACCME_PARS" / "2026-11-16.json").read_text())
    assert "birth month/day is required" in gate_day1["held"][key]


def test_held_records_are_listed_with_reasons_and_the_rest_of_the_batch_goes(pipeline_run, db):
    gate = json.loads((pipeline_run.out / "gates" / "ACCME_PARS" / "2026-11-16.json").read_text())
    assert gate["stopped"] == [] and gate["held"]
    for key, reasons in gate["held"].items():
        assert reasons
        assert db.execute("select count(*) from ledger.submission_events where record_key = ? "
                          "and run_date = '2026-11-16'", [key]).fetchone()[0] == 0
    written = db.execute("select count(distinct record_key) from ledger.submission_events where "
                         "body = 'ACCME_PARS' and event = 'written' and run_date = '2026-11-16'").fetchone()[0]
    assert written == gate["records_due"] - len(gate["held"])


def test_data_docs_are_published_for_every_gate(pipeline_run):
    site = pipeline_run.out / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
    index = (site / "index.html").read_text()
    for suite in ("pars_records", "pars_batch", "cebroker_records", "cebroker_batch",
                  "cpe_monitor_records", "cpe_monitor_batch"):
        assert suite in index


def test_the_run_summary_counts_what_each_body_was_due_sent_and_held(pipeline_run):
    summary = json.loads((pipeline_run.out / "reports" / "run_summary_2026-11-16.json").read_text())
    pars = summary["bodies"]["ACCME_PARS"]
    assert pars["written"] == pars["records_due"] - pars["held_back"] > 0
    assert set(summary["bodies"]) == {"ACCME_PARS", "ACCME_PARS_ACTIVITIES", "CE_BROKER", "CPE_MONITOR"}
    assert summary["exceptions_opened"]["MISSING_DOB"] >= 1
    day2 = json.loads((pipeline_run.out / "reports" / "run_summary_2026-11-17.json").read_text())
    assert day2["exceptions_closed"]["MISSING_DOB"] >= 1
    assert "ACCME_PARS: due" in pipeline_run.stdout
