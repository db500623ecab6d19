"""The one real `cme run` of the shared landing (conftest's `airflow_run`, two days in one
Airflow process): what only Airflow and the runner do. Every pipeline outcome is tested
in process (tests/test_daily_pipeline.py and the rest, on `pipeline_run`)."""
from __future__ import annotations

import json
import sqlite3
import stat

import pytest

from tests.conftest import DAYS
from tests.test_daily_pipeline import assert_private_and_no_identifiers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_cme_run_prints_each_days_summary_as_its_run_finishes(airflow_run):
    out = airflow_run.stdout
    assert out.index(f"Run {DAYS[0]}:") < out.index(f"Run {DAYS[1]}:")
    assert f"Run {DAYS[2]}:" not in out
    summary = json.loads((airflow_run.out / "reports" / f"run_summary_{DAYS[1]}.json").read_text())
    assert all(f["conserved"] for f in summary["files"])


def test_every_task_of_each_dag_run_succeeded_once(airflow_run):
    """The task graph ran whole through Airflow: every task, each mapped body, no retry."""
    with sqlite3.connect(airflow_run.out / "airflow" / "airflow.db") as db:
        runs = db.execute("select run_id, state from dag_run").fetchall()
        states = db.execute("select task_id, map_index, state, try_number from task_instance").fetchall()
    assert len(runs) == 2 and {s for _, s in runs} == {"success"}
    tasks = {t for t, *_ in states}
    assert tasks >= {"check_settings", "landing_ready", "ingest", "dbt_build", "list_bodies", "gate",
                     "export", "refresh_ledger_marts", "run_summary", "check_exports"}
    assert {s for _, _, s, _ in states} == {"success"}
    assert {n for *_, n in states} == {1}
    assert sum(1 for t, i, *_ in states if t == "export" and i >= 0) >= 2 * 3  # mapped per body


def test_outputs_are_private_and_airflows_logs_hold_no_learner_identifiers(airflow_run):
    out = airflow_run.out
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    # Airflow's task log holds every task's return value (XCom): counts and paths only
    assert_private_and_no_identifiers(out, [out / "logs" / "airflow_runs.log"])
    log = (out / "logs" / "airflow_runs.log").read_text(errors="replace")
    assert "check_exports" in log


def test_dbts_file_log_says_what_each_node_did_without_every_statement(airflow_run):
    """A daily run logs dbt at info: each node's start, result and error, not the SQL of
    every statement (that is DBT_LOG_LEVEL_FILE=debug, an operator's choice)."""
    log = (airflow_run.out / "dbt" / "logs" / "dbt.log").read_text()
    assert "[info ]" in log and "fct_pars_records" in log
    assert "[debug]" not in log
