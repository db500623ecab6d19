"""Write one body's submission for a run and record it in the ledger.

Order, so a crash at any point loses and duplicates nothing:
1. ledger `prepared` for every record of the batch (with its payload and the
   channel it is written for: `file` or `http`), in one transaction;
2. each file written atomically, then the manifest (record count, SHA-256);
3. ledger `written` for every record of every file of the batch, in one transaction.
A batch left `prepared` by a crash is finished on the next run if its manifest
and files are whole, else its partial files are removed and it is `abandoned`,
so its records are due again. A record already written is never written again:
records whose version the ledger already holds (written, in flight or answered)
are skipped even when the marts, built before the ledger last changed, still
show them pending.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from cme.bodies.base import ReportingBody, load_fields, write_atomically
from cme.rawstore import sha256_of
from cme.gates import gate_path
from cme.ledger import (STATE, CrashPoints, LedgerRecord, append, append_rows, ensure_ledger, event_rows,
                        held_versions, next_batch_id, open_batches)
from cme.settings import ProviderSettings
from cme.textcells import unwritable_fields
from cme.warehouse import connect, private_dir

log = logging.getLogger(__name__)
TRACKED_COLUMNS = ("person_id", "activity_id", "content_hash")


class GateMissing(RuntimeError):
    """The body's gate did not run (or failed) this run: nothing may leave."""


@dataclass
class ExportResult:
    body: str
    run_date: str
    status: str  # written | nothing_due | stopped
    records_written: int = 0
    records_held: int = 0
    files: list[str] = field(default_factory=list)
    stopped_because: list[str] = field(default_factory=list)
    recovered_batches: list[str] = field(default_factory=list)
    unwritable: dict[str, list[str]] = field(default_factory=dict)  # record_key -> fields

    def to_dict(self) -> dict:
        return asdict(self)


def submission_dir(out: Path, body: str, run_date: date) -> Path:
    return Path(out) / "submissions" / body / run_date.isoformat()


def _batch_leftovers(folder: Path, batch_id: str) -> list[Path]:
    """Everything a batch may have left in its folder: its files, its manifest, its
    staging folder and half-written temporary files."""
    return sorted({*folder.glob(f"{batch_id}.*"), *folder.glob(f"{batch_id}-*"),
                   *folder.glob(f".{batch_id}.*")})


