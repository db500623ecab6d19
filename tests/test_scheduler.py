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
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cme.airflow_runner import airflow_env
from cme.synthetic import generate

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "cme_daily_reporting"
TZ = "America/Chicago"  # the DAG's default schedule zone and the settings' default
STEP_TIMEOUT = {"run created": 150, "sensor waits": 120, "run succeeds": 480}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Airflow:
    """Scheduler, DAG processor and execution API as subprocesses, logs under `home`."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env, self.procs = home, env, {}
        self.db = home / "airflow.db"

    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen([str(BIN / "airflow"), *args], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        for proc in self.procs.values():  # each in its own session: its workers go too
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

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

    def report(self) -> str:
        """What a failure shows: each process's state and log tail, and every task log."""
        parts = []
        for name, proc in self.procs.items():
            text = (self.home / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name} (exit {proc.poll()}) last lines:\n" + "\n".join(text.splitlines()[-40:]))
        for log in sorted((self.home / "logs").glob(f"dag_id={DAG_ID}/**/*.log")):
            text = log.read_text(errors="replace")
            parts.append(f"--- {log.relative_to(self.home)}:\n" + "\n".join(text.splitlines()[-30:]))
        return "\n".join(parts)

    def wait_for(self, step: str, check, every: float = 1.0):
        """Poll `check()` until it returns something true; fail naming the step, with logs."""
        until = time.monotonic() + STEP_TIMEOUT[step]
        while time.monotonic() < until:
            result = check()
            if result:
                return result
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            if dead:
                pytest.fail(f"{step}: Airflow process(es) exited {dead}\n{self.report()}")
            time.sleep(every)
        pytest.fail(f"{step}: not within {STEP_TIMEOUT[step]} s\n{self.report()}")


@pytest.fixture
def airflow(tmp_path, monkeypatch):
    port = _free_port()
    settings = tmp_path / "provider.toml"
    # the deadline is far away: the sensor must wait, not fail (24 + 48 h after D began)
    settings.write_text((PROJECT / "config" / "provider.toml").read_text()
                        .replace("landing_deadline_hours = 12.0", "landing_deadline_hours = 48.0"))
    for key in [k for k in os.environ if k.startswith(("AIRFLOW", "CME_"))]:
        monkeypatch.delenv(key)
    env = airflow_env(tmp_path)  # what `cme run` uses (home tmp_path/airflow), plus the services
    home = Path(env["AIRFLOW_HOME"])
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # the DAG: its schedule zone, a short wait between looks, paths (no conf when scheduled)
        "CME_SCHEDULE_TIMEZONE": TZ,
        "CME_LANDING_POKE_SECONDS": "2",
        "CME_RETRY_DELAY_SECONDS": "1",
        "CME_LANDING_DIR": str(tmp_path / "landing"),
        "CME_OUTPUT_DIR": str(tmp_path / "out"),
        "CME_SETTINGS": str(settings),
    })
    (tmp_path / "landing").mkdir()
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    af = Airflow(home, env)
    af.start("api-server", "api-server", "--apps", "execution", "--port", str(port), "--host", "127.0.0.1",
             "--workers", "1")
    af.start("dag-processor", "dag-processor")
    af.start("scheduler", "scheduler")
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
