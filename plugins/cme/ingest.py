"""Ingest one day's landing folder into the warehouse's `raw` schema.

Every row read ends up in exactly one place: its raw table, or
`raw.quarantine` with file, line, column and reason (row conservation).
A folder already loaded with the same bytes is skipped; a re-sent folder
with different bytes replaces that day's rows, so nothing is duplicated.

A file that exists but cannot be read as a CSV extract (0 bytes, a symbolic link,
not a regular file, binary or compressed) refuses the day: nothing of it is
loaded and `IngestRefused` names every such file and why. The day is loaded in
one transaction, so any failure leaves the warehouse as it was before the day.

Record splitting is Python's (cme.records); values are checked and typed in
DuckDB as a set (cme.validate), with cme.parsing's rules and reasons. With a PostgreSQL
warehouse (CME_WAREHOUSE_URL) the checking still runs in DuckDB, in a scratch database
beside the run, and the checked rows reach PostgreSQL by COPY inside the day's transaction.
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from datetime import timezone as dt_timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from cme.contract import BY_FILE, EXTRACTS, MARKER_FILES, Extract
from cme.records import Records, read_chunks, split_records, strip_boms
from cme.validate import SQL_TYPES, check, finish, problems_text, validate
from cme.warehouse import connect, copy_select, is_postgres, scratch

log = logging.getLogger(__name__)

_SQL_TYPES = SQL_TYPES
# A file's checked rows, before they land: an ordinary table in the warehouse rather
# than a temporary one, so ten million rows can leave memory for the file (dropped in
# the day's transaction; a day that fails leaves nothing behind).
SCRATCH = "raw._ingest_checked"
_META = ("_load_id", "_extract_date", "_file", "_line", "_extra")
# first bytes of files that are not CSV text
_MAGIC = (
    (b"PK\x03\x04", "a zip archive (or an xlsx/docx workbook)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document (xls/doc)"),
    (b"\xff\xfe", "UTF-16 text (the contract requires UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (the contract requires UTF-8)"),
)
_FIRST_BLOCK = 8192
# the load's own values, typed (DuckDB cannot type a bare parameter inside COPY's query)
_PARAMS = "cast(? as varchar), cast(? as date), cast(? as varchar)"
_QUARANTINE = ["_load_id", "_extract_date", "_file", "_line", "column", "reason", "all_problems",
               "raw_values"]


class ConservationError(RuntimeError):
    """Rows read did not equal rows loaded plus rows quarantined."""


class IngestRefused(RuntimeError):
    """A file of the day cannot be read as a CSV extract: the day loads nothing."""


@dataclass
class FileReport:
    file: str
    status: str  # loaded | unchanged | missing (absent that day: no rows of that kind)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # "column: reason" -> count


@dataclass
class IngestReport:
    extract_date: str
    folder_found: bool
    files: list[FileReport]
    unknown_files: list[str] = field(default_factory=list)  # in the folder, not in the contract

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def absent_files(self) -> list[str]:
        return [f.file for f in self.files if f.status == "missing"]

    def to_dict(self) -> dict:
        return {"extract_date": self.extract_date, "folder_found": self.folder_found,
                "rows_read": self.rows_read, "rows_quarantined": self.rows_quarantined,
                "files": [asdict(f) for f in self.files],
                "absent_files": self.absent_files, "unknown_files": self.unknown_files}


def _ddl_type(kind: str) -> str:
    """A contract type as a column type: text columns are TEXT (DuckDB's VARCHAR by another
    name; on PostgreSQL the type dbt-postgres gives the marts, so incremental models built
    over raw columns keep their declared types across runs)."""
    return "TEXT" if _SQL_TYPES[kind] == "VARCHAR" else _SQL_TYPES[kind]


def ensure_schema(con) -> None:
    from cme.ledger import ensure_ledger
    from cme.retention import ensure_retention

    ensure_ledger(con)  # dbt reads the ledger as a source from the first run on
    ensure_retention(con)  # and the records retired by retention
    con.execute("create schema if not exists raw")
    for extract in EXTRACTS:
        cols = ", ".join(f'"{c.name}" {_ddl_type(c.type)}' for c in extract.columns)
        con.execute(
            f"create table if not exists raw.{extract.table} ({cols}, _load_id TEXT, "
            "_extract_date DATE, _file TEXT, _line INTEGER, _extra JSON)"
        )
        # columns the contract gained later (all optional): older warehouses get them too
        for c in extract.columns:
            con.execute(f'alter table raw.{extract.table} add column if not exists "{c.name}" '
                        f"{_ddl_type(c.type)}")
    con.execute("""
        create table if not exists raw.quarantine (
            _load_id TEXT, _extract_date DATE, _file TEXT, _line INTEGER,
            "column" TEXT, reason TEXT, all_problems TEXT, raw_values JSON)""")
    con.execute("""
        create table if not exists raw.loaded_files (
            _extract_date DATE, _file TEXT, sha256 TEXT, _load_id TEXT,
            rows_read INTEGER, rows_loaded INTEGER, rows_quarantined INTEGER,
            primary key (_extract_date, _file))""")
    # loaded | absent (a contract file not landed that day) | unknown (a file the contract
    # does not know, not read); added later, so existing warehouses get it too
    con.execute("alter table raw.loaded_files add column if not exists status TEXT")
    # Every version of a file ever loaded (append-only): which load read which bytes, so a
    # raw row's (_load_id, _extract_date, _file) leads to its copy in the raw store
    # (cme.rawstore) even after a re-landed file replaced the date's rows. Files loaded
    # before this table existed are taken from raw.loaded_files (size and time unknown).
    con.execute("""
        create table if not exists raw.file_versions (
            _load_id TEXT, _extract_date DATE, _file TEXT, sha256 TEXT,
            size_bytes BIGINT, loaded_at TIMESTAMPTZ)""")
    con.execute("""
        insert into raw.file_versions (_load_id, _extract_date, _file, sha256)
        select _load_id, _extract_date, _file, sha256 from raw.loaded_files
        where coalesce(status, 'loaded') = 'loaded' and sha256 is not null
          and not exists (select 1 from raw.file_versions v
                          where v._extract_date = loaded_files._extract_date
                            and v._file = loaded_files._file and v.sha256 = loaded_files.sha256)""")


# --- reading the files ------------------------------------------------------------------

@dataclass
class Opened:
    """An extract file ingest will read: open (the inode checked), hashed, not yet parsed."""
    handle: object  # binary file object, at its start
    sha256: str
    size: int


def read_extract(path: Path) -> tuple[Opened | None, str | None]:
    """(Opened, None) for a file ingest can read; (None, why) for one it refuses. The file is
    read once here, in blocks, to hash it and to find out whether it is CSV text at all;
    the caller parses it from the same open file and closes it."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, "disappeared while being read"
    if stat.S_ISLNK(info.st_mode):
        return None, "is a symbolic link (not followed: an extract must be a regular file)"
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a special file (pipe, socket or device)"
        return None, f"is {kind}, not a regular file"
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    handle = os.fdopen(fd, "rb")
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_ino, opened.st_dev) != (info.st_ino, info.st_dev):
            handle.close()
            return None, "changed while being read"
        digest, head, size, has_text = hashlib.sha256(), b"", 0, False
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
            if not head:
                head = block[:_FIRST_BLOCK]
                while block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
            has_text = has_text or bool(block.strip())
        why = _not_csv_text(head, has_text)
        if why:
            handle.close()
            return None, why
        handle.seek(0)
        return Opened(handle, digest.hexdigest(), size), None
    except BaseException:
        handle.close()
        raise


