"""ACCME PARS and JA-PARS: the Excel learner template, one row per record (Add or Delete)."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from cme.bodies.base import Body, Field, OutputFile, ReceiptRow, write_atomically
from cme.settings import ProviderSettings
from cme.textcells import UnwritableValue, neutralise

# The records due, with the rule columns the mart computes (credits_on_step,
# credits_within_designation, npi_check_digit_ok): the records suite checks them.
GATE_SQL = """
select
    r.record_key, r.record_action, r.accme_activity_id, r.completion_date, r.first_name,
    r.last_name, r.date_of_birth, r.licensing_state, r.licensing_id_or_npi, r.cme_credits,
    r.ipce_credits, r.board, r.board_id, r.total_board_credits, r.credit_type_1, r.credits_1,
    r.credit_type_2, r.credits_2, r.credit_type_3, r.credits_3, r.due_on,
    array_to_string(r.error_codes, ',') as open_errors,
    r.credits_on_step, r.credits_within_designation, r.npi_check_digit_ok,
    r.record_hash
from main.fct_pars_records as r
where r.submission_state = 'pending' and r.body = $body
order by r.record_action desc, r.record_key
"""

BATCH_SQL = """
select add_records, expected_records, cme_credits_in_records, cme_credits_awarded, duplicate_keys
from main.fct_gate_batch_totals
where body = $body
"""


def _cell(value):
    # Credits as numbers, everything else (dates already MM/DD/YYYY, ids) as text,
    # neutralised so no text cell can be a formula.
    if isinstance(value, Decimal):
        return float(value)
    return "" if value is None else neutralise(value)


def write_template(records: list[dict], fields: list[Field], folder: Path, batch_id: str,
                   settings: ProviderSettings) -> list[OutputFile]:
    return write_workbook(records, fields, folder, batch_id, "Learners")


def write_workbook(records: list[dict], fields: list[Field], folder: Path, batch_id: str,
                   sheet_name: str) -> list[OutputFile]:
    """One sheet: the fields' names, then a row per record, as `<batch_id>.xlsx`."""
    # write-only: rows stream out instead of a sheet of cell objects held in memory (a
    # 30,000-record batch took 13 s that way). A text cell is text: `neutralise` leaves
    # none starting with "=", the one prefix openpyxl would store as a formula.
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append([neutralise(f.name) for f in fields])
    for record in records:
        row = [_cell(record.get(f.source)) for f in fields]
        try:
            sheet.append(row)
        except Exception as exc:  # noqa: BLE001 - openpyxl's message quotes the value
            raise UnwritableValue(record["record_key"], _unwritable_field(fields, row),
                                  type(exc).__name__) from None
    buffer = io.BytesIO()
    book.save(buffer)
    path = folder / f"{batch_id}.xlsx"
    write_atomically(path, buffer.getvalue())
    return [OutputFile(path, tuple(r["record_key"] for r in records))]


def _unwritable_field(fields: list[Field], row: list) -> str:
    """The name of the first field whose value a cell refuses (names only, never values)."""
    for f, value in zip(fields, row):
        try:
            WriteOnlyCell(None, value=value)
        except Exception:  # noqa: BLE001
            return f.name
    return "row"


RESULT_COLUMNS = ("Status", "Message")


def read_results(path: Path, fields: list[Field]) -> list[ReceiptRow]:
    """PARS learner-upload results. Not documented in the reference: assumed to be the
    learner template as uploaded, returned with two more columns, `Status`
    (Accepted / Rejected) and `Message` (docs/decisions.md). The template's columns are
    read by position (its names repeat: Credit Type), the two answers by name."""
    sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(h or "").strip() for h in next(rows)]
    missing = [c for c in RESULT_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path.name}: not a PARS learner-upload result (no {', '.join(missing)} column)")
    status_at, message_at = header.index("Status"), header.index("Message")
    results = []
    for n, row in enumerate(rows, start=2):  # spreadsheet row numbers: 1 is the header
        if not any(v not in (None, "") for v in row):
            continue
        values = {f.source: row[i] for i, f in enumerate(fields) if i < len(row)}
        status = str(row[status_at] or "").strip().lower()
        results.append(ReceiptRow(n, values, status == "accepted", str(row[message_at] or "").strip()))
    return results


class ParsClient:
    """PARS learner web service: SaveLearnerActivity per record; decisions arrive later."""

    LOOKUP_FIELDS = ("Record Action", "ACCME Activity ID", "Completion Date", "Last Name",
                     "Date of Birth", "Certifying Board")

    def __init__(self, conn, fields, settings, timeout):
        from cme.bodies.http_client import HttpClient

        self.http = HttpClient(conn, fields, settings, timeout)

    def send(self, records: list[dict]) -> dict:
        from cme.transport import Answer

        answers = {}
        for record in records:
            response = self.http.request("POST", "/SaveLearnerActivity", json={
                "ProviderId": self.http.settings.accme_provider_id, "User": self.http.conn.login,
                "Password": self.http.conn.password, "Record": self.http.named(record)})
            body = response.json()
            if body.get("Status") == "Received":
                answers[record["record_key"]] = Answer("sent", "", body["CreditId"])
            else:
                answers[record["record_key"]] = Answer("rejected", body.get("Message", "refused"))
        return answers

    def _status(self, body: dict, reference: str | None):
        from cme.transport import Answer

        status = body.get("Status")
        if status == "Accepted":
            return Answer("accepted", "", reference)
        if status == "Rejected":
            return Answer("rejected", body.get("Message", ""), reference)
        return Answer("sent", "", reference) if reference else None  # still pending

    def lookup(self, record: dict):
        named = self.http.named(record)
        response = self.http.request("GET", "/GetLearnerStatusByLearner",
                                     params={k: named.get(k, "") for k in self.LOOKUP_FIELDS})
        if response.status_code == 404:
            return None
        body = response.json()
        return self._status(body, body.get("CreditId"))

    def poll(self, reference: str):
        response = self.http.request("GET", "/GetLearnerStatusByCreditId", params={"CreditId": reference})
        if response.status_code == 404:
            return None
        answer = self._status(response.json(), reference)
        return answer if answer and answer.state != "sent" else None


BODIES = [
    Body("ACCME_PARS", "fct_pars_records", "pars", GATE_SQL, BATCH_SQL, write_template,
         is_active=lambda s: s.accreditor == "ACCME", client=ParsClient, read_receipt=read_results),
    Body("JA_PARS", "fct_pars_records", "pars", GATE_SQL, BATCH_SQL, write_template,
         is_active=lambda s: s.accreditor == "JA", client=ParsClient, read_receipt=read_results),
]
