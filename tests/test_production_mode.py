"""Airflow as a team runs it: PostgreSQL 15 for Airflow's metadata AND the warehouse,
scheduler, DAG processor and API server as processes, runs started and followed through
the REST API only (issue 14, points 1, 3 and 4).

One stack per module (starting it takes 30 to 40 s): a PostgreSQL 15 cluster from
`initdb`/`pg_ctl` (tests/pg.py) with two databases, `airflow` (`airflow db migrate` on
it) and `cme_warehouse` (every Airflow process, hence every task process, gets
CME_WAREHOUSE_URL naming it), the three services on 127.0.0.1 with the LocalExecutor. The REST API is called as a user would, with a token
from SimpleAuthManager's `/auth/token` (the auth manager of this test environment).

1. Two extract dates triggered through `POST /api/v2/dags/{dag}/dagRuns`: both succeed,
   one at a time, and the run summaries, the warehouse loads, the submission files (0600)
   and the ledger rows are those an in-process run of the same data gives; no DuckDB
   warehouse file is written. While the second run writes the warehouse, a reader's
   select on `main.fct_credit_awards` answers at once (MVCC: no lock wait, unlike the
   DuckDB file, which a writing task holds exclusively).
2. Airflow's own backfill (`POST /api/v2/backfills`, run by the scheduler) over those two
   days with reprocess_behavior "completed" and max_active_runs 1: the days run again, one
   at a time in date order, and the ledger, the marts and the submission files are
   identical afterwards. (A backfill over new days is the same mechanism minus the
   clearing; each day of it costs about a minute, so it is not repeated here.)
3. The README's `airflow backfill create` dates select the intended extract dates, and
   days already run are skipped unless a reprocess behaviour is given.

The scheduler does not create scheduled runs here (`[scheduler] use_job_schedule = False`):
otherwise unpausing the DAG would start the run for yesterday (real time), whose sensor
would wait for a folder this test never writes and, with max_active_runs=1, keep the
triggered runs queued. test_scheduler.py covers scheduled runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

import httpx
import pytest

from cme.synthetic import generate
from cme.warehouse import URL_ENV, connect
from tests.airflow_stack import BIN, DAG_ID, PROJECT, TZ, AirflowProcesses, service_env
from tests.pg import PostgresServer
from tests.servers import free_port

pytestmark = pytest.mark.e2e

TRIGGERED = [date(2026, 11, 16), date(2026, 11, 17)]
USER = "ops"
# Submission records written per (body, extract date) for generate(days=2, learners=60,
# seed=7) from 2026-11-16, as an in-process run of the same data gives them
# (tests/scenario.run_day over the two days).
WRITTEN = {
    ("ACCME_PARS", "2026-11-16"): 4, ("ACCME_PARS_ACTIVITIES", "2026-11-16"): 16,
    ("CE_BROKER", "2026-11-16"): 1, ("CPE_MONITOR", "2026-11-16"): 3,
    ("ACCME_PARS", "2026-11-17"): 20, ("ACCME_PARS_ACTIVITIES", "2026-11-17"): 1,
    ("CE_BROKER", "2026-11-17"): 1, ("CPE_MONITOR", "2026-11-17"): 5,
}
TIMEOUT = {"API up": 150, "DAG parsed": 150, "triggered runs": 600, "backfill": 600}
# the task that writes the awards the reader reads (an incremental dbt model, in a transaction)
WRITER = "dbt_build"


def interval(day: date) -> tuple[str, str]:
    """The DAG's data interval for extract date `day`: the provider's day, midnight to midnight."""
    tz = ZoneInfo(TZ)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start.isoformat(), end.isoformat()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Stack:
    airflow: AirflowProcesses
    pg: PostgresServer
    api: httpx.Client
    root: Path
    warehouse_url: str
    runs: dict[str, dict] = field(default_factory=dict)  # extract date -> run, as the API last said

    @property
    def out(self) -> Path:
        return self.root / "out"

    def report(self) -> str:
        return f"{self.airflow.report()}\n--- PostgreSQL log:\n{self.pg.log_tail()}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.api.request(method, path, **kwargs)
        if response.status_code >= 400:
            pytest.fail(f"{method} {path}: {response.status_code} {response.text}\n{self.report()}")
        return response.json()

    def dag_runs(self) -> dict[str, dict]:
        """Every run of the DAG by extract date (its interval's start in the provider's zone)."""
        runs = self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
        return {_when(r["data_interval_start"]).astimezone(ZoneInfo(TZ)).date().isoformat(): r for r in runs}

    def wait_finished(self, step: str, days: list[date], after: datetime | None = None) -> dict[str, dict]:
        """Poll the REST API until the runs of `days` (started after `after`, if given) ended."""
        def finished():
            runs = self.dag_runs()
            mine = {d.isoformat(): runs.get(d.isoformat()) for d in days}
            if all(r and r["state"] in ("success", "failed") and r["end_date"]
                   and (after is None or _when(r["start_date"]) > after) for r in mine.values()):
                return mine
            return None
        runs = self.airflow.poll(step, finished, TIMEOUT[step], every=2)
        failed = {d: r["dag_run_id"] for d, r in runs.items() if r["state"] != "success"}
        if failed:
            pytest.fail(f"{step}: runs failed {failed}: {self.task_states(failed)}\n{self.report()}")
        self.runs.update(runs)
        return runs

    def task_states(self, runs: dict[str, str]) -> dict[str, dict]:
        return {day: {t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else ""): t["state"]
                      for t in self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
                      ["task_instances"]} for day, run_id in runs.items()}

    def backfill(self, days: list[date], reprocess: str) -> dict:
        """Airflow's backfill over `days` (first to last extract date), one run at a time;
        returns it once the scheduler marked it completed."""
        body = {"dag_id": DAG_ID, "from_date": interval(days[0])[0], "to_date": interval(days[-1])[0],
                "max_active_runs": 1, "reprocess_behavior": reprocess, "run_backwards": False}
        created = self.call("POST", "/api/v2/backfills", json=body)
        assert created["max_active_runs"] == 1 and created["reprocess_behavior"] == reprocess

        def completed():
            backfill = self.call("GET", f"/api/v2/backfills/{created['id']}")
            return backfill if backfill["completed_at"] else None
        return self.airflow.poll("backfill", completed, TIMEOUT["backfill"], every=2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("prodmode")
    generate(root / "landing", days=len(TRIGGERED), learners=60, seed=7, start=TRIGGERED[0])
    try:
        pg = PostgresServer()
    except RuntimeError as exc:  # binaries missing: say how to get them, do not skip
        pytest.fail(str(exc))
    pg.start()
    airflow = api = None
    saved = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith(("AIRFLOW", "CME_"))]}
    try:
        # one user, role admin, its password in a file only the test reads (not the repository)
        password = secrets.token_urlsafe(16)
        passwords = root / "passwords.json"
        passwords.write_text(json.dumps({USER: password}))
        passwords.chmod(0o600)
        port = free_port()
        warehouse_url = pg.create_database("cme_warehouse")
        env = service_env(
            root, port,
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=pg.create_database("airflow").replace(
                "postgresql://", "postgresql+psycopg2://", 1),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",  # unpaused through the API below
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",  # no scheduled runs (module docstring)
            AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            CME_SETTINGS=str(PROJECT / "config" / "provider.toml"),
            CME_WAREHOUSE_URL=warehouse_url,  # the tasks inherit it: the warehouse on PostgreSQL
        )
        airflow = AirflowProcesses(Path(env["AIRFLOW_HOME"]), env)
        started = time.monotonic()
        airflow.migrate()
        airflow.start_services(port, apps="core,execution")
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

        def token():
            try:
                response = api.post("/auth/token", json={"username": USER, "password": password})
            except httpx.TransportError:
                return None
            return response.status_code == 201 and response.json()["access_token"]
        api.headers["Authorization"] = "Bearer " + airflow.poll("API up", token, TIMEOUT["API up"])
        s = Stack(airflow, pg, api, root, warehouse_url)
        airflow.poll("DAG parsed", lambda: api.get(f"/api/v2/dags/{DAG_ID}").status_code == 200,
                     TIMEOUT["DAG parsed"])
        assert s.call("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})["is_paused"] is False
        print(f"production stack up in {time.monotonic() - started:.0f} s")
        yield s
    finally:
        if api is not None:
            api.close()
        if airflow is not None:
            airflow.stop()
        pg.stop()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def triggered(stack):
    """The first two extract dates, triggered through the REST API as an operator would."""
    started = time.monotonic()
    for day in TRIGGERED:
        start, end = interval(day)
        # the interval given explicitly: from a logical date alone the DAG's timetable infers
        # the interval that ENDED then, i.e. the day before (README, "Backfill")
        run = stack.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={
            "dag_run_id": f"triggered__{day.isoformat()}", "logical_date": start, "data_interval_start": start, "data_interval_end": end,
            "run_after": end, "conf": {}})
        assert run["run_type"] == "manual" and run["state"] == "queued"
    read = read_while_writing(stack, TRIGGERED[-1])
    runs = stack.wait_finished("triggered runs", TRIGGERED)
    print(f"two triggered runs: {time.monotonic() - started:.0f} s")
    return {"runs": runs, "read": read}


def read_while_writing(stack: Stack, day: date) -> dict:
    """Wait until `day`'s run is building the marts (dbt_build running), then time a reader's
    select on the awards (lock_timeout 2 s: it errors rather than waits for a lock), and
    say what the run was doing before and after it."""
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/triggered__{day.isoformat()}"

    def writing():
        if stack.call("GET", run_path)["state"] in ("success", "failed"):
            pytest.fail(f"the {day} run ended before a reader was timed during a write\n{stack.report()}")
        return [t["task_id"] for t in stack.call("GET", run_path + "/taskInstances")["task_instances"]
                if t["state"] == "running" and t["task_id"] == WRITER]
    during = stack.airflow.poll("second run building", writing, TIMEOUT["triggered runs"], every=0.5)
    started = time.monotonic()
    with warehouse(stack) as con:
        con.execute("set lock_timeout = '2s'")
        awards = con.execute("select count(*) from main.fct_credit_awards").fetchone()[0]
    seconds = time.monotonic() - started
    after = stack.call("GET", run_path)["state"]
    print(f"reader during {during} of the {day} run: {awards} awards in {seconds:.2f} s; run then {after}")
    return {"during": during, "awards": awards, "seconds": seconds, "run_after": after}


@contextmanager
def warehouse(stack: Stack):
    """A read-only connection to the PostgreSQL warehouse, opened as the package opens it
    (`cme.warehouse.connect` with CME_WAREHOUSE_URL set, as in the tasks' environment)."""
    with patch.dict(os.environ, {URL_ENV: stack.warehouse_url}):
        with connect(stack.out / "warehouse.duckdb", read_only=True) as con:
            yield con


def ledger_written(stack: Stack) -> dict[tuple[str, str], int]:
    with warehouse(stack) as con:
        return {(body, day.isoformat()): n for body, day, n in con.execute(
            "select body, run_date, count(*) from ledger.submission_events where event = 'written' "
            "group by body, run_date").fetchall()}


def loaded_dates(stack: Stack) -> set[str]:
    with warehouse(stack) as con:
        return {d.isoformat() for (d,) in con.execute("select distinct _extract_date from raw.loaded_files")
                .fetchall()}


def what_users_read(stack: Stack) -> dict:
    """The ledger, every mart (main schema) row for row, and each submission file's hash."""
    out = stack.out
    with warehouse(stack) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            "and table_schema in ('main', 'ledger') order by 1, 2").fetchall()
        # rows ordered by their text form: any column type (arrays, json) sorts that way
        snap = {f"{s}.{t}": con.execute(f'select * from "{s}"."{t}" as r order by r::text').fetchall()
                for s, t in tables}
    snap["files"] = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in sorted((out / "submissions").rglob("*")) if p.is_file()}
    return snap