def _recover(con, body: ReportingBody, out: Path, settings: ProviderSettings) -> list[str]:
    """Finish or abandon batches a crash left between `prepared` and `written`.

    Only the records of the batch still lacking `written` are finished: with a whole
    manifest they are marked written in the files the manifest names; without one
    they are abandoned and the batch's files removed, except files that records
    already marked written live in (a ledger from before each step was one
    transaction can hold such a batch)."""
    done = []
    for batch_id in open_batches(con, body.name):
        rows = con.execute(
            "select record_key, record_action, record_hash, is_written_or_abandoned, "
            "prepared_transport, written_file_name "
            f"from {STATE} where batch_id = ? and body = ? and is_prepared",
            [batch_id, body.name]).fetchall()
        unfinished = [LedgerRecord(k, a, h, {}) for k, a, h, finished, _, _ in rows if not finished]
        kept_files = {f for *_, f in rows if f}
        channel = next((c for *_, c, _ in rows if c), None) or settings.transport.get(body.name, "file")
        run_date = con.execute(f"select min(first_event_on) from {STATE} where batch_id = ?",
                               [batch_id]).fetchone()[0]
        folder = submission_dir(out, body.name, run_date)
        manifest_path = folder / f"{batch_id}.manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        whole = manifest is not None and all(
            (folder / f["name"]).exists() and sha256_of(folder / f["name"]) == f["sha256"]
            for f in manifest["files"])
        if whole:
            events = []
            for f in manifest["files"]:
                keys = set(f["record_keys"])
                events += event_rows(batch_id=batch_id, body=body.name, event="written",
                                     run_date=run_date, file_name=f["name"], file_sha256=f["sha256"],
                                     transport=channel,
                                     records=[r for r in unfinished if r.record_key in keys])
            append_rows(con, events)
            for leftover in folder.glob(f".{batch_id}.*"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        else:
            for leftover in _batch_leftovers(folder, batch_id):
                if leftover.name in kept_files:
                    continue
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            append(con, batch_id=batch_id, body=body.name, event="abandoned", run_date=run_date,
                   records=unfinished)
        done.append(batch_id)
    return done


def export_body(warehouse: Path, body: ReportingBody, run_date: date, out: Path,
                settings: ProviderSettings) -> ExportResult:
    gate_file = gate_path(out, body.name, run_date)
    if not gate_file.exists():
        raise GateMissing(f"{body.name}: no gate result for {run_date}; nothing is sent ungated")
    gate = json.loads(gate_file.read_text())
    result = ExportResult(body.name, run_date.isoformat(), "nothing_due",
                          records_held=len(gate["held"]))
    with connect(Path(warehouse)) as con:
        ensure_ledger(con)
        result.recovered_batches = _recover(con, body, out, settings)
        if gate["stopped"]:
            result.status, result.stopped_because = "stopped", gate["stopped"]
            return result
        fields = load_fields(con, body.name)
        # person and activity ride along in the ledger (not sent): the audit trail, and
        # the rules that follow a record through merges and conflicts, need them
        columns = sorted({f.source for f in fields} | {"record_key", "record_action", "record_hash"}
                         | set(TRACKED_COLUMNS))
        held = held_versions(con, body.name)
        for frame in _pending_pages(con, body, columns):
            records = [r for r in frame.to_dict("records") if r["record_key"] not in gate["held"]
                       and (r["record_key"], r["record_action"], r["record_hash"]) not in held]
            # The marts hold these (UNSUPPORTED_CHARACTER); this is the backstop, so one
            # record's value can never fail the whole batch. Keys and fields only, no values.
            unwritable = {r["record_key"]: bad for r in records
                          if (bad := unwritable_fields(r, [f.source for f in fields]))}
            if unwritable:
                log.warning("export %s: %d record(s) held, a field the format cannot carry: %s",
                            body.name, len(unwritable),
                            "; ".join(f"{k} ({', '.join(v)})" for k, v in unwritable.items()))
                records = [r for r in records if r["record_key"] not in unwritable]
                result.unwritable.update(unwritable)
                result.records_held += len(unwritable)
            if records:
                _write_batch(con, body, run_date, out, settings, fields, records, result)
    log.info("export %s %s: %s, %d written, %d held", body.name, run_date, result.status,
             result.records_written, result.records_held)
    return result


# A day's records are written in batches of at most this many (each its own batch id,
# files, manifest and ledger events), so memory stays flat however many are due.
# CME_EXPORT_PAGE_RECORDS overrides it (docs/benchmarks.md).
EXPORT_PAGE_RECORDS = 100_000


def _page_size() -> int:
    return int(os.environ.get("CME_EXPORT_PAGE_RECORDS") or EXPORT_PAGE_RECORDS)


def _pending_pages(con, body: ReportingBody, columns: list[str]):
    """The body's pending records, in write order, as frames of at most EXPORT_PAGE_RECORDS
    rows. Read through a second connection, so the ledger can be written between pages."""
    reader = con.cursor()
    try:
        reader.execute(f"select {', '.join(columns)} from main.{body.mart} "
                       "where submission_state = 'pending' and body = $body "
                       "order by record_action desc, record_key", {"body": body.name})
        size = _page_size()
        while True:
            chunk = reader.fetch_df_chunk(max(1, size // 2048))
            if chunk.empty:
                return
            for start in range(0, len(chunk), size):
                frame = chunk.iloc[start:start + size].astype(object)
                yield frame.where(frame.notna(), None)
    finally:
        reader.close()


def _write_batch(con, body: ReportingBody, run_date: date, out: Path, settings: ProviderSettings,
                 fields, records: list[dict], result: ExportResult) -> None:
    batch_id = next_batch_id(con, body.name, run_date)
    ledger_records = [LedgerRecord(r["record_key"], r["record_action"], r["record_hash"],
                                   {**{f.source: r.get(f.source) for f in fields},
                                    **{c: r.get(c) for c in TRACKED_COLUMNS}})
                      for r in records]
    channel = settings.transport.get(body.name, "file")
    crash = CrashPoints()
    append(con, batch_id=batch_id, body=body.name, event="prepared", run_date=run_date,
           records=ledger_records, transport=channel)
    crash.check("after_prepared")
    folder = private_dir(submission_dir(out, body.name, run_date))
    staging = private_dir(folder / f".{batch_id}.tmp")
    outputs = body.write(sorted(records, key=body.write_order), fields, staging, batch_id, settings)
    manifest = {"batch_id": batch_id, "body": body.name, "run_date": run_date.isoformat(),
                "record_count": len(records), "files": []}
    for output in outputs:
        final = folder / output.path.name
        shutil.move(output.path, final)  # same filesystem: an atomic rename
        manifest["files"].append({"name": final.name, "sha256": sha256_of(final),
                                  "record_keys": list(output.record_keys)})
        crash.check("after_file")
    staging.rmdir()
    crash.check("after_files")
    write_atomically(folder / f"{batch_id}.manifest.json",
                     json.dumps(manifest, indent=2).encode())
    crash.check("after_manifest")
    events = []
    by_key = {}
    for r in ledger_records:
        by_key.setdefault(r.record_key, []).append(r)
    for f in manifest["files"]:  # every file of the batch in one transaction
        events += event_rows(batch_id=batch_id, body=body.name, event="written",
                             run_date=run_date, file_name=f["name"], file_sha256=f["sha256"],
                             transport=channel,
                             records=[r for k in dict.fromkeys(f["record_keys"])
                                      for r in by_key.get(k, ())])
    append_rows(con, events)
    crash.check("after_written")
    result.status = "written"
    result.records_written += len(records)
    result.files += [f["name"] for f in manifest["files"]]

