"""What was sent stays put when people's accounts merge or come into conflict (issue 9,
defects 2, 3 and 7), driven in process over three days on file transport.

Day 1 sends a physician's PARS records (CME + ABIM), a nurse's CE Broker record and a
pharmacist's CPE Monitor record. Day 2 lands, for each of them, a new account with a
SMALLER learner id sharing a strong key (NPI, license, e-mail + last name): under the old
rule (person id = md5 of the smallest learner id) every record changed key. Day 2 also
lands an account that puts another, already-reported physician in identity conflict.
Day 3 brings a new completion for the conflicted physician.
"""
from __future__ import annotations


import duckdb
import pytest

from cme.npi import make_npi
from tests import scenario
from tests.scenario import _activity, _done, _learner, _write
from tests.scenario import run_day

D1, D2, D3 = scenario.D1, scenario.D2, scenario.D3
NPI_MERGE, NPI_CONFLICT = make_npi("155500017"), make_npi("155500025")
UAN = scenario.UAN_P

ACTIVITIES = [_activity("A-REG"), _activity("A-TWO")]
CREDITS = [dict(activity_id=a, credit_type=t, max_credits="5", uan=u)
           for a in ("A-REG", "A-TWO")
           for t, u in (("AMA_PRA_1", ""), ("ABIM_MK", ""), ("ANCC", ""), ("ACPE_P", UAN))]


def _landing(root):
    d1, d2, d3 = (root / d.isoformat() for d in (D1, D2, D3))
    _write(d1, "activities.csv", ACTIVITIES)
    _write(d1, "activity_credits.csv", CREDITS)
    _write(d1, "learners.csv", [
        _learner("L-500", "physician", npi=NPI_MERGE),
        _learner("L-510", "nurse"),
        dict(_learner("L-520", "pharmacist", epid="777001"), email="ph@example.org", last_name="Ames"),
        _learner("L-530", "physician", npi=NPI_CONFLICT),
        _learner("L-540", "pharmacist", epid="777002", dob=""),  # held: MISSING_DOB
    ])
    _write(d1, "learner_licenses.csv", [
        dict(learner_id="L-510", state="FL", license_number="RN5100000", license_profession="RN")])
    _write(d1, "learner_board_ids.csv", [dict(learner_id="L-500", board="ABIM", board_id="ABIM-500"),
                                         dict(learner_id="L-530", board="ABIM", board_id="ABIM-530")])
    _write(d1, "lms_completions.csv", [
        _done("c-500", "L-500", "A-REG", moc="Y"), _done("c-510", "L-510", "A-REG"),
        _done("c-520", "L-520", "A-REG"), _done("c-530", "L-530", "A-REG", moc="Y"),
        _done("c-540", "L-540", "A-REG")])
    # day 2: each person gains an account whose id sorts first; L-130 shares L-530's NPI
    # with another birth date, which puts that person in identity conflict
    _write(d2, "learners.csv", [
        _learner("L-100", "physician", npi=NPI_MERGE),
        _learner("L-110", "nurse"),
        dict(_learner("L-120", "pharmacist"), email="PH@example.org", last_name="ames"),
        _learner("L-130", "physician", npi=NPI_CONFLICT, dob="1971-02-02"),
    ])
    _write(d2, "learner_licenses.csv", [
        dict(learner_id="L-110", state="FL", license_number="RN5100000", license_profession="RN")])
    _write(d3, "lms_completions.csv", [_done("c-530-2", "L-530", "A-TWO", day=D2, moc="Y")])
    return root


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("identity")
    landing = _landing(root / "landing")
    out = root / "out"
    people = {}
    for day in (D1, D2, D3):
        run_day(landing, out, day, data_tests=day == D3)
        con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
        people[day] = dict(con.execute(
            "select learner_id, person_id from intermediate.int_accounts_linked").fetchall())
        con.close()
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    yield con, people
    con.close()


def _written(con, day=None):
    """(body, action) per learner record written to a file, on `day` or ever (activity
    records name no person: identities do not touch them)."""
    return con.execute(
        "select body, record_action, record_key from ledger.submission_events where event = 'written' "
        "and body not like '%_ACTIVITIES'"
        + (" and run_date = ?" if day else "") + " order by 1, 3", [day] if day else []).fetchall()


def test_day_one_sends_each_body_its_records(identity_run):
    con, _ = identity_run
    assert sorted({(b, a) for b, a, _ in _written(con, D1)}) == [
        ("ACCME_PARS", "Add"), ("CE_BROKER", "Add"), ("CPE_MONITOR", "Add")]
    assert len([1 for b, _, _ in _written(con, D1) if b == "ACCME_PARS"]) == 2  # two physicians


def test_a_merge_with_a_smaller_account_keeps_the_person_id(identity_run):
    _, people = identity_run
    for old, new in (("L-500", "L-100"), ("L-510", "L-110"), ("L-520", "L-120")):
        assert people[D2][old] == people[D1][old]  # the id reported on day 1 is kept
        assert people[D2][new] == people[D1][old]  # and the new account joins it


def test_a_merge_never_resends_withdraws_or_asks_for_a_correction(identity_run):
    con, people = identity_run
    assert _written(con, D2) == []  # no Add again, no Delete
    assert con.execute(
        "select count(*) from fct_compliance_exceptions where reason_code = 'MANUAL_CORRECTION_REQUIRED'"
    ).fetchone()[0] == 0
    # every record sent on day 1 is still the current version, and still live at its body
    on_hold = people[D2]["L-530"]  # in identity conflict from day 2: tested below
    sent = {key for _, _, key in _written(con, D1) if on_hold not in key}
    assert len(sent) == 3  # PARS (CME rides on the ABIM row), CE Broker, CPE Monitor
    states = dict(con.execute(
        "select record_key, submission_state from fct_body_records where record_kind = 'learner'"
    ).fetchall())
    assert {states.get(key) for key in sent} == {"written"}


def test_a_late_identity_conflict_holds_new_records_and_withdraws_nothing(identity_run):
    con, people = identity_run
    person = people[D3]["L-530"]
    assert con.execute(
        "select status from fct_compliance_exceptions where reason_code = 'IDENTITY_CONFLICT' "
        "and person_id = ?", [person]).fetchall() == [("open",)]
    # nothing sent on day 2 or 3: no Delete of the accepted record, no new record for A-TWO
    assert [r for r in _written(con) if r[1] == "Delete"] == []
    assert _written(con, D3) == []
    # the day-1 record is still live at PARS (tracked), though the person is on hold
    assert con.execute(
        "select count(*) from intermediate.int_submissions_tracked where person_id = ? and is_live",
        [person]).fetchone()[0] == 1


def test_every_body_exception_names_its_activity(identity_run):
    con, _ = identity_run
    assert con.execute(
        "select body, activity_id from fct_compliance_exceptions where reason_code = 'MISSING_DOB'"
    ).fetchall() == [("CPE_MONITOR", "A-REG")]
    assert con.execute(
        "select count(*) from fct_compliance_exceptions where body in "
        "('ACCME_PARS', 'CE_BROKER', 'CPE_MONITOR') and activity_id is null").fetchone()[0] == 0
    assert con.execute("select count(*), count(activity_id) from fct_cpe_monitor_records"
                       ).fetchone() == (2, 2)
