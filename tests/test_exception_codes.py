"""Every exception code for PARS, CE Broker, CPE Monitor, identity and ingest fires on
its case and not on its near-miss control (tests/scenario.py), through the same
pipeline steps the DAG runs: ingest, dbt build, gates, exports, ledger refresh."""
from __future__ import annotations

import json

import duckdb
import pytest
from openpyxl import load_workbook

from tests import scenario
from tests.conftest import copy_run
from tests.scenario import run_day

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scenario_run(hand_built_run, tmp_path_factory):
    """D1 and D2 as the session ran them (conftest.hand_built_run), then D3 on a copy
    with the ACPE provider number unset (CPE Monitor's batch stops)."""
    root = tmp_path_factory.mktemp("scenario")
    out = copy_run(hand_built_run, root / "out").out
    no_acpe = root / "no_acpe.toml"
    no_acpe.write_text('acpe_provider_number = ""\ncebroker_provider_tracking_number = "50-0000"\n')
    with duckdb.connect(str(hand_built_run.out_d1 / "warehouse.duckdb"), read_only=True) as con:
        day1 = {
            "exceptions": _exceptions(con),
            "pars_delete": con.execute(
                "select count(*) from fct_pars_records where record_action = 'Delete'").fetchone()[0],
        }
    results = dict(hand_built_run.results)
    results[scenario.D3] = run_day(hand_built_run.landing, out, scenario.D3, settings=no_acpe)
    return out, results, day1


def _exceptions(con) -> set[tuple[str, str, str]]:
    """(reason, learner, status) for every exception tied to a person."""
    rows = con.execute(
        "select e.reason_code, a.learner_id, e.status from fct_compliance_exceptions as e "
        "inner join intermediate.int_accounts_linked as a using (person_id)").fetchall()
    return set(rows)


@pytest.fixture
def con(scenario_run):
    out, _, _ = scenario_run
    connection = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    yield connection
    connection.close()


CASES = [  # (code, case learner, near-miss control learner)
    ("ACTIVITY_NOT_REGISTERED", "P-UNREG", "P-OK"),
    ("MISSING_DOB", "P-NODOB", "P-OK"),
    ("MISSING_LICENSE_OR_NPI", "P-NOID", "P-LICONLY"),
    ("INVALID_NPI", "P-BADNPI", "P-OK"),
    ("MISSING_BOARD_ID", "P-ABIMNOID", "P-ABSNOID"),
    ("COURSE_NOT_REGISTERED", "N-UNREG", "N-OK"),
    ("INVALID_LICENSE_FORMAT", "N-BADLIC", "N-OK"),
    ("MISSING_EPID", "PH-NOEPID", "PH-OK"),
    ("MISSING_DOB", "PH-NODOB", "PH-OK"),
    ("INVALID_UAN", "PH-BADUAN", "PH-OK"),
    ("UAN_AUDIENCE_MISMATCH", "PH-MISMATCH", "PH-OK"),
    ("WINDOW_CLOSED", "PH-OLD", "PH-59"),
    ("IDENTITY_CONFLICT", "C-A", "C-C"),
]


