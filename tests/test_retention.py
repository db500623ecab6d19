"""Record retention (issue 12, point 7): `cme retention --dry-run | --apply`, with the clock
moved by --as-of, on a small hand-built landing run in process (tests/scenario.py's helpers).

The data, completed on Y = 2026-07-09:
- R-OLD, accredited CME (AMA + ANCC) ending on Y: a physician's LMS completion (PARS), a FL
  nurse's live check-in (CE Broker FL too: ACCME's 6 years from the end is the longest), and a
  quarantined completion row naming it;
- R-NURSE, nursing only (ANCC): only CE Broker FL's 4 years from completion applies;
- R-NEW, accredited CME ending 2027-12-31: inside ACCME's period until 2033-12-31;
- R-PHARM, pharmacy only: no rule applies (CPE Monitor has none by default), kept for good.
"""
from __future__ import annotations

import json
import stat
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from cme.rawstore import sha256_of
from cme.settings import SettingsError, load_settings
from tests.conftest import run_cme
from tests.scenario import _activity, _done, _learner, _write, run_day

pytestmark = pytest.mark.e2e

D1 = date(2026, 7, 10)
Y = D1 - timedelta(days=1)
AFTER = date(2033, 1, 2)  # the first daily run after the purge
UAN = "0204-0000-26-001-H01-P"
RAW = ("raw.lms_completions", "raw.attendance", "raw.quarantine")

ACTIVITIES = [
    dict(_activity("R-OLD", accme="PARS-R1", course="20-311"), activity_format="C",
         end_date=Y.isoformat()),
    _activity("R-NURSE", accme="", course="20-312"),
    dict(_activity("R-NEW", accme="PARS-R3", course=""), end_date="2027-12-31"),
    dict(_activity("R-PHARM", accme="", course=""), end_date=Y.isoformat()),
]
CREDITS = [
    dict(activity_id="R-OLD", credit_type="AMA_PRA_1", max_credits="1"),
    dict(activity_id="R-OLD", credit_type="ANCC", max_credits="1"),
    dict(activity_id="R-NURSE", credit_type="ANCC", max_credits="1"),
    dict(activity_id="R-NEW", credit_type="AMA_PRA_1", max_credits="1"),
    dict(activity_id="R-PHARM", credit_type="ACPE_P", max_credits="1", uan=UAN),
]
LEARNERS = [_learner("R-DOC", "physician", npi="1234567893"), _learner("R-RN", "nurse"),
            _learner("R-PH", "pharmacist", epid="111")]
LICENSES = [dict(learner_id="R-RN", state="FL", license_number="RN1234567", license_profession="RN")]
COMPLETIONS = [_done("r-doc-old", "R-DOC", "R-OLD", day=Y), _done("r-doc-new", "R-DOC", "R-NEW", day=Y),
               _done("r-rn-nurse", "R-RN", "R-NURSE", day=Y), _done("r-ph", "R-PH", "R-PHARM", day=Y),
               # quarantined: a US-style timestamp
               dict(_done("r-bad", "R-DOC", "R-OLD", day=Y), completed_at="07/09/2026 10:00")]
ATTENDANCE = [dict(attendance_id="r-rn-live", learner_id="R-RN", activity_id="R-OLD", session_id="s1",
                   check_in_at=f"{Y}T08:00:00-05:00", check_out_at=f"{Y}T09:00:00-05:00",
                   evaluation_completed="Y", moc_requested="N")]


def write_landing(root: Path) -> Path:
    d1 = root / D1.isoformat()
    _write(d1, "activities.csv", ACTIVITIES)
    _write(d1, "activity_credits.csv", CREDITS)
    _write(d1, "learners.csv", LEARNERS)
    _write(d1, "learner_licenses.csv", LICENSES)
    _write(d1, "lms_completions.csv", COMPLETIONS)
    _write(d1, "attendance.csv", ATTENDANCE)
    # after the purge: both people whose records were purged change their profile, so the
    # next run re-decides everything they hold; no new completion
    later = "2033-01-02T00:00:00Z"
    _write(root / AFTER.isoformat(), "learners.csv",
           [dict(row, updated_at=later) for row in LEARNERS if row["learner_id"] in ("R-DOC", "R-RN")])
    return root


def snapshot(out: Path) -> dict[str, list]:
    """Every base table's rows, sorted."""
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        tables = con.execute("select table_schema || '.' || table_name from information_schema.tables "
                             "where table_type = 'BASE TABLE' order by 1").fetchall()
        return {t: con.execute(f"select * from {t} order by all").fetchall() for (t,) in tables}
    finally:
        con.close()


