"""The real Airflow scheduler runs the daily DAG for the day that ended, not the day it starts on.

Issue 10: with `@daily`, unpausing the DAG created `scheduled__2026-11-26` and ran it
at 13:03 that day, on an empty landing folder. Here `airflow scheduler`,
`airflow dag-processor` and the execution API (`airflow api-server --apps execution`:
Airflow 3 workers report through it) run as processes on an SQLite metadata
database with the LocalExecutor, the DAG unpaused at creation, catchup off. The
scheduler must create the run for yesterday D (interval [D, D+1) in the provider's
time zone, D+1 = today) only after D ended; its sensor must wait while
landing/<D>/ is absent; once the day's files land the run must succeed.
Scheduled runs have no conf: the paths come from CME_LANDING_DIR, CME_OUTPUT_DIR
and CME_SETTINGS.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cme.synthetic import generate
from tests.airflow_stack import DAG_ID, PROJECT, TZ, AirflowProcesses, service_env
from tests.servers import free_port

pytestmark = pytest.mark.e2e

STEP_TIMEOUT = {"run created": 150, "sensor waits": 120, "run succeeds": 480}


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Airflow(AirflowProcesses):
    """The services on SQLite; the test reads the metadata database file to follow them."""

    def __init__(self, home: Path, env: dict[str, str]):
        super().__init__(home, env)
        self.db = home / "airflow.db"

    def query(self, sql: str, *args) -> list[tuple]:
        if not self.db.exists():
            return []
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # schema not there yet, or a writer holds the lock
            return []
        finally:
            con.close()

    def task_states(self, run_id: str) -> dict[str, str]:
        return {f"{task}[{index}]" if index >= 0 else task: state for task, index, state in self.query(
            "select task_id, map_index, state from task_instance where dag_id = ? and run_id = ?",
            DAG_ID, run_id)}

    def wait_for(self, step: str, check, every: float = 1.0):
        return self.poll(step, check, STEP_TIMEOUT[step], every)


@pytest.fixture
def airflow(tmp_path, monkeypatch):
    port = free_port()
    settings = tmp_path / "provider.toml"
    # the deadline is far away: the sensor must wait, not fail (24 + 48 h after D began)
    settings.write_text((PROJECT / "config" / "provider.toml").read_text()
                        .replace("landing_deadline_hours = 12.0", "landing_deadline_hours = 48.0"))
    for key in [k for k in os.environ if k.startswith(("AIRFLOW", "CME_"))]:
        monkeypatch.delenv(key)
    env = service_env(tmp_path, port, AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
                      CME_SETTINGS=str(settings))
    (tmp_path / "landing").mkdir()
    af = Airflow(Path(env["AIRFLOW_HOME"]), env)
    af.migrate()
    af.start_services(port, apps="execution")
    yield af
    af.stop()


def test_the_scheduler_runs_yesterday_after_it_ended_and_waits_for_its_folder(airflow, tmp_path):
    started = time.monotonic()

    def scheduled_run():
        rows = airflow.query("select run_id, run_type, data_interval_start, data_interval_end, "
                             "queued_at, created_at, logical_date from dag_run where dag_id = ?", DAG_ID)
        return rows[0] if rows else None

    run_id, run_type, start, end, queued_at, created_at, logical = airflow.wait_for("run created", scheduled_run)
    t_created = time.monotonic() - started
    start, end, queued_at, created_at = map(_utc, (start, end, queued_at, created_at))
    tz = ZoneInfo(TZ)
    today = created_at.astimezone(tz).date()  # the provider's day when the run was created
    D = today - timedelta(days=1)
    assert run_type == "scheduled" and len(airflow.query("select 1 from dag_run")) == 1
    # the interval is the whole of yesterday in the provider's zone, and the run came after it
    assert (start.astimezone(tz), end.astimezone(tz)) == (
        datetime(D.year, D.month, D.day, tzinfo=tz), datetime(today.year, today.month, today.day, tzinfo=tz))
    assert end <= created_at and end <= queued_at, (end, created_at, queued_at)
    assert start.astimezone(tz).date() == D  # the run date

    def sensor_waiting():
        state = airflow.task_states(run_id).get("landing_ready")
        rescheduled = airflow.query("select count(*) from task_reschedule")
        return state == "up_for_reschedule" and rescheduled and rescheduled[0][0] >= 1

    airflow.wait_for("sensor waits", sensor_waiting, every=0.5)
    t_waiting = time.monotonic() - started
    assert not (tmp_path / "out" / "warehouse.duckdb").exists()  # nothing read while it waits
    states = airflow.task_states(run_id)
    assert states.get("check_settings") == "success"  # settings are checked before the wait
    assert states.get("ingest") in (None, "none")  # nothing read while it waits

    # the extract lands: written aside, then moved in as one rename (landing_ready_marker none)
    staging = tmp_path / "staging"
    generate(staging, days=1, learners=20, seed=7, start=D)
    os.rename(staging / D.isoformat(), tmp_path / "landing" / D.isoformat())

    def finished():
        [(state,)] = airflow.query("select state from dag_run where run_id = ?", run_id) or [(None,)]
        return state if state in ("success", "failed") else None

    state = airflow.wait_for("run succeeds", finished, every=2)
    elapsed = time.monotonic() - started
    print(f"scheduler test: run created after {t_created:.0f} s, sensor waiting after "
          f"{t_waiting:.0f} s, run {state} after {elapsed:.0f} s")
    assert state == "success", f"{airflow.task_states(run_id)}\n{airflow.report()}"
    # the run read D's folder (the run date is the interval's start, not the day it ran)
    summary = json.loads((tmp_path / "out" / "reports" / f"run_summary_{D.isoformat()}.json").read_text())
    assert summary["run_date"] == D.isoformat() and summary["rows_read"] > 0
    [(looks,)] = airflow.query("select count(*) from task_reschedule")
    assert looks >= 1  # it looked, rescheduled itself, and looked again after the files landed
