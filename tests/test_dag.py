"""The DAG imports cleanly through Airflow's own DagBag, and is wired as documented."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dagbag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "cme_daily_reporting" in dagbag.dags


def test_daily_dag_runs_one_task_at_a_time_in_stage_order(dagbag):
    dag = dagbag.dags["cme_daily_reporting"]
    assert dag.max_active_tasks == 1 and dag.max_active_runs == 1  # one DuckDB writer
    order = ["check_settings", "landing_ready", "ingest", "dbt_build", "list_bodies", "gate", "export",
             "refresh_ledger_marts", "run_summary"]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    # exports run once every gate is done, whatever their outcome: each export reads
    # only its own body's gate result, so one body's failure cannot block another
    assert dag.get_task("export").trigger_rule == "all_done"
    assert dag.get_task("run_summary").trigger_rule == "all_done"
    # the deadline alert fires from the summary task once it knows what passed its window
    assert dag.get_task("run_summary").on_success_callback
    assert dag.get_task("check_settings").retries == 0  # a bad setting is not retried
    # every task alerts when it fails for good (cme.alerts); the last one ends the run failed
    # when a step before it failed (tests/test_run_failures.py)
    assert all(t.on_failure_callback for t in dag.tasks)
    assert dag.get_task("check_exports").trigger_rule == "all_done"
    assert dag.get_task("ingest").retries == 2
    assert {"cme", "compliance"} <= set(dag.tags)


def test_the_marts_asset_is_announced_by_the_task_that_last_writes_the_marts(dagbag):
    """Issue 15: the outlet sat on dbt_build, so a DAG scheduled on the marts started before
    the exports' ledger rows reached the body marts, the exception queue and
    fct_submission_ledger. refresh_ledger_marts rebuilds those after every export."""
    dag = dagbag.dags["cme_daily_reporting"]
    announcing = {t.task_id: [o.uri for o in t.outlets] for t in dag.tasks if t.outlets}
    assert announcing == {"refresh_ledger_marts": ["cme://warehouse/marts"]}
    refresh = dag.get_task("refresh_ledger_marts")
    # nothing after it rebuilds a mart: only the summary and the final check follow
    assert refresh.get_flat_relative_ids(upstream=False) == {"run_summary", "check_exports"}
    assert refresh.trigger_rule == "all_done"  # announced even when one body's export failed


def test_a_run_starts_after_its_day_and_waits_for_the_landing_folder(dagbag):
    """Issue 10: '@daily' gave a run the date it started on, so it read an empty folder.
    The run for D covers [D, D+1) in the provider's time zone and waits for landing/<D>/."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["cme_daily_reporting"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"
    assert str(dag.timetable.timezone) == (os.environ.get("CME_SCHEDULE_TIMEZONE") or "America/Chicago")
    assert dag.catchup is False
    sensor = dag.get_task("landing_ready")
    assert sensor.mode == "reschedule" and sensor.retries == 0  # no worker slot held while waiting
    assert dag.params["wait_for_landing"] is True  # cme run passes false: look once
    # right after the settings check: a bad setting fails at once, not after the wait
    assert dag.get_task("landing_ready").upstream_task_ids == {"check_settings"}
    # what the scheduler does: the run after 26 Nov 00:00 Chicago is the one for 25 Nov
    from airflow.serialization.serialized_objects import DagSerialization

    tt = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable
    chicago = ZoneInfo("America/Chicago")
    if str(dag.timetable.timezone) == "America/Chicago":
        interval = tt.infer_manual_data_interval(run_after=datetime(2026, 11, 26, 13, 3, tzinfo=chicago))
        assert interval.start == datetime(2026, 11, 25, tzinfo=chicago)
        assert interval.end == datetime(2026, 11, 26, tzinfo=chicago)


def test_parsing_the_dag_file_loads_neither_the_package_nor_duckdb():
    """The scheduler parses DAG files often: heavy imports belong inside tasks."""
    import subprocess
    import sys

    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(DAGS / 'cme_daily_reporting.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cme', 'duckdb', 'dbt')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
