"""The warehouse on PostgreSQL (CME_WAREHOUSE_URL): the same inputs through the DuckDB file
and through a real PostgreSQL 15 give the same rows, module by module.

The server is a throwaway one (tests/pg.py): one per test module, a database per test.
"""
from __future__ import annotations

import decimal
import html
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


# --- 2. ledger, receipts, fingerprint, documents, run clock -------------------------------

def _ledger_story(warehouse: Path) -> dict:
    """A body's ledger through every kind of event; what the ledger's readers then say."""
    from cme import ledger
    from cme.delivery import OPEN_RECORDS_SQL
    from cme.receipts import FILE_RECORDS_SQL, DiscardRefused, discard_batch
    from tests.ledger_state import build_ledger_state

    day = date(2026, 6, 10)
    build_ledger_state(warehouse)  # the view the ledger's readers read, on each target
    recs = [ledger.LedgerRecord(f"K{i}", "Add", f"h{i}", {"n": i, "note": "50% off"})
            for i in range(6)]
    with connect(warehouse) as con:
        ledger.ensure_ledger(con)
        batches = []
        for part in (recs[:2], recs[2:]):  # two file batches: prepared, then mostly written
            batch = ledger.next_batch_id(con, "ACCME_PARS", day)
            batches.append(batch)
            ledger.append(con, batch_id=batch, body="ACCME_PARS", records=part, event="prepared",
                          run_date=day)
            ledger.append(con, batch_id=batch, body="ACCME_PARS", records=part[:3], event="written",
                          run_date=day, file_name="f.txt", file_sha256="abc", transport="file")
        ledger.append(con, batch_id=batches[0], body="ACCME_PARS", records=recs[:1],
                      event="rejected", run_date=day, transport="file", messages={"K0": "bad NPI"})
        batches.append(ledger.next_batch_id(con, "ACCME_PARS", day))
        ledger.append(con, batch_id=batches[2], body="ACCME_PARS",
                      records=[ledger.LedgerRecord("K3", "Delete", "h3", {})], event="prepared",
                      run_date=day)
        # an HTTP body: written for HTTP, one record in flight, one sent with a reference
        http = ledger.next_batch_id(con, "CE_BROKER", day)
        ledger.append(con, batch_id=http, body="CE_BROKER", records=recs[:3], event="prepared",
                      run_date=day, transport="http")
        ledger.append(con, batch_id=http, body="CE_BROKER", records=recs[:3], event="written",
                      run_date=day, transport="http")
        ledger.append(con, batch_id=http, body="CE_BROKER", records=recs[:2], event="sending",
                      run_date=day, transport="http")
        ledger.append(con, batch_id=http, body="CE_BROKER", records=recs[1:2], event="sent",
                      run_date=day, transport="http", references={"K1": "REF-1"})
        with pytest.raises(RuntimeError, match="step failed"):  # a failed step leaves none of its rows
            with ledger.transaction(con):
                con.execute("insert into ledger.submission_events (batch_id, body, record_key, "
                            "record_action, record_hash, event, run_date, event_at) "
                            "values ('x', 'x', 'x', 'x', 'x', 'x', ?, now())", [day])
                raise RuntimeError("step failed")
    with pytest.raises(DiscardRefused, match="answered"):
        discard_batch(warehouse, warehouse.parent, batches[0], day)
    discarded = discard_batch(warehouse, warehouse.parent, batches[1], day)
    with connect(warehouse, read_only=True) as con:
        return {"batches": batches, "discarded": discarded,
                "open": ledger.open_batches(con, "ACCME_PARS"),
                "held": sorted(ledger.held_versions(con, "ACCME_PARS")),
                "next": ledger.next_batch_id(con, "ACCME_PARS", day),
                "file_records": con.execute(FILE_RECORDS_SQL, {"body": "ACCME_PARS"}).fetchall(),
                "open_http": con.execute(OPEN_RECORDS_SQL, {"body": "CE_BROKER"}).fetchall()}