def not_csv_text(data: bytes) -> str | None:
    """Why these bytes are not a CSV extract at all, or None."""
    body = data
    while body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    return _not_csv_text(data[:_FIRST_BLOCK], bool(body.strip()))


def _not_csv_text(head: bytes, has_text: bool) -> str | None:
    """From the first block and whether anything but byte-order marks and blanks follows."""
    if not head:
        return "is empty (0 bytes, no header line)"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"is {what}, not a CSV text file"
    nuls = head.count(0)
    if nuls >= 8 and nuls * 10 >= len(head):
        return "is binary (NUL bytes throughout its first 8 KiB), not a CSV text file"
    if not has_text:
        return "has no header line (only a byte-order mark or blank lines)"
    return None


# --- parsing ----------------------------------------------------------------------------

@dataclass
class _Parsed:
    loaded: list[dict]
    quarantined: list[dict]
    rows_read: int


def _records(extract: Extract, data: bytes) -> Records:
    return split_records(extract, strip_boms(data.decode("utf-8", errors="replace")))


def parse_file(extract: Extract, data: bytes, tz: ZoneInfo) -> _Parsed:
    """Parse a CSV extract into canonical rows and quarantined rows. Pure: an in-memory
    DuckDB does the checking, as ingest does in the warehouse."""
    if not data:
        return _Parsed([], [], 0)
    records = _records(extract, data)
    con = duckdb.connect()
    try:
        loaded, quarantined = [], list(records.quarantined)
        if records.rows:
            validate(con, extract, records, tz.key, "_validated")
            names = [c.name for c in extract.columns]
            values = ", ".join(f"v{i}" for i in range(len(names)))
            kinds = [c.type for c in extract.columns]
            for row in con.execute(f"select {values}, _line, _extra from _validated "
                                   "where len(_problems) = 0 order by _line").fetchall():
                loaded.append({**{n: _canonical(k, v) for n, k, v in zip(names, kinds, row)},
                               "_line": str(row[-2]), "_extra": row[-1]})
            for line, column, reason, problems, raw in con.execute(
                    f"select _line, _problems[1].c, _problems[1].r, {problems_text()}, _raw_values "
                    "from _validated where len(_problems) > 0").fetchall():
                quarantined.append({"_line": line, "column": column, "reason": reason,
                                    "all_problems": problems, "raw_values": raw})
        quarantined.sort(key=lambda q: q["_line"])
        return _Parsed(loaded, quarantined, records.rows_read)
    finally:
        con.close()


