"""A failure before the exports stops the run at once, says which task failed and why,
and is not followed by unrelated errors from the tasks after it."""
from __future__ import annotations

import json
import sqlite3
import time
from datetime import date

import pytest

from cme import alerts
from cme.airflow_runner import DagRunFailed, airflow_env, ensure_metadata_db, run_days

DAY = date(2026, 11, 16)


@pytest.fixture
def clean_env(monkeypatch):
    """The Airflow environment `cme run` builds, not one another test left in os.environ."""
    import os

    for key in [k for k in os.environ if k.startswith(("AIRFLOW", "CME_"))]:
        monkeypatch.delenv(key)
    # the default first retry delay (30 s) stays: a retry would show in the time to fail


@pytest.mark.e2e
def test_a_failed_check_settings_skips_the_rest_alerts_and_fails_fast(tmp_path, clean_env, monkeypatch, capsys):
    """The real DAG through Airflow (cme.airflow_days), with a settings file `cme run` would
    have refused first: check_settings fails, nothing after it runs, one alert names it."""
    landing, out = tmp_path / "landing", tmp_path / "out"
    (landing / DAY.isoformat()).mkdir(parents=True)
    settings = tmp_path / "provider.toml"
    settings.write_text('accreditor = "NOT-AN-ACCREDITOR"\n')
    env = airflow_env(out)
    (out / "logs").mkdir(mode=0o700)
    log_file = out / "logs" / "airflow_runs.log"
    ensure_metadata_db(env, log_file)

    started = time.time()
    with pytest.raises(DagRunFailed, match=DAY.isoformat()):
        list(run_days([DAY], landing, out, settings, env, log_file))
    took = time.time() - started
    with capsys.disabled():  # shown with -s: the figure docs/decisions.md quotes
        print(f"\ntime to fail (Airflow start-up included): {took:.1f} s")

    with sqlite3.connect(out / "airflow" / "airflow.db") as db:
        states = dict(db.execute("select task_id, state from task_instance where map_index < 0"))
    assert states["check_settings"] == "failed"
    assert {states[t] for t in ("ingest", "dbt_build", "list_bodies")} == {"upstream_failed"}
    # no unrelated errors (and no retries) after it: the tasks after the exports skipped
    assert states["refresh_ledger_marts"] == "skipped" and states["run_summary"] == "skipped"
    assert states["check_exports"] == "failed"  # the last task ends the run failed, no alert of its own
    assert not (out / "warehouse.duckdb").exists()
    assert took < 90, "before: minutes of retries of refresh_ledger_marts and run_summary"

    (alert_file,) = (out / "alerts").glob("task_failed_*.json")  # the failed task only
    assert alert_file.stat().st_mode & 0o777 == 0o600
    alert = json.loads(alert_file.read_text())
    assert alert["task_id"] == "check_settings" and alert["error_class"] == "SettingsError"
    assert "accreditor" in alert["message"] and alert["run_date"] == DAY.isoformat()
    log = log_file.read_text(errors="replace")
    assert "TASK FAILED check_settings" in log

    # what `cme run` prints after the failed run: the task and its error, one line
    from cme.cli import _report_failure

    capsys.readouterr()
    _report_failure(out, DAY, started)
    printed = capsys.readouterr().err
    assert "task check_settings failed: SettingsError: invalid setting" in printed
    assert "refresh_ledger_marts" not in printed and "run_summary" not in printed


class Withheld(ValueError):
    pass


def test_the_alert_withholds_other_errors_messages_and_posts_to_the_webhook(tmp_path, monkeypatch):
    from cme.dbt_runner import DbtBuildError
    from cme.pipeline import ExportFailed

    posted = []
    monkeypatch.setenv("CME_ALERT_WEBHOOK", "http://alerts.invalid/hook")
    monkeypatch.setattr("httpx.post", lambda url, json, timeout: posted.append((url, json)))
    path = alerts.task_failed(tmp_path, DAY, "export", ExportFailed("ACCME_PARS: export failed: X"),
                              map_index=0, body="ACCME_PARS", run_id="r1", try_number=3)
    assert path.name == f"task_failed_{DAY}_export_ACCME_PARS.json"
    assert posted[0][1]["task_id"] == "export" and posted[0][1]["body"] == "ACCME_PARS"
    assert posted[0][1]["message"] == "ACCME_PARS: export failed: X"

    alerts.task_failed(tmp_path, DAY, "ingest", Withheld("Smith, born 1970-01-01"))
    alerts.task_failed(tmp_path, DAY, "dbt_build", DbtBuildError(
        "dbt build failed for 2026-11-16: model int_people: Conversion Error: 'Smith'; "
        "test not_null_x: Got 2 results"))
    by_task = {a["task_id"]: a for a in alerts.failed_since(tmp_path, DAY, 0)}
    assert by_task["ingest"]["message"] == alerts.WITHHELD
    assert by_task["dbt_build"]["message"].startswith("dbt build failed: model int_people, test not_null_x")
    assert "Smith" not in json.dumps(by_task) and "Smith" not in json.dumps(posted)
    assert alerts.describe(by_task["export"]).startswith("task export[ACCME_PARS] failed: ExportFailed")


@pytest.mark.e2e
def test_cme_run_on_a_day_with_a_zip_for_learners_stops_at_ingest_and_names_the_file(tmp_path):
    """The real `cme run` (issue 10: a file that is no CSV passed as an empty day): the
    day is refused at ingest without retries, nothing after it runs, and the command
    prints the failed task with the file and why, and exits 1."""
    import zipfile

    from tests.conftest import run_cme

    landing, out = tmp_path / "landing", tmp_path / "out"
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "learners.csv", "w") as archive:
        archive.writestr("learners.csv", "learner_id,first_name\nL-1,Ann\n")
    proc = run_cme("run", "--landing", landing, "--out", out, "--date", DAY.isoformat())
    printed = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "task ingest failed" in printed and "learners.csv is a zip archive" in printed, printed
    assert "Traceback" not in proc.stderr and "Ann" not in proc.stdout + proc.stderr
    with sqlite3.connect(out / "airflow" / "airflow.db") as db:
        states = dict(db.execute("select task_id, state from task_instance where map_index < 0"))
        tries = db.execute("select try_number from task_instance where task_id = 'ingest'").fetchone()[0]
    assert states["ingest"] == "failed" and tries == 1  # a retry would read the same bytes
    assert states["dbt_build"] == "upstream_failed"
    assert states["run_summary"] == "skipped" and states["check_exports"] == "failed"
