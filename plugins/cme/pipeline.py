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
                   Path(settings).resolve() if settings else None)


def check_settings(ctx: RunContext) -> dict:
    """Fail fast, naming the setting, before anything is written.

    Also forgets this date's earlier gate results, so no export can act on a
    gate that did not run in this run.
    """
    settings = ctx.settings()
    for stale in (ctx.out / "gates").glob(f"*/{ctx.run_date.isoformat()}.json"):
        stale.unlink()
    return {"accreditor": settings.accreditor, "timezone": settings.timezone}


def ingest(ctx: RunContext, load_id: str) -> dict:
    from cme.documents import hash_documents, store_path
    from cme.ingest import ingest_day

    settings = ctx.settings()
    report = ingest_day(ctx.landing, ctx.warehouse, ctx.run_date, settings.timezone, load_id)
    documents = hash_documents(ctx.warehouse, store_path(ctx.landing, settings.document_store))
    return {**report.to_dict(), "disclosure_documents": documents}


def build(ctx: RunContext, full_refresh: bool = False, select: str | None = None,
          label: str = "build") -> dict:
    from cme.dbt_runner import dbt_build

    return dbt_build(ctx.warehouse, ctx.run_date.isoformat(), ctx.settings(), ctx.out / "dbt",
                     full_refresh=full_refresh, select=select, label=label)


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


def export(ctx: RunContext, body: str) -> dict:
    """Write the body's new submission, then deliver what is written but not yet answered.

    Delivery runs even when today's gate stopped the batch: records written on
    earlier runs passed their own gate and are still owed to the body.
    """
    from cme.bodies import all_bodies
    from cme.delivery import deliver_body
    from cme.export import export_body

    settings = ctx.settings()
    spec = all_bodies()[body]
    written = export_body(ctx.warehouse, spec, ctx.run_date, ctx.out, settings).to_dict()
    delivered = deliver_body(ctx.warehouse, spec, ctx.run_date, settings,
                             timeout=settings.http_timeout_seconds).to_dict()
    return {**written, "delivery": delivered}


def refresh_after_export(ctx: RunContext) -> dict:
    """Rebuild what reads the ledger, so marts and the queue show what was just written."""
    return build(ctx, select="source:ledger+", label="ledger_refresh")


def summarize(ctx: RunContext) -> dict:
    from cme.summary import build_summary

    settings = ctx.settings()
    return build_summary(ctx.warehouse, ctx.run_date, ctx.out, settings.deadline_alert_days,
                         [b for b, t in settings.transport.items() if t == "http"])


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
