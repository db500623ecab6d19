"""Re-running a day changes nothing that was already right.

Each test re-runs days in process (the DAG's steps, a new run id as a new DAG run has)
on its own copy of the session's run, so no later test reads what a re-run wrote."""
from __future__ import annotations

import duckdb
import pytest

from tests.conftest import DAYS, copy_run
from tests.scenario import run_days

pytestmark = pytest.mark.e2e


def snapshot(warehouse, drop_columns=()) -> dict[str, list]:
    """Every base table in every schema, rows sorted, optionally without some columns."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "where table_type = 'BASE TABLE' order by 1, 2").fetchall()
        snap = {}
        for schema, table in tables:
            cols = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ? order by ordinal_position", [schema, table]).fetchall()
                if c not in drop_columns]
            column_list = ", ".join(f'"{c}"' for c in cols)
            snap[f"{schema}.{table}"] = con.execute(
                f'select {column_list} from "{schema}"."{table}" order by all').fetchall()
        return snap
    finally:
        con.close()


@pytest.fixture
def own_run(pipeline_run, tmp_path):
    return copy_run(pipeline_run, tmp_path / "out")


def rerun(run, day, **flags):
    run_days(run.landing, run.out, [day], run_id="rerun", **flags)


def submission_files(out) -> dict[str, str]:
    import hashlib
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (out / "submissions").rglob("*") if p.is_file()}


def test_running_the_same_day_again_leaves_every_table_and_file_unchanged(own_run):
    pipeline_run = own_run
    before = snapshot(pipeline_run.warehouse)
    files_before = submission_files(pipeline_run.out)
    assert before["main.fct_credit_decisions"] and before["raw.learners"]
    assert before["ledger.submission_events"] and files_before
    rerun(pipeline_run, DAYS[-1])
    after = snapshot(pipeline_run.warehouse)
    assert after.keys() == before.keys()
    changed = [t for t in before if before[t] != after[t]]
    assert changed == []  # the ledger included: no new submission row
    assert submission_files(pipeline_run.out) == files_before


def test_rerunning_an_older_day_rolls_nothing_back(own_run):
    pipeline_run = own_run
    # last_seen_on moves to the re-run date by design; everything else must hold
    before = snapshot(pipeline_run.warehouse, drop_columns=("decided_on", "last_seen_on"))
    files_before = submission_files(pipeline_run.out)
    rerun(pipeline_run, DAYS[0])
    after = snapshot(pipeline_run.warehouse, drop_columns=("decided_on", "last_seen_on"))
    changed = [t for t in before if before[t] != after[t]]
    assert changed == []
    assert submission_files(pipeline_run.out) == files_before


def test_incremental_facts_equal_a_full_rebuild(own_run):
    """Three daily incremental runs must agree with recomputing everything at once.

    --full-refresh keeps the decisions (their decided_on is history); --recompute
    re-decides every completion, and --full-refresh rebuilds the awards from them."""
    facts = ("main.fct_credit_decisions", "main.fct_credit_awards")
    pipeline_run = own_run
    before = snapshot(pipeline_run.warehouse, drop_columns=("decided_on",))
    rerun(pipeline_run, DAYS[-1], full_refresh=True, recompute=True)
    after = snapshot(pipeline_run.warehouse, drop_columns=("decided_on",))
    for table in facts:
        assert len(after[table]) == len(before[table]) > 0
        assert after[table] == before[table], table
