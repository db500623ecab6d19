"""CPE Monitor: one SubmitCPEActivityJSON-style request per record, plus a batch
file of the same records for manual upload. Credentials are added at send time."""
from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from cme.bodies.base import Body, Field, OutputFile, ReceiptRow, text, write_atomically
from cme.settings import ProviderSettings
from cme.textcells import UnwritableValue, neutralise

GATE_SQL = """
select
    r.record_key, r.record_action, r.provider_number, r.epid, r.date_of_birth, r.uan,
    r.participation_date, r.action, r.contact_hours, r.due_on, r.window_closes_on,
    array_to_string(r.error_codes, ',') as open_errors,
    r.credits_on_step, r.record_hash
from main.fct_cpe_monitor_records as r
where r.submission_state = 'pending'
order by r.record_key
"""

BATCH_SQL = """
select contact_hours_in_records, contact_hours_awarded, duplicate_keys, provider_number_set
from main.fct_gate_batch_totals
where body = $body
"""


def _value(value):
    return str(value) if isinstance(value, Decimal) else text(value)


def write_requests(records: list[dict], fields: list[Field], folder: Path, batch_id: str,
                   settings: ProviderSettings) -> list[OutputFile]:
    requests = [{f.name: _value(r.get(f.source)) for f in fields} for r in records]
    keys = tuple(r["record_key"] for r in records)
    lines = "".join(json.dumps(q, sort_keys=False) + "\n" for q in requests).encode()
    request_path = folder / f"{batch_id}-requests.jsonl"
    write_atomically(request_path, lines)
    # the batch CSV is for people to open: text cells neutralised, hours stay numbers
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(f.name) for f in fields])
    for record in records:
        try:
            writer.writerow([_value(neutralise(record.get(f.source))) for f in fields])
        except Exception as exc:  # noqa: BLE001 - never let a value into the message
            raise UnwritableValue(record["record_key"], "batch row", type(exc).__name__) from None
    batch_path = folder / f"{batch_id}-batch.csv"
    write_atomically(batch_path, buffer.getvalue().encode())
    return [OutputFile(request_path, keys), OutputFile(batch_path, ())]


def read_response(path: Path, fields: list[Field]) -> list[ReceiptRow]:
    """CPE Monitor's answer to a batch upload. Not documented in the reference: assumed
    to be the batch file (CSV, or the JSON lines of the requests) with, per row, the
    fields its JSON API answers: `status` (Accepted) or an `error_message`
    (docs/decisions.md)."""
    raw = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
        first = 1
    else:
        rows = list(csv.DictReader(io.StringIO(raw, newline="")))
        first = 2  # line 1 is the header
    results = []
    for n, row in enumerate(rows, start=first):
        if "status" not in row and "error_message" not in row:
            raise ValueError(f"{path.name}: not a CPE Monitor response (row {n} has no status)")
        values = {f.source: row.get(f.name) for f in fields}
        message = str(row.get("error_message") or "").strip()
        accepted = str(row.get("status") or "").strip().lower() == "accepted" and not message
        results.append(ReceiptRow(n, values, accepted, message or ("" if accepted else "refused")))
    return results


class CpeMonitorClient:
    """CPE Monitor: SubmitCPEActivityJSON per record, answering `status` or `error_message`."""

    def __init__(self, conn, fields, settings, timeout):
        from cme.bodies.http_client import HttpClient

        self.http = HttpClient(conn, fields, settings, timeout)

    def send(self, records: list[dict]) -> dict:
        from cme.transport import Answer

        answers = {}
        for record in records:
            params = {**self.http.named(record), "username": self.http.conn.login,
                      "password": self.http.conn.password}
            body = self.http.request("GET", "/SubmitCPEActivityJSON", params=params).json()
            if body.get("status") == "Accepted":
                answers[record["record_key"]] = Answer("accepted")
            else:
                answers[record["record_key"]] = Answer("rejected", body.get("error_message", "refused"))
        return answers

    def lookup(self, record: dict):
        from cme.transport import Answer

        named = self.http.named(record)
        response = self.http.request("GET", "/GetCPEActivity", params={
            k: named[k] for k in ("epid", "uan", "date_of_participation")})
        return Answer("accepted") if response.status_code == 200 else None

    def poll(self, reference: str):
        return None  # CPE Monitor answers at once


BODIES = [Body("CPE_MONITOR", "fct_cpe_monitor_records", "cpe_monitor", GATE_SQL, BATCH_SQL,
               write_requests, client=CpeMonitorClient, read_receipt=read_response,
               receipt_key=("epid", "uan", "participation_date"))]
