"""The append-only submission ledger (rules section 8).

One row per event per record: `prepared` (about to be written), `written`
(file and manifest are on disk), then later `sent`, `accepted` or `rejected`
with the body's message. Rows are only ever inserted; a record's state is its
latest event. dbt reads this table as a source and never rebuilds it.

Each ledger step is atomic: every call to `append` (or `append_rows` with the
rows of several files) is one set-based insert inside one transaction, so a
crash leaves either all of a step's rows or none of them.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone

# `sending` is written before a request leaves: a record whose latest event is
# `sending` is in doubt (the process may have died with the request in flight),
# and is looked up at the body before it is ever sent again.
# `discarded`: staff said the batch's file was never uploaded (`cme batches discard`);
# its records are due again.
EVENTS = ("prepared", "written", "abandoned", "discarded", "sending", "sent", "accepted",
          "rejected")
# A record version in one of these states is at the body (or on its way) or answered:
# it is never written again while that holds.
HELD_STATES = ("written", "sending", "sent", "accepted", "rejected")

DDL = """
create schema if not exists ledger;
create sequence if not exists ledger.event_seq;
create table if not exists ledger.submission_events (
    event_id BIGINT default nextval('ledger.event_seq') primary key,
    batch_id TEXT not null,
    body TEXT not null,
    record_key TEXT not null,
    record_action TEXT not null,
    record_hash TEXT not null,
    event TEXT not null,
    message TEXT,
    file_name TEXT,
    file_sha256 TEXT,
    transport TEXT,
    run_date DATE not null,
    event_at TIMESTAMPTZ not null,
    payload JSON
);
alter table ledger.submission_events add column if not exists body_reference TEXT;
"""

_COLUMNS = ("batch_id", "body", "record_key", "record_action", "record_hash", "event", "message",
            "file_name", "file_sha256", "transport", "run_date", "event_at", "payload",
            "body_reference")
_TYPES = ("VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR",
          "VARCHAR", "VARCHAR", "DATE", "TIMESTAMPTZ", "VARCHAR", "VARCHAR")
_INSERT = (
    f"insert into ledger.submission_events ({', '.join(_COLUMNS)}) select "
    + ", ".join(f"unnest(cast(${i + 1} as {t}[]))" + (" :: JSON" if c == "payload" else "")
                for i, (c, t) in enumerate(zip(_COLUMNS, _TYPES))))


def ensure_ledger(con) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class LedgerRecord:
    record_key: str
    record_action: str
    record_hash: str
    payload: dict


class CrashPoints:
    """Fault injection for tests: CME_CRASH_AT=POINT:N kills the process (as kill -9
    would, with os._exit) the N-th time this process reaches POINT (counted across the
    bodies it exports). Unset in production.

    Points: export `after_prepared`, `after_file` (each file moved into place),
    `after_files`, `after_manifest`, `after_written`; delivery `before_send` and
    `after_send` (N counts requests), `after_answers` (each answer step written)."""

    seen: dict[str, int] = {}  # per process

    def __init__(self):
        spec = os.environ.get("CME_CRASH_AT", "")
        self.point, _, n = spec.partition(":")
        self.at = int(n) if n else 1
        self.requests = 0  # delivery counts its requests here

    def check(self, point: str, n: int | None = None) -> None:
        if not self.point or point != self.point:
            return
        self.seen[point] = self.seen.get(point, 0) + 1
        if (n if n is not None else self.seen[point]) == self.at:
            os._exit(17)


@contextmanager
def transaction(con):
    """One explicit transaction: everything inside is committed together or not at all."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


def event_rows(*, batch_id: str, body: str, records: list[LedgerRecord], event: str,
               run_date: date, file_name: str | None = None, file_sha256: str | None = None,
               transport: str | None = None, messages: dict[str, str] | None = None,
               references: dict[str, str] | None = None) -> list[tuple]:
    """The rows of one event for `records`, for `append_rows`."""
    assert event in EVENTS, event
    now = datetime.now(timezone.utc)
    messages, references = messages or {}, references or {}
    return [(batch_id, body, r.record_key, r.record_action, r.record_hash, event,
             messages.get(r.record_key) or None, file_name, file_sha256, transport, run_date, now,
             json.dumps(r.payload, default=str) if event == "prepared" else None,
             references.get(r.record_key))
            for r in records]


