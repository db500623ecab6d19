"""Bodies' answers to file uploads, into the ledger; and batches whose file never went.

`import_receipts` reads result files with the body module's own reader
(`Body.read_receipt`) and records `accepted`, or `rejected` with the body's
message, for the records they answer. A result row is matched on the record's
natural fields (`Body.receipt_key`, compared with the payload the `prepared`
event stored) among records written in file batches that are not discarded and
not answered over HTTP. Importing a file again changes nothing; rows that match
no record are counted and their row numbers reported, never dropped silently.

`discard_batch` records that a written batch's files were never uploaded: its
records get `discarded` and are due again on the next run.

Both report counts and row numbers only: no learner data.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cme.bodies.base import Body, load_fields, write_atomically
from cme.export import submission_dir
from cme.ledger import STATE, LedgerRecord, append_rows, check_state, ensure_ledger, event_rows
from cme.warehouse import connect

# Records written for the file drop, with their latest state and stored payload: each
# version's state in its batch comes from the ledger-state view (cme.ledger.STATE).
FILE_RECORDS_SQL = f"""
select batch_id, record_key, record_action, record_hash, state, last_event_message as message,
       cast(payload as varchar) as payload
from {STATE}
where body = $body and is_written_to_file
  and not (has_http_request or is_answered_over_http) and not is_discarded
  and state in ('written', 'accepted', 'rejected')
order by first_written_event_id, record_key
"""


class ReceiptError(ValueError):
    """A file that is not the body's result file, or a body without one."""


@dataclass
class ImportResult:
    body: str
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    already_recorded: int = 0
    unmatched: int = 0
    unmatched_rows: dict[str, list[int]] = field(default_factory=dict)  # file name -> row numbers

    def to_dict(self) -> dict:
        return asdict(self)


def _norm(value) -> str:
    """A field as text, so a workbook's 1.5 equals a stored "1.50"."""
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):  # a spreadsheet may turn MM/DD/YYYY into a date
        return value.strftime("%m/%d/%Y")
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return format(number.normalize(), "f") if number.is_finite() else text


@dataclass
class _Candidate:
    batch_id: str
    record: LedgerRecord
    state: str
    message: str


def import_receipts(warehouse: Path, body: Body, files: list[Path], run_date: date) -> ImportResult:
    if body.read_receipt is None:
        raise ReceiptError(f"{body.name} has no result-file reader")
    result = ImportResult(body.name)
    with connect(Path(warehouse)) as con:
        ensure_ledger(con)
        fields = load_fields(con, body.name)
        key_columns = body.receipt_key or tuple(f.source for f in fields)
        parsed = []
        for path in files:
            try:
                parsed.append((path, body.read_receipt(Path(path), fields)))
            except ReceiptError:
                raise
            except Exception as exc:  # noqa: BLE001 - a wrong or damaged file: say which
                raise ReceiptError(f"{Path(path).name}: cannot be read as a {body.name} result "
                                   f"file ({type(exc).__name__})") from None
        index: dict[tuple, list[_Candidate]] = {}
        check_state(con)
        for batch, key, action, hash_, state, message, payload in con.execute(
                FILE_RECORDS_SQL, {"body": body.name}).fetchall():
            values = json.loads(payload) if payload else {}
            natural = tuple(_norm(values.get(c)) for c in key_columns)
            index.setdefault(natural, []).append(
                _Candidate(batch, LedgerRecord(key, action, hash_, {}), state, message or ""))
        events = []
        for path, rows in parsed:
            path = Path(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            answers: dict[tuple[str, str], list[_Candidate]] = {}
            for row in rows:
                result.rows += 1
                state = "accepted" if row.accepted else "rejected"
                message = "" if row.accepted else row.message
                candidates = index.get(tuple(_norm(row.values.get(c)) for c in key_columns), [])
                unanswered = [c for c in candidates if c.state == "written"]
                if unanswered:
                    chosen = unanswered[0]
                elif any(c.state == state and c.message == message for c in candidates):
                    result.already_recorded += 1
                    continue
                elif candidates:  # a later result changes an earlier answer: the latest counts
                    chosen = candidates[-1]
                else:
                    result.unmatched += 1
                    result.unmatched_rows.setdefault(path.name, []).append(row.row)
                    continue
                chosen.state, chosen.message = state, message
                answers.setdefault((chosen.batch_id, state), []).append(chosen)
                setattr(result, state, getattr(result, state) + 1)
            for (batch, state), chosen in answers.items():
                events += event_rows(batch_id=batch, body=body.name, event=state, run_date=run_date,
                                     records=[c.record for c in chosen], transport="file",
                                     file_name=path.name, file_sha256=digest,
                                     messages={c.record.record_key: c.message for c in chosen})
        append_rows(con, events)  # the whole import, or nothing
    return result


class DiscardRefused(ValueError):
    pass


def discard_batch(warehouse: Path, out: Path, batch_id: str, run_date: date) -> int:
    """Mark every record of a written batch still at `written` as `discarded`; return
    how many. Refused for an unknown batch, one not yet written, and one with any
    record sent over HTTP or answered (by HTTP or by an imported result file).
    The batch's files stay (audit); `<batch>.discarded.json` beside its manifest says so."""
    with connect(Path(warehouse)) as con:
        ensure_ledger(con)
        rows = con.execute(
            "select body, record_key, record_action, record_hash, state, is_sent_or_answered "
            f"from {check_state(con)} where batch_id = ? "
            "order by record_key, record_action, record_hash", [batch_id]).fetchall()
        if not rows:
            raise DiscardRefused(f"no batch {batch_id} in the ledger")
        if any(answered for *_, answered in rows):
            raise DiscardRefused(f"batch {batch_id} has records sent or answered by the body: "
                                 "it cannot be discarded")
        if not any(state in ("written", "discarded") for *_, state, _ in rows):
            raise DiscardRefused(f"batch {batch_id} was never written (the next run recovers it)")
        body = rows[0][0]
        records = [LedgerRecord(k, a, h, {}) for _, k, a, h, state, _ in rows if state == "written"]
        written_on = con.execute(f"select min(written_on) from {STATE} where batch_id = ?",
                                 [batch_id]).fetchone()[0]
        append_rows(con, event_rows(batch_id=batch_id, body=body, records=records,
                                    event="discarded", run_date=run_date,
                                    messages={r.record_key: "file never uploaded (cme batches discard)"
                                              for r in records}))
    if records:
        marker = submission_dir(Path(out), body, written_on) / f"{batch_id}.discarded.json"
        if marker.parent.exists():
            write_atomically(marker, json.dumps({
                "batch_id": batch_id, "body": body, "discarded_on": run_date.isoformat(),
                "records_discarded": len(records),
                "note": "never uploaded: these records are due again and go in a new batch"},
                indent=2).encode())
    return len(records)
