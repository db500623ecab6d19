"""One union of the body records, one ledger state, and Python reading marts only
(issue 15, point 3 and the reader half of point 4).

fct_body_records is the one place the body marts are unioned: every reader (exceptions,
run summary, transcripts, dashboard, retention, audit) queries it. This file holds the
only other union, the independent check that it has every row of every body mart.
Likewise int_submission_versions_latest is the one place a record version's latest ledger
event is computed; the Python ledger writers read it through the view
fct_submission_versions_current, and this file holds the independent check."""
from __future__ import annotations

import ast
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from cme import ledger as cme_ledger
from cme.warehouse import connect
from tests.conftest import copy_run, run_cme

PLUGINS = Path(__file__).resolve().parents[1] / "plugins" / "cme"

# (mart, its column for fct_body_records' uan, license_state) per body mart
BODY_MARTS = {
    "fct_pars_records": "null, null",
    "fct_cebroker_records": "null, state",
    "fct_cpe_monitor_records": "uan, null",
    "fct_pars_activities": "null, null",
}
SHARED = ("body, record_key, record_action, record_hash, person_id, activity_id, due_on, "
          "window_closes_on, error_codes, submission_state, written_on, body_message")



def _row(values) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)


def test_body_records_are_every_row_of_every_body_mart(db):
    union = " union all ".join(
        f"select '{mart}', {SHARED}, {extra} from main.{mart}" for mart, extra in BODY_MARTS.items())
    expected = Counter(_row(r) for r in db.execute(union).fetchall())
    got = Counter(_row(r) for r in db.execute(
        f"select source_mart, {SHARED}, uan, license_state from main.fct_body_records").fetchall())
    assert sum(expected.values()) > 100
    assert {r[0] for r in got} == set(BODY_MARTS)
    assert got == expected
    # one row per record version and action
    assert db.execute("select count(*) = count(distinct body_record_id) from main.fct_body_records"
                      ).fetchone()[0]


def test_ledger_state_is_each_versions_last_event(db):
    """Every batch's record version stands where its last ledger event put it, and a
    version's standing (int_submissions_tracked) is the last event over its batches,
    discarded batches left out. (This run writes each version in one batch; the dbt unit
    test a_versions_batches_combine_to_its_latest_event covers a version in several.)
    The writers' view (fct_submission_versions_current) says the same, with the facts
    the writers act on, recomputed here from the events one by one."""
    events = db.execute("""
        select batch_id, body, record_key, record_action, record_hash, event, event_id, message,
               file_name, transport
        from ledger.submission_events order by event_id""").fetchall()
    assert len(events) > 50, "the run wrote no ledger to check"
    last: dict[tuple, str] = {}
    message: dict[tuple, str] = {}
    last_message: dict[tuple, str | None] = {}
    discarded = set()
    facts: dict[tuple, dict] = {}
    for batch, body, key, action, hsh, event, event_id, msg, file_name, transport in events:
        version = (batch, body, key, action, hsh)
        last[version] = event
        last_message[version] = msg
        if msg is not None:
            message[version] = msg
        if event == "discarded":
            discarded.add(version)
        f = facts.setdefault(version, {"finished": False, "written_id": None, "file": None,
                                       "channel": None, "answered": False})
        f["finished"] |= event in ("written", "abandoned")
        f["answered"] |= event in ("sending", "sent", "accepted", "rejected")
        if event == "written" and f["written_id"] is None:
            f["written_id"], f["file"] = event_id, file_name
        if event == "prepared":
            f["channel"] = transport
    ledger = {tuple(r[:5]): (r[5], r[6]) for r in db.execute(
        "select batch_id, body, record_key, record_action, record_hash, state, body_message "
        "from main.fct_submission_ledger").fetchall()}
    assert ledger == {k: (state, message.get(k)) for k, state in last.items()}
    current = {tuple(r[:5]): r[5:] for r in db.execute(
        "select batch_id, body, record_key, record_action, record_hash, state, last_event_message, "
        "is_discarded, is_written_or_abandoned, first_written_event_id, written_file_name, "
        "prepared_transport, is_sent_or_answered from main.fct_submission_versions_current"
    ).fetchall()}
    assert current == {k: (state, last_message[k], k in discarded, facts[k]["finished"],
                           facts[k]["written_id"], facts[k]["file"], facts[k]["channel"],
                           facts[k]["answered"])
                       for k, state in last.items()}

    # across batches (no merged accounts in this run: keys are as written)
    standing: dict[tuple, str] = {}
    for batch, body, key, action, hsh, event, *_ in events:
        if action == "Add" and (batch, body, key, action, hsh) not in discarded:
            standing[(body, key, hsh)] = event
    tracked = dict(((b, k, h), s) for b, k, h, s in db.execute(
        "select body, record_key, record_hash, add_state from intermediate.int_submissions_tracked"
    ).fetchall())
    assert tracked == standing


def test_the_body_marts_union_is_written_once():
    """No reader unions the body marts itself: it reads fct_body_records."""
    marts = ("fct_pars_records", "fct_cebroker_records", "fct_cpe_monitor_records")
    for path in [*PLUGINS.rglob("*.py"), *(PLUGINS.parents[1] / "dbt_project" / "models").rglob("*.sql")]:
        if path.name == "fct_body_records.sql" or "bodies" in path.parts:
            continue  # a body module reads its own mart
        if path.name == "fct_gate_batch_totals.sql":
            continue  # each body's own totals from its own mart, one row per body: no union of records
        named = {m for m in marts if m in path.read_text()}
        assert len(named) <= 1, f"{path} names {sorted(named)}: read fct_body_records instead"


