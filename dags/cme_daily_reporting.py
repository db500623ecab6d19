"""
### cme_daily_reporting

One run per extract date D, started after D ended: the schedule is daily data
intervals [D 00:00, D+1 00:00) in the provider's time zone, and the run for D is
the one whose interval starts on D. After the settings check, a sensor waits (rescheduling itself,
no worker slot held) until `landing/<D>/` is ready (cme.landing: the folder,
plus the completion marker the settings name) or the day's deadline passes,
then fails naming the folder and what is missing. Then: read `landing/<D>/`, load it
into the warehouse's `raw` schema (bad rows quarantined with file, line,
column and reason), build the dbt project once (staging -> intermediate ->
marts, with every data test and unit test), then for each reporting body run
its Great Expectations gate and write its submission files, rebuild what reads
the submission ledger, and write the run summary. The last task fails the run
when any body's export or delivery failed (the summary says FAILED for it).

Gates and exports are mapped per body: one body's failure does not stop the
others (exports run when all gates are done, and each reads only its own
body's gate result).

A failure before the exports (landing_ready, check_settings, ingest, dbt_build,
list_bodies) stops the run there: refresh_ledger_marts and
run_summary skip, and check_exports fails the run. Every task that fails for good
writes an alert (OUT/alerts/task_failed_<date>_<task>[_<body>].json, an ERROR log
line, CME_ALERT_WEBHOOK when set) naming the task and its error class, never a
learner value.

Paths come from the run's conf (`landing`, `out`, `settings`), else from the
`CME_LANDING_DIR`, `CME_OUTPUT_DIR` and `CME_SETTINGS` environment variables.
The schedule's time zone is read when the file is parsed, so it comes from
`CME_SCHEDULE_TIMEZONE` (default America/Chicago, the settings' default), not
from the settings file; a scheduled run stops if it differs from the setting
`timezone`. `CME_LANDING_POKE_SECONDS` sets how often the wait looks (300 s).
A run with param `wait_for_landing` false (`cme run`) looks once and fails at once.

DuckDB allows one writer per file, so the DAG runs one task at a time
(`max_active_tasks=1`, `max_active_runs=1`) and dbt builds in one process.
A backfill runs day by day, in date order, when created with max_active_runs 1: Airflow 3
does not apply the DAG's max_active_runs to backfill runs (README, "Backfill").
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import (Asset, BaseSensorOperator, CronDataIntervalTimetable, Param, dag,
                         get_current_context, task)

# First retry delay (then exponential): 30 s, or CME_RETRY_DELAY_SECONDS (the tests use 1 s,
# so a failure they provoke does not wait out a minute and a half of retries).
RETRY_DELAY = timedelta(seconds=float(os.environ.get("CME_RETRY_DELAY_SECONDS", "30")))

# The run for extract date D covers [D 00:00, D+1 00:00) in the provider's time zone and
# starts when that interval ends. Parse-time values come from the environment only
# (docs/decisions.md, "Scheduling"): the file is parsed often and reads no settings.
SCHEDULE_TIMEZONE = os.environ.get("CME_SCHEDULE_TIMEZONE") or "America/Chicago"
LANDING_POKE = timedelta(seconds=float(os.environ.get("CME_LANDING_POKE_SECONDS", "300")))

# Downstream DAGs (exports, dashboards) can be scheduled on the marts being refreshed.
# The event comes from refresh_ledger_marts, the last task that writes marts: after
# dbt_build the body marts, the exception queue and fct_submission_ledger do not yet show
# what the exports just wrote (issue 15). It is emitted whatever the exports' outcome
# (the task runs on all_done), and not when a preparation step failed (the task skips).
MARTS = Asset("cme://warehouse/marts")


def _ctx():
    # Imported inside tasks: no package or DuckDB work at DAG-parse time.
    from cme.pipeline import RunContext

    context = get_current_context()
    params = dict(context["params"])
    return RunContext.from_conf(_run_date(context, params), params)


def _run_date(context, params: dict) -> str:
    """The param `run_date`, else the start of the run's data interval in the schedule's
    time zone (for a zone east of UTC, `ds`, taken in UTC, would be the day before)."""
    if params.get("run_date"):
        return params["run_date"]
    start = context.get("data_interval_start")
    if start is None:
        return context["ds"]
    import pendulum

    return pendulum.instance(start).in_timezone(SCHEDULE_TIMEZONE).date().isoformat()


class LandingReady(BaseSensorOperator):
    """Wait until landing/<date>/ is ready (cme.landing), rescheduling itself between looks
    (no worker slot held). Past the day's deadline, or at once when the run's param
    `wait_for_landing` is false (`cme run`), fail naming the folder and what is missing;
    not retried. (A plain subclass: the standard provider's @task.sensor module prints a
    deprecation warning at every parse.)"""

    def poke(self, context) -> bool:
        from airflow.sdk.exceptions import AirflowFailException

        from cme.landing import LandingNotReady, poke

        run_type = str(getattr(context["dag_run"], "run_type", "")).lower()
        try:
            state = poke(_ctx(), wait=bool(context["params"].get("wait_for_landing", True)),
                         schedule_timezone=SCHEDULE_TIMEZONE if run_type.endswith("scheduled") else None)
        except LandingNotReady as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info("%s", state.reason)
        return state.ready


# The steps that prepare what the exports read. When one of them did not succeed (it
# failed, or was skipped), the tasks after the exports have nothing to work on and skip;
# when only gates or exports failed they still run (the summary says FAILED for the body).
PREPARATION = ("landing_ready", "check_settings", "ingest", "dbt_build", "list_bodies")
FAILED = ("failed", "upstream_failed")


def _states(task_ids) -> dict[str, str]:
    """This run's state of each named task the DAG has (unmapped tasks; 'none' if not run)."""
    context = get_current_context()
    ti = context["ti"]
    present = [t for t in task_ids if t in context["dag"].task_ids]
    found = ti.get_task_states(dag_id=ti.dag_id, task_ids=present, run_ids=[ti.run_id]).get(ti.run_id, {})
    return {t: str(found.get(t) or "none") for t in present}