def test_ledger_and_receipts_say_the_same_on_both(tmp_path, pg_url, monkeypatch):
    duck = tmp_path / "duck" / "warehouse.duckdb"
    on_duck = _ledger_story(duck)
    with on_pg(pg_url, monkeypatch):
        on_post = _ledger_story(tmp_path / "pg" / "warehouse.duckdb")
    assert on_post == on_duck
    assert on_duck["discarded"] == 3 and on_duck["batches"][2].endswith("-003")
    # rejected and written hold; discarded ones are due again
    assert on_duck["held"] == [("K0", "Add", "h0"), ("K1", "Add", "h1")]
    assert on_duck["open"] == [on_duck["batches"][1], on_duck["batches"][2]]
    assert [r[1] for r in on_duck["file_records"]] == ["K0", "K1"]
    # delivery's open records: state and reference of each HTTP version, with its payload
    assert [(r[1], r[4], r[5]) for r in on_duck["open_http"]] == [
        ("K0", "sending", None), ("K1", "sent", "REF-1"), ("K2", "written", None)]
    d, p = both(duck, pg_url, monkeypatch, "ledger.submission_events", ("event_at",))
    assert len(d) == 6 + 5 + 1 + 1 + 3 + 3 + 3 + 2 + 1 and p == d  # the failed step left nothing


def test_fingerprint_documents_and_run_clock_on_both(tmp_path, pg_url, monkeypatch):
    from cme import fingerprint
    from cme.dbt_runner import as_of_date, dbt_env, drop_run_clock, target_args, write_run_clock
    from cme.documents import hash_documents

    store = tmp_path / "documents"
    store.mkdir()
    (store / "D1.pdf").write_bytes(b"%PDF signed")
    (store / "D2.png").write_bytes(b"png")

    def story(warehouse: Path) -> dict:
        from cme.ingest import ingest_day

        assert as_of_date(warehouse, "2026-06-10") == "2026-06-10"  # nothing loaded yet
        generate(tmp_path / "landing", days=1, learners=5, seed=1)
        day = date.fromisoformat(sorted(p.name for p in (tmp_path / "landing").iterdir())[0])
        ingest_day(tmp_path / "landing", warehouse, day, TZ, "l1")
        n = hash_documents(warehouse, store)
        hash_documents(warehouse, store)  # replaced, not appended
        write_run_clock(warehouse, "2026-01-02", as_of_date(warehouse, "2026-01-02"))
        with connect(warehouse) as con:
            clock = con.execute("select run_date, as_of_date from meta.run_clock").fetchall()
            docs = sorted(con.execute("select * from raw.disclosure_documents").fetchall())
            assert fingerprint.last_recorded(con) is None
            fingerprint.record(con, date(2026, 1, 2), fingerprint.Fingerprint({"a": "1"}, {"s.csv": "2"}),
                               False)
            last = fingerprint.last_recorded(con)
        drop_run_clock(warehouse)
        with connect(warehouse) as con:  # no clock left behind: it is no history
            left = con.execute("select count(*) from information_schema.tables where "
                               "table_schema = 'meta' and table_name = 'run_clock'").fetchone()[0]
            if left:
                left = con.execute("select count(*) from meta.run_clock").fetchone()[0]
        # the run refuses rules changed since the recorded fingerprint, on either warehouse
        from cme.pipeline import RunContext, rules_changed
        changed = rules_changed(RunContext(day, tmp_path / "landing", warehouse.parent, None))
        changed = changed and changed.split(": past decisions")[0]  # (the command names OUT)
        return {"n": n, "clock": clock, "docs": docs, "last": last, "gone": left, "day": day,
                "changed": changed}

    on_duck = story(tmp_path / "duck" / "warehouse.duckdb")
    assert dbt_env(tmp_path / "w") == {"CME_WAREHOUSE": str(tmp_path / "w")} and target_args() == []
    with on_pg(pg_url, monkeypatch):
        monkeypatch.setenv("PGPASSWORD", "not-in-the-repo")
        on_post = story(tmp_path / "pg" / "warehouse.duckdb")
        env = dbt_env(tmp_path / "w")
        assert target_args() == ["--target", "postgres"]
    assert on_post == on_duck
    assert on_duck["n"] == 2 and len(on_duck["docs"]) == 2 and on_duck["gone"] == 0
    assert "the credit rules changed since the run of 2026-01-02" in on_duck["changed"]
    assert on_duck["clock"] == [(date(2026, 1, 2), on_duck["day"])]  # the later loaded date
    host, port = pg_url.split("@")[1].split("/")[0].split(":")
    assert env == {"CME_WAREHOUSE": str(tmp_path / "w"), "CME_PG_HOST": host, "CME_PG_PORT": port,
                   "CME_PG_USER": "cme", "CME_PG_DBNAME": pg_url.rsplit("/", 1)[1],
                   "CME_PG_PASSWORD": "not-in-the-repo"}


