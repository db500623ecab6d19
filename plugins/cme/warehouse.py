"""Opening the warehouse: the DuckDB file OUT/warehouse.duckdb (one writer at a time,
owner-only files) or, when CME_WAREHOUSE_URL names one, a PostgreSQL database.

`connect(path)` keeps its signature for both, so every caller chooses nothing: with the
variable unset it yields the duckdb connection exactly as before; with it set it yields
a `PgConnection`, which offers the part of duckdb's connection API the package uses
(`execute` with `?`/`$name`/`$1` parameters, `fetchone/fetchall`, `.df()`, `register`,
`begin/commit/rollback`). `write_frame` and `copy_select` move rows in bulk on either.
SQL sent through it must be valid on both dialects (docs/decisions.md, "PostgreSQL").
"""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb


def private_dir(path: Path) -> Path:
    """Create `path` readable by its owner only (it will hold learner data)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def make_private(path: Path) -> None:
    if path.exists():
        os.chmod(path, 0o600)


def read_frame(con, sql: str, params: dict):
    """Run `sql` with only the named `$parameters` it mentions (DuckDB refuses extras) and
    return a frame whose missing values are None, not NaN."""
    import re

    used = {name: params[name] for name in set(re.findall(r"\$([a-z_]+)", sql))}
    frame = con.execute(sql, used).df().astype(object)
    return frame.where(frame.notna(), None)


# DuckDB's own default is 80% of the machine's memory; a cap keeps a run (and the machine)
# inside a known budget, spilling big joins and sorts to disk instead. dbt's connection
# reads the same variable (dbt_project/profiles.yml).
MEMORY_LIMIT_ENV = "CME_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "3GB"


def duckdb_config() -> dict:
    return {"memory_limit": os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT}


def _open(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting out a reader that holds it (the dashboard or an analyst's
    session keeps it only for a query) rather than failing the run's task."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextmanager
def connect(path: Path, read_only: bool = False,
            wait_seconds: float = 60) -> Iterator[duckdb.DuckDBPyConnection]:
    url = warehouse_url()
    if url:
        # MVCC: readers never block the writer, so no lock wait here
        con = PgConnection(url, read_only=read_only, folder=Path(path).parent)
        try:
            yield con
        finally:
            con.close()
        return
    if not read_only:
        private_dir(path.parent)
    con = _open(path, read_only, wait_seconds)
    try:
        yield con
    finally:
        con.close()
        if not read_only:
            make_private(path)


# --- PostgreSQL --------------------------------------------------------------------------

URL_ENV = "CME_WAREHOUSE_URL"


def warehouse_url() -> str | None:
    """The PostgreSQL warehouse's URL (postgresql://user@host:port/dbname), or None for the
    DuckDB file. The password never sits in the URL: libpq reads PGPASSWORD or ~/.pgpass."""
    return os.environ.get(URL_ENV) or None


def is_postgres(con) -> bool:
    return isinstance(con, PgConnection)


def pg_params(url: str) -> dict[str, str]:
    """host, port, user, dbname from the URL (for dbt's profile); refuses a password in it."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"{URL_ENV} must start with postgresql://, got {parts.scheme}://")
    if parts.password:
        raise ValueError(f"{URL_ENV} must not hold a password: set PGPASSWORD or use ~/.pgpass")
    return {"host": parts.hostname or "127.0.0.1", "port": str(parts.port or 5432),
            "user": unquote(parts.username or ""), "dbname": unquote(parts.path.lstrip("/"))}


_TOKEN = re.compile(r"""('(?:[^']|'')*'|--[^\n]*)|("[^"]*")|(\?)|\$([0-9]+)|\$([A-Za-z_][A-Za-z0-9_]*)|(%)""")


def _translate(sql: str, params):
    """DuckDB's placeholders (`?`, `$1`, `$name`) as psycopg2's (`%s`, `%(name)s`); a literal
    `%` doubled. Placeholders inside quoted literals, identifiers and `--` comments (whose
    apostrophes open no literal) are left alone."""
    if params is None:
        return sql, None
    order: list[int] = []

    def swap(m: re.Match) -> str:
        literal, ident, qmark, number, name, percent = m.groups()
        if literal is not None:
            return literal.replace("%", "%%")
        if ident is not None:
            return ident.replace("%", "%%")
        if qmark:
            return "%s"
        if number:
            order.append(int(number) - 1)
            return "%s"
        if name:
            return f"%({name})s"
        return "%%"

    text = _TOKEN.sub(swap, sql)
    if order:
        params = [params[i] for i in order]
    return text, params


def _adapt(value):
    """numpy scalars as Python ones (psycopg2 adapts only the latter)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_adapt(v) for v in value]
    return value


class PgConnection:
    """A psycopg2 connection with the surface of duckdb's the package relies on.

    Autocommit, as duckdb's: each statement commits alone unless `begin()` (or the SQL
    `begin transaction`) opened a transaction. JSON comes back as text, as from duckdb."""

    def __init__(self, url: str, read_only: bool = False, folder: Path | None = None) -> None:
        import psycopg2
        import psycopg2.extras

        pg_params(url)  # refuses a password in the URL
        self._con = psycopg2.connect(url, application_name="cme")
        self._con.autocommit = True
        psycopg2.extras.register_default_json(self._con, loads=lambda text: text)
        psycopg2.extras.register_default_jsonb(self._con, loads=lambda text: text)
        # `folder`: the OUT this connection serves (where the certificate key file lives)
        self.url, self.read_only, self.folder = url, read_only, folder
        self._cur = self._con.cursor()
        # unqualified names are the marts, as in DuckDB's default schema `main`
        self._cur.execute("set time zone 'UTC'; set search_path to main, public")
        if read_only:
            self._cur.execute("set default_transaction_read_only = on")
        self._registered: set[str] = set()

    # duckdb's API ------------------------------------------------------------------------
    def execute(self, sql: str, params=None) -> "PgConnection":
        if isinstance(params, dict):
            params = {k: _adapt(v) for k, v in params.items()}
        elif params is not None:
            params = [_adapt(v) for v in params]
        text, params = _translate(sql, params)
        self._cur.execute(text, params)
        return self

    def executemany(self, sql: str, rows) -> "PgConnection":
        text, _ = _translate(sql, [])
        self._cur.executemany(text, [[_adapt(v) for v in row] for row in rows])
        return self

    def fetchone(self):
        return self._cur.fetchone()

    def fetchall(self):
        return self._cur.fetchall()

    @property
    def description(self):
        return self._cur.description

    def df(self):
        return _frame(self._cur.fetchall(), self._cur.description)

    def begin(self) -> None:
        self._cur.execute("begin")

    def commit(self) -> None:
        self._cur.execute("commit")

    def rollback(self) -> None:
        self._cur.execute("rollback")

    def register(self, name: str, frame) -> None:
        """A temporary table holding `frame` (duckdb registers a view of it instead)."""
        self._cur.execute(f'drop table if exists pg_temp."{name}"')
        with scratch() as sc:
            sc.register("_frame", frame)
            columns = sc.execute("describe select * from _frame").fetchall()
            types = ", ".join(f'"{c[0]}" {_pg_type(c[1])}' for c in columns)
            self._cur.execute(f'create temp table "{name}" ({types})')
            _copy(sc, "select * from _frame", self, f'"{name}"', [c[0] for c in columns])
        self._registered.add(name)

    def unregister(self, name: str) -> None:
        self._cur.execute(f'drop table if exists pg_temp."{name}"')
        self._registered.discard(name)

    def close(self) -> None:
        self._con.close()

    def cursor(self) -> "PgReader":
        """A second connection for reading while this one writes (duckdb's `cursor()`)."""
        return PgReader(self.url)

    def copy_expert(self, sql: str, stream) -> None:
        self._cur.copy_expert(sql, stream)


class PgReader:
    """duckdb's cursor for paging a big result: a server-side cursor on its own connection,
    read `fetch_df_chunk(n)` by n vectors of 2048 rows, as duckdb's."""

    def __init__(self, url: str) -> None:
        self._owner = PgConnection(url, read_only=True)
        self._owner._con.autocommit = False  # a named cursor lives in a transaction
        self._cur = None

    def execute(self, sql: str, params=None) -> "PgReader":
        text, params = _translate(sql, params)
        self._cur = self._owner._con.cursor(name="cme_reader")
        self._cur.itersize = 2048
        self._cur.execute(text, params)
        return self

    def fetch_df_chunk(self, vectors: int = 1):
        return _frame(self._cur.fetchmany(2048 * vectors), self._cur.description)

    def close(self) -> None:
        self._owner.close()


_NUMERIC, _DATE, _TIMESTAMP, _TIMESTAMPTZ = 1700, 1082, 1114, 1184  # PostgreSQL type oids
_INTEGERS = (20, 21, 23)  # bigint, smallint, integer


def _frame(rows: list[tuple], description):
    """A frame typed as duckdb's `.df()` types it, so what is written from it (export files,
    payloads) reads the same on both: decimals as floats, dates and timestamps as datetime64."""
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=[d[0] for d in description])
    for d in description:
        if d.type_code == _NUMERIC:
            values = frame[d.name]
            whole = values.map(lambda v: v is None or v == v.to_integral_value()).all()
            unconstrained = d.scale is None or d.scale in (0, 65535)  # (65535: no typmod)
            if unconstrained and whole and values.notna().any():
                # numeric without a scale holding whole numbers (sum() of integers,
                # extract(year ...)): DuckDB's integer, nullable as its .df() gives it, so
                # 2026 is not written 2026.0
                frame[d.name] = values.map(lambda v: None if v is None else int(v)).astype("Int64")
            else:
                frame[d.name] = values.astype("float64")
        elif d.type_code in _INTEGERS:  # pandas makes [4, None] floats; DuckDB's .df() Int64
            frame[d.name] = frame[d.name].astype("Int64")
        elif d.type_code in (_DATE, _TIMESTAMP):
            frame[d.name] = pd.to_datetime(frame[d.name])
        elif d.type_code == _TIMESTAMPTZ:
            frame[d.name] = pd.to_datetime(frame[d.name], utc=True)
    return frame


