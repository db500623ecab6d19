"""The activity layer (issue 12): PARS activity records per activity and year, their
status, the activity exceptions, and the activity batch through gate, export, ledger
and delivery.

Two kinds of test: the demo's golden activities, read from the session's real 3-day
DAG run, and a small in-process scenario that sends activity records over HTTP to the
PARS stand-in, changes one, and runs a jointly accredited provider.
"""
from __future__ import annotations

import os
import stat
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from cme import pipeline
from cme.pipeline import RunContext
from cme.standins.pars import ParsStandIn
from tests import scenario
from tests.conftest import DAYS

BODY = "ACCME_PARS_ACTIVITIES"


def rows(con, sql, params=()):
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


# --- the demo's golden activities (the session's real DAG run) -------------------------

def test_every_activity_pars_takes_has_a_row_per_year_it_ran(db):
    """ACCME: activities designating AMA PRA Category 1 or MOC credit, one row for each
    calendar year from their start to their end (or this year) and each year with awards."""
    expected = {(a, y) for a, y in db.execute("""
        with pars as (
            select distinct c.activity_id from dim_activities
            join intermediate.int_activity_credits_deduplicated as c using (activity_id)
            join reference.credit_types as t using (credit_type)
            where t.body = 'ACCME_PARS'),
        spans as (
            select activity_id, year(start_date) as y0,
                   greatest(year(start_date), least(year(end_date), 2026)) as y1
            from dim_activities join pars using (activity_id))
        select activity_id, unnest(range(y0, y1 + 1)) from spans
        union
        select a.activity_id, year(a.completed_on) from fct_credit_awards a join pars using (activity_id)
    """).fetchall()}
    got = set(db.execute("select activity_id, reporting_year from fct_pars_activities").fetchall())
    assert got == expected
    assert ("GA-PAST", 2025) in got and ("GA-PAST", 2026) in got  # ran across a year end
    assert not any(a == "GA-PHARM" for a, _ in got)  # pharmacy credit only: not a PARS activity
    assert {b for (b,) in db.execute("select distinct body from fct_pars_activities").fetchall()} == {BODY}


def test_status_is_the_furthest_the_data_supports(db):
    by_id = {(r["activity_id"], r["reporting_year"]): r for r in rows(db, "select * from fct_pars_activities")}
    enduring = by_id[("GA-ENDURING", 2026)]  # every field, but still running: Active
    assert enduring["pars_status"] == "Active" and enduring["missing_fields"] == []
    assert enduring["next_status"] == "Closed" and enduring["record_physician_learners"] is None
    live = by_id[("GA-LIVE", 2026)]  # held in person without a city: not even Active
    assert live["pars_status"] == "Draft"
    assert live["missing_fields"] == ["location", "outcome_measures"]
    assert live["missing_for_next_status"] == ["location"]
    past = by_id[("GA-PAST", 2026)]  # over and complete: Closed, with its counts
    assert past["pars_status"] == "Closed"
    assert past["record_physician_learners"] == past["physician_learners"]
    # the counts are distinct people with awards in that year, by profession
    for (activity, year), r in by_id.items():
        physicians, others = db.execute("""
            select count(distinct person_id) filter (where p.profession = 'physician'),
                   count(distinct person_id) filter (where p.profession is distinct from 'physician')
            from fct_credit_awards a join dim_people p using (person_id)
            where a.activity_id = ? and year(a.completed_on) = ?""", [activity, year]).fetchone()
        assert (r["physician_learners"], r["other_learners"]) == (physicians, others), activity
    # reporting completeness: the learner records PARS is owed for the activity and year
    assert enduring["learner_records"] == db.execute(
        "select count(*) from fct_pars_records where activity_id = 'GA-ENDURING' and record_action = 'Add' "
        "and submission_state <> 'superseded'").fetchone()[0] > 0
    assert enduring["learner_records_sent"] <= enduring["learner_records"]