# --- 3. gates, exports, delivery, summary on marts mirrored from a DuckDB build -----------
# dbt does not build on PostgreSQL in this branch yet (the dbtpg branch): the day is built
# by dbt on DuckDB, its tables are copied into PostgreSQL as they are, and the steps after
# the build then run on each warehouse from the same marts.

def _pg_column(name: str, duck_type: str) -> tuple[str, str]:
    """(PostgreSQL column type, DuckDB select expression writing COPY's CSV text for it)."""
    from cme.warehouse import _pg_type

    q = f'"{name}"'
    if duck_type.endswith("[]"):  # a list: PostgreSQL's array literal, elements quoted
        inner = _pg_type(duck_type[:-2])
        element = "'\"' || replace(replace(cast(v as varchar), '\\', '\\\\'), '\"', '\\\"') || '\"'"
        text = (f"case when {q} is null then null else '{{' || array_to_string("
                f"list_transform({q}, lambda v: case when v is null then 'NULL' else {element} end), ',') "
                "|| '}' end")
        return inner + "[]", text
    if duck_type.startswith(("STRUCT", "MAP")) or "[" in duck_type:
        return "VARCHAR", f"cast({q} as varchar)"
    return _pg_type(duck_type), q


def mirror(duck: Path, url: str) -> int:
    """Copy every table and view of the DuckDB warehouse into PostgreSQL as tables (the
    ledger is made by ensure_ledger, so its sequence is PostgreSQL's own). Returns how many."""
    import duckdb

    from cme.ledger import ensure_ledger
    from cme.warehouse import PgConnection, _copy

    src = duckdb.connect(str(duck), read_only=True)
    dst = PgConnection(url)
    try:
        src.execute("set TimeZone = 'UTC'")
        ensure_ledger(dst)
        tables = src.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal order by 1, 2").fetchall()
        tables = [(s, t) for s, t in tables if s != "ledger"]
        skipped: list[str] = []
        for schema, table in tables:
            cols = src.execute("select column_name, data_type from information_schema.columns "
                               "where table_schema = ? and table_name = ? order by ordinal_position",
                               [schema, table]).fetchall()
            mapped = [(c, *_pg_column(c, t)) for c, t in cols]
            try:  # a view over the run clock cannot be read after the build: not copied
                src.execute(f'select * from "{schema}"."{table}" limit 0')
            except duckdb.CatalogException:
                skipped.append(table)
                continue
            dst.execute(f'create schema if not exists "{schema}"')
            dst.execute(f'create table "{schema}"."{table}" ('
                        + ", ".join(f'"{c}" {t}' for c, t, _ in mapped) + ")")
            _copy(src, "select " + ", ".join(e for *_, e in mapped) + f' from "{schema}"."{table}"',
                  dst, f'"{schema}"."{table}"', [c for c, *_ in mapped])
        return len(tables) - len(skipped)
    finally:
        src.close()
        dst.close()


