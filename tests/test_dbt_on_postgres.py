"""The dbt project builds unchanged on PostgreSQL and gives the same marts as on DuckDB.

One real day runs on DuckDB in process (ingest, build, gates, exports, the rebuild after
export). Its non-dbt tables (landing `raw`, the `ledger`, `retention`) are copied to a
throwaway PostgreSQL 15, the run clock is written there as cme.dbt_runner writes it, and
`dbt build --target postgres` (seeds, models, data tests) runs against it. The credit
awards, the three body marts, PARS activities, the compliance queue and the submission
ledger must then agree row for row.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cme.synthetic import generate
from tests.pg import PostgresServer, find_bin
from tests.scenario import run_day

psycopg2 = pytest.importorskip("psycopg2")

DAY = date(2026, 11, 16)
SOURCE_SCHEMAS = ("raw", "ledger", "retention")  # written by Python, read by dbt as sources
MARTS = {  # mart -> its primary key
    "fct_credit_awards": ["award_id"],
    "fct_pars_records": ["record_key", "record_action", "record_hash"],
    "fct_cebroker_records": ["record_key", "record_hash"],
    "fct_cpe_monitor_records": ["record_key", "record_hash"],
    "fct_pars_activities": ["record_key"],
    "fct_compliance_exceptions": ["exception_id"],
    "fct_submission_ledger": ["batch_id", "body", "record_key", "record_action", "record_hash"],
}

INCREMENTAL = "int_person_ids_assigned fct_credit_decisions fct_credit_awards fct_compliance_exceptions"

pytestmark = pytest.mark.skipif(not find_bin("initdb"), reason="PostgreSQL 15 server binaries absent")


def copy_sources(duck: duckdb.DuckDBPyConnection, pg) -> dict[str, int]:
    """Every table of the source schemas, DuckDB -> PostgreSQL, one COPY per table. DuckDB
    renders each value as text (dates, timestamps with offset, decimals, booleans all in
    forms PostgreSQL reads), so no value passes through a float or a Python loop."""
    pg_types = {"VARCHAR": "text", "DOUBLE": "double precision", "FLOAT": "real",
                "HUGEINT": "numeric", "JSON": "text"}
    copied = {}
    tables = duck.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) and table_type = 'BASE TABLE' "
        "order by all", [list(SOURCE_SCHEMAS)]).fetchall()
    with pg.cursor() as cur:
        for schema, table in tables:
            columns = duck.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table]).fetchall()
            ddl = ", ".join(f'"{name}" {pg_types.get(kind, kind)}' for name, kind in columns)
            cur.execute(f'create schema if not exists "{schema}"')
            cur.execute(f'create table "{schema}"."{table}" ({ddl})')
            select = ", ".join(f'cast("{name}" as varchar)' for name, _ in columns)
            frame = duck.execute(f'select {select} from "{schema}"."{table}"').fetch_df()
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
            buffer.seek(0)
            cur.copy_expert(f'copy "{schema}"."{table}" from stdin with (format csv, null \'\\N\')',
                            buffer)
            copied[f"{schema}.{table}"] = len(frame)
    pg.commit()
    return copied


def write_run_clock(pg, run_date: date, as_of: date) -> None:
    """meta.run_clock as cme.dbt_runner writes it before a build (macros run_date/as_of_date)."""
    with pg.cursor() as cur:
        cur.execute("create schema if not exists meta")
        cur.execute("drop table if exists meta.run_clock")
        cur.execute("create table meta.run_clock as select cast(%s as date) as run_date, "
                    "cast(%s as date) as as_of_date", [run_date, as_of])
    pg.commit()


def dbt_build_postgres(server: PostgresServer, dbname: str, work: Path,
                       select: str | None = None) -> tuple[bool, str]:
    """`dbt build --target postgres` in process, with the connection in the environment."""
    from dbt.cli.main import dbtRunner

    from cme.dbt_runner import DBT_PROJECT_DIR
    from cme.settings import load_settings

    env = {"CME_PG_HOST": "127.0.0.1", "CME_PG_PORT": str(server.port), "CME_PG_USER": "cme",
           "CME_PG_DBNAME": dbname, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    args = ["build", "--target", "postgres", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(work / "target"),
            "--log-path", str(work / "logs"), "--vars", json.dumps(load_settings(None).dbt_vars()),
            "--exclude-resource-type", "unit_test", *(["--select", select] if select else [])]
    try:
        with contextlib.chdir(DBT_PROJECT_DIR), contextlib.redirect_stdout(io.StringIO()) as out:
            result = dbtRunner().invoke(args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return result.success, re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())


def normalise(value):
    """One value as both engines' drivers hand it back, made comparable."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (Decimal, float)) and not isinstance(value, bool):
        return round(float(value), 6)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value
    if isinstance(value, (list, tuple)):
        return tuple(normalise(v) for v in value)
    return value