def test_each_activity_exception_has_its_golden_case(db):
    found = {(r["reason_code"], r["subject_key"]): r for r in rows(
        db, "select * from fct_compliance_exceptions where status = 'open'")}
    never_sent = found[("ACTIVITY_NOT_IN_PARS", f"{BODY}|GA-UNREPORTED|2025")]
    assert never_sent["severity"] == "error" and never_sent["due_on"] == date(2026, 3, 31)
    missing = found[("ACTIVITY_FIELDS_MISSING", f"{BODY}|GA-LIVE|2026")]
    assert missing["severity"] == "warning" and missing["due_on"] == date(2027, 3, 31)
    assert missing["detail"].endswith("it needs: location, outcome_measures")
    mismatch = found[("LEARNER_COUNT_MISMATCH", f"{BODY}|GA-PAST|2026")]
    assert "PARS was given 9 and 0 by hand" in mismatch["detail"]
    agreement = found[("COMMERCIAL_AGREEMENT_LATE", "GA-ABP|Globex Devices")]
    assert agreement["detail"] == ("supporter Globex Devices: commercial support agreement signed "
                                   "after the activity started")
    assert ("COMMERCIAL_AGREEMENT_LATE", "GA-ABP|Acme Pharma") not in found  # signed before the start
    closed = found[("WINDOW_CLOSED", f"{BODY}|GA-UNREPORTED|2025")]  # PARS takes nothing for 2025
    assert closed["record_key"] == f"{BODY}|GA-UNREPORTED|2025"
    # each code is explained in the seed the queue reads
    reasons = {r for (r,) in db.execute("select reason_code from reference.exception_reasons").fetchall()}
    assert {"ACTIVITY_NOT_IN_PARS", "ACTIVITY_FIELDS_MISSING", "LEARNER_COUNT_MISMATCH"} <= reasons


def test_the_activity_batch_holds_every_record_written(pipeline_run, db):
    folder = pipeline_run.out / "submissions" / BODY / DAYS[0]
    files = sorted(folder.glob("*.xlsx"))
    assert len(files) == 1 and stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    sheet = load_workbook(files[0], read_only=True).worksheets[0]
    header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert sheet.title == "Activities"
    assert header == [n for (n,) in db.execute(
        "select field_name from reference.body_fields where body = ? order by position", [BODY]).fetchall()]
    written = {k for (k,) in db.execute(
        "select distinct record_key from ledger.submission_events where body = ? and event = 'written' "
        "and run_date = ?", [BODY, date.fromisoformat(DAYS[0])]).fetchall()}
    in_file = {f"{BODY}|{line[0]}|{line[2]}" for line in lines}
    assert in_file == written and len(lines) == len(written)
    live = next(line for line in lines if line[0] == "GA-ENDURING")
    named = dict(zip(header, live))
    assert named["Activity Status"] == "Active" and named["Reporting Year"] == 2026
    assert named["AMA PRA Category 1 Credits Designated"] == 2.0
    assert named["MOC Boards"] == "ABIM" and named["MOC Credit Types and Amounts"] == "ABIM Medical Knowledge=1.00"
    # the 2025 rows were past PARS's close on day 1: held, never in a file
    assert not any(line[2] == 2025 for line in lines)


# --- a small provider, in process: HTTP delivery, a correction, JA-PARS ------------------

D1, D2 = scenario.D1, scenario.D2
FULL = dict(delivery_method="in_person", location_city="Chicago", location_state="IL",
            location_country="US", description="Grand rounds", outcome_measures="competence",
            commercial_support="N")


def _activity(aid, start, end, **fields):
    return dict(scenario._activity(aid), start_date=start, end_date=end, activity_format="C", **fields)


ACTIVITIES = [
    _activity("A-DONE", "2026-06-09", "2026-06-09", **FULL),   # over by D1: Closed
    _activity("A-RUN", "2026-01-01", "2026-12-31", **FULL),    # running: Active
    # none of the new fields, and not yet registered in PARS: Draft, registered by the batch
    dict(_activity("A-BARE", "2026-01-01", "2026-12-31"), accme_activity_id=""),
]
CREDITS = [dict(activity_id=a["activity_id"], credit_type="AMA_PRA_1", max_credits="2") for a in ACTIVITIES] + [
    dict(activity_id="A-DONE", credit_type="ANCC", max_credits="2")]
