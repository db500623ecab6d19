"""The append-only submission ledger (rules section 8).

One row per event per record: `prepared` (about to be written), `written`
(file and manifest are on disk), then later `sent`, `accepted` or `rejected`
with the body's message. Rows are only ever inserted; a record's state is its
latest event. dbt reads this table as a source and never rebuilds it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

# `sending` is written before a request leaves: a record whose latest event is
# `sending` is in doubt (the process may have died with the request in flight),
# and is looked up at the body before it is ever sent again.
EVENTS = ("prepared", "written", "abandoned", "sending", "sent", "accepted", "rejected")

DDL = """
create schema if not exists ledger;
create sequence if not exists ledger.event_seq;
create table if not exists ledger.submission_events (
    event_id BIGINT default nextval('ledger.event_seq') primary key,
    batch_id VARCHAR not null,
    body VARCHAR not null,
    record_key VARCHAR not null,
    record_action VARCHAR not null,
    record_hash VARCHAR not null,
    event VARCHAR not null,
    message VARCHAR,
    file_name VARCHAR,
    file_sha256 VARCHAR,
    transport VARCHAR,
    run_date DATE not null,
    event_at TIMESTAMPTZ not null,
    payload JSON
);
alter table ledger.submission_events add column if not exists body_reference VARCHAR;
"""


def ensure_ledger(con) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class LedgerRecord:
    record_key: str
    record_action: str
    record_hash: str
    payload: dict


def append(con, *, batch_id: str, body: str, records: list[LedgerRecord], event: str,
           run_date: date, file_name: str | None = None, file_sha256: str | None = None,
           transport: str | None = None, messages: dict[str, str] | None = None,
           references: dict[str, str] | None = None) -> None:
    """Insert one event row per record, in one statement."""
    assert event in EVENTS, event
    now = datetime.now(timezone.utc)
    messages, references = messages or {}, references or {}
    rows = [(batch_id, body, r.record_key, r.record_action, r.record_hash, event,
             messages.get(r.record_key) or None, file_name, file_sha256, transport, run_date, now,
             json.dumps(r.payload, default=str) if event == "prepared" else None,
             references.get(r.record_key))
            for r in records]
    if rows:
        con.executemany(
            "insert into ledger.submission_events (batch_id, body, record_key, record_action, "
            "record_hash, event, message, file_name, file_sha256, transport, run_date, event_at, "
            "payload, body_reference) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def open_batches(con, body: str) -> list[str]:
    """Batches prepared but neither written nor abandoned: a run died between the two."""
    return [b for (b,) in con.execute(
        "select batch_id from ledger.submission_events where body = ? group by batch_id "
        "having bool_or(event = 'prepared') and not bool_or(event in ('written', 'abandoned')) "
        "order by batch_id", [body]).fetchall()]


def next_batch_id(con, body: str, run_date: date) -> str:
    prefix = f"{body}-{run_date:%Y%m%d}-"
    n = con.execute("select count(distinct batch_id) from ledger.submission_events "
                    "where batch_id like ?", [prefix + "%"]).fetchone()[0]
    return f"{prefix}{n + 1:03d}"