@pytest.mark.parametrize("code, case, control", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_code_fires_on_its_case_and_not_on_its_near_miss(scenario_run, code, case, control):
    exceptions = scenario_run[2]["exceptions"]
    assert (code, case, "open") in exceptions
    assert not {e for e in exceptions if e[0] == code and e[1] == control}


def _written_keys(con, day=None) -> set[str]:
    sql = "select record_key from ledger.submission_events where event = 'written'"
    return {k for (k,) in con.execute(sql + (" and run_date = ?" if day else ""),
                                      [day] if day else []).fetchall()}


def _people_with_records_written(con, day) -> set[str]:
    return {lid for (lid,) in con.execute(
        "select distinct a.learner_id from ledger.submission_events as w "
        "inner join ledger.submission_events as p on p.batch_id = w.batch_id "
        "and p.record_key = w.record_key and p.event = 'prepared' "
        "inner join intermediate.int_accounts_linked as a on p.payload->>'person_id' = a.person_id "
        "where w.event = 'written' and w.run_date = ?", [day]).fetchall()}


def test_a_record_with_an_error_is_held_and_its_control_is_sent(con):
    written = _written_keys(con)
    record_errors = con.execute(
        "select reason_code, record_key from fct_compliance_exceptions "
        "where record_key is not null and severity = 'error' and reason_code <> 'MANUAL_CORRECTION_REQUIRED'"
    ).fetchall()
    assert {code for code, _ in record_errors} >= {c for c, _, _ in CASES} - {"IDENTITY_CONFLICT"}
    assert not [key for _, key in record_errors if key in written]
    sent = _people_with_records_written(con, scenario.D1)
    assert {control for _, _, control in CASES[:-1]} <= sent


def test_late_is_flagged_when_past_due_and_the_record_still_goes(con):
    late = con.execute(
        "select a.learner_id, e.first_seen_on, e.status, e.closed_on, e.record_key "
        "from fct_compliance_exceptions e join intermediate.int_accounts_linked a using (person_id) "
        "where e.reason_code = 'LATE'").fetchall()
    # P-LATE's MOC records (ABIM and ABS) were due 10 days before D1: flagged, then sent that
    # day, so the flags closed that day; P-ONTIME (due in 10 days) is not late
    assert {row[:4] for row in late} == {("P-LATE", scenario.D1, "closed", scenario.D1)}
    assert len(late) == 2
    assert {row[4] for row in late} <= _written_keys(con, scenario.D1)


def test_a_record_past_its_window_never_leaves(con):
    key = con.execute(
        "select e.record_key from fct_compliance_exceptions e join intermediate.int_accounts_linked a "
        "using (person_id) where a.learner_id = 'PH-OLD' and e.reason_code = 'WINDOW_CLOSED'").fetchone()[0]
    assert key not in _written_keys(con)
    assert "PH-59" in _people_with_records_written(con, scenario.D1)  # day 59: still accepted


def test_revoking_a_sent_pars_record_sends_a_delete_with_the_same_fields(scenario_run, con):
    out, _, day1 = scenario_run
    assert day1["pars_delete"] == 0
    files = sorted((out / "submissions" / "ACCME_PARS" / scenario.D2.isoformat()).glob("*.xlsx"))
    rows = [r for f in files for r in list(load_workbook(f).active.iter_rows(values_only=True))[1:]]
    assert [r[0] for r in rows] == ["Delete"]
    added = [r for f in (out / "submissions" / "ACCME_PARS" / scenario.D1.isoformat()).glob("*.xlsx")
             for r in list(load_workbook(f).active.iter_rows(values_only=True))[1:]
             if r[4] == "LP-REVOKE"]
    assert len(added) == 1 and added[0][0] == "Add"
    assert rows[0][1:] == added[0][1:]  # the Delete names exactly the record that was added


def test_revoking_a_sent_cebroker_record_asks_for_a_manual_correction(con):
    rows = con.execute(
        "select a.learner_id, e.status from fct_compliance_exceptions e join "
        "intermediate.int_accounts_linked a using (person_id) "
        "where e.reason_code = 'MANUAL_CORRECTION_REQUIRED'").fetchall()
    assert rows == [("N-REVOKE", "open")]
    # nothing more went to CE Broker for it
    assert con.execute("select count(*) from ledger.submission_events where body = 'CE_BROKER' "
                       "and run_date > ?", [scenario.D1]).fetchone()[0] == 0


def test_a_quarantined_row_is_in_the_work_queue(con):
    rows = con.execute("select detail from fct_compliance_exceptions where reason_code = 'QUARANTINED_ROW'").fetchall()
    assert rows == [("learners.csv line 28: date_of_birth: not an ISO date (YYYY-MM-DD)",)]


def test_a_stopped_batch_stops_only_its_body_and_says_why(scenario_run, con):
    out, results, _ = scenario_run
    day3 = results[scenario.D3]
    assert day3["CPE_MONITOR"]["status"] == "stopped"
    assert day3["CPE_MONITOR"]["stopped_because"] == [
        "the ACPE provider number setting is required (observed [False])"] or \
        "the ACPE provider number setting is required" in day3["CPE_MONITOR"]["stopped_because"][0]
    assert not (out / "submissions" / "CPE_MONITOR" / scenario.D3.isoformat()).exists()
    assert day3["ACCME_PARS"]["status"] == "written" and day3["ACCME_PARS"]["records_written"] == 1


def test_exception_ids_are_stable_across_runs(con):
    # the identity conflict was first seen on D1 and is still the same row after D3
    row = con.execute("select first_seen_on, last_seen_on, status from fct_compliance_exceptions "
                      "where reason_code = 'IDENTITY_CONFLICT'").fetchall()
    assert row == [(scenario.D1, scenario.D3, "open")]


def test_a_record_passing_its_window_unsent_raises_an_alert_once(scenario_run):
    out, results, _ = scenario_run
    alert = results[scenario.D1]["alert"]
    assert alert is not None and json.loads(alert.read_text())["windows_closed_unsent"] == {"CPE_MONITOR": 1}
    assert results[scenario.D1]["summary"]["windows_closed_unsent"] == {"CPE_MONITOR": 1}
    assert results[scenario.D2]["alert"] is None  # already known: no new alarm


DISCLOSURE_CASES = [  # (code, case, near-miss control)
    ("DISCLOSURE_MISSING", "F-MISS", "F-OK"),
    ("DISCLOSURE_STALE", "F-OLD", "F-FRESH"),
    ("DISCLOSURE_STALE", "F-AFTER", "F-OK"),
    ("MITIGATION_MISSING", "F-NOMIT", "F-ENDED"),
    ("MITIGATION_LATE", "F-LATEMIT", "F-ONTIMEMIT"),
    ("OWNER_EMPLOYEE_IN_CONTENT_ROLE", "F-OWNER", "F-ONTIMEMIT"),
    ("LEARNER_DISCLOSURE_LATE", "F-LDL", "F-OK"),
    ("DISCLOSURE_DOCUMENT_MISSING", "F-NODOC", "F-OK"),
    ("DISCLOSURE_DOCUMENT_ALTERED", "F-ALTERED", "F-OK"),
]


@pytest.mark.parametrize("code, case, control", DISCLOSURE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in DISCLOSURE_CASES])
def test_disclosure_code_fires_on_its_case_and_not_on_its_near_miss(con, code, case, control):
    def codes(person):
        return {r for (r,) in con.execute(
            "select reason_code from fct_compliance_exceptions where body = 'DISCLOSURE' "
            "and subject_key = ? and status = 'open'", [f"A-SOON|{person}|faculty"]).fetchall()}
    assert code in codes(case)
    assert code not in codes(control)


