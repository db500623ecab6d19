"""The warehouse on PostgreSQL (CME_WAREHOUSE_URL): the same inputs through the DuckDB file
and through a real PostgreSQL 15 give the same rows, module by module.

The server is a throwaway one (tests/pg.py): one per test module, a database per test.
"""
from __future__ import annotations

import decimal
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from cme.contract import EXTRACTS
from cme.synthetic import generate
from cme.warehouse import URL_ENV, connect
from tests.pg import PostgresServer

TZ = "America/Chicago"


@pytest.fixture(scope="module")
def server():
    pg = PostgresServer().start()
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(server, request, monkeypatch):
    """A fresh database; CME_WAREHOUSE_URL is set only inside `on_pg()`."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    url = server.create_database(name)
    monkeypatch.delenv(URL_ENV, raising=False)
    return url


class on_pg:
    """With-block: the package talks to PostgreSQL at `url` inside it, DuckDB outside."""

    def __init__(self, url: str, monkeypatch):
        self.url, self.mp = url, monkeypatch

    def __enter__(self):
        self.mp.setenv(URL_ENV, self.url)

    def __exit__(self, *exc):
        self.mp.delenv(URL_ENV)


def _norm(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def rows(table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    """Every row of `table` in the warehouse connect() opens now, values normalised, sorted."""
    with connect(Path(_current_file), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ? order by ordinal_position", list(table.split("."))).fetchall()]
        kept = [n for n in names if n not in exclude]
        got = con.execute(f"select {', '.join(chr(34) + n + chr(34) for n in kept)} "
                          f"from {table}").fetchall()
    return sorted((tuple(_norm(v) for v in r) for r in got), key=repr)


_current_file = ""


def both(duck: Path, url: str, monkeypatch, table: str, exclude: tuple[str, ...] = ()):
    global _current_file
    _current_file = str(duck)
    on_duck = rows(table, exclude)
    with on_pg(url, monkeypatch):
        on_post = rows(table, exclude)
    return on_duck, on_post


# --- 1. ingest ----------------------------------------------------------------------------

def test_ingest_gives_the_same_raw_tables_quarantine_and_loaded_files_on_both(
        tmp_path, pg_url, monkeypatch):
    from cme.ingest import ingest_day

    landing = tmp_path / "landing"
    folders = generate(landing, days=2, learners=60, seed=11, defect_rate=0.1)
    (folders[0] / "notes.txt").write_text("not in the contract\n")
    days = [date.fromisoformat(f.name) for f in folders]
    duck = tmp_path / "duck" / "warehouse.duckdb"

    def load_all(warehouse: Path) -> list:
        reports = [ingest_day(landing, warehouse, d, TZ, f"load-{d}") for d in days]
        # a re-sent file replaces its day's rows (the upsert of loaded_files)
        learners = folders[0] / "learners.csv"
        original = learners.read_bytes()
        learners.write_bytes(original[:original.rstrip().rfind(b"\n") + 1])  # one row fewer
        reports.append(ingest_day(landing, warehouse, days[0], TZ, "reload"))
        learners.write_bytes(original)
        return [r.to_dict() for r in reports]

    duck_reports = load_all(duck)
    with on_pg(pg_url, monkeypatch):
        pg_reports = load_all(tmp_path / "pg" / "warehouse.duckdb")
    assert pg_reports == duck_reports
    assert not (tmp_path / "pg" / "warehouse.duckdb").exists()  # nothing went to a file
    assert sum(r["rows_quarantined"] for r in duck_reports) > 0  # the comparison covers some

    for extract in EXTRACTS:
        d, p = both(duck, pg_url, monkeypatch, f"raw.{extract.table}")
        assert p == d, extract.table
    assert len(both(duck, pg_url, monkeypatch, "raw.learners")[1]) > 50
    for table, exclude in (("raw.quarantine", ()), ("raw.loaded_files", ()),
                           ("raw.file_versions", ("loaded_at",))):
        d, p = both(duck, pg_url, monkeypatch, table, exclude)
        assert d and p == d, table
    reload = [r for r in both(duck, pg_url, monkeypatch, "raw.loaded_files")[1] if r[3] == "reload"]
    assert [r[1] for r in reload] == ["learners.csv", "notes.txt"]  # the re-sent file, the unknown one


def test_a_failing_day_leaves_postgresql_as_it_was(tmp_path, pg_url, monkeypatch):
    """The day is one transaction on PostgreSQL too: a conservation failure half-way through
    the files rolls back the files already loaded."""
    from cme import ingest

    landing = tmp_path / "landing"
    folders = generate(landing, days=1, learners=30, seed=3)
    day = date.fromisoformat(folders[0].name)
    with on_pg(pg_url, monkeypatch):
        ingest.ingest_day(landing, tmp_path / "out" / "w.duckdb", day, TZ, "first")
        before = rows("raw.loaded_files")
        learners = folders[0] / "learners.csv"
        learners.write_text(learners.read_text().replace("\r\n", "\n"))  # new bytes: re-read
        calls, original = [], ingest._ingest_file

        def last_file_fails(con, checker, extract, *args):
            calls.append(extract.file)
            if len(calls) == len(EXTRACTS):
                raise RuntimeError("simulated failure in the last file")
            return original(con, checker, extract, *args)
        monkeypatch.setattr(ingest, "_ingest_file", last_file_fails)
        with pytest.raises(RuntimeError, match="simulated"):
            ingest.ingest_day(landing, tmp_path / "out" / "w.duckdb", day, TZ, "second")
        after = rows("raw.loaded_files")
    assert after == before and {r[3] for r in after} == {"first"}


def test_the_url_must_not_hold_a_password(monkeypatch):
    from cme.warehouse import pg_params

    assert pg_params("postgresql://cme@db.example:6543/wh") == {
        "host": "db.example", "port": "6543", "user": "cme", "dbname": "wh"}
    with pytest.raises(ValueError, match="PGPASSWORD"):
        pg_params("postgresql://cme:secret@db.example/wh")