def rows(out: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def raw_keys(out: Path) -> dict[str, set]:
    return {t: set(rows(out, f"select _extract_date, _file, _line from {t}")) for t in RAW}


def stored_copies(out: Path) -> dict[str, Path]:
    """The stored copy (cme.rawstore) of each landed file, by file name."""
    from cme import rawstore

    return {f: rawstore.path_for(out, sha) for f, sha in rows(out, "select _file, sha256 from raw.file_versions")}


def retention(out: Path, *args) -> str:
    proc = run_cme("retention", "--out", out, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("retention")
    landing = write_landing(root / "landing")
    out = root / "out"
    run_day(landing, out, D1)
    return landing, out


def test_the_day_sent_a_record_to_every_body(world):
    _, out = world
    written = {b for (b,) in rows(out, "select distinct body from ledger.submission_events "
                                       "where event = 'written'")}
    assert written == {"ACCME_PARS", "ACCME_PARS_ACTIVITIES", "CE_BROKER", "CPE_MONITOR"}
    assert rows(out, "select count(*) from raw.quarantine where _file = 'lms_completions.csv'") == [(1,)]


def test_a_dry_run_inside_every_period_lists_nothing_and_changes_nothing(world):
    _, out = world
    before = snapshot(out)
    stdout = retention(out, "--dry-run", "--as-of", "2027-01-01")
    assert "0 row(s) beyond retention" in stdout
    assert snapshot(out) == before
    assert not (out / "archive").exists()


def test_past_four_years_only_the_record_no_longer_under_accme_goes(world):
    """2031: past CE Broker FL's 4 years, inside ACCME's 6. The nurse's FL record of the
    accredited activity stays (the longest rule wins); her nursing-only one goes."""
    _, out = world
    before = snapshot(out)
    listed = retention(out, "--dry-run", "--as-of", "2031-01-01")
    assert snapshot(out) == before
    assert "1 row(s) beyond retention" in listed
    assert "raw.lms_completions: 1 row(s) under 'CE Broker FL', dated 2026-07-09 to 2026-07-09" in listed
    stdout = retention(out, "--apply", "--as-of", "2031-01-01")
    assert "1 row(s) archived and purged" in stdout
    # the completions file still holds rows inside their periods: its stored copy stays
    assert "stored landing files removed (every row in them purged): 0" in stdout
    assert all(p.exists() for p in stored_copies(out).values())
    assert [c for (c,) in rows(out, "select completion_id from raw.lms_completions order by 1")] == [
        "r-doc-new", "r-doc-old", "r-ph"]
    assert rows(out, "select attendance_id from raw.attendance") == [("r-rn-live",)]
    assert rows(out, "select count(*) from raw.quarantine") == [(1,)]


def test_past_six_years_apply_archives_exactly_what_it_purges(world):
    _, out = world
    before = raw_keys(out)
    awards_before = rows(out, "select * exclude (decided_on) from fct_credit_awards order by all")
    copies = stored_copies(out)
    stdout = retention(out, "--apply", "--as-of", "2033-01-01")
    # attendance.csv's rows are all purged now: its stored copy goes; the completions file
    # keeps rows inside their periods, and no other landed file is retention's
    assert "stored landing files removed (every row in them purged): 1" in stdout
    assert {f for f, p in copies.items() if not p.exists()} == {"attendance.csv"}
    after = raw_keys(out)
    assert "3 row(s) archived and purged" in stdout
    # R-OLD's rows went, in every table; R-NEW (inside its period) and R-PHARM (no rule) stayed
    assert [c for (c,) in rows(out, "select completion_id from raw.lms_completions order by 1")] == [
        "r-doc-new", "r-ph"]
    assert rows(out, "select count(*) from raw.attendance") == [(0,)]
    assert rows(out, "select count(*) from raw.quarantine") == [(0,)]
    assert after["raw.lms_completions"] <= before["raw.lms_completions"]

    folder = out / "archive" / "retention" / "2033-01-01"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["as_of"] == "2033-01-01"
    for table in RAW:
        purged = before[table] - after[table]
        entry = next(f for f in manifest["files"] if f["table"] == table)
        path = folder / entry["file"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sha256_of(path) == entry["sha256"]
        con = duckdb.connect()
        archived = con.execute(f"select _extract_date, _file, _line from read_parquet('{path}')").fetchall()
        con.close()
        assert entry["rows"] == len(archived) == len(purged) == 1
        assert set(archived) == purged
    assert stat.S_IMODE((folder / "manifest.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # the log: counts, as-of and rule, per table
    log = rows(out, "select as_of, table_name, rule, row_count from retention.purge_log "
                    "where as_of = '2033-01-01' order by table_name")
    assert log == [(date(2033, 1, 1), "raw.attendance", "ACCME attendance", 1),
                   (date(2033, 1, 1), "raw.lms_completions", "ACCME attendance", 1),
                   (date(2033, 1, 1), "raw.quarantine", "ACCME attendance (quarantined rows)", 1)]
    # what learners earned is untouched: their transcripts read these awards
    assert rows(out, "select * exclude (decided_on) from fct_credit_awards order by all") == awards_before

    # again: nothing more, nothing overwritten
    again = snapshot(out)
    assert "0 row(s) archived and purged" in retention(out, "--apply", "--as-of", "2033-01-01")
    assert snapshot(out) == again
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json"] + [f["file"] for f in manifest["files"]])


def test_the_next_daily_run_withdraws_and_flags_nothing(world):
    landing, out = world
    retired = rows(out, "select body, count(*) from retention.retired_records group by 1 order by 1")
    # the nursing-only record (2031), then R-OLD's PARS and CE Broker records (2033)
    assert retired == [("ACCME_PARS", 1), ("CE_BROKER", 2)]
    ledger_before = rows(out, "select count(*) from ledger.submission_events")
    awards_before = rows(out, "select * exclude (decided_on) from fct_credit_awards order by all")
    run_day(landing, out, AFTER)
    assert rows(out, "select max(run_date) from ledger.submission_events") < [(AFTER,)]
    assert rows(out, "select count(*) from ledger.submission_events where record_action = 'Delete'") == [(0,)]
    assert rows(out, "select count(*) from ledger.submission_events") == ledger_before
    assert rows(out, "select count(*) from fct_pars_records where record_action = 'Delete'") == [(0,)]
    assert rows(out, "select count(*) from fct_compliance_exceptions "
                     "where reason_code = 'MANUAL_CORRECTION_REQUIRED'") == [(0,)]
    # the people were re-decided (their profiles changed) without the purged evidence, and
    # what they earned, and what the bodies hold for them, still stands
    assert rows(out, "select count(*) from fct_credit_decisions where decided_on = '2033-01-02'") > [(0,)]
    assert rows(out, "select * exclude (decided_on) from fct_credit_awards order by all") == awards_before
    states = rows(out, "select submission_state, count(*) from fct_cebroker_records group by 1")
    assert states == [("written", 2)]


def test_retired_records_are_never_withdrawn_even_when_their_credit_is_gone(world):
    """The guard itself: with the purged completions' awards removed (as a rebuild without
    their evidence would leave them), retired records still get no Delete and no correction;
    a record not retired would (the control)."""
    landing, out = world
    con = duckdb.connect(str(out / "warehouse.duckdb"))
    con.execute("delete from fct_credit_awards where activity_id in ('R-OLD', 'R-NURSE')")
    con.execute("delete from fct_credit_decisions where activity_id in ('R-OLD', 'R-NURSE')")
    con.close()
    ledger_before = rows(out, "select count(*) from ledger.submission_events")
    run_day(landing, out, AFTER)
    # a Delete would have been written to a file and the ledger by this run's export
    assert rows(out, "select count(*) from ledger.submission_events") == ledger_before
    assert rows(out, "select count(*) from ledger.submission_events where record_action = 'Delete'") == [(0,)]
    assert rows(out, "select count(*) from fct_pars_records where record_action = 'Delete'") == [(0,)]
    assert rows(out, "select count(*) from fct_compliance_exceptions "
                     "where reason_code = 'MANUAL_CORRECTION_REQUIRED'") == [(0,)]
    # control: forget that one CE Broker record was retired, and it is flagged
    con = duckdb.connect(str(out / "warehouse.duckdb"))
    con.execute("delete from retention.retired_records where record_key like '%|R-NURSE|%'")
    con.close()
    run_day(landing, out, AFTER)
    flagged = rows(out, "select activity_id from fct_compliance_exceptions "
                        "where reason_code = 'MANUAL_CORRECTION_REQUIRED' and status = 'open'")
    assert flagged == [("R-NURSE",)]


def test_retention_settings_are_validated_with_the_setting_named(tmp_path):
    base = Path(__file__).resolve().parents[1] / "config" / "provider.toml"
    good = load_settings(base).retention.rules
    assert [(r.authority, r.state, r.years, r.counts_from) for r in good] == [
        ("ACCME", None, 6, "activity_end"), ("CE_BROKER", "FL", 4, "completion")]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[retention.rules]]\nname = "x"\nauthority = "NABP"\nyears = 0\n'
                   'counts_from = "birthday"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(bad)
    message = str(err.value)
    assert "retention.rules.0.authority" in message and "retention.rules.0.years" in message
    assert "retention.rules.0.counts_from" in message


def test_cli_refuses_without_exactly_one_mode(world):
    _, out = world
    proc = run_cme("retention", "--out", out)
    assert proc.returncode == 2 and "exactly one of --dry-run or --apply" in proc.stderr
    proc = run_cme("retention", "--out", out, "--dry-run", "--as-of", "01/01/2033")
    assert proc.returncode == 2 and "--as-of" in proc.stderr


def test_apply_waits_for_no_one_while_another_command_holds_the_folder(world):
    import subprocess
    import sys

    _, out = world
    before = snapshot(out)
    holder = subprocess.Popen([sys.executable, "-m", "cme.runlock", str(out), "120"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for mode in ("--apply", "--dry-run"):
            proc = run_cme("retention", "--out", out, mode, "--as-of", "2040-01-01")
            assert proc.returncode == 3 and f"pid {holder.pid}" in proc.stderr, proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert snapshot(out) == before