def _skip_unless_prepared() -> None:
    """Skip this task (AirflowSkipException) unless every preparation step succeeded in this
    run, so a failure before the exports is not followed by unrelated errors and retries."""
    from airflow.sdk.exceptions import AirflowSkipException

    unfinished = {t: s for t, s in _states(PREPARATION).items() if s != "success"}
    if unfinished:
        raise AirflowSkipException(
            "skipped: " + ", ".join(f"{t} ({s})" for t, s in unfinished.items())
            + " did not succeed, so there is nothing to refresh or summarise")


def _end_as_the_run_went(stage: str) -> None:
    """In the last task: end the run failed when a step before it failed, although the
    tasks in between skipped (a DAG run's state follows its last task). Before the exports
    check (`stage="before"`): a preparation step that failed fails this task with RunStopped
    (no alert of its own: the failed step raised it); one that was skipped (a sensor's soft
    fail) skips it. After (`stage="after"`): refresh_ledger_marts or run_summary failed."""
    from airflow.sdk.exceptions import AirflowSkipException

    from cme.alerts import RunStopped

    steps = PREPARATION if stage == "before" else ("refresh_ledger_marts", "run_summary")
    states = _states(steps)
    failed = [f"{t} ({s})" for t, s in states.items() if s in FAILED]
    if failed:
        raise RunStopped("the run stopped: " + ", ".join(failed))
    skipped = [t for t, s in states.items() if s != "success"]
    if skipped:
        raise AirflowSkipException("skipped: " + ", ".join(skipped) + " did not run")


def _task_failed_alert(context) -> None:
    """Callback (every task, on its final failure): the alert file under OUT/alerts/, an
    ERROR log line and the webhook, naming the task, its body and the error class."""
    import logging

    ti = context["ti"]
    if type(context.get("exception")).__name__ == "RunStopped":
        return  # the last task repeating an earlier failure, which alerted already
    try:
        from cme.alerts import task_failed
        from cme.pipeline import RunContext

        params = dict(context["params"])
        ctx = RunContext.from_conf(params.get("run_date") or context["ds"], params)
        task_failed(ctx.out, ctx.run_date, ti.task_id, context.get("exception"),
                    map_index=getattr(ti, "map_index", None),
                    body=context.get("body_name") or getattr(ti, "rendered_map_index", None),
                    run_id=ti.run_id, try_number=getattr(ti, "try_number", None))
    except Exception as exc:  # noqa: BLE001 - an alert that cannot be written must say so, not mask
        logging.getLogger(__name__).error("TASK FAILED %s; the alert could not be written: %s",
                                          ti.task_id, type(exc).__name__)


def _deadline_alert(context) -> None:
    """Callback: alert when anything passed its reporting window unsent this run."""
    import json

    from cme.pipeline import RunContext, alert_on_closed_windows

    params = dict(context["params"])
    ctx = RunContext.from_conf(_run_date(context, params), params)
    report = ctx.out / "reports" / f"run_summary_{ctx.run_date.isoformat()}.json"
    alert_on_closed_windows(ctx, json.loads(report.read_text()))