def one_at_a_time_in_date_order(runs: dict[str, dict]) -> None:
    ordered = [runs[d] for d in sorted(runs)]
    for earlier, later in zip(ordered, ordered[1:]):
        assert _when(earlier["end_date"]) <= _when(later["start_date"]), (earlier, later)


def test_two_triggered_dates_run_on_postgres_and_write_what_a_user_checks(stack, triggered):
    triggered = triggered["runs"]
    assert {d: r["state"] for d, r in triggered.items()} == {d.isoformat(): "success" for d in TRIGGERED}
    one_at_a_time_in_date_order(triggered)  # the DAG's max_active_runs=1
    out = stack.out
    for day in TRIGGERED:
        report = out / "reports" / f"run_summary_{day.isoformat()}.json"
        assert stat.S_IMODE(report.stat().st_mode) == 0o600
        summary = json.loads(report.read_text())
        assert summary["run_date"] == day.isoformat() and summary["rows_read"] > 0
        assert {(b, day.isoformat()): v["written"] for b, v in summary["bodies"].items() if v["written"]} == {
            k: n for k, n in WRITTEN.items() if k[1] == day.isoformat()}
    assert loaded_dates(stack) == {d.isoformat() for d in TRIGGERED}
    assert ledger_written(stack) == WRITTEN
    assert not (out / "warehouse.duckdb").exists()  # the warehouse is the PostgreSQL database
    for body, day in WRITTEN:
        folder = out / "submissions" / body / day
        files = sorted(p.name for p in folder.iterdir())
        assert any(f.endswith(".manifest.json") for f in files) and len(files) >= 2, (folder, files)
    modes = {str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in (out / "submissions").rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {"0o600"}, modes
    # Airflow's own records are on PostgreSQL: the cluster holds the runs
    import psycopg2
    con = psycopg2.connect(host="127.0.0.1", port=stack.pg.port, user="cme", dbname="airflow")
    try:
        with con.cursor() as cur:
            cur.execute("select count(*) from dag_run where dag_id = %s and state = 'success'", (DAG_ID,))
            assert cur.fetchone()[0] >= 2
    finally:
        con.close()


def test_a_reader_is_answered_at_once_while_a_run_writes_the_warehouse(stack, triggered):
    """The point of a PostgreSQL warehouse for a team: an analyst's query during a run is
    answered from the last committed state instead of waiting for the run's task (on the
    DuckDB file a writing task holds it exclusively)."""
    read = triggered["read"]
    assert read["during"] == [WRITER], read
    assert read["awards"] > 0, read  # the first day's awards, committed before the second run
    assert read["seconds"] < 2, read  # lock_timeout 2 s: a wait would have raised
    assert read["run_after"] == "running", read  # the run was still going when the answer came


def test_a_backfill_over_days_already_run_goes_day_by_day_and_changes_nothing(stack, triggered):
    """Airflow's backfill over the two days with reprocess_behavior "completed" (what a data
    team re-running a range wants): each day runs again, one at a time in date order, and
    the ledger, the marts and the submission files are identical afterwards."""
    triggered = triggered["runs"]
    before = what_users_read(stack)
    assert before["ledger.submission_events"] and before["main.fct_credit_awards"] and before["files"]
    ran_before = {d: _when(r["end_date"]) for d, r in triggered.items()}
    started = time.monotonic()
    stack.backfill(TRIGGERED, reprocess="completed")
    runs = stack.wait_finished("backfill", TRIGGERED, after=max(ran_before.values()))
    print(f"backfill of two days: {time.monotonic() - started:.0f} s")
    assert {d: (r["run_type"], r["state"]) for d, r in runs.items()} == {
        d.isoformat(): ("backfill", "success") for d in TRIGGERED}
    assert all(_when(r["start_date"]) > ran_before[d] for d, r in runs.items())  # they ran again
    one_at_a_time_in_date_order(runs)
    after = what_users_read(stack)
    assert after.keys() == before.keys()
    assert [t for t in before if before[t] != after[t]] == []


def test_backfill_dates_and_days_already_run(stack, triggered):
    """The README's command (dates with the provider's offset) selects exactly the extract
    dates asked for; plain dates are read as UTC and miss the last day; without
    --reprocess-behavior the days already run are left alone."""
    first, last = (d.isoformat() for d in (TRIGGERED[0], TRIGGERED[-1]))
    proc = subprocess.run(
        [str(BIN / "airflow"), "backfill", "create", "--dag-id", DAG_ID,
         "--from-date", f"{first}T00:00:00-06:00", "--to-date", f"{last}T00:00:00-06:00",
         "--max-active-runs", "1", "--reprocess-behavior", "completed", "--dry-run"],
        env=stack.airflow.env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = [line for line in proc.stdout.splitlines() if "|" in line and "2026-11-" in line]
    assert [first in listed[0], last in listed[1]] == [True, True] and len(listed) == 2, proc.stdout

    def dry_run(start: str, end: str, reprocess: str) -> list[str]:
        found = stack.call("POST", "/api/v2/backfills/dry_run", json={
            "dag_id": DAG_ID, "from_date": start, "to_date": end, "reprocess_behavior": reprocess})
        return [_when(b["logical_date"]).astimezone(ZoneInfo(TZ)).date().isoformat()
                for b in found["backfills"]]

    assert dry_run(interval(TRIGGERED[0])[0], interval(TRIGGERED[-1])[0], "completed") == [first, last]
    assert dry_run(f"{first}T00:00:00Z", f"{last}T00:00:00Z", "completed") == [first]
    assert dry_run(interval(TRIGGERED[0])[0], interval(TRIGGERED[-1])[0], "none") == []
