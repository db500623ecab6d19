"""Record retention (`cme retention`): list, or archive then purge, the learner attendance
records that every applicable retention period has passed.

What is purged: the raw extract rows of completions and live check-ins (`raw.lms_completions`,
`raw.attendance`) and the quarantined rows of those two files. A completion is beyond retention
when the longest rule that applies to it has run out; one no rule applies to is kept. All
completions of one person and activity go together (the cap across completions and the
duplicate-account rule look at them together), so a completion is purged only when all of them
are beyond retention.

What is kept: the credit decisions and awards (ids and credit, the learners' transcripts and the
basis of what was reported), the ledger, and everything else. The records the bodies hold for
purged completions are noted in `retention.retired_records`; the models never withdraw or flag
for correction a retired record (docs/decisions.md, "Retention").
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from cme.rawstore import sha256_of
from cme.settings import ProviderSettings, RetentionRule

log = logging.getLogger(__name__)

ARCHIVE_DIR = Path("archive") / "retention"

# Not ported: the archive is written by DuckDB's COPY ... (format parquet) straight from the
# warehouse, and the staging uses DuckDB-only SQL (docs/decisions.md, "The warehouse on
# PostgreSQL"). Refused before anything is read, so nothing is half-purged.
POSTGRES_REFUSAL = ("cme retention does not run on a PostgreSQL warehouse yet (CME_WAREHOUSE_URL "
                    "is set): its archive and purge are written for the DuckDB file only. "
                    "Nothing was read or changed; purge on PostgreSQL is not available.")

DDL = """
create schema if not exists retention;
create table if not exists retention.purge_log (
    run_id TEXT, applied_at TIMESTAMPTZ, as_of DATE, table_name TEXT, rule TEXT,
    row_count BIGINT, oldest DATE, newest DATE, archive_file TEXT, archive_sha256 TEXT);
create table if not exists retention.retired_records (
    body TEXT, record_key TEXT, as_of DATE, run_id TEXT);
-- the landed file versions (load, extract date, file) that rows were purged from
create table if not exists retention.purged_loads (
    _load_id TEXT, _extract_date DATE, _file TEXT, run_id TEXT);
