"""Twenty days of the DAG's steps while the world changes (issue 9, "the proof").

The days run over 2026-06-01..06-20 with the stand-ins on 127.0.0.1, in process in a
child process (`python -m tests.run_days`, the DAG's steps without Airflow, so a kill
takes a real process down; Airflow's own part is tested in tests/test_cme_run.py):
CE Broker and CPE Monitor over HTTP throughout; PARS by file drop for ten days,
then switched to HTTP. Along the way: accounts merge (one with a smaller learner id
than the person's first account), a physician completes the same activity twice,
a completion is revoked, names carry a formula and a control character, an identity
conflict appears after PARS accepted the person's record, a license expires, and the
process is killed twice in the middle of a batch: on day 15 in the export (files and
manifest on disk, the ledger not yet told), on day 17 in the HTTP delivery (a request
sent, its answer not recorded); each day is then run again.

What a provider's auditor would check afterwards: every record reached its body
exactly once (file rows and stand-in counters together), nothing accepted was
withdrawn but the revoked completion, no one holds more credit than designated,
and every problem is an open exception that names its activity.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import date, timedelta

import duckdb
import pytest
from openpyxl import load_workbook

from cme.npi import make_npi
from cme.standins.pars import ParsStandIn
from tests import standins
from cme import PROJECT_DIR
from tests.scenario import _activity, _done, _learner, _write

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAY = [date(2026, 6, 1) + timedelta(days=i) for i in range(20)]
SWITCH_I, EXPORT_KILL_I, DELIVERY_KILL_I = 10, 14, 16  # PARS goes HTTP on day 11; kills on days 15, 17
SWITCH = DAY[SWITCH_I]
UAN = "0204-0000-26-001-H01-P"
NPI = {k: make_npi(f"16660{i:04d}") for i, k in enumerate(
    ("L-300", "L-330", "L-340", "L-350", "L-360", *(f"L-37{i}" for i in range(6))))}
FORMULA = '=HYPERLINK("http://x.example","y")'
CONTROL = "Gr\x9fay"  # a C1 control: ingest admits it, no format carries it (C0 is quarantined at ingest)

CREDITS = [dict(activity_id=a, credit_type=t, max_credits="1", uan=u)
           for a in ("A-ONE", "A-TWO")
           for t, u in (("AMA_PRA_1", ""), ("ABIM_MK", ""), ("ANCC", ""), ("ACPE_P", UAN))]


def _physician(lid, **kw):
    return _learner(lid, "physician", npi=NPI[lid], **kw)


def _landing(root):
    def day(i, file, rows):
        _write(root / DAY[i].isoformat(), file, rows)

    for each in DAY:  # every day landed; a day with nothing new is an empty folder
        (root / each.isoformat()).mkdir(parents=True, exist_ok=True)

    day(0, "activities.csv", [_activity("A-ONE"), _activity("A-TWO")])
    day(0, "activity_credits.csv", CREDITS)
    day(0, "learners.csv", [
        _physician("L-300"), _learner("L-310", "nurse"), _learner("L-320", "pharmacist", epid="320320"),
        _physician("L-330"), _physician("L-340", last=FORMULA), _physician("L-350", last=CONTROL),
        _physician("L-360"), *(_physician(f"L-37{i}") for i in range(6))])
    day(0, "learner_licenses.csv", [dict(learner_id="L-310", state="FL", license_number="RN3100000",
                                         license_profession="RN", expires_on=DAY[11].isoformat())])
    day(0, "learner_board_ids.csv", [dict(learner_id=lid, board="ABIM", board_id=f"ABIM-{lid[2:]}")
                                     for lid in ("L-300", "L-330")])
    day(0, "lms_completions.csv", [
        _done(f"c-{lid}", lid, "A-ONE", day=DAY[0], moc="Y" if lid in ("L-300", "L-330") else "N")
        for lid in ("L-300", "L-310", "L-320", "L-330", "L-340", "L-350", "L-360")])
    # day 3: the same activity again: no more credit than designated
    day(2, "lms_completions.csv", [_done("c-L-360-again", "L-360", "A-ONE", day=DAY[2])])
    # day 5: new accounts whose ids sort before the people's first accounts
    day(4, "learners.csv", [{**_physician("L-300"), "learner_id": "L-100", "first_name": "Pat"},
                            _learner("L-110", "nurse")])
    day(4, "learner_licenses.csv", [dict(learner_id="L-110", state="FL", license_number="RN3100000",
                                         license_profession="RN", expires_on=DAY[11].isoformat())])
    # day 7: a completion revoked after its PARS record went out
    day(6, "lms_completions.csv", [_done("c-L-340", "L-340", "A-ONE", day=DAY[0], status="revoked")])
    # day 12: L-330 completes A-TWO (sent over HTTP, accepted on the next day's poll)
    day(11, "lms_completions.csv", [_done("c-L-330-two", "L-330", "A-TWO", day=DAY[11], moc="Y")])
    # day 14: an account with L-330's NPI and another birth date: identity conflict;
    # the nurse completes A-TWO after her license expired
    day(13, "learners.csv", [_learner("L-130", "physician", npi=NPI["L-330"], dob="1980-03-03")])
    day(13, "lms_completions.csv", [_done("c-L-310-two", "L-310", "A-TWO", day=DAY[13])])
    # days 15 and 17: batches of three, each killed in the middle
    day(14, "lms_completions.csv", [_done(f"c-L-37{i}", f"L-37{i}", "A-TWO", day=DAY[14]) for i in range(3)])
    day(16, "lms_completions.csv", [_done(f"c-L-37{i}", f"L-37{i}", "A-TWO", day=DAY[16])
                                    for i in range(3, 6)])
    day(17, "lms_completions.csv", [_done("c-L-320-two", "L-320", "A-TWO", day=DAY[17])])
    return root


def _settings(path, pars):
    path.write_text(standins.HTTP_SETTINGS.format(alert_days=30, timeout=5).replace(
        'ACCME_PARS = "http"', f'ACCME_PARS = "{pars}"'))
    return path


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    root = tmp_path_factory.mktemp("month")
    landing, out = _landing(root / "landing"), root / "out"
    file_pars, http_pars = _settings(root / "file.toml", "file"), _settings(root / "http.toml", "http")
    registries = ({"accept_all_boards": True}, {"licenses": "*"}, {"learners": "*", "today": "2026-06-20"})
    runs = []
    with standins.running(*registries) as (services, env):
        def run(first, last, settings, extra=None):
            proc = subprocess.run(
                [sys.executable, "-m", "tests.run_days", str(landing), str(out), str(settings),
                 str(first), str(last)], cwd=PROJECT_DIR, capture_output=True, text=True,
                env={**os.environ, **env, **(extra or {})})
            runs.append(proc)
            return proc

        def ok(proc):
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

        ok(run(DAY[0], DAY[SWITCH_I - 1], file_pars))
        ok(run(SWITCH, DAY[EXPORT_KILL_I - 1], http_pars))
        killed = [run(DAY[EXPORT_KILL_I], DAY[EXPORT_KILL_I], http_pars, {"CME_CRASH_AT": "after_manifest:1"})]
        ok(run(DAY[EXPORT_KILL_I], DAY[DELIVERY_KILL_I - 1], http_pars))
        killed.append(run(DAY[DELIVERY_KILL_I], DAY[DELIVERY_KILL_I], http_pars,
                          {"CME_CRASH_AT": "after_send:2"}))
        ok(run(DAY[DELIVERY_KILL_I], DAY[-1], http_pars))
        received = {body: Counter(s.received) for body, s in services.items()}
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    yield dict(out=out, con=con, received=received, killed=killed, runs=runs)
    con.close()



def _person(con, learner_id):
    return con.execute("select person_id from intermediate.int_accounts_linked where learner_id = ?",
                       [learner_id]).fetchone()[0]


def _pars_file_rows(out):
    """Every row of every PARS workbook written while PARS was on file drop."""
    rows = []
    for day in DAY[:SWITCH_I]:
        for book in sorted((out / "submissions" / "ACCME_PARS" / day.isoformat()).glob("*.xlsx")):
            sheet = load_workbook(book, read_only=True).active
            header, *data = list(sheet.iter_rows(values_only=True))
            rows += [dict(zip(header, r)) for r in data]
    return rows


def test_the_killed_days_failed_loudly_and_their_reruns_finished(month):
    assert [p.returncode != 0 for p in month["killed"]] == [True, True]
    assert all(p.returncode == 0 for p in month["runs"] if p not in month["killed"])
    in_doubt = month["con"].execute(
        "select count(*) from (select arg_max(event, event_id) as s from ledger.submission_events "
        "group by body, record_key, record_action, record_hash) where s in ('sending', 'prepared')"
    ).fetchone()[0]
    assert in_doubt == 0


def test_every_record_reached_its_body_exactly_once(month):
    con, received = month["con"], month["received"]
    pars = Counter(ParsStandIn.natural_key({k: ("" if v is None else str(v)) for k, v in r.items()})
                   for r in _pars_file_rows(month["out"]))
    assert pars and received["ACCME_PARS"]  # both routes were used
    together = pars + received["ACCME_PARS"]
    assert max(together.values()) == 1, [k for k, n in together.items() if n > 1]
    # every PARS record version written, by file or HTTP, is accounted for once
    written = con.execute("select count(*) from ledger.submission_events "
                          "where body = 'ACCME_PARS' and event = 'written'").fetchone()[0]
    assert sum(together.values()) == written
    for body in ("CE_BROKER", "CPE_MONITOR"):
        assert received[body] and max(received[body].values()) == 1, body
        assert sum(received[body].values()) == con.execute(
            "select count(*) from ledger.submission_events where body = ? and event = 'written'",
            [body]).fetchone()[0]


def test_nothing_accepted_was_withdrawn_but_the_revocation(month):
    con = month["con"]
    file_deletes = [r for r in _pars_file_rows(month["out"]) if r["Record Action"] == "Delete"]
    http_deletes = [k for k in month["received"]["ACCME_PARS"] if k.startswith("Delete|")]
    assert http_deletes == []
    assert len(file_deletes) == 1
    assert file_deletes[0]["Last Name"] == "'" + FORMULA  # the revoked one, neutralised
    assert file_deletes[0]["Completion Date"] == DAY[0].strftime("%m/%d/%Y")
    # the conflicted person's accepted record is still live at PARS
    person = _person(con, "L-330")
    assert con.execute("select count(*) from intermediate.int_submissions_tracked "
                       "where person_id = ? and is_live", [person]).fetchone()[0] == 2


def test_merges_kept_the_first_person_id(month):
    con = month["con"]
    rows = con.execute("select learner_id, person_id, first_assigned_on from "
                       "intermediate.int_person_ids_assigned where is_current and learner_id in "
                       "('L-100', 'L-300', 'L-110', 'L-310') order by learner_id").fetchall()
    ids = {lid: (pid, first) for lid, pid, first in rows}
    assert ids["L-100"][0] == ids["L-300"][0] and ids["L-300"][1] == DAY[0]
    assert ids["L-110"][0] == ids["L-310"][0] and ids["L-310"][1] == DAY[0]
    assert con.execute("select count(*) from fct_compliance_exceptions "
                       "where reason_code = 'MANUAL_CORRECTION_REQUIRED'").fetchone()[0] == 0


def test_no_one_holds_more_credit_than_designated(month):
    con = month["con"]
    over = con.execute("""
        select a.person_id, a.activity_id, a.credit_type, sum(a.credits_awarded) as total
        from fct_credit_awards as a
        inner join intermediate.int_activity_credits_deduplicated as d using (activity_id, credit_type)
        group by a.person_id, a.activity_id, a.credit_type, d.max_credits
        having sum(a.credits_awarded) > d.max_credits""").fetchall()
    assert over == []
    assert con.execute("select reason_code from fct_credit_decisions where completion_key = "
                       "'LMS:c-L-360-again' and credit_type = 'AMA_PRA_1'").fetchone() == ("CAP_REACHED",)


def test_every_problem_is_an_open_exception_with_its_activity(month):
    con = month["con"]
    open_ = con.execute("select reason_code, person_id, activity_id from fct_compliance_exceptions "
                        "where status = 'open'").fetchall()
    assert ("UNSUPPORTED_CHARACTER", _person(con, "L-350"), "A-ONE") in open_
    assert ("LICENSE_EXPIRED", _person(con, "L-310"), "A-TWO") in open_
    assert ("IDENTITY_CONFLICT", _person(con, "L-330"), None) in open_
    assert not [e for e in con.execute(
        "select reason_code from fct_compliance_exceptions where status = 'open' and activity_id is null "
        "and body in ('ACCME_PARS', 'CE_BROKER', 'CPE_MONITOR')").fetchall()]
    # the expired license's record never reached CE Broker
    assert not [k for k in month["received"]["CE_BROKER"] if DAY[13].strftime("%m/%d/%Y") in k]


def test_no_learner_value_reached_the_logs_and_no_formula_is_live(month):
    out = month["out"]
    # the steps' own logging and every day's results, as Airflow would log the tasks' XCom
    log = (out / "logs" / "pipeline_runs.log").read_text(errors="replace")
    assert "HYPERLINK" not in log and CONTROL not in log and "RN3100000" not in log
    for proc in month["runs"]:
        assert "HYPERLINK" not in proc.stdout + proc.stderr
    for book in (out / "submissions" / "ACCME_PARS").rglob("*.xlsx"):
        with zipfile.ZipFile(io.BytesIO(book.read_bytes())) as z:
            assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
