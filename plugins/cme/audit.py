"""The audit trail of one submitted record (`cme audit`, the dashboard's record page).

From a body record's key back to where it came from: the ledger events and the
submission files (is the file on disk still the one the ledger hashed?), the
reporting-mart row, the credit decisions behind it, and the landed rows those
decisions were made from, with landing file, line, load id and the stored copy
of the file's bytes in the raw store (verified against its SHA-256).

Personal fields (the landing contract's personal columns and the marts' names for
them) are never returned: they read `[personal]`. The ledger's payload (the fields
sent, names included) is not read at all.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from cme import rawstore
from cme.contract import BY_FILE, EXTRACTS
from cme.export import submission_dir

WITHHELD = "[personal]"
# the contract's personal columns, and what the body marts call them
PERSONAL = frozenset({c.name for e in EXTRACTS for c in e.columns if c.personal}
                     | {"licensing_id_or_npi", "epid", "license_number", "board_id",
                        "date_of_birth", "first_name", "last_name"})
DECISION_COLUMNS = ("completion_key", "credit_type", "body", "moc_board",
                    "is_awarded", "reason_code", "credits_computed", "credits_awarded",
                    "max_credits", "unit", "uan", "learner_id", "completion_source", "decided_on")


@dataclass
class Trace:
    record_key: str
    records: list[dict] = field(default_factory=list)    # body mart rows, personal fields withheld
    events: list[dict] = field(default_factory=list)     # ledger events, with the file check
    decisions: list[dict] = field(default_factory=list)  # credit decisions of the record's completions
    sources: list[dict] = field(default_factory=list)    # landed rows the completions came from
    versions: list[dict] = field(default_factory=list)   # every version of those landed files

    def to_dict(self) -> dict:
        return _plain(asdict(self))


def _plain(value):
    """JSON-ready: dates as ISO text, decimals as text (exact), containers walked."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(con, sql: str, params=()) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _withhold(row: dict) -> dict:
    return {k: (WITHHELD if k in PERSONAL and v is not None else v) for k, v in row.items()}


class _Hashes:
    """SHA-256 of files on disk, each read once per trace."""

    def __init__(self):
        self.seen: dict[Path, str | None] = {}

    def check(self, path: Path, expected: str | None) -> str:
        if path not in self.seen:
            self.seen[path] = rawstore.sha256_of(path) if path.is_file() else None
        actual = self.seen[path]
        if actual is None:
            return "missing"
        return "verified" if actual == expected else f"differs (on disk {actual})"


def trace(con, out: Path, record_key: str) -> Trace | None:
    """The chain behind `record_key` (as in the body marts and the ledger), read through
    `con` (read-only is enough); None when neither a mart nor the ledger knows the key."""
    hashes = _Hashes()
    result = Trace(record_key)
    # fct_body_records says which body mart holds the key; that mart's row has every field
    for (mart,) in con.execute("select distinct source_mart from main.fct_body_records "
                               "where record_key = ? order by 1", [record_key]).fetchall():
        if not re.fullmatch(r"fct_[a-z_]+", mart):
            raise ValueError(f"fct_body_records names an unexpected mart: {mart!r}")
        result.records += [_withhold({"mart": mart, **row}) for row in
                           _rows(con, f"select * from main.{mart} where record_key = ?", [record_key])]
    result.events = _events(con, Path(out), record_key, hashes)
    if not result.records and not result.events:
        return None
    result.decisions = _decisions(con, result.records)
    keys = sorted({d["completion_key"] for d in result.decisions})
    activities = sorted({r["activity_id"] for r in result.records if r["mart"] == "fct_pars_activities"})
    result.sources, result.versions = _sources(con, Path(out), keys, hashes, activities)
    return result