def _canonical(kind: str, value) -> str | None:
    """parse_value's canonical text for a typed value."""
    if value is None or kind in ("text", "enum", "state"):
        return value
    if kind == "bool":
        return "true" if value else "false"
    if kind == "timestamp":
        return value.astimezone(dt_timezone.utc).isoformat()
    if kind == "date":
        return value.isoformat()
    if kind == "decimal":
        return str(value.normalize()) if value != value.to_integral() else str(value.quantize(1))
    return str(value)


# --- the day ----------------------------------------------------------------------------

def ingest_day(landing: Path, warehouse: Path, extract_date: date, timezone: str,
               load_id: str) -> IngestReport:
    folder = Path(landing) / extract_date.isoformat()
    day = extract_date.isoformat()
    contents: dict[str, Opened | None] = {}
    refused: list[str] = []
    try:
        for extract in EXTRACTS:
            path = folder / extract.file
            if not os.path.lexists(path):
                contents[extract.file] = None  # absent: no rows of that kind today
                continue
            opened, why = read_extract(path)
            if why:
                refused.append(f"{day}/{extract.file} {why}")
            contents[extract.file] = opened
        return _ingest_opened(folder, warehouse, extract_date, timezone, load_id, contents, refused)
    finally:
        for opened in contents.values():
            if opened is not None:
                opened.handle.close()


def _ingest_opened(folder: Path, warehouse: Path, extract_date: date, timezone: str, load_id: str,
                   contents: dict[str, Opened | None], refused: list[str]) -> IngestReport:
    day = extract_date.isoformat()
    if refused:
        raise IngestRefused(
            f"ingest of {day} refused, nothing of the day was loaded: " + "; ".join(refused)
            + ". Fix the extract(s) and re-run the day.")
    _keep_in_store(folder, Path(warehouse).parent, contents)
    unknown = sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "")
                     for p in folder.iterdir()
                     if p.name not in BY_FILE and p.name not in MARKER_FILES) if folder.is_dir() else []

    reports: list[FileReport] = []
    with connect(Path(warehouse)) as con, _checker(con, Path(warehouse).parent) as checker:
        ensure_schema(con)
        con.execute("begin transaction")  # the whole day, or nothing of it
        try:
            for extract in EXTRACTS:
                reports.append(_ingest_file(con, checker, extract, contents[extract.file],
                                            extract_date, timezone, load_id))
            con.execute("delete from raw.loaded_files where _extract_date = ? and status = 'unknown'",
                        [extract_date])
            for name in unknown:
                con.execute("insert into raw.loaded_files (_extract_date, _file, _load_id, "
                            "rows_read, rows_loaded, rows_quarantined, status) "
                            f"values (?, ?, ?, 0, 0, 0, 'unknown') {_UPSERT}",
                            [extract_date, name, load_id])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        for report in reports:
            report.reasons = _reason_counts(con, extract_date, report.file)
    report = IngestReport(day, folder.is_dir(), reports, unknown)
    log.info("ingest %s: %d rows read, %d quarantined", report.extract_date, report.rows_read,
             report.rows_quarantined)
    if report.absent_files:
        log.info("ingest %s: absent today (no rows of that kind): %s", day, ", ".join(report.absent_files))
    if unknown:
        log.warning("ingest %s: files the contract does not know, not read: %s", day, ", ".join(unknown))
    return report


# `insert or replace` is DuckDB's; this form is both DuckDB's and PostgreSQL's
_UPSERT = ("on conflict (_extract_date, _file) do update set sha256 = excluded.sha256, "
           "_load_id = excluded._load_id, rows_read = excluded.rows_read, "
           "rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined, "
           "status = excluded.status")


@contextmanager
def _checker(con, out: Path):
    """Where files are checked (cme.validate, DuckDB SQL): the DuckDB warehouse itself, or
    for PostgreSQL an in-memory DuckDB that spills to OUT/.ingest_tmp."""
    if not is_postgres(con):
        yield con
        return
    with scratch(out / ".ingest_tmp") as checker:
        checker.execute("create schema raw")
        yield checker