def _content(path: Path):
    """What a submission file says: a workbook's cell values (its bytes carry a creation
    time), a manifest without the files' hashes, any other file's bytes."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book}
    if path.name.endswith(".manifest.json"):
        manifest = json.loads(path.read_text())
        for f in manifest["files"]:
            f.pop("sha256")
        return manifest
    return path.read_bytes()


def _after_build(ctx) -> dict:
    """The steps after the day's build, as the DAG runs them (no refresh: that is dbt)."""
    from cme import pipeline

    gates, exports = {}, {}
    for body in pipeline.list_bodies(ctx):
        gates[body] = pipeline.gate(ctx, body)
        exports[body] = pipeline.export(ctx, body)
    summary = pipeline.summarize(ctx)
    for key in ("warehouse", "report", "dashboard"):
        summary.pop(key)
    files = {p.relative_to(ctx.out / "submissions").as_posix(): _content(p)
             for p in sorted((ctx.out / "submissions").rglob("*")) if p.is_file()}
    return {"gates": gates, "exports": exports, "summary": summary, "files": files,
            "dashboard": _dashboard(ctx), "transcripts": _transcripts(ctx),
            "certificates": _certificates(ctx)}


def _certificates(ctx) -> dict:
    """Everyone's certificates recorded and written, each code verified, one person's list
    as the portal shows it; issuing again adds nothing."""
    from cme import certificates

    written = certificates.write_certificates(ctx.warehouse, ctx.out, None, None, ctx.settings())
    with connect(ctx.warehouse) as con:
        issued = con.execute("select verification_code, person_id, activity_id, content_sha256, "
                             "issued_on from certificates.issued order by 1").fetchall()
        checks = [certificates.verify(con, code) for code, *_ in issued]
        person = certificates.certificates_for_person(con, issued[0][1])
    again = certificates.write_certificates(ctx.warehouse, ctx.out, None, None, ctx.settings())
    with connect(ctx.warehouse, read_only=True) as con:
        count = con.execute("select count(*) from certificates.issued").fetchone()[0]
    return {"files": sorted(p.relative_to(ctx.out).as_posix() for p in written), "issued": issued,
            "checks": checks, "person": person, "again": len(again), "count": count}


def _transcripts(ctx) -> dict:
    """Everyone's transcript CSV for the year (the PDFs carry a creation time)."""
    from cme.transcripts import write_transcripts

    written = write_transcripts(ctx.warehouse, ctx.out, None, None, None, "Provider")
    return {p.name: p.read_bytes() for p in written if p.suffix == ".csv"}


def _dashboard(ctx) -> dict:
    """What the dashboard's pages read (overview, queue with a search and a sort, an
    exception with a note added, activities), through its own warehouse access."""
    from cme.dashboard import activities, notes, queries, queue
    from cme.dashboard.access import Warehouse

    store = Warehouse(ctx.warehouse)
    today = ctx.run_date
    with store.read() as con:
        first, _ = queue.page_of(con, queue.QueueQuery(status="all", size=10))
        exception_id = first.rows[0]["exception_id"]
    with store.write() as con:
        notes.append(con, exception_id, notes.checked("ana", "called the 50% office", ""))
        notes.append(con, exception_id, notes.checked("bo", "handed over", ""))
    with store.read() as con:
        searched, _ = queue.page_of(con, queue.QueueQuery(status="all", q="a", sort="due", dir="desc",
                                                          size=7, page=2))
        return {
            "bodies": queries.body_status(con, today), "counts": queries.exception_counts(con),
            "detail": queries.exception_detail(con, exception_id),
            "disclosures": queries.disclosures_due(con, today, 60),
            "queue": first, "searched": searched, "choices": queue.choices(con),
            "mine": queue.all_rows(con, queue.QueueQuery(status="all", assignee="bo")),
            "history": [{k: v for k, v in n.items() if k != "noted_at_utc"}
                        for n in notes.history(con, exception_id)],
            "activities": activities.activities(con, today, activities.ActivityFilter(text="a")),
            "activity_summary": activities.summary(con, today),
        }


