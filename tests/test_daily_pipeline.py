"""End to end: the DAG's steps over three generated days (the session's in-process run;
what only Airflow and `cme run` do is in tests/test_cme_run.py, on a real DAG run).

Expected values are the golden scenarios' hand-worked outcomes
(docs/golden-scenarios.md), not numbers read back from the pipeline.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import stat
from decimal import Decimal

import pytest

from cme.contract import EXTRACTS
from tests.conftest import DAYS

pytestmark = pytest.mark.e2e


def awards(db, learner_id):
    return db.execute(
        "select completion_key, credit_type, credits_awarded from fct_credit_awards "
        "where learner_id = ? order by 1, 2", [learner_id]).fetchall()


def decision(db, completion_key, credit_type):
    return db.execute(
        "select reason_code, credits_awarded from fct_credit_decisions "
        "where completion_key = ? and credit_type = ?", [completion_key, credit_type]).fetchone()


def person_of(db, learner_id):
    return db.execute("select person_id from intermediate.int_accounts_linked where learner_id = ?",
                      [learner_id]).fetchone()[0]


def test_a_physician_gets_cme_rounded_down_and_moc_capped(db):
    # 1.6 claimed -> 1.50 AMA PRA Category 1; ABIM MK = min(1.5, designated 1.0)
    assert awards(db, "GL-PHYS-1") == [("LMS:GC-1", "ABIM_MK", Decimal("1.00")),
                                       ("LMS:GC-1", "AMA_PRA_1", Decimal("1.50"))]
    assert decision(db, "LMS:GC-1", "ANCC") == ("PROFESSION_NOT_ELIGIBLE", 0)
    assert decision(db, "LMS:GC-PAST", "AMA_PRA_1") == ("OUTSIDE_ACTIVITY_WINDOW", 0)


def test_a_nurse_gets_the_union_of_overlapping_live_sessions(db):
    # 09:00-10:30 and 10:00-11:15 -> 135 minutes -> 2.25 contact hours
    assert awards(db, "GL-NURSE-1") == [("LIVE:GL-NURSE-1:GA-LIVE:2026-11-15", "ANCC", Decimal("2.25"))]
    assert decision(db, "LMS:GC-NURSE-ABP", "ANCC") == ("NOT_DESIGNATED", 0)


def test_pharmacy_credit_from_minutes_rounds_to_nearest_and_caps(db):
    assert awards(db, "GL-PHARM-1") == [("LMS:GC-PHARM", "ACPE_P", Decimal("1.50"))]  # 95 min
    assert awards(db, "GL-TECH-1") == [("LMS:GC-TECH", "ACPE_T", Decimal("1.50"))]  # 1.75 capped


def test_two_accounts_of_one_person_are_merged_and_credited_once(db):
    assert person_of(db, "GL-PAIR-A") == person_of(db, "GL-PAIR-B")
    pair = db.execute(
        "select credit_type, credits_awarded from fct_credit_awards where person_id = ?",
        [person_of(db, "GL-PAIR-A")]).fetchall()
    assert pair == [("AMA_PRA_1", Decimal("3.00"))]
    assert decision(db, "LIVE:GL-PAIR-B:GA-LIVE:2026-11-15", "AMA_PRA_1")[0] == \
        "DUPLICATE_ACCOUNT_COMPLETION"
    people = db.execute("select account_count, has_identity_conflict from dim_people "
                        "where person_id = ?", [person_of(db, "GL-PAIR-A")]).fetchone()
    assert people == (2, False)


def test_an_account_added_later_joins_the_person_without_changing_its_id(db):
    # GL-NURSE-1B arrives on day 2 with the same Florida license as GL-NURSE-1
    expected = "P-" + hashlib.md5(b"GL-NURSE-1").hexdigest()[:12]
    assert person_of(db, "GL-NURSE-1") == person_of(db, "GL-NURSE-1B") == expected


def test_accounts_that_disagree_on_birthday_are_held_as_an_identity_conflict(db):
    row = db.execute("select has_identity_conflict, identity_conflict_reason, birth_month_day "
                     "from dim_people where person_id = ?", [person_of(db, "GL-CONFLICT-A")]).fetchone()
    assert row == (True, "accounts disagree on birth month/day", None)
    assert awards(db, "GL-CONFLICT-A") == []
    assert decision(db, "LMS:GC-CONFLICT", "AMA_PRA_1")[0] == "IDENTITY_CONFLICT"


def test_every_decision_reason_is_exercised(db):
    reasons = {r for (r,) in db.execute("select distinct reason_code from fct_credit_decisions").fetchall()}
    assert reasons >= {None, "NOT_DESIGNATED", "PROFESSION_NOT_ELIGIBLE", "OUTSIDE_ACTIVITY_WINDOW",
                       "POST_TEST_NOT_PASSED", "EVALUATION_MISSING", "MOC_NOT_REQUESTED",
                       "MOC_CONSENT_MISSING", "ZERO_CREDIT", "ABP_ONCE_PER_DAY", "IDENTITY_CONFLICT",
                       "COMPLETION_REVOKED", "DUPLICATE_ACCOUNT_COMPLETION"}
    assert decision(db, "LMS:GC-ABP-1", "ABP_LLSA") == (None, Decimal("1.00"))
    assert decision(db, "LMS:GC-ABP-2", "ABP_LLSA")[0] == "ABP_ONCE_PER_DAY"
    assert decision(db, "LMS:GC-ZERO", "AMA_PRA_1")[0] == "ZERO_CREDIT"


def test_a_quarantined_learner_row_keeps_its_reason_and_its_fix_next_day_earns_credit(db):
    row = db.execute(
        'select _line, "column", reason from raw.quarantine '
        "where _extract_date = '2026-11-16' and _file = 'learners.csv' and _line = 8").fetchone()
    assert row == (8, "date_of_birth", "not an ISO date (YYYY-MM-DD)")
    # the corrected row landed on day 2: the day-1 completion is now matched and credited
    assert awards(db, "GL-BAD-DOB") == [("LMS:GC-BAD", "AMA_PRA_1", Decimal("1.00"))]


def test_a_revoked_completion_loses_its_award(db):
    assert awards(db, "GL-PHYS-7") == []
    assert decision(db, "LMS:GC-REV", "AMA_PRA_1")[0] == "COMPLETION_REVOKED"


def _records(data: bytes) -> int:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    return sum(1 for r in rows[1:] if r and any(v.strip() for v in r))


def test_row_conservation_for_every_file_of_every_day(db, pipeline_run):
    for day in DAYS:
        for extract in EXTRACTS:
            path = pipeline_run.landing / day / extract.file
            expected = _records(path.read_bytes()) if path.exists() else 0
            read, loaded, quarantined = db.execute(
                "select rows_read, rows_loaded, rows_quarantined from raw.loaded_files "
                "where _extract_date = ? and _file = ?", [day, extract.file]).fetchone()
            in_raw = db.execute(f"select count(*) from raw.{extract.table} where _extract_date = ?",
                                [day]).fetchone()[0]
            in_quarantine = db.execute(
                "select count(*) from raw.quarantine where _extract_date = ? and _file = ?",
                [day, extract.file]).fetchone()[0]
            assert read == expected, (day, extract.file)
            assert (loaded, quarantined) == (in_raw, in_quarantine), (day, extract.file)
            assert read == loaded + quarantined, (day, extract.file)


def test_the_run_summary_reports_what_happened(pipeline_run):
    out = pipeline_run.stdout
    for day in DAYS:
        assert f"Run {day}:" in out
    summary = json.loads((pipeline_run.out / "reports" / "run_summary_2026-11-16.json").read_text())
    assert summary["rows_quarantined"] >= 14
    assert all(f["conserved"] for f in summary["files"])
    assert summary["quarantine_reasons"]["date_of_birth: not an ISO date (YYYY-MM-DD)"] >= 1
    assert summary["decisions_this_run"]["AWARDED"] > 0
    assert summary["warehouse"].endswith("warehouse.duckdb")


def test_dbt_data_tests_ran_in_the_build_and_unit_tests_did_not(pipeline_run):
    """Every daily build runs dbt's data tests on the day's data; dbt's unit tests test
    the models' logic and run once in the suite (tests/test_dbt_unit_tests.py)."""
    results = json.loads((pipeline_run.out / "dbt" / "run_results_build.json").read_text())
    by_kind: dict[str, set] = {}
    for r in results["results"]:
        by_kind.setdefault(r["unique_id"].split(".")[0], set()).add(r["status"])
    assert by_kind["test"] == {"pass"}
    assert sum(r["unique_id"].startswith("test.") for r in results["results"]) >= 100
    assert "unit_test" not in by_kind


