"""What the dashboard shows, read from the marts (read-only) and the run summaries.

Identifiers only (person, activity, record key): no names, birth dates or license
numbers reach the page; staff look a person up in the LMS by id.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

WRITTEN_STATES = ("prepared", "written")  # in a file; a file drop ends here until uploaded
SENT_STATES = ("sending", "sent")         # sent over HTTP, no answer yet


def _rows(con, sql: str, params=()) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def run_summaries(reports: Path, last: int = 30) -> list[dict]:
    """The newest `last` run summaries, oldest first (one per run date: a re-run replaces it)."""
    summaries = []
    for path in sorted(Path(reports).glob("run_summary_*.json")):
        try:
            summaries.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a summary being written right now; the next page load shows it
    return summaries[-last:]


def as_of(reports: Path) -> date | None:
    """The latest run date: the date the marts' clock reads (late, findings), even
    after a backfill of an older date (see dbt_runner.as_of_date)."""
    dates = [p.stem.removeprefix("run_summary_") for p in Path(reports).glob("run_summary_*.json")]
    return date.fromisoformat(max(dates)) if dates else None


def body_status(con, today: date) -> list[dict]:
    """Per body, where its records stand now (corrections aside). Due = not yet at the
    body; held = due with an open error; late = due and past its due date; superseded =
    a changed version waits while the body holds an older one. The columns add up to
    `records`."""
    written = ", ".join(f"'{s}'" for s in WRITTEN_STATES)
    sent = ", ".join(f"'{s}'" for s in SENT_STATES)
    return _rows(con, f"""
        select body,
               count(*) as records,
               count(*) filter (where submission_state = 'pending') as due,
               count(*) filter (where submission_state = 'pending'
                                and coalesce(array_length(error_codes, 1), 0) > 0) as held,
               count(*) filter (where submission_state in ({written})) as written,
               count(*) filter (where submission_state in ({sent})) as sent,
               count(*) filter (where submission_state = 'accepted') as accepted,
               count(*) filter (where submission_state = 'rejected') as rejected,
               count(*) filter (where submission_state = 'superseded') as superseded,
               count(*) filter (where submission_state = 'pending' and due_on < ?) as late,
               count(*) filter (where submission_state = 'pending'
                                and due_on between ? and ? + 30) as due_next_30_days
        from main.fct_body_records
        -- learner records (PARS rows say ACCME_PARS or JA_PARS); activity records are the
        -- activities page's
        where record_action = 'Add' and record_kind = 'learner'
        group by body order by body""", [today, today, today])


def exception_counts(con) -> list[dict]:
    return _rows(con, """
        select body, severity, count(*) as open
        from main.fct_compliance_exceptions where status = 'open'
        group by body, severity order by body, severity""")


def exception_detail(con, exception_id: str) -> dict | None:
    found = _rows(con, """
        select * from main.fct_compliance_exceptions
        left join reference.exception_reasons using (reason_code)
        where exception_id = ?""", [exception_id])
    if not found:
        return None
    exc = found[0]
    exc["ledger"] = _rows(con, """
        select batch_id, record_action, state, body_message, transport, file_name,
               written_at, last_event_at
        from main.fct_submission_ledger where record_key = ?
        order by written_at, batch_id""", [exc["record_key"]]) if exc["record_key"] else []
    exc["related"] = _rows(con, """
        select exception_id, body, reason_code, severity, status, due_on
        from main.fct_compliance_exceptions
        where exception_id <> ? and status = 'open'
          and ((? is not null and person_id = ?) or (? is not null and record_key = ?))
        order by severity, due_on nulls last, reason_code limit 50""",
        [exception_id, exc["person_id"], exc["person_id"], exc["record_key"], exc["record_key"]])
    return exc


def disclosures_due(con, today: date, days: int) -> list[dict]:
    """People in content roles of activities starting in the next `days`, or with a
    disclosure problem due in that time: open problems first."""
    return _rows(con, """
        select activity_id, activity_title, activity_start_date, faculty_person_id, role,
               role_start_date, signed_date, status, open_problems, next_due_on
        from main.fct_disclosure_status
        where activity_start_date between ? and ?
           or (next_due_on between ? and ? and status <> 'compliant')
        order by case status when 'finding' then 0 when 'at risk' then 1 else 2 end,
                 coalesce(next_due_on, activity_start_date), activity_id, faculty_person_id, role""",
        [today, today + timedelta(days=days), today, today + timedelta(days=days)])


def validation_runs(gx_root: Path) -> list[dict]:
    """Every gate validation GX has stored, newest run first, with the path of its Data
    Docs page. Read from GX's validation store (JSON, one file per validation) so the
    list needs none of the scripts the Data Docs index fetches from CDNs."""
    store = Path(gx_root) / "uncommitted" / "validations"
    runs = []
    for path in store.glob("*/*/*/*.json"):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        stats = result.get("statistics", {})
        run_id = result.get("meta", {}).get("run_id", {})
        run_name = run_id.get("run_name") or ""
        runs.append({
            "run_date": run_name.removeprefix("run ") if run_name.startswith("run ") else "",
            "suite": result.get("suite_name", path.parts[-4]),
            "run_time": (run_id.get("run_time") or "")[:19],
            "success": bool(result.get("success")),
            "evaluated": stats.get("evaluated_expectations", 0),
            "failed": stats.get("unsuccessful_expectations", 0),
            "page": path.relative_to(store).with_suffix(".html").as_posix(),
        })
    return sorted(runs, key=lambda r: (r["run_date"], r["run_time"], r["suite"]), reverse=True)