"""

# The stored copy of a landed file (cme.rawstore) goes once retention has purged rows from
# every version with those bytes and none of their rows remain: a file still holding a row
# inside any period is kept, and so is a version whose rows a re-landing replaced (that
# is the audit trail's "first received", not retention's to remove).
STORED_FILES_BEYOND = """
with live as (
    select distinct _load_id, _extract_date, _file from raw.lms_completions
    union select distinct _load_id, _extract_date, _file from raw.attendance
    union select distinct _load_id, _extract_date, _file from raw.quarantine
),
versions as (
    select v.sha256,
           p._load_id is not null as purged,
           l._load_id is not null as has_rows
    from raw.file_versions as v
    left join (select distinct _load_id, _extract_date, _file from retention.purged_loads) as p
        using (_load_id, _extract_date, _file)
    left join live as l using (_load_id, _extract_date, _file)
)
select sha256 from versions group by sha256
having bool_and(purged) and not bool_or(has_rows)
order by sha256
"""


class RetentionError(RuntimeError):
    """Retention cannot run on this warehouse (the message names why, without values)."""


def ensure_retention(con) -> None:
    con.execute(DDL)


@dataclass
class Line:
    """Rows of one table beyond retention under one rule (counts and dates only)."""
    table: str
    rule: str
    rows: int
    oldest: date | None
    newest: date | None
    archive_file: str | None = None
    sha256: str | None = None


@dataclass
class Result:
    as_of: date
    applied: bool
    lines: list[Line] = field(default_factory=list)
    archive: Path | None = None
    retired_records: int = 0
    stored_files_removed: int = 0

    @property
    def rows(self) -> int:
        return sum(line.rows for line in self.lines)


def _rules_relation(rules: tuple[RetentionRule, ...]) -> tuple[str, list]:
    if not rules:
        return ("select * from (values (null::varchar, null::varchar, null::varchar, null::int, "
                "null::varchar)) as r(name, authority, state, years, counts_from) where false", [])
    values = ", ".join("(?, ?, ?, ?::int, ?)" for _ in rules)
    params = [v for r in rules for v in (r.name, r.authority, r.state, r.years, r.counts_from)]
    return f"select * from (values {values}) as r(name, authority, state, years, counts_from)", params


def _stage(con, settings: ProviderSettings, as_of: date) -> None:
    """Temp tables `_purge_completions` (completion, its rule and date) and `_purge_rows`
    (table, extract date, file, line, rule, date): what is beyond retention as of `as_of`."""
    rules_sql, params = _rules_relation(settings.retention.rules)
    con.execute(f"create or replace temp table _rules as {rules_sql}", params)
    # which rule applies to which completion, and until when it keeps it
    con.execute("""
        create or replace temp table _applicable as
        with completions as (
            select c.completion_key, c.completion_source, c.completion_id, c.learner_id,
                   c.person_id, c.activity_id, c.completed_on, a.end_date as activity_end
            from main.fct_completions as c
            left join main.dim_activities as a using (activity_id)
        ),
        -- activities designating credit reported to PARS: ACCME (or JA) accredited CME
        accme_activities as (
            select distinct d.activity_id
            from main.dim_activity_credits as d
            inner join reference.credit_types as t using (credit_type)
            where t.body in ('ACCME_PARS', 'JA_PARS')
        ),
        body_records as (
            select body, license_state as state, person_id, activity_id, completed_on
            from main.fct_body_records
            where record_action = 'Add' and completed_on is not null
        ),
        matches as (
            select c.completion_key, r.name as rule
            from completions as c
            inner join _rules as r on r.authority = 'ACCME'
            semi join accme_activities using (activity_id)
            union
            select c.completion_key, r.name
            from completions as c
            inner join body_records as b
                on b.person_id = c.person_id and b.activity_id = c.activity_id
               and b.completed_on = c.completed_on
            inner join _rules as r
                on r.authority = b.body and (r.state is null or r.state = b.state)
        )
        select c.*, r.name as rule,
               cast(case r.counts_from when 'activity_end' then c.activity_end else c.completed_on end
                    + to_years(r.years) as date) as keep_until
        from matches
        inner join completions as c using (completion_key)
        inner join _rules as r on r.name = matches.rule
    """)
    # the longest rule wins; a completion with no rule, or one whose date is unknown, is kept,
    # and so is every completion of its person and activity
    con.execute("""
        create or replace temp table _purge_completions as
        with completions as (
            select c.completion_key, c.completion_source, c.completion_id, c.completed_on,
                   coalesce(c.person_id, 'learner:' || c.learner_id) as holder, c.activity_id,
                   max(a.keep_until) as keep_until,
                   arg_max(a.rule, a.keep_until) as rule,
                   count(a.rule) = 0 or bool_or(a.keep_until is null) as kept_for_good
            from main.fct_completions as c
            left join _applicable as a using (completion_key)
            group by all
        ),
        grouped as (
            select *,
                   max(keep_until) over (partition by holder, activity_id) as group_keep_until,
                   arg_max(rule, keep_until) over (partition by holder, activity_id) as group_rule,
                   bool_or(kept_for_good) over (partition by holder, activity_id) as group_kept
            from completions
        )
        select completion_key, completion_source, completion_id, completed_on,
               holder, activity_id, group_rule as rule
        from grouped
        where not group_kept and group_keep_until < ?
    """, [as_of])
    # quarantined rows name no completion: kept for the longest period of any rule, counted
    # from the later of their extract date and the end of the activity they name, if known
    con.execute(f"""
        create or replace temp table _purge_rows as
        select 'lms_completions' as table_name, r._extract_date, r._file, r._line, p.rule,
               p.completed_on as dated
        from raw.lms_completions as r
        inner join _purge_completions as p
            on p.completion_source = 'lms' and p.completion_id = r.completion_id
        union all
        select 'attendance', r._extract_date, r._file, r._line, p.rule, p.completed_on
        from raw.attendance as r
        inner join _purge_completions as p
            on p.completion_source = 'live'
           and p.completion_key = 'LIVE:' || r.learner_id || ':' || r.activity_id || ':'
               || cast(r.check_in_at at time zone '{settings.timezone}' as date)
        union all
        select 'quarantine', q._extract_date, q._file, q._line,
               (select arg_max(name, years) from _rules) || ' (quarantined rows)', q._extract_date
        from raw.quarantine as q
        left join main.dim_activities as a
            on a.activity_id = json_extract_string(q.raw_values, '$.activity_id')
        where q._file in ('lms_completions.csv', 'attendance.csv')
          and (select max(years) from _rules) is not null
          and cast(greatest(q._extract_date, a.end_date) + to_years((select max(years) from _rules)) as date) < ?
    """, [as_of])


def _lines(con) -> list[Line]:
    rows = con.execute("""
        select table_name, rule, count(*), min(dated), max(dated)
        from _purge_rows group by all order by 1, 2""").fetchall()
    return [Line(*row) for row in rows]


def _connect(warehouse: Path, read_only: bool):
    from cme.warehouse import connect, warehouse_url

    if warehouse_url():
        raise RetentionError(POSTGRES_REFUSAL)
    if not Path(warehouse).exists():
        raise RetentionError(f"no warehouse at {warehouse}: run `cme run` first")
    return connect(Path(warehouse), read_only=read_only)


def _staged(con, settings: ProviderSettings, as_of: date) -> None:
    import duckdb

    try:
        _stage(con, settings, as_of)
    except duckdb.CatalogException:
        raise RetentionError("the warehouse has not been built by a run yet (no marts): "
                             "run `cme run` first") from None


def dry_run(warehouse: Path, settings: ProviderSettings, as_of: date) -> Result:
    """What `apply` would purge as of `as_of`, per table and rule; changes nothing."""
    with _connect(warehouse, read_only=True) as con:
        _staged(con, settings, as_of)
        return Result(as_of, applied=False, lines=_lines(con))


def _archive_folder(out: Path, as_of: date) -> tuple[Path, str]:
    """OUT/archive/retention/<as-of>/ (owner-only) and a suffix that leaves an earlier
    archive of the same as-of date alone."""
    from cme.warehouse import private_dir

    folder = out
    for part in (*ARCHIVE_DIR.parts, as_of.isoformat()):
        folder = private_dir(folder / part)
    suffix, n = "", 1
    while (folder / f"manifest{suffix}.json").exists():
        n += 1
        suffix = f"-{n}"
    return folder, suffix


def apply(warehouse: Path, out: Path, settings: ProviderSettings, as_of: date) -> Result:
    """Archive the rows beyond retention to Parquet under OUT/archive/retention/<as-of>/
    (owner-only, with a manifest of row counts and SHA-256), then delete them, note the body
    records they carried as retired and log the counts: all in one transaction."""
    from cme.bodies.base import write_atomically

    run_id = uuid.uuid4().hex[:12]
    applied_at = datetime.now(timezone.utc)
    written: list[Path] = []
    with _connect(warehouse, read_only=False) as con:
        ensure_retention(con)
        con.execute("begin transaction")
        try:
            _staged(con, settings, as_of)
            lines = _lines(con)
            if not lines:
                con.execute("rollback")
                removed = _drop_stored_files(con, Path(out))
                log.info("retention as of %s: nothing beyond retention", as_of)
                return Result(as_of, applied=True, stored_files_removed=removed)
            folder, suffix = _archive_folder(Path(out), as_of)
            files = {}
            for table in sorted({line.table for line in lines}):
                files[table] = _archive_and_delete(con, table, folder / f"{table}{suffix}.parquet")
                written.append(files[table][0])
            for line in lines:
                path, sha = files[line.table]
                line.archive_file, line.sha256 = path.name, sha
            retired = _retire_records(con, as_of, run_id)
            con.executemany(
                "insert into retention.purge_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[run_id, applied_at, as_of, f"raw.{line.table}", line.rule, line.rows,
                  line.oldest, line.newest, line.archive_file, line.sha256] for line in lines])
            manifest = {
                "run_id": run_id, "as_of": as_of.isoformat(), "applied_at": applied_at.isoformat(),
                "rules": [r.model_dump() for r in settings.retention.rules],
                "files": [{"table": f"raw.{table}", "file": path.name, "sha256": sha,
                           "rows": sum(ln.rows for ln in lines if ln.table == table)}
                          for table, (path, sha) in files.items()],
                "counts": [{k: (v.isoformat() if isinstance(v, date) else v)
                            for k, v in asdict(line).items()} for line in lines],
                "retired_records": retired,
            }
            manifest_path = folder / f"manifest{suffix}.json"
            write_atomically(manifest_path, json.dumps(manifest, indent=2).encode())
            written.append(manifest_path)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            for path in written:  # the rows stay in the warehouse: no archive of them
                path.unlink(missing_ok=True)
            raise
        # after the commit: a file removed is not rolled back, and this is safe to repeat
        removed = _drop_stored_files(con, Path(out))
    log.info("retention as of %s: purged %s; %d body record(s) retired; %d stored landing "
             "file(s) removed", as_of, ", ".join(f"raw.{ln.table} {ln.rows} ({ln.rule})" for ln in lines),
             retired, removed)
    return Result(as_of, applied=True, lines=lines, archive=folder, retired_records=retired,
                  stored_files_removed=removed)


def _drop_stored_files(con, out: Path) -> int:
    """Remove the stored copies (OUT/raw/sha256/..) of landed files whose rows retention
    has all purged; their rows are in the archive. Returns how many were removed."""
    from cme import rawstore

    if con.execute("select count(*) from information_schema.tables where table_schema = 'raw' "
                   "and table_name = 'file_versions'").fetchone()[0] == 0:
        return 0
    removed = 0
    for (sha,) in con.execute(STORED_FILES_BEYOND).fetchall():
        path = rawstore.path_for(out, sha)
        if path.exists():
            path.unlink()
            removed += 1
    return removed


def _archive_and_delete(con, table: str, path: Path) -> tuple[Path, str]:
    """Write the table's rows beyond retention to `path` (Parquet, owner-only), check the
    file holds exactly them, then delete them. Returns the path and its SHA-256."""
    con.execute(f"""
        create or replace temp table _archive as
        select t.*, p.rule as _retention_rule
        from raw.{table} as t
        inner join _purge_rows as p
            on p.table_name = '{table}' and p._extract_date = t._extract_date
           and p._file = t._file and p._line = t._line""")
    expected = con.execute("select count(*) from _archive").fetchone()[0]
    con.execute("insert into retention.purged_loads select distinct _load_id, _extract_date, _file, "
                "null from _archive")
    tmp = path.with_name(f".{path.name}.part")
    quoted = str(tmp).replace("'", "''")
    tmp.unlink(missing_ok=True)
    # owner-only before the first byte: the folder is private too
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    con.execute(f"copy _archive to '{quoted}' (format parquet)")
    os.chmod(tmp, 0o600)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    archived = con.execute(
        f"select count(*) from read_parquet('{quoted}') as a semi join _archive as t "
        "on a._extract_date = t._extract_date and a._file = t._file and a._line = t._line"
    ).fetchone()[0]
    total = con.execute(f"select count(*) from read_parquet('{quoted}')").fetchone()[0]
    if not (archived == total == expected):
        tmp.unlink(missing_ok=True)
        raise RetentionError(f"archive of raw.{table} holds {total} rows, expected {expected}: "
                             "nothing was purged")
    os.replace(tmp, path)
    deleted = con.execute(f"""
        delete from raw.{table} as t using _archive as a
        where t._extract_date = a._extract_date and t._file = a._file and t._line = a._line
    """).fetchone()[0]
    if deleted != expected:
        raise RetentionError(f"raw.{table}: {deleted} rows deleted, {expected} archived: "
                             "nothing was purged")
    return path, sha256_of(path)


def _retire_records(con, as_of: date, run_id: str) -> int:
    """Note every body record built from a purged completion (same person, activity and
    completion date; keys only), so the models never read its purge as a withdrawal."""
    return con.execute("""
        insert into retention.retired_records
        with purged as (
            select distinct holder as person_id, activity_id, completed_on from _purge_completions
        ),
        records as (
            select body, record_key, person_id, activity_id, completed_on
            from main.fct_body_records
            where record_action = 'Add' and completed_on is not null
        )
        select distinct records.body, records.record_key, ?::date, ?
        from records
        semi join purged using (person_id, activity_id, completed_on)
        anti join retention.retired_records as known using (body, record_key)
    """, [as_of, run_id]).fetchone()[0]