# golden learners' birth dates, license numbers, NPI, e-mail and last names
SECRETS = ["1970-03-14", "11/24/1970", "ME123456", "RN9876543", "1234567893",
           "ada.known@example.org", "Florence", "NoConsent"]


def assert_private_and_no_identifiers(out, logs):
    """Shared with tests/test_cme_run.py, which adds Airflow's own log of the tasks."""
    assert stat.S_IMODE((out / "warehouse.duckdb").stat().st_mode) == 0o600
    for report in (out / "reports").iterdir():
        assert stat.S_IMODE(report.stat().st_mode) == 0o600
    dbt_logs = list((out / "dbt" / "logs").glob("*.log*"))
    assert dbt_logs and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in dbt_logs)
    logs = [*logs, *dbt_logs, *(out / "reports").iterdir()]
    for path in logs:
        text = path.read_text(errors="replace")
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{path.name} contains {leaked}"


def test_outputs_are_private_and_logs_hold_no_learner_identifiers(pipeline_run):
    """pipeline_run logs dbt at debug (conftest), so every statement dbt sent is checked."""
    assert "[debug]" in (pipeline_run.out / "dbt" / "logs" / "dbt.log").read_text()
    assert_private_and_no_identifiers(pipeline_run.out, [])


def test_a_daily_run_always_runs_the_data_tests():
    """Only test fixtures turn dbt's data tests off (tests/scenario.py); the context the DAG
    makes for each run (RunContext.from_conf) keeps them on, whatever the conf says."""
    from cme.pipeline import RunContext

    assert RunContext.from_conf("2026-11-16", None).data_tests
    assert RunContext.from_conf("2026-11-16", {"data_tests": False}).data_tests