def _events(con, out: Path, record_key: str, hashes: _Hashes) -> list[dict]:
    """Every ledger event of the record, oldest first; a file named by an event is looked
    for where its batch wrote it (the batch's first run date) and hashed."""
    events = _rows(con, """
        select e.event_id, e.event, e.batch_id, e.body, e.record_action, e.record_hash,
               e.run_date, e.event_at, e.file_name, e.file_sha256, e.transport, e.message,
               (select min(b.run_date) from ledger.submission_events b
                where b.batch_id = e.batch_id) as batch_run_date
        from ledger.submission_events e
        where e.record_key = ?
        order by e.event_id""", [record_key])
    for event in events:
        batch_run_date = event.pop("batch_run_date")
        if event["file_name"]:
            path = submission_dir(out, event["body"], batch_run_date) / event["file_name"]
            event["file_path"] = str(path)
            event["file_check"] = hashes.check(path, event["file_sha256"])
        else:
            event["file_path"] = event["file_check"] = None
    return events


def _decisions(con, records: list[dict]) -> list[dict]:
    """Every decision of the completions behind the records: same person, activity and
    completion date (a record adds up that day's completions), each credit type."""
    days = sorted({(r["person_id"], r["activity_id"], r["completed_on"]) for r in records
                   if r.get("person_id") and r.get("activity_id") and r.get("completed_on")})
    decisions = []
    for person_id, activity_id, completed_on in days:
        decisions += _rows(con, f"""
            select {', '.join(DECISION_COLUMNS)} from main.fct_credit_decisions
            where person_id = ? and activity_id = ? and completed_on = ?
            order by completion_key, credit_type""", [person_id, activity_id, completed_on])
    return decisions


# The landed rows (fct_landed_rows) of an activity record's activity (the activity as the
# mart used it, its credit designations and its supporters) or of completions, each with
# the file version it came from (raw.file_versions, by load id).
LANDED_ROWS = """
    select rows.completion_key, rows.completion_source, rows.file_name,
           rows.extracted_on, rows.source_line, rows.load_id,
           (select v.sha256 from raw.file_versions v
            where v._load_id = rows.load_id and v._extract_date = rows.extracted_on
              and v._file = rows.file_name
            order by v.loaded_at desc nulls last limit 1) as sha256
    from main.fct_landed_rows as rows
    where {where}
    order by {order}"""
ACTIVITY_SOURCES = LANDED_ROWS.format(
    where="rows.completion_key is null and rows.activity_id in (select unnest(?::varchar[]))",
    order="rows.activity_id, rows.file_name, rows.source_line")
COMPLETION_SOURCES = LANDED_ROWS.format(
    where="rows.completion_key in (select unnest(?::varchar[]))",
    order="rows.completion_key, rows.extracted_on, rows.file_name, rows.source_line")


def _sources(con, out: Path, completion_keys: list[str],
             hashes: _Hashes, activities: list[str] = ()) -> tuple[list[dict], list[dict]]:
    """The landed rows of each completion (fct_landed_rows), and of
    each activity record's activity, with the version of the file each came from
    (raw.file_versions, by load id) and its stored copy; plus every version of those
    files ever loaded."""
    sources = _rows(con, ACTIVITY_SOURCES, [list(activities)]) if activities else []
    if not completion_keys and not sources:
        return [], []
    sources += [] if not completion_keys else _rows(con, COMPLETION_SOURCES, [completion_keys])
    for source in sources:
        source["values"] = _landed_values(con, source)
        sha = source["sha256"]
        path = rawstore.path_for(out, sha) if sha else None
        source["stored_path"] = str(path) if path else None
        source["stored_check"] = hashes.check(path, sha) if path else "not recorded"
    files = sorted({(s["extracted_on"], s["file_name"]) for s in sources})
    versions = []
    for extracted_on, file_name in files:
        for version in _rows(con, """
                select _extract_date as extracted_on, _file as file_name, _load_id as load_id,
                       sha256, size_bytes, loaded_at
                from raw.file_versions where _extract_date = ? and _file = ?
                order by loaded_at nulls first""", [extracted_on, file_name]):
            path = rawstore.path_for(out, version["sha256"])
            version["stored_path"] = str(path)
            version["stored_check"] = hashes.check(path, version["sha256"])
            version["rows_from_it"] = any(s["sha256"] == version["sha256"] and
                                          s["load_id"] == version["load_id"] and
                                          (s["extracted_on"], s["file_name"]) == (extracted_on, file_name)
                                          for s in sources)
            versions.append(version)
    return sources, versions


