"""The steps of a daily run, as plain functions: the DAG, the CLI and the tests share them.

Nothing here imports Airflow. Each step is keyed on the run date, so re-running
a day repeats the same work and leaves the same tables.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cme.settings import ProviderSettings, load_settings


@dataclass(frozen=True)
class RunContext:
    run_date: date
    landing: Path
    out: Path
    settings_path: Path | None
    # re-decide every completion under the current settings and seeds (`cme run --recompute`)
    recompute: bool = False
    # the dbt data tests run in every daily build; only test fixtures turn them off for a
    # scenario's earlier days (tests/scenario.py), the day they end on testing everything
    data_tests: bool = True

    @property
    def warehouse(self) -> Path:
        return self.out / "warehouse.duckdb"

    def settings(self) -> ProviderSettings:
        return load_settings(self.settings_path)

    @classmethod
    def from_conf(cls, run_date: str, conf: dict | None) -> "RunContext":
        """Paths from the DAG run's conf, else the environment, else ./landing and ./out."""
        conf = conf or {}
        landing = conf.get("landing") or os.environ.get("CME_LANDING_DIR") or "landing"
        out = conf.get("out") or os.environ.get("CME_OUTPUT_DIR") or "out"
        settings = conf.get("settings") or os.environ.get("CME_SETTINGS")
        return cls(date.fromisoformat(run_date[:10]), Path(landing).resolve(), Path(out).resolve(),
                   Path(settings).resolve() if settings else None, bool(conf.get("recompute")))


def check_settings(ctx: RunContext) -> dict:
    """Fail fast, naming the setting, before anything is written.

    Also forgets this date's earlier gate results and export outcomes, so no
    export can act on a gate that did not run in this run, and the summary
    reports only exports of this run.

    Stops, too, when a setting or seed the credit decisions read changed since
    the last run, unless the run recomputes (docs/decisions.md, "History").
    """
    from cme.settings import SettingsError

    settings = ctx.settings()
    problem = rules_changed(ctx)
    if problem:
        raise SettingsError(problem)
    for folder in ("gates", "exports"):
        for stale in (ctx.out / folder).glob(f"*/{ctx.run_date.isoformat()}.json"):
            stale.unlink()
    return {"accreditor": settings.accreditor, "timezone": settings.timezone}


def ingest(ctx: RunContext, load_id: str) -> dict:
    from cme.documents import hash_documents, store_path
    from cme.ingest import ingest_day

    settings = ctx.settings()
    report = ingest_day(ctx.landing, ctx.warehouse, ctx.run_date, settings.timezone, load_id)
    documents = hash_documents(ctx.warehouse, store_path(ctx.landing, settings.document_store))
    return {**report.to_dict(), "disclosure_documents": documents}


def rules_changed(ctx: RunContext) -> str | None:
    """One line naming the settings and seed files the decisions read that changed since
    the last recorded run, with the command that re-decides; None when nothing changed,
    when nothing was recorded yet, or when this run recomputes."""
    from cme import fingerprint
    from cme.dbt_runner import DBT_PROJECT_DIR
    from cme.warehouse import connect, warehouse_url

    if ctx.recompute or not (warehouse_url() or ctx.warehouse.exists()):
        return None
    with connect(ctx.warehouse, read_only=True) as con:
        last = fingerprint.last_recorded(con)
    if last is None:
        return None
    since, previous = last
    names, seeds = fingerprint.current(ctx.settings(), DBT_PROJECT_DIR).changes_since(previous)
    if not (names or seeds):
        return None
    changed = "; ".join(part for part in (
        names and "setting(s) " + ", ".join(names),
        seeds and "seed file(s) " + ", ".join(seeds)) if part)
    command = f"cme run --landing {ctx.landing} --out {ctx.out}"
    if ctx.settings_path:
        command += f" --settings {ctx.settings_path}"
    return (f"the credit rules changed since the run of {since.isoformat()} ({changed}): "
            f"past decisions were made under the old rules and would be kept stale. "
            f"Re-decide every completion with `{command} --date {ctx.run_date.isoformat()} "
            f"--recompute` (Airflow: trigger with param recompute=true)")


