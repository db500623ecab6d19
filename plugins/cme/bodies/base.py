"""What every reporting body module provides, and the file helpers they share."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from cme.settings import ProviderSettings


@dataclass(frozen=True)
class Field:
    """One field of a body's format: its name as the body spells it (seed body_fields)."""
    position: int
    part: str
    name: str
    source: str


@dataclass(frozen=True)
class OutputFile:
    path: Path
    record_keys: tuple[str, ...]


@dataclass(frozen=True)
class ReceiptRow:
    """One answer in a body's result file for a file upload.

    `values` holds the record's fields by source column (as in the ledger payload),
    `row` its position in the file (for reporting rows that match nothing)."""
    row: int
    values: dict[str, str]
    accepted: bool
    message: str = ""


def deletes_first(record: dict) -> tuple:
    """The default write order: Deletes before Adds (a PARS correction withdraws the old
    version first), then by record key."""
    return (record["record_action"] != "Delete", record["record_key"])


@runtime_checkable
class ReportingBody(Protocol):
    """What a reporting body provides. The gates (cme.gates), the export (cme.export) and
    HTTP delivery (cme.delivery) read only these, never a body's name: adding a body is
    adding a module to cme.bodies whose BODIES lists objects like this (usually `Body`),
    its rows in the body_fields seed, its reporting mart and its two suites.

    - `name`: the body as the ledger, settings (`transport`) and body_fields spell it.
    - `mart`: its reporting mart in `main` (columns record_key, record_action, record_hash,
      submission_state, body, the body_fields sources, and the rule columns its suite reads).
    - `suite`: expectations/<suite>_records.json and <suite>_batch.json.
    - `gate_sql` / `batch_sql`: the records due and the one-row totals the suites check; they
      read marts only and take `$body` as their only parameter.
    - `write(records, fields, folder, batch_id, settings)`: the body's file format.
    - `write_order(record)`: the sort key of a batch's records before `write`.
    - `is_active(settings)`: whether the provider reports to this body.
    - `client`: HTTP delivery (see `Body.client`), or None for file drops only.
    - `request_size`: records per HTTP request (None: all records due in one request).
    - `read_receipt` / `receipt_key`: reading the body's answer file (`cme receipts import`).
    """
    name: str
    mart: str
    suite: str
    gate_sql: str
    batch_sql: str
    client: type | None
    request_size: int | None
    read_receipt: Callable[[Path, list[Field]], list[ReceiptRow]] | None
    receipt_key: tuple[str, ...]

    def write(self, records: list[dict], fields: list[Field], folder: Path, batch_id: str,
              settings: ProviderSettings) -> list[OutputFile]: ...

    def write_order(self, record: dict) -> tuple: ...

    def is_active(self, settings: ProviderSettings) -> bool: ...


@dataclass(frozen=True)
class Body:
    """A reporting body: its mart, its gate queries and its file format (ReportingBody).

    `gate_sql` selects the records due to go (the frame the record suite checks);
    `batch_sql` returns one row of totals the batch suite reconciles. Both read marts
    only and take the body name as their only parameter.
    """
    name: str
    mart: str
    suite: str
    gate_sql: str
    batch_sql: str
    write: Callable[[list[dict], list[Field], Path, str, ProviderSettings], list[OutputFile]]
    is_active: Callable[[ProviderSettings], bool] = lambda settings: True
    write_order: Callable[[dict], tuple] = deletes_first
    # HTTP delivery: a class taking (Connection, fields, settings, timeout) with
    # send(records) -> {record_key: Answer}, lookup(record) -> Answer | None and
    # poll(reference) -> Answer | None. Records are the ledger payloads plus record_key.
    client: type | None = None
    # records per send() call: 1 sends each record on its own, None all due at once
    request_size: int | None = 1
    # File uploads: read_receipt(path, fields) -> list[ReceiptRow] reads the body's result
    # file for an uploaded submission (`cme receipts import`); receipt_key names the source
    # columns a result row is matched on against the ledger payloads (empty: all fields).
    read_receipt: Callable[[Path, list[Field]], list[ReceiptRow]] | None = None
    receipt_key: tuple[str, ...] = ()


def load_fields(con, body: str) -> list[Field]:
    """A body's fields in order, from the body_fields seed."""
    rows = con.execute("select position, part, field_name, source_column from reference.body_fields "
                       "where body = ? order by position", [body]).fetchall()
    return [Field(*r) for r in rows]


def write_atomically(path: Path, data: bytes) -> str:
    """Write `data` to `path` so that readers see the old file or the whole new one.

    Returns the SHA-256 of the bytes written. The file is readable by its owner only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return hashlib.sha256(data).hexdigest()


def text(value) -> str:
    """A record value as the body reads it: blank for missing, decimals without noise."""
    if value is None:
        return ""
    return str(value)