@dag(
    dag_id="cme_daily_reporting",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=SCHEDULE_TIMEZONE),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    tags=["cme", "compliance", "duckdb", "dbt"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY,
                  "retry_exponential_backoff": True, "owner": "data-team",
                  "on_failure_callback": _task_failed_alert},
    params={
        "landing": Param(None, type=["null", "string"], description="Landing directory"),
        "out": Param(None, type=["null", "string"], description="Output directory"),
        "settings": Param(None, type=["null", "string"], description="Provider settings file"),
        "run_date": Param(None, type=["null", "string"],
                          description="Extract date to process; defaults to the logical date"),
        "full_refresh": Param(False, type="boolean",
                              description="Rebuild every table except the history (exceptions, "
                                          "decided_on), which is kept; does not re-decide"),
        "wait_for_landing": Param(True, type="boolean",
                                  description="Wait for landing/<date>/ until the day's deadline; "
                                              "false: look once and fail if it is not ready"),
        "recompute": Param(False, type="boolean",
                           description="Re-decide every completion under the current settings and "
                                       "seeds (required after a change the decisions read)"),
    },
)
def cme_daily_reporting():
    landing_ready = LandingReady(task_id="landing_ready", mode="reschedule",
                                 poke_interval=LANDING_POKE, timeout=timedelta(days=8), retries=0)

    @task(retries=0)
    def check_settings() -> dict:
        """An invalid setting stops the run here, naming the setting. Not retried."""
        from cme.pipeline import check_settings as run

        return run(_ctx())

    @task
    def ingest() -> dict:
        """Load landing/<ds>/ into raw; returns per-file counts (no learner data).
        A refused file (not a CSV text file) fails the day at once: a retry would read the
        same bytes."""
        from airflow.sdk.exceptions import AirflowFailException

        from cme.ingest import IngestRefused
        from cme.pipeline import ingest as run

        context = get_current_context()
        try:
            return run(_ctx(), load_id=f"{context['ds']}/{context['run_id']}")
        except IngestRefused as exc:
            raise AirflowFailException(f"IngestRefused: {exc}") from None

    @task(retries=1)
    def dbt_build() -> dict:
        """One `dbt build`; a failure names each failed model or test."""
        from cme.pipeline import build as run

        return run(_ctx(), full_refresh=bool(get_current_context()["params"].get("full_refresh")))

    @task
    def list_bodies() -> list[str]:
        from cme.pipeline import list_bodies as run

        return run(_ctx())

    @task(map_index_template="{{ body_name }}")
    def gate(body: str) -> dict:
        """Validate the records due with the body's GX suites; hold or stop, never send."""
        from cme.pipeline import gate as run

        get_current_context()["body_name"] = body  # labels the mapped task in the UI
        return run(_ctx(), body)

    @task(trigger_rule="all_done", map_index_template="{{ body_name }}")
    def export(body: str) -> dict:
        """Write the body's submission files and ledger rows for records that passed its gate."""
        from cme.pipeline import export as run

        get_current_context()["body_name"] = body
        return run(_ctx(), body)

    @task(trigger_rule="all_done", retries=1, outlets=[MARTS])
    def refresh_ledger_marts() -> dict:
        """After the exports, whatever their outcome; skipped when a preparation step failed."""
        from cme.pipeline import refresh_after_export

        _skip_unless_prepared()
        return refresh_after_export(_ctx())

    @task(trigger_rule="all_done", on_success_callback=_deadline_alert)
    def run_summary() -> dict:
        from cme.pipeline import summarize
        from cme.summary import format_summary

        _skip_unless_prepared()
        summary = summarize(_ctx())
        print(format_summary(summary))
        return summary

    @task(trigger_rule="all_done", retries=0)
    def check_exports() -> dict:
        """Fail the run when a body's export or delivery failed (after the summary says so),
        or when any step before failed (the tasks between skipped or ran anyway)."""
        from cme.pipeline import check_exports as run

        _end_as_the_run_went("before")
        result = run(_ctx())
        _end_as_the_run_went("after")
        return result

    bodies = list_bodies()
    gates = gate.expand(body=bodies)
    exports = export.expand(body=bodies)
    # settings first: an invalid setting fails in seconds, not after a wait for the files
    check_settings() >> landing_ready >> ingest() >> dbt_build() >> bodies
    gates >> exports >> refresh_ledger_marts() >> run_summary() >> check_exports()


cme_daily_reporting()
