"""The project's DuckDB materializations (dbt_project/macros/materializations_duckdb.sql)
replace a relation by dropping it and creating the new one in one transaction. What a
user relies on: a model whose rebuild fails (bad SQL, a row-level error, a null where the
contract's not_null constraint forbids one) leaves yesterday's relation, rows and all, for
the dashboard, the exports and the analysts to read."""
from __future__ import annotations

import shutil

import pytest

from cme.dbt_runner import DBT_PROJECT_DIR, as_of_date, write_run_clock
from cme.warehouse import connect
from tests import scenario
from tests.conftest import copy_run

pytestmark = pytest.mark.e2e


def _break(project, model: str, last_line: str) -> None:
    path = next(project.joinpath("models").rglob(f"{model}.sql"))
    text = path.read_text().rstrip()
    assert text.endswith("select * from final")
    path.write_text(text.removesuffix("select * from final") + last_line + "\n")


def _relation(con, name: str) -> tuple[str, str, list] | None:
    found = con.execute("select table_schema, table_type from information_schema.tables "
                        "where table_name = ?", [name]).fetchone()
    if found is None:
        return None
    schema, kind = found
    rows = con.execute(f'select * from "{schema}"."{name}" order by all').fetchall()
    return schema, kind, rows


def test_a_failed_rebuild_keeps_the_table_or_view_it_replaces(hand_built_run, tmp_path, monkeypatch):
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    run = copy_run(hand_built_run, tmp_path / "run")
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    # a table with a contract that fails while it inserts (a row-level error, after the
    # old table was dropped), and a view whose new SQL does not bind
    _break(project, "fct_pars_records", "select * from final where error(concat('boom ', record_key)) is null")
    _break(project, "int_people_resolved", "select *, no_such_column from final")
    # a null where the contract says not null (the constraint, not a data test, stops it)
    _break(project, "fct_body_records", "select * replace (cast(null as varchar) as record_kind) from final")
    with connect(run.warehouse, read_only=True) as con:
        before = {m: _relation(con, m) for m in ("fct_pars_records", "int_people_resolved", "fct_body_records")}
    assert before["fct_pars_records"][1] == "BASE TABLE" and before["fct_pars_records"][2]
    assert before["int_people_resolved"][1] == "VIEW" and before["int_people_resolved"][2]

    day = scenario.D2.isoformat()
    write_run_clock(run.warehouse, day, as_of_date(run.warehouse, day))  # as a day's build has it
    monkeypatch.setenv("CME_WAREHOUSE", str(run.warehouse))
    errors = {}
    for model in before:
        result = dbtRunner().invoke([
            "run", "--select", model, "--project-dir", str(project), "--profiles-dir", str(project),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")])
        DuckDBConnectionManager.close_all_connections()  # as cme.dbt_runner does after a call
        assert not result.success
        errors[model] = " ".join(str(r.message) for r in result.result)
    assert "boom" in errors["fct_pars_records"]
    assert "no_such_column" in errors["int_people_resolved"]
    assert "NOT NULL constraint failed" in errors["fct_body_records"]
    assert "record_kind" in errors["fct_body_records"]

    with connect(run.warehouse, read_only=True) as con:
        after = {m: _relation(con, m) for m in before}
    assert after == before