def test_gates_exports_and_summary_agree_on_marts_copied_into_postgresql(
        tmp_path, pg_url, monkeypatch):
    from cme import pipeline
    from cme.pipeline import RunContext

    monkeypatch.setenv("CME_CERTIFICATE_KEY", "the same key for both warehouses")
    landing = tmp_path / "landing"
    folders = generate(landing, days=1, learners=80, seed=5)
    day = date.fromisoformat(folders[0].name)
    duck_ctx = RunContext(day, landing, tmp_path / "duck", None)
    pipeline.check_settings(duck_ctx)
    pipeline.ingest(duck_ctx, load_id="l1")
    pipeline.build(duck_ctx)
    assert mirror(duck_ctx.warehouse, pg_url) > 20
    on_duck = _after_build(duck_ctx)
    with on_pg(pg_url, monkeypatch):
        pg_ctx = RunContext(day, landing, tmp_path / "pg", None)
        on_post = _after_build(pg_ctx)
    assert not pg_ctx.warehouse.exists()
    for part in ("gates", "exports", "summary", "dashboard", "transcripts", "certificates"):
        assert on_post[part] == on_duck[part], part
    board = on_duck["dashboard"]
    assert board["mine"] and {r["assignee"] for r in board["mine"]} == {"bo"}
    assert [n["assignee"] for n in board["history"]] == ["ana", "bo"]
    assert board["bodies"] and board["searched"].rows
    assert len(on_duck["transcripts"]) > 10
    certs = on_duck["certificates"]
    assert certs["files"] and certs["count"] == len(certs["issued"]) == len(certs["files"])
    assert {c.status for c in certs["checks"]} == {"genuine"}
    assert on_post["files"] == on_duck["files"]  # the same records, values and formatting
    assert sum(e["records_written"] for e in on_duck["exports"].values()) > 0
    # (a workbook's hash differs with its creation time; its cells are compared above)
    d, p = both(duck_ctx.warehouse, pg_url, monkeypatch, "ledger.submission_events",
                ("event_at", "file_sha256"))
    assert d and p == d


