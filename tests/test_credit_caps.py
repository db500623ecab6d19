"""Issue 9, defects 4-6, in process through the pipeline steps the DAG runs, on a small
hand-built landing of its own (tests/scenario.py's helpers, none of its rows):

4. a person earns at most the designated maximum per activity and credit type over all
   their completions (CAP_REACHED), except per session date for an RSS;
5. a board's total points never exceed the AMA credit of the record;
6. an unknown credit type and an expired license surface as exceptions, and the expired
   license's record is not sent.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.scenario import _activity, _done, _learner, _write, run_day

pytestmark = pytest.mark.e2e

D1 = date(2026, 6, 10)
D2 = D1 + timedelta(days=1)
Y = D1 - timedelta(days=1)

ACTIVITIES = [
    _activity("K-ONE", accme="PARS-K1"),                                  # 1 credit, ABIM MK 1 + PS 1
    dict(_activity("K-RSS", accme="PARS-K2"), activity_format="RSS"),    # designated per session
    _activity("K-BADTYPE", accme="PARS-K3"),                              # one designation unknown
    _activity("K-NURSE", accme="", course="20-222"),
]
CREDITS = [
    dict(activity_id="K-ONE", credit_type="AMA_PRA_1", max_credits="1"),
    dict(activity_id="K-ONE", credit_type="ABIM_MK", max_credits="1"),
    dict(activity_id="K-ONE", credit_type="ABIM_PS", max_credits="1"),
    dict(activity_id="K-RSS", credit_type="AMA_PRA_1", max_credits="1"),
    dict(activity_id="K-BADTYPE", credit_type="AMA_PRA_1", max_credits="1"),
    dict(activity_id="K-BADTYPE", credit_type="AMA_PRA_9", max_credits="1"),
    dict(activity_id="K-NURSE", credit_type="ANCC", max_credits="2"),
]
LEARNERS = [
    _learner("K-CAP", "physician", npi="1234567893"),
    _learner("K-CTRL", "physician", npi="1003000126"),   # one completion: the near miss
    _learner("K-SERIES", "physician", npi="1245319599"),
    _learner("K-TWOLIC", "physician"),
    _learner("K-NEXP", "nurse"), _learner("K-NVALID", "nurse"),
]
LICENSES = [
    dict(learner_id="K-TWOLIC", state="FL", license_number="ME11111", license_profession="MD",
         expires_on="2025-01-31"),
    dict(learner_id="K-TWOLIC", state="GA", license_number="ME22222", license_profession="MD",
         expires_on="2028-01-31"),
    dict(learner_id="K-NEXP", state="FL", license_number="RN1111111", license_profession="RN",
         expires_on=(Y - timedelta(days=1)).isoformat()),
    dict(learner_id="K-NVALID", state="FL", license_number="RN2222222", license_profession="RN",
         expires_on=Y.isoformat()),  # expires on the completion date: still valid that day
]
BOARDS = [dict(learner_id="K-CAP", board="ABIM", board_id="ABIM-91"),
          dict(learner_id="K-CTRL", board="ABIM", board_id="ABIM-92")]
COMPLETIONS = [
    _done("k-cap-1", "K-CAP", "K-ONE", day=Y - timedelta(days=1), moc="Y"),
    _done("k-cap-2", "K-CAP", "K-ONE", day=Y, moc="Y"),
    _done("k-ctrl", "K-CTRL", "K-ONE", day=Y, moc="Y"),
    _done("k-badtype", "K-CTRL", "K-BADTYPE", day=Y),
    _done("k-twolic", "K-TWOLIC", "K-BADTYPE", day=Y),
    _done("k-nexp", "K-NEXP", "K-NURSE", day=Y), _done("k-nvalid", "K-NVALID", "K-NURSE", day=Y),
]


def _session(aid, day):
    return dict(attendance_id=aid, learner_id="K-SERIES", activity_id="K-RSS", session_id=aid,
                check_in_at=f"{day.isoformat()}T08:00:00-05:00",
                check_out_at=f"{day.isoformat()}T09:00:00-05:00", evaluation_completed="Y",
                moc_requested="N")


def write_landing(root: Path) -> Path:
    d1 = root / D1.isoformat()
    _write(d1, "activities.csv", ACTIVITIES)
    _write(d1, "activity_credits.csv", CREDITS)
    _write(d1, "learners.csv", LEARNERS)
    _write(d1, "learner_licenses.csv", LICENSES)
    _write(d1, "learner_board_ids.csv", BOARDS)
    _write(d1, "lms_completions.csv", COMPLETIONS)
    _write(d1, "attendance.csv", [_session("k-s1", Y - timedelta(days=7)), _session("k-s2", Y)])
    # day 2 revokes K-CAP's first completion: the cap moves to the second
    _write(root / D2.isoformat(), "lms_completions.csv", [
        _done("k-cap-1", "K-CAP", "K-ONE", day=Y - timedelta(days=1), moc="Y", status="revoked")])
    return root


def _snapshot(out: Path) -> dict:
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        return {
            "decisions": q("select completion_key, credit_type, reason_code, credits_computed, "
                           "credits_awarded from fct_credit_decisions order by all"),
            "awards": q("select completion_key, credit_type, credits_awarded from fct_credit_awards "
                        "order by all"),
            "pars": q("select record_key, record_action, licensing_state, licensing_id_or_npi, "
                      "cme_credits, board, total_board_credits, credit_type_1, credits_1, "
                      "credit_type_2, credits_2, error_codes, submission_state "
                      "from fct_pars_records order by all"),
            "cebroker": q("select record_key, error_codes, submission_state from fct_cebroker_records "
                          "order by all"),
            "exceptions": q("select reason_code, activity_id, person_id, detail, status "
                            "from fct_compliance_exceptions order by all"),
            "written": q("select body, record_key from ledger.submission_events "
                         "where event = 'written' order by all"),
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("caps")
    landing = write_landing(root / "landing")
    out = root / "out"
    run_day(landing, out, D1, data_tests=False)
    day1 = _snapshot(out)
    run_day(landing, out, D1, data_tests=False)  # a re-run of the same day
    rerun = _snapshot(out)
    run_day(landing, out, D2)
    day2 = _snapshot(out)
    return out, day1, rerun, day2


def _decision(snapshot, key, credit_type):
    return next((r[2], r[4]) for r in snapshot["decisions"] if r[0] == key and r[1] == credit_type)


def test_two_completions_of_a_1_credit_activity_earn_1_credit_and_a_cap_reached_decision(runs):
    _, day1, _, _ = runs
    assert _decision(day1, "LMS:k-cap-1", "AMA_PRA_1") == (None, Decimal("1.00"))
    assert _decision(day1, "LMS:k-cap-2", "AMA_PRA_1") == ("CAP_REACHED", Decimal("0.00"))
    assert _decision(day1, "LMS:k-cap-2", "ABIM_MK") == ("CAP_REACHED", Decimal("0.00"))
    cap_awards = [a for a in day1["awards"] if a[0].startswith("LMS:k-cap") and a[1] == "AMA_PRA_1"]
    assert sum(a[2] for a in cap_awards) == Decimal("1.00")
    # the control, one completion, earns its credit
    assert _decision(day1, "LMS:k-ctrl", "AMA_PRA_1") == (None, Decimal("1.00"))


def test_an_rss_attended_on_two_dates_earns_credit_on_both(runs):
    _, day1, _, _ = runs
    series = sorted(a for a in day1["awards"] if a[0].startswith("LIVE:K-SERIES:K-RSS"))
    assert [(a[1], a[2]) for a in series] == [("AMA_PRA_1", Decimal("1.00"))] * 2


def test_board_total_never_exceeds_the_cme_credit_of_the_record(runs):
    _, day1, _, _ = runs
    abim = [r for r in day1["pars"] if r[5] == "ABIM" and r[1] == "Add"]
    assert abim, "K-CAP and K-CTRL each have an ABIM record"
    for row in abim:
        assert row[6] == Decimal("1.00") and row[4] == Decimal("1.00")  # MK 1 + PS 1 for 1 AMA -> 1
        assert (row[7], row[8], row[9]) == ("ABIM Medical Knowledge", Decimal("1.00"), None)
    assert _decision(day1, "LMS:k-ctrl", "ABIM_PS") == ("BOARD_TOTAL_REACHED", Decimal("0.00"))


def test_an_unknown_credit_type_is_an_open_exception_naming_it(runs):
    _, day1, _, _ = runs
    rows = [e for e in day1["exceptions"] if e[0] == "UNKNOWN_CREDIT_TYPE"]
    assert [(e[1], e[4]) for e in rows] == [("K-BADTYPE", "open")]
    assert "AMA_PRA_9" in rows[0][3]
    # the known designation on the same activity still earns
    assert _decision(day1, "LMS:k-badtype", "AMA_PRA_1") == (None, Decimal("1.00"))


def test_an_expired_license_is_an_exception_and_no_record_is_sent(runs):
    out, day1, _, _ = runs
    cebroker = {r[0]: r for r in day1["cebroker"]}
    expired = next(r for k, r in cebroker.items() if k.startswith("CE_BROKER|FL|RN|") and "|K-NURSE|" in k and r[1])
    assert expired[1] == ["LICENSE_EXPIRED"] and expired[2] == "pending"
    assert ("LICENSE_EXPIRED", "K-NURSE") in {(e[0], e[1]) for e in day1["exceptions"] if e[4] == "open"}
    written = {k for b, k in day1["written"] if b == "CE_BROKER"}
    assert expired[0] not in written
    assert len(written) == 1  # the control, whose license expires on the completion day, went
    rosters = list((out / "submissions" / "CE_BROKER").rglob("*.xml"))
    assert rosters and not any("RN1111111" in f.read_text() for f in rosters)
    assert any("RN2222222" in f.read_text() for f in rosters)


def test_pars_prefers_an_unexpired_license(runs):
    _, day1, _, _ = runs
    rows = [r for r in day1["pars"] if r[3] in ("ME11111", "ME22222")]
    assert [(r[2], r[3]) for r in rows] == [("GA", "ME22222")]


def test_a_rerun_of_the_day_changes_nothing(runs):
    _, day1, rerun, _ = runs
    assert rerun == day1


def test_revoking_the_first_completion_frees_the_cap_for_the_second(runs):
    _, _, _, day2 = runs
    assert _decision(day2, "LMS:k-cap-1", "AMA_PRA_1") == ("COMPLETION_REVOKED", Decimal("0.00"))
    assert _decision(day2, "LMS:k-cap-2", "AMA_PRA_1") == (None, Decimal("1.00"))
    assert _decision(day2, "LMS:k-cap-2", "ABIM_MK") == (None, Decimal("1.00"))