LEARNERS = [scenario._learner("P-1", "physician", npi="1234567893"), scenario._learner("N-1", "nurse")]
COMPLETIONS = [scenario._done("c-p1", "P-1", "A-DONE"), scenario._done("c-n1", "N-1", "A-DONE")]


def _landing(root: Path) -> Path:
    scenario._write(root / D1.isoformat(), "activities.csv", ACTIVITIES)
    scenario._write(root / D1.isoformat(), "activity_credits.csv", CREDITS)
    scenario._write(root / D1.isoformat(), "learners.csv", LEARNERS)
    scenario._write(root / D1.isoformat(), "lms_completions.csv", COMPLETIONS)
    changed = [dict(a, description="Grand rounds, revised", updated_at="2026-06-10T00:00:00Z")
               for a in ACTIVITIES if a["activity_id"] == "A-RUN"]
    scenario._write(root / D2.isoformat(), "activities.csv", changed)
    return root


@pytest.fixture(scope="module")
def http_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("activities_http")
    landing = _landing(base / "landing")
    settings = base / "provider.toml"
    settings.write_text('[transport]\nACCME_PARS_ACTIVITIES = "http"\n')
    service = ParsStandIn({"accept_all_boards": True})
    variable = "AIRFLOW_CONN_CME_ACCME_PARS_ACTIVITIES"
    os.environ[variable] = service.start().replace("http://", "http://user:secret@")
    try:
        days = {day: scenario.run_day(landing, base / "out", day, settings, data_tests=day == D2)
                for day in (D1, D2)}
        held = {key: dict(saved["Activity"]) for key, saved in service.activities.items()}
        yield base / "out", days, held, dict(service.received)
    finally:
        os.environ.pop(variable, None)
        service.stop()


def test_activity_records_go_over_http_and_pars_holds_each_at_its_status(http_run):
    out, days, held, _ = http_run
    assert days[D1][BODY]["records_written"] == 3
    assert days[D1][BODY]["delivery"]["accepted"] == 3
    assert {k: v["Activity Status"] for k, v in held.items()} == {
        ("A-DONE", "2026"): "Closed", ("A-RUN", "2026"): "Active", ("A-BARE", "2026"): "Draft"}
    done = held[("A-DONE", "2026")]
    assert (done["Total Physician Learners"], done["Total Other Learners"]) == ("1", "1")
    assert held[("A-RUN", "2026")]["Total Physician Learners"] == ""  # counts only when Closed
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        states = dict(con.execute("select activity_id, submission_state from fct_pars_activities").fetchall())
        open_codes = {r for (r,) in con.execute(
            "select reason_code from fct_compliance_exceptions where status = 'open' and body = ?", [BODY]).fetchall()}
        registered = con.execute(
            "select first_seen_on, closed_on from fct_compliance_exceptions "
            "where reason_code = 'ACTIVITY_NOT_IN_PARS' and activity_id = 'A-BARE'").fetchall()
    assert states == {"A-DONE": "accepted", "A-RUN": "accepted", "A-BARE": "accepted"}
    assert open_codes == {"ACTIVITY_FIELDS_MISSING"}  # A-BARE's missing fields
    # A-BARE had no ACCME id: not in PARS until the day's batch registered it
    assert registered == [(D1, D1)]


def test_a_changed_activity_goes_again_as_an_update_and_nothing_else_is_resent(http_run):
    out, days, held, received = http_run
    assert days[D2][BODY]["records_written"] == 1  # only A-RUN changed
    assert held[("A-RUN", "2026")]["Activity Description"] == "Grand rounds, revised"
    assert len(held) == 3  # an upsert: PARS still holds one record per activity and year
    # each version reached PARS once; A-RUN's two versions are the original and the update
    assert max(received.values()) == 1
    assert Counter(k.rsplit("|", 1)[0] for k in received) == {"A-DONE|2026": 1, "A-RUN|2026": 2, "A-BARE|2026": 1}
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        versions = con.execute(
            "select count(distinct record_hash) from ledger.submission_events where record_key = ? "
            "and event = 'accepted'", [f"{BODY}|A-RUN|2026"]).fetchone()[0]
    assert versions == 2