def append_rows(con, rows: list[tuple]) -> None:
    """Insert `rows` with one set-based statement in one transaction (all or nothing)."""
    if not rows:
        return
    columns = [list(column) for column in zip(*rows)]
    with transaction(con):
        con.execute(_INSERT, columns)


def append(con, **kwargs) -> None:
    """Insert one event row per record, atomically (see `event_rows` for the arguments)."""
    append_rows(con, event_rows(**kwargs))


# Where each record version stands in each batch, as the ledger is now: a dbt view
# (dbt_project/models/marts/fct_submission_versions_current.sql) over the ledger, the one
# place its "latest event" is computed. Every ledger writer reads it; none reads the
# events' order itself (tests/test_body_records.py checks it).
STATE = "main.fct_submission_versions_current"


class LedgerStateMissing(RuntimeError):
    """The warehouse has no ledger-state view: dbt has not built it yet."""


def check_state(con) -> str:
    """The ledger-state view's name, or LedgerStateMissing when the warehouse was never
    built by this version (the DAG builds dbt before every export; `cme receipts import`
    and `cme batches discard` need a warehouse a run has built)."""
    found = con.execute("select count(*) from information_schema.tables "
                        "where table_schema = 'main' and table_name = ?",
                        [STATE.split(".")[1]]).fetchone()[0]
    if not found:
        raise LedgerStateMissing(
            f"the warehouse has no {STATE} view (the ledger's current state): build it first "
            "with `cme run` (its dbt build creates the view), then run this again")
    return STATE


def open_batches(con, body: str) -> list[str]:
    """Batches with a prepared record that was neither written nor abandoned: a run died
    part-way. (Since each step is one transaction, a batch is either wholly prepared-only
    or wholly written; a ledger from before that may hold a partly written batch.)"""
    return sorted({b for (b,) in con.execute(
        f"select batch_id from {check_state(con)} where body = ? "
        "and is_prepared and not is_written_or_abandoned", [body]).fetchall()})


def held_versions(con, body: str) -> set[tuple[str, str, str]]:
    """Record versions (key, action, hash) the ledger says must not be written again now:
    their latest event is written, in flight, sent or answered, and no later event of the
    opposite action (a PARS Delete after an Add, or a re-Add after a Delete) supersedes it.

    The export reads pending records from the marts; this guards against marts that
    were built before the ledger last changed (a retried export task, a recovered batch)."""
    # each version's latest event across its batches: the batch row with the highest
    # last_event_id (event ids are unique, so exactly one row per version)
    rows = con.execute(
        f"with batches as (select record_key, record_action, record_hash, state, last_event_id "
        f"from {check_state(con)} where body = ?), "
        "latest as (select record_key, record_action, record_hash, max(last_event_id) as last_id "
        "from batches group by record_key, record_action, record_hash), "
        "v as (select b.record_key, b.record_action, b.record_hash, b.state, l.last_id "
        "from batches as b inner join latest as l on l.record_key = b.record_key "
        "and l.record_action = b.record_action and l.record_hash = b.record_hash "
        "and l.last_id = b.last_event_id) "
        "select a.record_key, a.record_action, a.record_hash from v as a "
        "left join v as b on b.record_key = a.record_key and b.record_hash = a.record_hash "
        "and b.record_action <> a.record_action "
        f"where a.state in {HELD_STATES} and (b.last_id is null or b.last_id < a.last_id)",
        [body]).fetchall()
    return {tuple(r) for r in rows}


def next_batch_id(con, body: str, run_date: date) -> str:
    prefix = f"{body}-{run_date:%Y%m%d}-"
    n = con.execute("select count(distinct batch_id) from ledger.submission_events "
                    "where batch_id like ?", [prefix + "%"]).fetchone()[0]
    return f"{prefix}{n + 1:03d}"