def _pg_type(duck_type: str) -> str:
    """A PostgreSQL type for a column of a frame as DuckDB reads it."""
    t = duck_type.upper()
    if t in ("VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP", "DOUBLE", "BIGINT", "INTEGER", "SMALLINT",
             "JSON", "TIMESTAMP WITH TIME ZONE"):
        return {"DOUBLE": "DOUBLE PRECISION"}.get(t, t)
    if t.startswith("DECIMAL"):
        return t
    if t in ("TINYINT", "UTINYINT", "USMALLINT"):
        return "INTEGER"
    if t in ("UINTEGER", "UBIGINT", "HUGEINT"):
        return "NUMERIC"
    if t == "FLOAT":
        return "REAL"
    return "VARCHAR"  # null-only object columns and anything else: text


@contextmanager
def scratch(spill_dir: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB for work before rows reach a PostgreSQL warehouse (CSV checking,
    frames), in UTC; with `spill_dir`, big inputs spill there rather than fill memory."""
    config = duckdb_config()
    if spill_dir is not None:
        config["temp_directory"] = str(private_dir(Path(spill_dir)))
    con = duckdb.connect(config=config)
    con.execute("set TimeZone = 'UTC'")  # after connecting: ICU loads on first use
    try:
        yield con
    finally:
        con.close()


def _copy(source: duckdb.DuckDBPyConnection, select: str, target: PgConnection, table: str,
          columns: list[str], params=None) -> None:
    """Rows of `select` (run in DuckDB) into PostgreSQL table `table` with COPY: DuckDB writes
    them as CSV to a private temporary file (NULL unquoted-empty, '' quoted, as COPY reads
    them), which streams to the server. No row passes through Python."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cme-copy-") as tmp:
        path = Path(tmp) / "rows.csv"
        source.execute(f"copy ({select}) to '{path}' (format csv, header false)", params)
        names = ", ".join(c if c.startswith('"') else f'"{c}"' for c in columns)
        with open(path, "rb") as stream:
            target.copy_expert(f"copy {table} ({names}) from stdin with (format csv)", stream)


def copy_select(source, select: str, target, table: str, columns: list[str], params=None) -> None:
    """`insert into table (columns) <select>`, where `select` runs on `source`: in one
    statement when source and target are the same DuckDB, by COPY when the target is
    PostgreSQL (and `source` the DuckDB that holds the rows)."""
    if source is target:
        names = ", ".join(c if c.startswith('"') else f'"{c}"' for c in columns)
        target.execute(f"insert into {table} ({names}) {select}", params)
    else:
        _copy(source, select, target, table, columns, params)


def write_frame(con, table: str, frame, columns: list[str] | None = None) -> None:
    """Append `frame`'s rows to `table` (its columns by name, or `columns`) in one set-based
    step on either warehouse."""
    columns = list(columns or frame.columns)
    select = "select " + ", ".join(f'"{c}"' for c in columns) + " from _write_frame"
    if is_postgres(con):
        with scratch() as sc:
            sc.register("_write_frame", frame)
            _copy(sc, select, con, table, columns)
    else:
        con.register("_write_frame", frame)
        try:
            copy_select(con, select, con, table, columns)
        finally:
            con.unregister("_write_frame")
