"""The run summary: what a data engineer checks after each day's run.

Counts only: no names, birth dates or license numbers, so it is safe to log,
to pass through XCom and to print.
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from cme import executable
from cme.dashboard import DEFAULT_PORT
from cme.warehouse import connect, make_private, private_dir, warehouse_url

DASHBOARD_URL = f"http://127.0.0.1:{DEFAULT_PORT}/"  # where `cme dashboard` listens by default


def build_summary(warehouse: Path, run_date: date, out_dir: Path, alert_days: int = 7,
                  http_bodies: list[str] | None = None) -> dict:
    with connect(Path(warehouse), read_only=True) as con:
        def one(sql: str, params=()):
            return con.execute(sql, list(params)).fetchone()[0]

        # status: loaded | absent (not landed: no rows of that kind) | unknown (not in the contract)
        listed = con.execute(
            "select _file, rows_read, rows_loaded, rows_quarantined, coalesce(status, 'loaded') "
            "from raw.loaded_files where _extract_date = ? order by _file", [run_date]).fetchall()
        files = [f[:4] for f in listed if f[4] != "unknown"]
        reasons = con.execute(
            "select coalesce(nullif(\"column\", '') || ': ', '') || reason, count(*) "
            "from raw.quarantine where _extract_date = ? group by 1 order by 2 desc, 1",
            [run_date]).fetchall()
        decisions = con.execute(
            "select coalesce(reason_code, 'AWARDED'), count(*) from fct_credit_decisions "
            "where decided_on = ? group by 1 order by 2 desc, 1", [run_date]).fetchall()
        summary = {
            "run_date": run_date.isoformat(),
            "files": [dict(file=f, rows_read=r, rows_loaded=ld, rows_quarantined=q,
                           conserved=(r == ld + q)) for f, r, ld, q in files],
            "absent_files": [f[0] for f in listed if f[4] == "absent"],
            "unknown_files": [f[0] for f in listed if f[4] == "unknown"],
            "rows_read": sum(f[1] for f in files),
            "rows_quarantined": sum(f[3] for f in files),
            "quarantine_reasons": dict(reasons),
            "people": one("select count(*) from dim_people"),
            "people_in_identity_conflict": one(
                "select count(*) from dim_people where has_identity_conflict"),
            "activities": one("select count(*) from dim_activities"),
            "completions_decided_this_run": one(
                "select count(distinct completion_key) from fct_credit_decisions where decided_on = ?",
                [run_date]),
            "unmatched_completions": one(
                "select count(*) from main.fct_completions where not is_matched"),
            "decisions_this_run": dict(decisions),
            "awards_total": one("select count(*) from fct_credit_awards"),
            "awards_this_run": one("select count(*) from fct_credit_awards where decided_on = ?",
                                   [run_date]),
            "credits_awarded_by_type": {t: float(c) for t, c in con.execute(
                "select credit_type, sum(credits_awarded) from fct_credit_awards "
                "group by 1 order by 1").fetchall()},
            "bodies": _bodies(con, run_date, Path(out_dir)),
            **_deadlines(con, run_date, alert_days, http_bodies or []),
            "exceptions_opened": dict(con.execute(
                "select reason_code, count(*) from fct_compliance_exceptions "
                "where first_seen_on = ? group by 1 order by 2 desc, 1", [run_date]).fetchall()),
            "exceptions_closed": dict(con.execute(
                "select reason_code, count(*) from fct_compliance_exceptions "
                "where closed_on = ? group by 1 order by 2 desc, 1", [run_date]).fetchall()),
            "exceptions_open": dict(con.execute(
                "select severity, count(*) from fct_compliance_exceptions where status = 'open' "
                "group by 1 order by 1").fetchall()),
        }
    reports = private_dir(Path(out_dir) / "reports")
    # where the data is: the PostgreSQL URL (never holds a password) or the DuckDB file
    summary["warehouse"] = warehouse_url() or str(Path(warehouse).resolve())
    summary["report"] = str((reports / f"run_summary_{run_date.isoformat()}.json").resolve())
    summary["dashboard"] = f"{executable('cme')} dashboard --out {Path(out_dir).resolve()}"
    path = Path(summary["report"])
    path.write_text(json.dumps(summary, indent=2))
    make_private(path)
    return summary


def _bodies(con, run_date: date, out_dir: Path) -> dict:
    """Per body: records due, written this date, held back, late, and a stopped batch's reasons."""
    bodies = {}
    for gate_file in sorted(out_dir.glob(f"gates/*/{run_date.isoformat()}.json")):
        gate = json.loads(gate_file.read_text())
        body = gate["body"]
        written = con.execute(
            "select count(distinct record_key || record_action || record_hash) "
            "from ledger.submission_events where body = ? and event = 'written' and run_date = ?",
            [body, run_date]).fetchone()[0]
        late = con.execute(
            "select count(*) from fct_compliance_exceptions where body = ? and reason_code = 'LATE' "
            "and (status = 'open' or closed_on = ?)", [body, run_date]).fetchone()[0]
        answers = dict(con.execute(
            "select event, count(*) from ledger.submission_events where body = ? and run_date = ? "
            "and event in ('accepted', 'rejected', 'sent') group by 1", [body, run_date]).fetchall())
        bodies[body] = {"records_due": gate["records_due"], "written": written,
                        "held_back": len(gate["held"]), "late": late, "stopped": gate["stopped"],
                        "accepted": answers.get("accepted", 0), "rejected": answers.get("rejected", 0),
                        "awaiting_answer": answers.get("sent", 0)}
    # each export writes its outcome (cme.pipeline.export): `failed` until it finishes
    from cme.pipeline import export_statuses

    for body, status in export_statuses(out_dir, run_date).items():
        entry = bodies.setdefault(body, {
            "records_due": 0, "written": 0, "held_back": 0, "late": 0,
            "stopped": ["no gate result this run"], "accepted": 0, "rejected": 0, "awaiting_answer": 0})
        entry["export"] = {k: status.get(k) for k in ("status", "stage", "error_class", "message")}
    return bodies