def test_staff_are_exempt_and_a_clean_disclosure_is_compliant(con):
    assert con.execute("select count(*) from fct_compliance_exceptions "
                       "where subject_key like '%S-STAFF%'").fetchone()[0] == 0
    rows = dict(con.execute("select faculty_person_id, status from fct_disclosure_status "
                            "where activity_id = 'A-SOON'").fetchall())
    assert rows["F-OK"] == "compliant" and "S-STAFF" not in rows
    assert rows["F-MISS"] == "finding"  # due at role start, which has passed
    assert rows["F-LDL"] == "at risk"   # due at the activity start, still ahead: upcoming


def test_upcoming_activities_with_open_problems_are_listed_before_they_start(con):
    soon = con.execute("select distinct activity_id from fct_disclosure_status "
                       "where starts_soon and status <> 'compliant'").fetchall()
    assert soon == [("A-SOON",)]
    upcoming = con.execute("select severity, due_on from fct_compliance_exceptions "
                           "where reason_code = 'LEARNER_DISCLOSURE_LATE'").fetchall()
    assert upcoming == [("warning", scenario.SOON)]  # not yet a finding


def test_commercial_support_agreement_signed_after_the_start_is_flagged(con):
    rows = con.execute("select activity_id from fct_compliance_exceptions "
                       "where reason_code = 'COMMERCIAL_AGREEMENT_LATE'").fetchall()
    assert rows == [("A-CS",)]  # A-CS-OK signed before its start


def test_a_fixtures_earlier_day_builds_without_data_tests_and_its_last_day_runs_them(hand_built_run):
    """The suite's fixtures skip dbt's data tests on a scenario's earlier days (tests/scenario.
    run_day): D1 of the shared hand-built run built every model and ran no data test, D2 (the
    day it ends on) ran every one; the marts keep D1's rows, so D2's tests check them too."""
    def nodes(out):
        results = json.loads((out / "dbt" / "run_results_build.json").read_text())["results"]
        return {kind: sorted(r["status"] for r in results if r["unique_id"].startswith(kind + "."))
                for kind in ("model", "test")}

    d1, d2 = nodes(hand_built_run.out_d1), nodes(hand_built_run.out)
    assert d1["test"] == [] and d1["model"] and set(d1["model"]) == {"success"}
    assert len(d2["model"]) == len(d1["model"])
    assert len(d2["test"]) > 100 and set(d2["test"]) <= {"pass", "warn"}
