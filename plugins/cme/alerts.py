"""The alert raised when a DAG task fails for good (the DAG's `on_failure_callback`).

Like the deadline alert (`pipeline.alert_on_closed_windows`): a private file under
OUT/alerts/, an ERROR line in the log and, when CME_ALERT_WEBHOOK is set, a POST of
the same JSON. It names the task (and the body of a mapped task), the error class
and a message without learner values: our own errors are worded without values;
any other error's message is withheld (it may quote the value it choked on), and a
dbt failure is reduced to the names of the failed models and tests.

Nothing here imports Airflow; `cme run` reads the files back to say what failed.
"""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import date, datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

WITHHELD = "message withheld (it may quote a learner value); the task log shows where it failed"
# Airflow's own errors that say what happened without quoting data
_AIRFLOW_VALUE_FREE = {"AirflowSensorTimeout", "AirflowTaskTimeout", "AirflowTaskTerminated",
                       "AirflowFailException"}


class RunStopped(RuntimeError):
    """Raised by the DAG's last task to end a run failed that an earlier task failed; that
    task alerted, so this one does not (names tasks and states only)."""


def _value_free_classes() -> tuple[type, ...]:
    from cme.export import GateMissing
    from cme.ingest import ConservationError, IngestRefused
    from cme.pipeline import ExportFailed, RunFailed
    from cme.settings import SettingsError
    from cme.textcells import UnwritableValue
    from cme.transport import DeliveryNotConfigured, TransientError

    return (SettingsError, ConservationError, IngestRefused, GateMissing, UnwritableValue, TransientError,
            DeliveryNotConfigured, ExportFailed, RunFailed, RunStopped)


def safe_message(exc: BaseException | None) -> str:
    """One line saying what went wrong, without any learner value."""
    from cme.dbt_runner import DbtBuildError

    if exc is None:
        return "the task failed without an exception (killed, or failed by its runner)"
    if isinstance(exc, DbtBuildError):
        # dbt's test messages are counts, but a model's database error may quote a value
        nodes = re.findall(r"(?:^|; |: )((?:model|test|seed|snapshot|unit_test) [\w.]+):", str(exc))
        return (f"dbt build failed: {', '.join(nodes)}" if nodes else "dbt build failed") \
            + " (details in the task log)"
    if isinstance(exc, _value_free_classes()) or type(exc).__name__ in _AIRFLOW_VALUE_FREE:
        return " ".join(str(exc).split()) or type(exc).__name__
    return WITHHELD


def alert_path(out: Path, run_date: date, task_id: str, label: str | None = None) -> Path:
    name = f"task_failed_{run_date.isoformat()}_{task_id}" + (f"_{label}" if label else "")
    return Path(out) / "alerts" / (re.sub(r"[^\w.-]", "_", name) + ".json")


def task_failed(out: Path, run_date: date, task_id: str, exc: BaseException | None, *,
                map_index: int | None = None, body: str | None = None, run_id: str | None = None,
                try_number: int | None = None) -> Path:
    """Write the alert file, log it as an ERROR and POST it to CME_ALERT_WEBHOOK if set."""
    from cme.warehouse import make_private, private_dir

    mapped = map_index is not None and map_index >= 0
    alert = {"alert": "task_failed", "run_date": run_date.isoformat(), "task_id": task_id,
             "map_index": map_index if mapped else None, "body": body, "run_id": run_id,
             "try_number": try_number,
             "error_class": type(exc).__name__ if exc is not None else None,
             "message": safe_message(exc),
             "failed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    label = body or (str(map_index) if mapped else None)
    path = alert_path(out, run_date, task_id, label)
    private_dir(path.parent)
    path.write_text(json.dumps(alert, indent=2))
    make_private(path)
    where = f"{task_id}[{label}]" if label else task_id
    log.error("TASK FAILED %s on %s: %s: %s", where, run_date, alert["error_class"], alert["message"])
    webhook = os.environ.get("CME_ALERT_WEBHOOK")
    if webhook:
        import httpx

        try:
            httpx.post(webhook, json=alert, timeout=10)
        except httpx.HTTPError as exc_post:  # the alert file and the log line still stand
            log.error("alert webhook unreachable: %s", type(exc_post).__name__)
    return path


def failed_since(out: Path, run_date: date, since: float) -> list[dict]:
    """The task-failure alerts of `run_date` written at or after `since` (a time.time())."""
    alerts = []
    for path in sorted((Path(out) / "alerts").glob(f"task_failed_{run_date.isoformat()}_*.json")):
        if path.stat().st_mtime >= since:
            alerts.append(json.loads(path.read_text()))
    return alerts


def describe(alert: dict) -> str:
    label = alert.get("body") or (str(alert["map_index"]) if alert.get("map_index") is not None else None)
    where = f"{alert['task_id']}[{label}]" if label else alert["task_id"]
    return f"task {where} failed: {alert['error_class']}: {alert['message']}"