def _deadlines(con, run_date: date, days: int, http_bodies: list[str]) -> dict:
    """Records due within `days` and not yet accepted; records whose window closed unsent.

    For a body delivered by file drop, a written file is as far as it goes."""
    due_soon = {}
    http = ", ".join("?" for _ in http_bodies) or "null"  # `in (null)`: no body is http
    done = "submission_state in ('accepted', 'superseded') or " \
           f"(submission_state = 'written' and not coalesce(body in ({http}), false))"
    for body, n, first_due in con.execute(
            "select body, count(*), min(due_on) from main.fct_body_records "
            f"where record_action = 'Add' and not ({done}) "
            "and due_on between ? and ? + ? group by 1 order by 1",
            [*http_bodies, run_date, run_date, days]).fetchall():
        due_soon[body] = {"records": n, "first_due_on": first_due.isoformat()}
    closed = con.execute(
        "select body, count(*) from fct_compliance_exceptions where reason_code = 'WINDOW_CLOSED' "
        "and status = 'open' and first_seen_on = ? group by 1", [run_date]).fetchall()
    return {"due_soon": due_soon, "windows_closed_unsent": dict(closed)}


def format_summary(summary: dict) -> str:
    lines = [
        f"Run {summary['run_date']}: {summary['rows_read']} rows read, "
        f"{summary['rows_quarantined']} quarantined",
        f"  people {summary['people']} ({summary['people_in_identity_conflict']} in identity "
        f"conflict), activities {summary['activities']}",
        f"  completions decided this run {summary['completions_decided_this_run']}, "
        f"unmatched {summary['unmatched_completions']}",
        f"  awards this run {summary['awards_this_run']} (total {summary['awards_total']})",
    ]
    if summary.get("absent_files"):
        lines.append("  absent: " + ", ".join(f"no {name} today" for name in summary["absent_files"]))
    if summary.get("unknown_files"):
        lines.append("  UNKNOWN files in the date folder, not read: " + ", ".join(summary["unknown_files"]))
    if summary["quarantine_reasons"]:
        lines.append("  quarantined: " + ", ".join(
            f"{reason} x{n}" for reason, n in summary["quarantine_reasons"].items()))
    if summary["decisions_this_run"]:
        lines.append("  decisions: " + ", ".join(
            f"{reason} {n}" for reason, n in summary["decisions_this_run"].items()))
    for body, b in summary.get("bodies", {}).items():
        export = b.get("export") or {}
        if export.get("status") == "failed":
            state = f"FAILED: {export['stage']}: {export['error_class']}: {export['message']}"
        else:
            state = "STOPPED: " + "; ".join(b["stopped"]) if b["stopped"] else "ok"
        lines.append(f"  {body}: due {b['records_due']}, written {b['written']}, "
                     f"held back {b['held_back']}, late {b['late']}, accepted {b.get('accepted', 0)}, "
                     f"rejected {b.get('rejected', 0)}, awaiting answer {b.get('awaiting_answer', 0)} ({state})")
    for body, d in summary.get("due_soon", {}).items():
        lines.append(f"  due soon: {body} {d['records']} record(s) not yet accepted, first due {d['first_due_on']}")
    for body, n in summary.get("windows_closed_unsent", {}).items():
        lines.append(f"  ALERT: {body}: {n} record(s) passed their window unsent")
    if "exceptions_open" in summary:
        opened = sum(summary["exceptions_opened"].values())
        closed = sum(summary["exceptions_closed"].values())
        open_now = ", ".join(f"{n} {sev}" for sev, n in summary["exceptions_open"].items()) or "none"
        lines.append(f"  exceptions: {opened} opened, {closed} closed, open now {open_now}")
    lines.append(f"  warehouse: {summary['warehouse']}")
    lines.append(f"  report:    {summary['report']}")
    if "dashboard" in summary:
        lines.append(f"  dashboard: {DASHBOARD_URL} after `{summary['dashboard']}`")
    return "\n".join(lines)
