"""`cme audit`: a record of the session's 3-day demo run traced from its ledger events and
submission file back to the landed file and line it came from, read from the raw store.
And a re-landed file: both versions kept, the audit naming the one the rows came from."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
from datetime import date
from pathlib import Path

import duckdb

from tests.conftest import DAYS, run_cme


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _audit(out: Path, key: str) -> dict:
    proc = run_cme("audit", key, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _secrets(warehouse: Path) -> set[str]:
    """Learner values the audit must never print: names, birth dates, NPIs, licenses, ePIDs."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {v for (v,) in con.execute("""
            select license_number from raw.learner_licenses union select npi from raw.learners
            union select nabp_eprofile_id from raw.learners union select last_name from raw.learners
            union select first_name from raw.learners union select board_id from raw.learner_board_ids
            union select strftime(date_of_birth, '%m/%d/%Y') from raw.learners
            union select strftime(date_of_birth, '%Y-%m-%d') from raw.learners""").fetchall()
                if v and len(v) >= 4}


def _no_secrets(text: str, secrets: set[str]) -> None:
    assert [s for s in secrets if re.search(rf"\b{re.escape(s)}\b", text)] == []


def _written_pars_record(con, source: str) -> str:
    """A CME-only PARS record written to a file, with awards from `source` completions."""
    found = con.execute("""
        select r.record_key from fct_pars_records r
        join fct_credit_awards a using (person_id, activity_id, completed_on)
        where r.submission_state = 'written' and a.completion_source = ?
          and r.record_key like '%|CME'  -- a CME-only PARS record carries the day's CME credit
        order by r.record_key limit 1""", [source]).fetchone()
    assert found, f"the demo writes a PARS record from {source} completions"
    return found[0]


def _line(out: Path, source: dict) -> str:
    """The source row's line, read from the raw store's copy (not from the landing)."""
    stored = Path(source["stored_path"])
    assert stored.is_relative_to(out / "raw" / "sha256")
    assert _sha(stored) == source["sha256"]
    return stored.read_text(encoding="utf-8").splitlines()[source["source_line"] - 1]


def test_a_written_pars_record_is_traced_to_its_file_and_line(pipeline_run):
    out = pipeline_run.out
    with pipeline_run.connect() as con:
        key = _written_pars_record(con, "lms")
        mart = con.execute("select record_hash, person_id, activity_id, completed_on, cme_credits "
                           "from fct_pars_records where record_key = ?", [key]).fetchone()
        loaded = dict(con.execute("select _extract_date || '/' || _file, sha256 from raw.loaded_files "
                                  "where status = 'loaded'").fetchall())
    trail = _audit(out, key)

    # (a) the ledger: prepared then written, the file named with its real SHA-256
    assert [e["event"] for e in trail["events"]][:2] == ["prepared", "written"]
    written = next(e for e in trail["events"] if e["event"] == "written")
    path = out / "submissions" / "ACCME_PARS" / written["run_date"] / written["file_name"]
    assert written["file_sha256"] == _sha(path) and written["file_check"] == "verified"
    assert written["file_path"] == str(path.resolve())
    # (b) the mart row, its personal fields withheld
    (record,) = trail["records"]
    assert (record["record_hash"], record["person_id"], record["activity_id"], record["completed_on"]) \
        == (mart[0], mart[1], mart[2], mart[3].isoformat())
    assert record["first_name"] == record["last_name"] == record["date_of_birth"] == "[personal]"
    # (c) the decision that earned the CME credit on it
    awarded = [d for d in trail["decisions"] if d["credit_type"] == "AMA_PRA_1" and d["is_awarded"]]
    assert awarded and sum(float(d["credits_awarded"]) for d in awarded) == float(mart[4])
    # (d) each awarded completion's landed row, read from the stored copy, holds its id
    for decision in awarded:
        completion_id = decision["completion_key"].removeprefix("LMS:")
        rows = [s for s in trail["sources"] if s["completion_key"] == decision["completion_key"]]
        assert rows and all(s["file_name"] == "lms_completions.csv" for s in rows)
        for source in rows:
            assert source["stored_check"] == "verified"
            assert source["sha256"] == loaded[f"{source['extracted_on']}/{source['file_name']}"]
            assert source["load_id"].startswith(source["extracted_on"] + "/")  # the DAG's ds/run_id
            assert _line(out, source).split(",")[0] == completion_id
            assert source["values"]["completion_id"] == completion_id
    _no_secrets(json.dumps(trail), _secrets(pipeline_run.warehouse))
    # the store holds learner data: owner-only, like the rest of OUT
    stored = Path(trail["sources"][0]["stored_path"])
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    for folder in (stored.parent, stored.parent.parent, out / "raw"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_the_tables_name_the_chain_and_no_learner_values(pipeline_run):
    with pipeline_run.connect() as con:
        key = _written_pars_record(con, "lms")
    proc = run_cme("audit", key, "--out", pipeline_run.out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for heading in ("Ledger events", "Reporting-mart row (fct_pars_records)", "Credit decisions",
                    "Source rows", "Versions of those files"):
        assert heading in text
    assert "verified" in text and "[personal]" in text and "lms_completions.csv:" in text
    _no_secrets(text, _secrets(pipeline_run.warehouse))


def test_an_attendance_derived_record_lists_every_check_in_row(pipeline_run):
    out = pipeline_run.out
    with pipeline_run.connect() as con:
        key = _written_pars_record(con, "live")
    trail = _audit(out, key)
    live = {d["completion_key"] for d in trail["decisions"]
            if d["completion_key"].startswith("LIVE:") and d["is_awarded"]}
    assert live
    for completion_key in live:
        _, learner_id, activity_id, _day = completion_key.split(":")
        rows = [s for s in trail["sources"] if s["completion_key"] == completion_key]
        assert rows and {s["file_name"] for s in rows} == {"attendance.csv"}
        for source in rows:
            fields = _line(out, source).split(",")
            assert fields[1:3] == [learner_id, activity_id]  # attendance_id, learner_id, activity_id, ...


def test_a_cebroker_record_withholds_the_license_number(pipeline_run):
    with pipeline_run.connect() as con:
        key = con.execute("select record_key from fct_cebroker_records "
                          "where submission_state = 'written' order by record_key limit 1").fetchone()[0]
    trail = _audit(pipeline_run.out, key)
    (record,) = trail["records"]
    assert record["license_number"] == "[personal]" and record["body"] == "CE_BROKER"
    assert any(e["event"] == "written" and e["file_check"] == "verified" for e in trail["events"])
    assert trail["sources"] and all(s["stored_check"] == "verified" for s in trail["sources"])
    _no_secrets(json.dumps(trail), _secrets(pipeline_run.warehouse))


def test_an_unknown_record_key_exits_2_with_one_line(pipeline_run):
    proc = run_cme("audit", "ACCME_PARS|P-nobody|A0|2026-11-16|CME", "--out", pipeline_run.out)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "no record ACCME_PARS|P-nobody|A0|2026-11-16|CME" in proc.stderr


def test_a_relanded_file_keeps_both_versions_and_the_audit_names_the_rows_one(pipeline_run, tmp_path):
    """The last day re-run with changed bytes in lms_completions.csv (one row added): both
    versions are in the store, and the audit says the rows came from the second."""
    from cme import pipeline
    from cme.rawstore import path_for

    landing, out = tmp_path / "landing", tmp_path / "out"
    shutil.copytree(pipeline_run.landing, landing)
    shutil.copytree(pipeline_run.out, out, ignore=shutil.ignore_patterns("airflow", "logs"))
    day = DAYS[-1]
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        first = con.execute("select sha256, _load_id from raw.loaded_files where _extract_date = ? "
                            "and _file = 'lms_completions.csv'", [day]).fetchone()
        key = con.execute("""
            select r.record_key from fct_pars_records r
            join fct_credit_awards a using (person_id, activity_id, completed_on)
            join raw.lms_completions l on l.completion_id = a.completion_id
            where r.submission_state = 'written' and l._extract_date = ?
            order by r.record_key limit 1""", [day]).fetchone()[0]
    csv_path = landing / day / "lms_completions.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    extra = lines[-1].split(",")
    extra[0] = "C-RELANDED-1"
    csv_path.write_text("".join(lines) + ",".join(extra))

    ctx = pipeline.RunContext(date.fromisoformat(day), landing, out, None)
    pipeline.ingest(ctx, load_id=f"{day}/reland")
    pipeline.build(ctx)

    second = _sha(csv_path)
    assert second != first[0]
    for sha in (first[0], second):  # the version first received is still there, intact
        assert _sha(path_for(out, sha)) == sha
    trail = _audit(out, key)
    rows = [s for s in trail["sources"] if s["extracted_on"] == day and s["file_name"] == "lms_completions.csv"]
    assert rows and {(s["sha256"], s["load_id"]) for s in rows} == {(second, f"{day}/reland")}
    versions = [(v["sha256"], v["load_id"], v["rows_from_it"], v["stored_check"]) for v in trail["versions"]
                if v["extracted_on"] == day and v["file_name"] == "lms_completions.csv"]
    assert versions == [(first[0], first[1], False, "verified"), (second, f"{day}/reland", True, "verified")]