def test_an_analyst_reads_postgresql_while_a_run_holds_the_folder(tmp_path, pg_url, monkeypatch):
    """`cme transcript` waits for no run on PostgreSQL (MVCC): with a run holding OUT's lock
    it writes the transcripts; on the DuckDB file it refuses, as before."""
    import os
    import subprocess
    import sys

    from tests.conftest import run_cme

    out = tmp_path / "out"
    with on_pg(pg_url, monkeypatch):
        generate(tmp_path / "landing", days=1, learners=5, seed=2)
        day = date.fromisoformat(sorted(p.name for p in (tmp_path / "landing").iterdir())[0])
        from cme.ingest import ingest_day
        ingest_day(tmp_path / "landing", out / "warehouse.duckdb", day, TZ, "l1")
        con = __import__("cme.warehouse", fromlist=["PgConnection"]).PgConnection(pg_url)
        try:  # the marts transcripts read, empty: a run is building them
            con.execute("create schema main; create schema intermediate")
            con.execute("create table main.fct_credit_awards (person_id varchar, completed_on date)")
            con.execute("create table main.dim_people (person_id varchar, first_name varchar, "
                        "last_name varchar, learner_ids varchar[], profession varchar)")
            con.execute("insert into main.dim_people values ('P1', 'A', 'B', array['L1'], 'nurse')")
        finally:
            con.close()
    from cme.ingest import ingest_day
    ingest_day(tmp_path / "landing", out / "warehouse.duckdb", day, TZ, "l1")  # the file too
    holder = subprocess.Popen([sys.executable, "-m", "cme.runlock", str(out), "120"],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        on_duck = run_cme("transcript", "--out", out, "--all")
        assert on_duck.returncode == 3 and "in use by" in on_duck.stdout + on_duck.stderr
        on_post = run_cme("transcript", "--out", out, "--all", env={URL_ENV: pg_url})
        assert on_post.returncode == 0, on_post.stdout + on_post.stderr
        assert "in use by" not in on_post.stdout + on_post.stderr
    finally:
        holder.kill()
        holder.wait()


# --- whole days: the same landing through the DuckDB file and through PostgreSQL --------

E2E_TABLES = {  # table -> columns that record when (not what): left out of the comparison
    "main.fct_credit_awards": (),
    "main.fct_pars_records": ("written_at", "last_event_at"),
    "main.fct_cebroker_records": ("written_at", "last_event_at"),
    "main.fct_cpe_monitor_records": ("written_at", "last_event_at"),
    "main.fct_compliance_exceptions": (),
    "main.fct_submission_ledger": ("written_at", "last_event_at", "file_sha256"),
    "ledger.submission_events": ("event_at", "file_sha256"),
    # the rest of what analysts query (the dbt project's marts, built on both targets)
    "main.dim_people": (),
    "main.dim_activities": (),
    "main.fct_credit_decisions": (),
    "main.fct_disclosure_status": (),
    "main.fct_pars_activities": (),
    # the union of the body marts and the marts the readers outside dbt read (issue 15)
    "main.fct_body_records": (),
    "main.dim_credit_types": (),
    "main.dim_person_identifiers": (),
    "main.dim_learner_accounts": (),
    "main.dim_activity_credits": (),
    "main.fct_completions": (),
    "main.fct_landed_rows": ("load_id",),
}


def _e2e_norm(row: tuple) -> tuple:
    """Numbers as rounded floats (DuckDB DOUBLE and PostgreSQL numeric meet there)."""
    return tuple(round(float(v), 6) if isinstance(v, (float, decimal.Decimal)) else _norm(v)
                 for v in row)


def _first_difference(a: list[tuple], b: list[tuple]) -> str:
    """Where two sorted row lists first differ: the column positions and both values, cut
    short (synthetic data only)."""
    for x, y in zip(a, b):
        if x != y:
            for u, v in zip(x, y):
                if u != v and isinstance(u, str) and u.startswith("{"):  # a JSON payload
                    ju, jv = json.loads(u), json.loads(v)
                    at = next(i for i, (c, e) in enumerate(zip(u, v)) if c != e)
                    return "payload " + "; ".join(f"{k}: {ju.get(k)!r} vs {jv.get(k)!r}"
                                                  for k in sorted(ju.keys() | jv.keys())
                                                  if ju.get(k) != jv.get(k)) \
                        + f" text {u[max(0, at - 60):at + 40]!r} vs {v[max(0, at - 60):at + 40]!r}"
            return "; ".join(f"#{i}: {str(u)[:300]!r} vs {str(v)[:300]!r}"
                             for i, (u, v) in enumerate(zip(x, y)) if u != v)
    return f"{len(a)} rows vs {len(b)}"


CERTIFICATE_KEY = "the same key for both warehouses"


@pytest.fixture(scope="module")
def two_days_on_both(server, tmp_path_factory):
    """Two generated days run in process on DuckDB and on PostgreSQL, once for the module
    (the whole-day comparison and the audit, portal and retention test only read them).
    Returns (duck_out, pg_out, pg_url, duck_results, pg_results, days)."""
    from tests.scenario import run_day

    root = tmp_path_factory.mktemp("two_days_on_both")
    url = server.create_database("t_two_days_on_both")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(URL_ENV, raising=False)
        mp.setenv("CME_CERTIFICATE_KEY", CERTIFICATE_KEY)
        landing = root / "landing"
        folders = generate(landing, days=2, learners=60, seed=9)
        days = [date.fromisoformat(f.name) for f in folders]
        duck_out, pg_out = root / "duck", root / "pg"
        duck_results = [run_day(landing, duck_out, d, data_tests=d == days[-1]) for d in days]
        with on_pg(url, mp):
            pg_results = [run_day(landing, pg_out, d, data_tests=d == days[-1]) for d in days]
    return duck_out, pg_out, url, duck_results, pg_results, days


def test_whole_days_on_postgresql_give_the_same_awards_records_queue_and_ledger(two_days_on_both, monkeypatch):
    duck_out, pg_out, pg_url, duck_results, pg_results, _ = two_days_on_both
    assert not (pg_out / "warehouse.duckdb").exists()
    assert pg_results[0]["summary"]["warehouse"] == pg_url  # the summary says where the data is
    for d, p in zip(duck_results, pg_results):
        for key in ("warehouse", "report", "dashboard"):
            d["summary"].pop(key), p["summary"].pop(key)
        assert p["summary"] == d["summary"]
        assert {b: r["records_written"] for b, r in p.items() if isinstance(r, dict) and "records_written" in r} \
            == {b: r["records_written"] for b, r in d.items() if isinstance(r, dict) and "records_written" in r}
    for table, exclude in E2E_TABLES.items():
        duck_rows, pg_rows = both(duck_out / "warehouse.duckdb", pg_url, monkeypatch, table, exclude)
        assert duck_rows, table
        d_sorted = sorted(map(_e2e_norm, duck_rows), key=repr)
        p_sorted = sorted(map(_e2e_norm, pg_rows), key=repr)
        assert p_sorted == d_sorted, (table, _first_difference(d_sorted, p_sorted))


# --- audit trail, learner portal, retention on a PostgreSQL built by dbt -----------------

def _audit_json(out: Path, key: str, env: dict | None = None) -> dict:
    """`cme audit KEY --json` as a user runs it, with what differs by where OUT is and when
    things happened left out (the folder as OUT, times, a workbook's hash)."""
    from tests.conftest import run_cme

    proc = run_cme("audit", key, "--out", out, "--json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trail = json.loads(proc.stdout.replace(str(out.resolve()), "OUT"))
    for part in ("events", "versions"):
        for row in trail[part]:
            for when in ("event_at", "loaded_at", "file_sha256"):
                row.pop(when, None)
    for row in trail["records"]:
        for when in ("written_at", "last_event_at", "file_sha256"):
            row.pop(when, None)
    return trail


def _portal_reads(out: Path) -> dict:
    """What the portal reads for a few people found by their address (cme.portal.records)."""
    from cme.certificates import certificates_for_person
    from cme.portal import records

    with connect(out / "warehouse.duckdb", read_only=True) as con:
        emails = [e for (e,) in con.execute(
            "select distinct lower(trim(l.email)) from intermediate.int_learners_deduplicated l "
            "join main.fct_credit_awards a on a.learner_id = l.learner_id "
            "where l.email is not null order by 1 limit 4").fetchall()]
        found = {}
        for email in emails + ["nobody@example.org"]:
            people = records.people_for_email(con, email.upper() + " ")
            found[email] = [{"person": p, "awards": records.awards(con, p),
                             "years": records.award_years(con, p), "name": records.first_name(con, p),
                             "certificates": certificates_for_person(con, p)} for p in people]
    return found


def test_audit_portal_and_retention_on_a_postgresql_built_by_dbt(two_days_on_both, monkeypatch):
    """On the two days the comparison above reads (two_days_on_both): nothing here writes."""
    from fastapi.testclient import TestClient

    from tests.conftest import run_cme

    monkeypatch.setenv("CME_CERTIFICATE_KEY", CERTIFICATE_KEY)
    duck_out, pg_out, pg_url, _, _, days = two_days_on_both
    day = days[-1]  # noqa: F841 - the newest extract date loaded, for checks that name it
    with connect(duck_out / "warehouse.duckdb", read_only=True) as con:
        keys = [k for (k,) in con.execute("""
            (select record_key from main.fct_pars_records order by record_key limit 2)
            union all (select record_key from main.fct_cebroker_records order by record_key limit 1)
            union all (select record_key from main.fct_pars_activities order by record_key limit 1)
            -- a record of live attendance: several landed rows in its completion's source_rows
            union all (select r.record_key from main.fct_pars_records r
                       join main.fct_credit_awards a using (person_id, activity_id, completed_on)
                       join intermediate.int_live_completions_aggregated l using (completion_key)
                       where a.completion_source = 'live' and l.check_ins > 1 order by 1 limit 1)
            """).fetchall()]
    assert len(keys) == 5

    # (1) the audit of learner and activity records says the same on both
    for key in keys:
        on_duck = _audit_json(duck_out, key)
        on_post = _audit_json(pg_out, key, env={URL_ENV: pg_url})
        assert on_duck["records"] and on_duck["events"] and on_duck["sources"], key
        assert all(s["values"] and s["stored_check"] == "verified" for s in on_duck["sources"]), key
        assert on_post == on_duck, key
    assert len(on_duck["sources"]) > 1  # the live record's attendance rows, unpacked on both

    # (1b) the dashboard's record page answers from PostgreSQL
    from cme.dashboard.app import create_app as dashboard

    with on_pg(pg_url, monkeypatch):
        with TestClient(dashboard(pg_out)) as client:
            page = client.get("/records/" + keys[0])
            assert page.status_code == 200 and "verified" in page.text
            assert client.get("/records/NO|SUCH|KEY").status_code == 404

    # (2) the portal's lookups, and a learner's page, the same on both
    on_duck = _portal_reads(duck_out)
    with on_pg(pg_url, monkeypatch):
        on_post = _portal_reads(pg_out)
    assert sum(len(p) for p in on_duck.values()) >= 4 and on_duck["nobody@example.org"] == []
    assert any(person["awards"] and person["years"] for people in on_duck.values() for person in people)
    assert on_post == on_duck

    from cme.portal import tokens
    from cme.portal.app import create_app as portal
    from cme.settings import load_settings

    person = next(p for people in on_duck.values() for p in people if p["awards"])
    key = b"portal-key-" + b"0123456789abcdef" * 2
    with on_pg(pg_url, monkeypatch):
        with TestClient(portal(pg_out, load_settings(None), key, "http://127.0.0.1")) as client:
            page = client.get("/l/" + tokens.make_link(key, person["person"], 5))
            assert page.status_code == 200, page.text
            assert html.escape(person["awards"][0]["title"]) in page.text

    # (3) retention refuses on PostgreSQL at once, changing nothing
    with on_pg(pg_url, monkeypatch):
        before = rows("raw.lms_completions")
    for mode in ("--dry-run", "--apply"):
        refused = run_cme("retention", "--out", pg_out, mode, "--as-of", "2040-01-01",
                          env={URL_ENV: pg_url})
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "does not run on a PostgreSQL warehouse" in refused.stdout + refused.stderr
    with on_pg(pg_url, monkeypatch):
        assert rows("raw.lms_completions") == before and before
    assert not (pg_out / "archive").exists()

    # (4) `cme freshness` and `cme docs` read the PostgreSQL warehouse (issue 15)
    fresh = run_cme("freshness", "--out", pg_out, env={URL_ENV: pg_url})
    assert "landing.loaded_files: " in fresh.stdout and f"newest extract {day}" in fresh.stdout, \
        fresh.stdout + fresh.stderr
    assert fresh.returncode in (0, 1)  # error (exit 1) once the generated day is 5 days old
    docs = run_cme("docs", "--out", pg_out, env={URL_ENV: pg_url})
    assert docs.returncode == 0, docs.stdout + docs.stderr
    catalog = json.loads((pg_out / "docs" / "catalog.json").read_text())["nodes"]
    assert "uan" in catalog["model.cme_reporting.fct_credit_awards"]["columns"]
    assert not (pg_out / "warehouse.duckdb").exists()