def test_python_reads_marts_only():
    """No module under plugins/cme reads an intermediate model (issue 15, point 4): what a
    reader needs is in a mart, with documented columns."""
    readers = set()
    for path in PLUGINS.rglob("*.py"):
        if re.search(r"\bintermediate\.\w", path.read_text()):
            readers.add(path.relative_to(PLUGINS).as_posix())
    assert readers == set()



def test_the_ledger_view_shows_events_appended_after_the_build(pipeline_run, tmp_path):
    """fct_submission_versions_current is a view: an event the ledger gets after the last
    dbt build (a receipt import, a discard, an export) shows at once, where the table
    fct_submission_ledger still shows the build's state, and the writers act on it."""
    run = copy_run(pipeline_run, tmp_path / "run")
    with connect(run.warehouse) as con:
        batch, body, key, action, hsh = con.execute(
            "select batch_id, body, record_key, record_action, record_hash "
            "from main.fct_submission_versions_current "
            "where state = 'written' and record_action = 'Add' and not is_sent_or_answered "
            "order by batch_id, record_key limit 1").fetchone()
        assert (key, action, hsh) in cme_ledger.held_versions(con, body)
        cme_ledger.append(con, batch_id=batch, body=body, event="discarded", run_date=date(2026, 11, 19),
                          records=[cme_ledger.LedgerRecord(key, action, hsh, {})],
                          messages={key: "file never uploaded"})
        version = [batch, body, key, action, hsh]
        where = ("where batch_id = ? and body = ? and record_key = ? and record_action = ? "
                 "and record_hash = ?")
        assert con.execute(
            "select state, last_event_message, is_discarded from main.fct_submission_versions_current "
            + where, version).fetchall() == [("discarded", "file never uploaded", True)]
        assert con.execute("select state from main.fct_submission_ledger " + where,
                           version).fetchall() == [("written",)]  # the table waits for the next build
        assert (key, action, hsh) not in cme_ledger.held_versions(con, body)  # due again


# SQL that computes a latest event itself: a window, arg_max/arg_min, DISTINCT ON, the
# events newest first, or a group per record version
_LATEST_EVENT = re.compile(
    r"\bover\s*\(|\barg_(max|min)\s*\(|\bdistinct\s+on\b|\bpartition\s+by\b"
    r"|order\s+by\s+(\w+\.)?event_id\s+desc|group\s+by[\w ,.]*\brecord_(key|hash)\b", re.I)


def _latest_event_sql(source: str) -> list[str]:
    """The functions (or top-level statements) of a module whose SQL names
    ledger.submission_events and computes a latest event from it (docstrings aside)."""
    tree = ast.parse(source)
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    units = [(n.name, n) for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    units += [(f"line {n.lineno}", n) for n in tree.body
              if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    found = []
    for name, unit in units:
        sql = "\n".join(n.value for n in ast.walk(unit) if isinstance(n, ast.Constant)
                        and isinstance(n.value, str) and id(n) not in docstrings)
        if "submission_events" in sql and _LATEST_EVENT.search(sql):
            found.append(name)
    return found


def test_no_module_computes_a_latest_ledger_event_itself():
    """A ledger writer reads each version's latest event from fct_submission_versions_current
    (cme.ledger.STATE): none computes it from ledger.submission_events again. Counting or
    listing events (the run summary, the audit trail, the run's high-water mark) is fine."""
    offenders = {path.relative_to(PLUGINS).as_posix(): found for path in sorted(PLUGINS.rglob("*.py"))
                 if (found := _latest_event_sql(path.read_text()))}
    assert offenders == {}


def test_the_latest_event_check_can_fail():
    """The check above catches the forms the writers used before the view."""
    caught = [
        'def f(con):\n    con.execute("select * from (select *, row_number() over (partition by '
        'record_key order by event_id desc) as nth from ledger.submission_events) where nth = 1")',
        'def f(con):\n    v = "partition by body, record_key"\n    con.execute("select " + v + '
        '" from ledger.submission_events")',
        'SQL = """select batch_id from ledger.submission_events where body = $body\n'
        'group by batch_id, record_key, record_action, record_hash having bool_or(event = 1)"""',
        'def f(con):\n    con.execute("select arg_max(event, event_id) from ledger.submission_events")',
    ]
    fine = [
        'def f(con):\n    con.execute("select coalesce(max(event_id), 0) from ledger.submission_events")',
        'def f(con):\n    con.execute("select * from ledger.submission_events where record_key = ? '
        'order by event_id")',
        'def f(con):\n    """Reads each version\'s row_number() over (...) from ledger.submission_events."""',
    ]
    assert [bool(_latest_event_sql(s)) for s in caught] == [True] * len(caught)
    assert [bool(_latest_event_sql(s)) for s in fine] == [False] * len(fine)


def test_a_writer_on_a_warehouse_never_built_says_to_run_first(tmp_path):
    """Before the first build there is no ledger-state view: a writer stops and says what
    to run, the CLI with exit 2 and no traceback, rather than read the raw events itself."""
    out = tmp_path / "out"
    out.mkdir()
    with connect(out / "warehouse.duckdb") as con:
        cme_ledger.ensure_ledger(con)
        with pytest.raises(cme_ledger.LedgerStateMissing, match="cme run"):
            cme_ledger.open_batches(con, "CE_BROKER")
    proc = run_cme("batches", "discard", "CE_BROKER-20261116-001", "--out", out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "`cme run`" in proc.stderr and "Traceback" not in proc.stdout + proc.stderr