def test_old_activity_extracts_without_the_new_columns_still_load(tmp_path):
    landing = tmp_path / "landing" / D1.isoformat()
    landing.mkdir(parents=True)
    (landing / "activities.csv").write_text(
        "activity_id,title,activity_format,start_date,end_date,evaluation_required,updated_at\r\n"
        "A-OLD,Old style,C,2026-06-01,2026-06-01,N,2026-06-01T00:00:00Z\r\n")
    ctx = RunContext(D1, tmp_path / "landing", tmp_path / "out", None)
    result = pipeline.ingest(ctx, load_id="old")
    assert result["rows_quarantined"] == 0
    with duckdb.connect(str(ctx.warehouse), read_only=True) as con:
        assert con.execute("select activity_id, delivery_method, pars_physician_learners "
                           "from raw.activities").fetchall() == [("A-OLD", None, None)]


@pytest.mark.e2e  # a whole day in process
def test_a_jointly_accredited_provider_sends_the_ja_pars_form(tmp_path):
    landing = _landing(tmp_path / "landing")
    settings = tmp_path / "provider.toml"
    settings.write_text('accreditor = "JA"\n')
    result = scenario.run_day(landing, tmp_path / "out", D1, settings)
    assert "ACCME_PARS_ACTIVITIES" not in result and result["JA_PARS_ACTIVITIES"]["records_written"] == 3
    (path,) = (tmp_path / "out" / "submissions" / "JA_PARS_ACTIVITIES" / D1.isoformat()).glob("*.xlsx")
    header, *lines = list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
    done = dict(zip(header, next(line for line in lines if line[0] == "A-DONE")))
    # JA-PARS takes participant counts by profession
    assert (done["Total Physician Learners"], done["Nurse Participants"], done["Pharmacist Participants"]) == (1, 1, 0)
    assert done["IPCE Activity"] == "No"
    assert Decimal(str(done["AMA PRA Category 1 Credits Designated"])) == Decimal("2")


def test_the_generator_writes_the_activity_fields_and_supporters(landing):
    import csv

    first = landing / DAYS[0]
    with open(first / "activities.csv", newline="", encoding="utf-8") as handle:
        activities = list(csv.DictReader(handle))
    with open(first / "commercial_support.csv", newline="", encoding="utf-8") as handle:
        supporters = list(csv.DictReader(handle))
    bulk = [a for a in activities if a["activity_id"].startswith(("A0", "AU"))]
    assert bulk and sum(bool(a["delivery_method"]) for a in bulk) >= len(bulk) // 2
    assert all(a["location_city"] for a in bulk if a["delivery_method"] in ("in_person", "hybrid"))
    assert {s["activity_id"] for s in supporters} >= {"GA-ABP"}


def test_an_activity_record_audits_to_its_landed_rows(pipeline_run, db):
    from cme import audit

    key = f"{BODY}|GA-ENDURING|2026"
    trace = audit.trace(db, pipeline_run.out, key)
    assert [r["mart"] for r in trace.records] == ["fct_pars_activities"]
    written = [e for e in trace.events if e["event"] == "written"]
    assert written and {e["file_check"] for e in written} == {"verified"}
    (activity,) = [s for s in trace.sources if s["file_name"] == "activities.csv"]
    assert activity["stored_check"] == "verified"
    line = Path(activity["stored_path"]).read_text(encoding="utf-8-sig").splitlines()[activity["source_line"] - 1]
    assert line.startswith("GA-ENDURING,")
    assert {s["file_name"] for s in trace.sources} == {"activities.csv", "activity_credits.csv"}