def _keep_in_store(folder: Path, out: Path, contents: dict[str, Opened | None]) -> None:
    """Keep every file of the day in the content-addressed raw store beside the warehouse
    (OUT/raw/sha256, cme.rawstore) before any row loads: a row in the warehouse always has
    its file's bytes kept. A file whose bytes changed since they were hashed refuses the day."""
    from cme.rawstore import StoreMismatch, keep

    changed = []
    for name, opened in contents.items():
        if opened is None:
            continue
        try:
            keep(out, opened.handle, opened.sha256)
        except StoreMismatch:
            changed.append(f"{folder.name}/{name} changed while being read")
    if changed:
        raise IngestRefused(f"ingest of {folder.name} refused, nothing of the day was loaded: "
                            + "; ".join(changed) + ". Re-run the day once the extract is complete.")


def _ingest_file(con, checker, extract: Extract, opened: Opened | None, day: date,
                 timezone: str, load_id: str) -> FileReport:
    """`checker` runs the checks (DuckDB); `con` is the warehouse (the same DuckDB, or
    PostgreSQL): checked rows move from one to the other with copy_select."""
    sha = opened.sha256 if opened else hashlib.sha256(b"").hexdigest()
    status = "missing" if opened is None else "loaded"
    previous = con.execute(
        "select sha256, rows_read, rows_loaded, rows_quarantined from raw.loaded_files "
        "where _extract_date = ? and _file = ?", [day, extract.file]).fetchone()
    if previous and previous[0] == sha:
        return FileReport(extract.file, "unchanged" if opened is not None else "missing", *previous[1:])

    con.execute(f"delete from raw.{extract.table} where _extract_date = ?", [day])
    con.execute("delete from raw.quarantine where _extract_date = ? and _file = ?", [day, extract.file])
    params = [load_id, day, extract.file]
    rows_read, names = 0, None
    # piece by piece (cme.records.read_chunks): each is checked into one temp table, then
    # repeated keys are found across the whole file and the rows land in one statement
    for records in read_chunks(extract, opened.handle) if opened else ():
        rows_read += records.rows_read
        if records.rows:
            check(checker, extract, records, timezone, SCRATCH, append=names is not None)
            names = records.names
        if records.quarantined:
            checker.register("_structural", pd.DataFrame(records.quarantined, columns=[
                "_line", "column", "reason", "all_problems", "raw_values"]))
            copy_select(checker, f"select {_PARAMS}, _line, \"column\", reason, all_problems, "
                        "raw_values::json from _structural", con, "raw.quarantine",
                        _QUARANTINE, params)
            checker.unregister("_structural")
    if names is not None:
        finish(checker, extract, names, SCRATCH)
        values = ", ".join(f"v{i}" for i in range(len(extract.columns)))
        copy_select(checker, f"select {values}, {_PARAMS}, _line, _extra from {SCRATCH} "
                    "where len(_problems) = 0", con, f"raw.{extract.table}",
                    [c.name for c in extract.columns] + list(_META), params)
        copy_select(checker, f"select {_PARAMS}, _line, _problems[1].c, _problems[1].r, "
                    f"{problems_text()}, _raw_values from {SCRATCH} where len(_problems) > 0",
                    con, "raw.quarantine", _QUARANTINE, params)
        checker.execute(f"drop table {SCRATCH}")
    loaded = con.execute(f"select count(*) from raw.{extract.table} where _extract_date = ?",
                         [day]).fetchone()[0]
    quarantined = con.execute(
        "select count(*) from raw.quarantine where _extract_date = ? and _file = ?",
        [day, extract.file]).fetchone()[0]
    if rows_read != loaded + quarantined:
        raise ConservationError(
            f"{day}/{extract.file}: read {rows_read} rows but loaded {loaded} "
            f"and quarantined {quarantined}")
    con.execute("insert into raw.loaded_files (_extract_date, _file, sha256, _load_id, "
                "rows_read, rows_loaded, rows_quarantined, status) values (?, ?, ?, ?, ?, ?, ?, ?) "
                + _UPSERT,
                [day, extract.file, sha, load_id, rows_read, loaded, quarantined,
                 "absent" if opened is None else "loaded"])
    if opened is not None:
        con.execute("insert into raw.file_versions select ?, ?, ?, ?, ?, now() where not exists ("
                    "select 1 from raw.file_versions where _load_id = ? and _extract_date = ? "
                    "and _file = ? and sha256 = ?)",
                    [load_id, day, extract.file, sha, opened.size, load_id, day, extract.file, sha])
    return FileReport(extract.file, status, rows_read, loaded, quarantined)


def _reason_counts(con, day: date, file: str) -> dict[str, int]:
    rows = con.execute(
        "select coalesce(nullif(\"column\", '') || ': ', '') || reason, count(*) "
        "from raw.quarantine where _extract_date = ? and _file = ? group by 1 order by 1",
        [day, file]).fetchall()
    return dict(rows)