def rows_of(cursor, table: str, key: list[str]) -> tuple[list[str], list[tuple]]:
    cursor.execute(f"select * from main.{table}")
    names = [d[0] for d in cursor.description]
    rows = [tuple(normalise(v) for v in row) for row in cursor.fetchall()]
    at = [names.index(k) for k in key]
    return names, sorted(rows, key=lambda r: tuple("" if r[i] is None else str(r[i]) for i in at))


@pytest.fixture(scope="module")
def both_targets(tmp_path_factory):
    root = tmp_path_factory.mktemp("pgtarget")
    landing, out = root / "landing", root / "out"
    generate(landing, days=2, learners=150, seed=7)
    run_day(landing, out, DAY)
    server = PostgresServer().start()
    try:
        server.create_database("cme")
        pg = psycopg2.connect(host="127.0.0.1", port=server.port, user="cme", dbname="cme")
        with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as duck:
            copied = copy_sources(duck, pg)
            as_of = duck.execute("select max(_extract_date) from raw.loaded_files").fetchone()[0]
        write_run_clock(pg, DAY, max(DAY, as_of))
        ok, output = dbt_build_postgres(server, "cme", root / "dbt")
        # the same day again, as a re-run does: now the incremental models take their
        # incremental path (delete+insert, the awards' pre-hook, the schema check)
        rerun_ok, rerun_output = dbt_build_postgres(server, "cme", root / "dbt", select=INCREMENTAL)
        yield dict(out=out, pg=pg, ok=ok and rerun_ok, output=output, rerun_output=rerun_output,
                   copied=copied, server=server)
        pg.close()
    finally:
        server.stop()


def test_dbt_builds_on_postgres(both_targets):
    assert both_targets["copied"]["ledger.submission_events"] > 0  # the day's exports ran
    assert both_targets["ok"], both_targets["output"][-6000:]
    assert "ERROR=0" in both_targets["output"], both_targets["output"][-3000:]
    assert "ERROR=0" in both_targets["rerun_output"], both_targets["rerun_output"][-6000:]
    assert "PASS=" in both_targets["rerun_output"] and "OK created sql incremental model main.fct_credit_awards" \
        in both_targets["rerun_output"], both_targets["rerun_output"][-3000:]


@pytest.mark.parametrize("table", list(MARTS))
def test_mart_equal_on_both_targets(both_targets, table):
    assert both_targets["ok"], "the PostgreSQL build failed"
    with duckdb.connect(str(both_targets["out"] / "warehouse.duckdb"), read_only=True) as duck:
        duck_cur = duck.cursor()
        duck_names, duck_rows = rows_of(duck_cur, table, MARTS[table])
    with both_targets["pg"].cursor() as cur:
        pg_names, pg_rows = rows_of(cur, table, MARTS[table])
    assert pg_names == duck_names
    assert duck_rows, f"{table} is empty on DuckDB: nothing compared"
    assert len(pg_rows) == len(duck_rows)
    key = [duck_names.index(k) for k in MARTS[table]]
    for duck_row, pg_row in zip(duck_rows, pg_rows):
        # names the row by its key and the columns that differ, never the values: the
        # body marts hold learners' names and birth dates
        differ = [n for n, d, p in zip(duck_names, duck_row, pg_row) if d != p]
        assert not differ, f"{table} row {[duck_row[i] for i in key]}: columns {differ} differ"
