"""dbt conventions that keep the project readable (issue 15, point 5): layers flow one way,
and every column of every mart says what it means."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
SEEDS = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")

# what each layer may read besides seeds: staging reads sources only; intermediate reads
# staging and intermediate; marts read intermediate and marts (never staging)
MAY_READ = {"staging": set(), "intermediate": {"staging", "intermediate"}, "marts": {"intermediate", "marts"}}


def back_edges(models: Path = MODELS) -> list[str]:
    """Every ref() (depends_on comments included) that reads against the flow."""
    layer = {p.stem: p.relative_to(models).parts[0] for p in models.rglob("*.sql")}
    seeds = {p.stem for p in SEEDS.glob("*.csv")}
    found = []
    for path in sorted(models.rglob("*.sql")):
        own = layer[path.stem]
        for name in REF.findall(path.read_text()):
            if name in seeds:
                continue
            if layer.get(name) not in MAY_READ[own]:
                found.append(f"{own} {path.stem} reads {layer.get(name, 'unknown')} {name}")
    return sorted(set(found))


def test_layers_flow_one_way_staging_intermediate_marts():
    """No intermediate model reads a mart and no mart reads staging (a mart-layer step
    that reads marts lives in marts/, ephemeral when it is no table of its own)."""
    assert back_edges() == []


def _mart_docs() -> dict[str, dict]:
    docs = {}
    for path in sorted((MODELS / "marts").glob("*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            docs[model["name"]] = model
    return docs


def _undocumented(model: dict, columns) -> list[str]:
    described = {c["name"]: (c.get("description") or "").strip() for c in model.get("columns", [])}
    return [f"{model['name']}.{c}" for c in columns if not described.get(c)]


def test_every_mart_and_every_column_it_lists_has_a_description():
    """Fast half (make check): each mart model has an entry in the marts yml with a
    description, and no listed column (a contract lists every column) lacks one."""
    docs = _mart_docs()
    marts = sorted(p.stem for p in (MODELS / "marts").glob("*.sql"))
    assert [m for m in marts if not (docs.get(m, {}).get("description") or "").strip()] == []
    missing = [c for m in marts for c in _undocumented(docs[m], [c["name"] for c in docs[m].get("columns", [])])]
    assert missing == []


def test_every_column_of_every_built_mart_has_a_description(db):
    """Slow half: the columns of the built tables, as an analyst sees them in the
    warehouse, each with a description (a mart without a contract may have columns its
    yml does not list)."""
    docs = _mart_docs()
    built: dict[str, list[str]] = {}
    for table, column in db.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'main' order by table_name, ordinal_position").fetchall():
        built.setdefault(table, []).append(column)
    assert set(built) <= set(docs), "a table in main that is no documented mart"
    assert {"fct_credit_awards", "fct_disclosure_status", "fct_pars_activities"} <= set(built)
    missing = [c for table, columns in built.items() for c in _undocumented(docs[table], columns)]
    assert missing == []


def test_the_staging_models_read_every_column_of_the_landing_contract():
    """contract.py is where the landing files' columns are defined (ingest, the raw DDL and
    docs/landing-contract.md come from it); the staging models name them again by hand.
    A contract column they do not select would silently never reach a mart."""
    from cme.contract import EXTRACTS

    staging = {}
    for path in (MODELS / "staging" / "landing").glob("stg_landing__*.sql"):
        found = re.search(r"source\('landing', '(\w+)'\)", path.read_text())
        if found:
            staging[found.group(1)] = path
    missing = []
    for extract in EXTRACTS:
        assert extract.table in staging, f"no staging model reads raw.{extract.table}"
        selected = set(re.findall(r"\w+", staging[extract.table].read_text()))
        missing += [f"{extract.table}.{c.name}" for c in extract.columns if c.name not in selected]
    assert missing == []
    # a quarantined row is resolved by a later row with the same key: the contract's key
    resolved = (MODELS / "intermediate" / "int_quarantined_rows_resolved.sql").read_text()
    keys = {file: tuple(re.findall(r"'(\w+)'", columns))
            for file, columns in re.findall(r"'([\w.]+\.csv)': \('\w+', \[([^\]]*)\]\)", resolved)}
    assert keys == {e.file: e.key for e in EXTRACTS}


# --- `cme docs` and `cme freshness` on a real warehouse (issue 15, points 5 and 7) ------

def test_cme_docs_documents_the_warehouse_in_out_and_serves_it_locally(pipeline_run, tmp_path):
    """`dbt docs generate` run by hand used an empty warehouse.duckdb it created in
    dbt_project/. `cme docs --out DIR --serve` documents DIR's warehouse: its catalog has
    a mart's real columns, types and row count, the manifest its descriptions; owner-only; served
    on 127.0.0.1 until stopped."""
    import json
    import socket
    import subprocess
    import time

    import duckdb
    import httpx

    from tests.conftest import BIN, copy_run
    from tests.servers import free_port

    out = copy_run(pipeline_run, tmp_path / "run").out
    port = free_port()
    proc = subprocess.Popen([str(BIN / "cme"), "docs", "--out", str(out), "--serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):  # generating reads every model: tens of seconds on a busy machine
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/catalog.json", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        else:
            raise AssertionError("cme docs --serve did not answer within 5 minutes")
        assert answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200  # the docs site
        with socket.socket() as s:  # local only: not on the machine's other addresses
            s.settimeout(1)
            other = socket.gethostbyname(socket.gethostname())
            if other != "127.0.0.1":
                assert s.connect_ex((other, port)) != 0
    finally:
        proc.terminate()
        proc.wait(10)

    site = out / "docs"
    assert site.stat().st_mode & 0o077 == 0
    assert all((site / name).stat().st_mode & 0o077 == 0 for name in ("index.html", "manifest.json", "catalog.json"))
    catalog = json.loads((site / "catalog.json").read_text())["nodes"]
    awards = catalog["model.cme_reporting.fct_credit_awards"]
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        columns = con.execute("select column_name, data_type from information_schema.columns "
                              "where table_schema = 'main' and table_name = 'fct_credit_awards' "
                              "order by ordinal_position").fetchall()
        rows = {t: con.execute(f"select count(*) from main.{t}").fetchone()[0]
                for t in ("fct_credit_awards", "fct_credit_decisions", "fct_compliance_exceptions")}
    assert rows["fct_credit_awards"] > 0  # a real warehouse, not an empty one
    # its row counts (incremental tables, rows deleted and inserted over three days)
    assert {t: catalog[f"model.cme_reporting.{t}"]["stats"]["row_count"]["value"] for t in rows} == rows
    assert [(c["name"], c["type"]) for c in sorted(awards["columns"].values(), key=lambda c: c["index"])] == columns
    assert awards["metadata"]["type"] == "BASE TABLE"
    manifest = json.loads((site / "manifest.json").read_text())["nodes"]
    assert manifest["model.cme_reporting.fct_credit_awards"]["columns"]["uan"]["description"]
    assert not (out / "dbt_project").exists() and not (tmp_path / "warehouse.duckdb").exists()


def test_cme_freshness_says_how_old_the_newest_extract_is(pipeline_run, tmp_path):
    """Stale (the test data is from 2026-11-18): error, exit 1; after a day's extract
    dated today, pass, exit 0. A warning would exit 0 too (it must not fail anything)."""
    from datetime import date, timedelta

    import duckdb

    from tests.conftest import copy_run, run_cme

    out = copy_run(pipeline_run, tmp_path / "run").out
    newest = pipeline_run.connect().execute(
        "select max(_extract_date) from raw.loaded_files where status = 'loaded'").fetchone()[0]
    proc = run_cme("freshness", "--out", out)
    age = (date.today() - newest).days
    expected = "error" if age >= 5 else ("warn" if age >= 3 else "pass")
    assert f"landing.loaded_files: {expected}, newest extract {newest}" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == (1 if expected == "error" else 0)

    with duckdb.connect(str(out / "warehouse.duckdb")) as con:
        con.execute("update raw.loaded_files set _extract_date = ? where _extract_date = ?",
                    [date.today() - timedelta(days=1), newest])
    proc = run_cme("freshness", "--out", out)
    assert proc.returncode == 0 and "landing.loaded_files: pass" in proc.stdout, proc.stdout + proc.stderr