def _landed_values(con, source: dict) -> dict:
    """The row as loaded into raw, its personal columns withheld."""
    extract = BY_FILE.get(source["file_name"])
    if extract is None:
        return {}
    columns = ", ".join(f'"{c.name}"' for c in extract.columns)
    found = _rows(con, f"select {columns} from raw.{extract.table} "
                       "where _extract_date = ? and _file = ? and _line = ? and _load_id = ?",
                  [source["extracted_on"], source["file_name"], source["source_line"], source["load_id"]])
    return _withhold(found[0]) if found else {}


# --- printing -----------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(_plain(value))


def render(result: Trace, console) -> None:
    """Print the trace with rich: one section per link of the chain."""
    from rich.markup import escape
    from rich.table import Table

    def table(title: str, rows: list[dict], columns: list[tuple[str, str]]) -> None:
        grid = Table(title=title, title_justify="left", show_lines=False)
        for _key, header in columns:
            grid.add_column(header, overflow="fold")
        for row in rows:
            grid.add_row(*(escape(_text(row.get(key))) for key, _header in columns))
        console.print(grid)

    console.print(f"[bold]Audit of record[/bold] {escape(result.record_key)}")
    if not result.records:
        console.print("Not in the body marts now (only the ledger knows it).")
    for record in result.records:
        grid = Table(title=f"Reporting-mart row ({record['mart']})", title_justify="left",
                     show_header=False)
        grid.add_column("field", style="bold")
        grid.add_column("value", overflow="fold")
        for key, value in record.items():
            if key != "mart":
                grid.add_row(key, escape(_text(value)))
        console.print(grid)
    table("Ledger events (ledger.submission_events)", result.events, [
        ("event_id", "#"), ("event", "event"), ("batch_id", "batch"), ("record_action", "action"),
        ("run_date", "run date"), ("transport", "transport"), ("file_name", "file"),
        ("file_sha256", "file SHA-256"), ("file_check", "file on disk"), ("message", "message")])
    table("Credit decisions (fct_credit_decisions)", result.decisions, [
        ("completion_key", "completion"), ("credit_type", "credit type"), ("body", "body"),
        ("moc_board", "board"), ("is_awarded", "awarded"), ("reason_code", "reason"),
        ("credits_computed", "computed"), ("credits_awarded", "awarded credits"),
        ("max_credits", "max"), ("decided_on", "decided on")])
    table("Source rows (landing file, line, load)", result.sources, [
        ("completion_key", "completion"), ("file_name", "file"), ("extracted_on", "extract date"),
        ("source_line", "line"), ("load_id", "load id"), ("sha256", "file SHA-256"),
        ("stored_path", "stored copy"), ("stored_check", "stored copy check")])
    for source in result.sources:
        shown = ", ".join(f"{k}={_text(v)}" for k, v in source["values"].items())
        console.print(f"  {escape(source['file_name'])}:{source['source_line']} "
                      f"({source['extracted_on']}): {escape(shown) or 'row no longer in raw'}",
                      soft_wrap=True)
    table("Versions of those files as landed (raw.file_versions)", result.versions, [
        ("extracted_on", "extract date"), ("file_name", "file"), ("load_id", "load id"),
        ("sha256", "SHA-256"), ("size_bytes", "bytes"), ("loaded_at", "loaded at"),
        ("rows_from_it", "rows above from it"), ("stored_check", "stored copy check")])