def build(ctx: RunContext, full_refresh: bool = False, select: str | None = None,
          label: str = "build") -> dict:
    """One dbt build. The day's main build (no `select`) recomputes every decision when
    the run was asked to, then records what the decisions were decided under."""
    from cme import fingerprint
    from cme.dbt_runner import DBT_PROJECT_DIR, dbt_build
    from cme.warehouse import connect

    main = select is None
    settings = ctx.settings()
    counts = dbt_build(ctx.warehouse, ctx.run_date.isoformat(), settings, ctx.out / "dbt",
                       full_refresh=full_refresh, select=select, label=label,
                       recompute_all=ctx.recompute and main, data_tests=ctx.data_tests)
    if main:
        _mark_ledger(ctx)
        # Recorded when the rules first apply (a re-run with the same rules writes
        # nothing); a build that skipped the check must not hide a change it did not apply.
        now = fingerprint.current(settings, DBT_PROJECT_DIR)
        with connect(ctx.warehouse) as con:
            last = fingerprint.last_recorded(con)
            if last is None or (ctx.recompute and now != last[1]):
                fingerprint.record(con, ctx.run_date, now, ctx.recompute)
    return counts


def list_bodies(ctx: RunContext) -> list[str]:
    """The bodies this provider reports to (PARS or JA-PARS by accreditor, and the rest)."""
    from cme.bodies import active_bodies

    return [b.name for b in active_bodies(ctx.settings())]


def gate(ctx: RunContext, body: str) -> dict:
    from cme.bodies import all_bodies
    from cme.gates import run_gate

    result = run_gate(ctx.warehouse, all_bodies()[body], ctx.run_date, ctx.out, ctx.settings())
    # held record keys stay in the gate file; XCom carries counts only
    return {"body": body, "records_due": result.records_due, "held": len(result.held),
            "stopped": result.stopped}


class ExportFailed(RuntimeError):
    """A body's export or delivery failed. The message names the body, the stage and
    the error class, never a learner value."""


def export_status_path(out: Path, body: str, run_date: date) -> Path:
    return Path(out) / "exports" / body / f"{run_date.isoformat()}.json"


def export_statuses(out: Path, run_date: date) -> dict[str, dict]:
    """Each body's export outcome written this run date (body -> status), by body name."""
    import json

    statuses = {}
    for path in sorted((Path(out) / "exports").glob(f"*/{run_date.isoformat()}.json")):
        status = json.loads(path.read_text())
        statuses[status["body"]] = status
    return statuses


def _write_status(ctx: RunContext, body: str, status: dict) -> None:
    import json

    from cme.bodies.base import write_atomically
    from cme.warehouse import private_dir

    path = export_status_path(ctx.out, body, ctx.run_date)
    private_dir(path.parent.parent)
    private_dir(path.parent)
    write_atomically(path,
                     json.dumps({"body": body, "run_date": ctx.run_date.isoformat(), **status},
                                indent=2).encode())


def _safe_message(exc: Exception) -> str:
    """Our own errors are worded without values; anything else (openpyxl, lxml, the
    csv module...) may quote the value it choked on, so its message is withheld."""
    from cme.export import GateMissing
    from cme.textcells import UnwritableValue
    from cme.transport import DeliveryNotConfigured, TransientError

    if isinstance(exc, (GateMissing, UnwritableValue, TransientError, DeliveryNotConfigured)):
        return str(exc)
    return "message withheld (it may quote a learner value); the task log shows where it failed"


def export(ctx: RunContext, body: str) -> dict:
    """Write the body's new submission, then deliver what is written but not yet answered.

    Delivery runs even when today's gate stopped the batch: records written on
    earlier runs passed their own gate and are still owed to the body.

    The outcome goes to OUT/exports/<body>/<date>.json: `failed` from the start
    (a killed task leaves it so), `ok` only once both steps are done. A failure
    raises ExportFailed with a value-free message, so the task fails.
    """
    import logging
    import traceback

    from cme.bodies import all_bodies
    from cme.delivery import deliver_body
    from cme.export import export_body

    _write_status(ctx, body, {"status": "failed", "stage": "export", "error_class": "Unfinished",
                              "message": "the export started and has not finished"})
    settings = ctx.settings()
    spec = all_bodies()[body]
    stage, failure = "export", None
    try:
        written = export_body(ctx.warehouse, spec, ctx.run_date, ctx.out, settings).to_dict()
        stage = "delivery"
        delivered = deliver_body(ctx.warehouse, spec, ctx.run_date, settings,
                                 timeout=settings.http_timeout_seconds).to_dict()
    except Exception as exc:  # noqa: BLE001 - recorded, then raised again without its value
        failure = {"status": "failed", "stage": stage, "error_class": type(exc).__name__,
                   "message": _safe_message(exc)}
        where = "".join(traceback.format_tb(exc.__traceback__))  # frames only, no message
    if failure:
        # raised outside the except block: the original exception (and its message)
        # is not chained into the task log
        _write_status(ctx, body, failure)
        logging.getLogger(__name__).error("%s %s failed: %s: %s\n%s", body, failure["stage"],
                                          failure["error_class"], failure["message"], where)
        raise ExportFailed(f"{body}: {failure['stage']} failed: {failure['error_class']}: "
                           f"{failure['message']}")
    _write_status(ctx, body, {"status": "ok", "stage": "done", "error_class": None, "message": None,
                              "records_written": written["records_written"]})
    return {**written, "delivery": delivered}


