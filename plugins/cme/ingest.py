"""Ingest one day's landing folder into the warehouse's `raw` schema.

Every row read ends up in exactly one place: its raw table, or
`raw.quarantine` with file, line, column and reason (row conservation).
A folder already loaded with the same bytes is skipped; a re-sent folder
with different bytes replaces that day's rows, so nothing is duplicated.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from cme.contract import EXTRACTS, Extract
from cme.parsing import BadValue, parse_value
from cme.warehouse import connect

log = logging.getLogger(__name__)

_SQL_TYPES = {"text": "VARCHAR", "enum": "VARCHAR", "state": "VARCHAR", "date": "DATE",
              "timestamp": "TIMESTAMPTZ", "bool": "BOOLEAN", "int": "INTEGER",
              "decimal": "DECIMAL(18,4)"}
_META = ("_load_id", "_extract_date", "_file", "_line", "_extra")


class ConservationError(RuntimeError):
    """Rows read did not equal rows loaded plus rows quarantined."""


@dataclass
class FileReport:
    file: str
    status: str  # loaded | unchanged | missing
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # "column: reason" -> count


@dataclass
class IngestReport:
    extract_date: str
    folder_found: bool
    files: list[FileReport]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def to_dict(self) -> dict:
        return {"extract_date": self.extract_date, "folder_found": self.folder_found,
                "rows_read": self.rows_read, "rows_quarantined": self.rows_quarantined,
                "files": [asdict(f) for f in self.files]}


def ensure_schema(con) -> None:
    from cme.ledger import ensure_ledger

    ensure_ledger(con)  # dbt reads the ledger as a source from the first run on
    con.execute("create schema if not exists raw")
    for extract in EXTRACTS:
        cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in extract.columns)
        con.execute(
            f"create table if not exists raw.{extract.table} ({cols}, _load_id VARCHAR, "
            "_extract_date DATE, _file VARCHAR, _line INTEGER, _extra JSON)"
        )
    con.execute("""
        create table if not exists raw.quarantine (
            _load_id VARCHAR, _extract_date DATE, _file VARCHAR, _line INTEGER,
            "column" VARCHAR, reason VARCHAR, all_problems VARCHAR, raw_values JSON)""")
    con.execute("""
        create table if not exists raw.loaded_files (
            _extract_date DATE, _file VARCHAR, sha256 VARCHAR, _load_id VARCHAR,
            rows_read INTEGER, rows_loaded INTEGER, rows_quarantined INTEGER,
            primary key (_extract_date, _file))""")


@dataclass
class _Parsed:
    loaded: list[dict]
    quarantined: list[dict]
    rows_read: int


def parse_file(extract: Extract, data: bytes, tz: ZoneInfo) -> _Parsed:
    """Parse a CSV extract into canonical rows and quarantined rows. Pure: no I/O."""
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    loaded: list[dict] = []
    quarantined: list[dict] = []
    try:
        header = next(reader)
    except StopIteration:
        return _Parsed([], [], 0)
    names = [h.strip().lower() for h in header]
    known = {c.name for c in extract.columns}
    missing_required = [c.name for c in extract.columns if c.required and c.name not in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    seen_keys: dict[tuple, int] = {}
    undecodable = "\ufffd" in text
    rows_read = 0
    prev_end = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. NUL byte: keep the line, skip past it
            rows_read += 1
            line = prev_end + 1
            quarantined.append(_q(line, "", f"unreadable CSV record ({exc})", [], {}))
            prev_end = reader.line_num
            continue
        line, prev_end = prev_end + 1, reader.line_num
        if not record or all(v.strip() == "" for v in record) and len(record) <= 1:
            continue  # a blank line is not a row
        rows_read += 1
        raw_values = dict(zip(names, record))
        if len(record) != len(names):
            quarantined.append(_q(line, "", f"row has {len(record)} fields, header has {len(names)}",
                                  [], raw_values))
            continue
        problems: list[tuple[str, str]] = []
        if duplicated:
            problems.append((duplicated[0], "column appears twice in the header"))
        problems += [(name, "required column missing from the header") for name in missing_required]
        if undecodable and any("\ufffd" in v for v in record):
            problems.append(("", "not valid UTF-8"))
        row: dict[str, str | None] = {}
        for column in extract.columns:
            value = raw_values.get(column.name, "").strip()
            try:
                row[column.name] = parse_value(column, value, tz)
            except BadValue as exc:
                problems.append((column.name, str(exc)))
        for check in extract.row_checks:
            a, b = row.get(check.earlier), row.get(check.later)
            if a is not None and b is not None and (b <= a if check.strict else b < a):
                problems.append((check.later, check.reason))
        if not problems:
            key = tuple(row[k] for k in extract.key)
            if key in seen_keys:
                problems.append((",".join(extract.key),
                                 f"duplicate key in this file (first on line {seen_keys[key]})"))
            else:
                seen_keys[key] = line
        if problems:
            quarantined.append(_q(line, problems[0][0], problems[0][1], problems, raw_values))
            continue
        extra = {k: v for k, v in raw_values.items() if k not in known}
        row["_line"] = str(line)
        row["_extra"] = json.dumps(extra) if extra else None
        loaded.append(row)
    return _Parsed(loaded, quarantined, rows_read)


def _q(line: int, column: str, reason: str, problems, raw_values: dict) -> dict:
    return {"_line": line, "column": column, "reason": reason,
            "all_problems": "; ".join(f"{c}: {r}" if c else r for c, r in problems) or reason,
            "raw_values": json.dumps(raw_values)}


def ingest_day(landing: Path, warehouse: Path, extract_date: date, timezone: str,
               load_id: str) -> IngestReport:
    folder = Path(landing) / extract_date.isoformat()
    tz = ZoneInfo(timezone)
    reports: list[FileReport] = []
    with connect(Path(warehouse)) as con:
        ensure_schema(con)
        for extract in EXTRACTS:
            reports.append(_ingest_file(con, extract, folder, extract_date, tz, load_id))
    report = IngestReport(extract_date.isoformat(), folder.is_dir(), reports)
    log.info("ingest %s: %d rows read, %d quarantined", report.extract_date, report.rows_read,
             report.rows_quarantined)
    return report


def _ingest_file(con, extract: Extract, folder: Path, day: date, tz: ZoneInfo,
                 load_id: str) -> FileReport:
    path = folder / extract.file
    data = path.read_bytes() if path.is_file() else b""
    sha = hashlib.sha256(data).hexdigest()
    previous = con.execute(
        "select sha256, rows_read, rows_loaded, rows_quarantined from raw.loaded_files "
        "where _extract_date = ? and _file = ?", [day, extract.file]).fetchone()
    if previous and previous[0] == sha:
        report = FileReport(extract.file, "unchanged", *previous[1:])
        report.reasons = _reason_counts(con, day, extract.file)
        return report

    parsed = parse_file(extract, data, tz)
    con.execute("begin transaction")
    try:
        con.execute(f"delete from raw.{extract.table} where _extract_date = ?", [day])
        con.execute("delete from raw.quarantine where _extract_date = ? and _file = ?",
                    [day, extract.file])
        if parsed.loaded:
            frame = pd.DataFrame(parsed.loaded, dtype=object)
            casts = ", ".join(
                f'cast(frame."{c.name}" as {_SQL_TYPES[c.type]})' for c in extract.columns)
            con.register("frame", frame)
            con.execute(
                f"insert into raw.{extract.table} select {casts}, ?, ?, ?, "
                "cast(frame._line as integer), cast(frame._extra as json) from frame",
                [load_id, day, extract.file])
            con.unregister("frame")
        for q in parsed.quarantined:
            con.execute("insert into raw.quarantine values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [load_id, day, extract.file, q["_line"], q["column"], q["reason"],
                         q["all_problems"], q["raw_values"]])
        loaded = con.execute(f"select count(*) from raw.{extract.table} where _extract_date = ?",
                             [day]).fetchone()[0]
        quarantined = con.execute(
            "select count(*) from raw.quarantine where _extract_date = ? and _file = ?",
            [day, extract.file]).fetchone()[0]
        if parsed.rows_read != loaded + quarantined:
            raise ConservationError(
                f"{day}/{extract.file}: read {parsed.rows_read} rows but loaded {loaded} "
                f"and quarantined {quarantined}")
        con.execute("insert or replace into raw.loaded_files values (?, ?, ?, ?, ?, ?, ?)",
                    [day, extract.file, sha, load_id, parsed.rows_read, loaded, quarantined])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    status = "loaded" if path.is_file() else "missing"
    report = FileReport(extract.file, status, parsed.rows_read, loaded, quarantined)
    report.reasons = _reason_counts(con, day, extract.file)
    return report


def _reason_counts(con, day: date, file: str) -> dict[str, int]:
    rows = con.execute(
        "select coalesce(nullif(\"column\", '') || ': ', '') || reason, count(*) "
        "from raw.quarantine where _extract_date = ? and _file = ? group by 1 order by 1",
        [day, file]).fetchall()
    return dict(rows)
