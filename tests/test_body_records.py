"""One union of the body records, one ledger state, and Python reading marts only
(issue 15, point 3 and the reader half of point 4).

fct_body_records is the one place the body marts are unioned: every reader (exceptions,
run summary, transcripts, dashboard, retention, audit) queries it. This file holds the
only other union, the independent check that it has every row of every body mart."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

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
    test a_versions_batches_combine_to_its_latest_event covers a version in several.)"""
    events = db.execute("""
        select batch_id, body, record_key, record_action, record_hash, event, event_id, message,
               file_name
        from ledger.submission_events order by event_id""").fetchall()
    assert len(events) > 50, "the run wrote no ledger to check"
    last: dict[tuple, tuple] = {}
    message: dict[tuple, str] = {}
    discarded = set()
    for batch, body, key, action, hsh, event, _, msg, _ in events:
        last[(batch, body, key, action, hsh)] = event
        if msg is not None:
            message[(batch, body, key, action, hsh)] = msg
        if event == "discarded":
            discarded.add((batch, body, key, action, hsh))
    ledger = {tuple(r[:5]): (r[5], r[6]) for r in db.execute(
        "select batch_id, body, record_key, record_action, record_hash, state, body_message "
        "from main.fct_submission_ledger").fetchall()}
    assert ledger == {k: (state, message.get(k)) for k, state in last.items()}

    # across batches (no merged accounts in this run: keys are as written)
    standing: dict[tuple, str] = {}
    for batch, body, key, action, hsh, event, _, _, _ in events:
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