def _ledger_position(ctx: RunContext) -> int:
    from cme.ledger import ensure_ledger
    from cme.warehouse import connect

    with connect(ctx.warehouse) as con:
        ensure_ledger(con)
        return con.execute("select coalesce(max(event_id), 0) from ledger.submission_events").fetchone()[0]


def _ledger_mark_path(ctx: RunContext) -> Path:
    return ctx.out / "dbt" / f"ledger_seen_{ctx.run_date.isoformat()}.json"


def _mark_ledger(ctx: RunContext) -> None:
    """Remember how far the ledger went when the day's marts were built."""
    import json

    _ledger_mark_path(ctx).write_text(json.dumps({"max_event_id": _ledger_position(ctx)}))


def refresh_after_export(ctx: RunContext) -> dict:
    """Rebuild what reads the ledger, so marts and the queue show what was just written.
    Skipped when exports and deliveries appended nothing since the day's build: the marts
    already show that ledger."""
    import json

    mark = _ledger_mark_path(ctx)
    if mark.exists() and json.loads(mark.read_text())["max_event_id"] == _ledger_position(ctx):
        return {"skipped": "no ledger events since the build"}
    return build(ctx, select="source:ledger+", label="ledger_refresh")


def summarize(ctx: RunContext) -> dict:
    from cme.summary import build_summary

    settings = ctx.settings()
    return build_summary(ctx.warehouse, ctx.run_date, ctx.out, settings.deadline_alert_days,
                         [b for b, t in settings.transport.items() if t == "http"])


class RunFailed(RuntimeError):
    """Some body's export or delivery failed this run (names the bodies, no values)."""


def check_exports(ctx: RunContext) -> dict:
    """Fail the run when any active body's export or delivery did not finish `ok`.

    Runs after the summary is written, so the summary says FAILED for the body
    and the run still ends failed (and `cme run` exits non-zero)."""
    statuses = export_statuses(ctx.out, ctx.run_date)
    failed = {}
    for body in list_bodies(ctx):
        status = statuses.get(body) or {
            "status": "failed", "stage": "export", "error_class": "NotRun",
            "message": "the export task did not run"}
        if status["status"] != "ok":
            failed[body] = f"{status['stage']} failed: {status['error_class']}: {status['message']}"
    if failed:
        raise RunFailed("; ".join(f"{b}: {why}" for b, why in failed.items()))
    return {"exports": "ok"}


def alert_on_closed_windows(ctx: RunContext, summary: dict) -> Path | None:
    """Raise the alarm when records passed their window unsent: an alert file and an
    error in the log, and a POST to CME_ALERT_WEBHOOK when one is set. Counts only."""
    import json
    import logging
    import os

    closed = summary.get("windows_closed_unsent") or {}
    if not closed:
        return None
    from cme.warehouse import make_private, private_dir

    alert = {"run_date": ctx.run_date.isoformat(), "windows_closed_unsent": closed,
             "message": "records passed their reporting window unsent: see fct_compliance_exceptions"}
    path = private_dir(ctx.out / "alerts") / f"window_closed_{ctx.run_date.isoformat()}.json"
    path.write_text(json.dumps(alert, indent=2))
    make_private(path)
    logging.getLogger(__name__).error("DEADLINE ALERT %s: %s", ctx.run_date, closed)
    webhook = os.environ.get("CME_ALERT_WEBHOOK")
    if webhook:
        import httpx

        httpx.post(webhook, json=alert, timeout=10)
    return path
