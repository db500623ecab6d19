"""Issue 9, defect 11: a full refresh keeps the audit history, and a change to what the
credit decisions read is caught and re-decided on request (docs/decisions.md, "History").

Driven in process through the DAG's steps on the hand-built landing (tests/scenario.py):
day 2 revokes two sent completions, closing and opening exceptions."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from cme import pipeline
from cme.dbt_runner import DBT_PROJECT_DIR
from cme.pipeline import RunContext
from cme.settings import ProviderSettings, SettingsError
from tests import scenario
from tests.scenario import run_day
from tests.conftest import copy_run, run_cme


def exceptions(out: Path) -> dict[str, tuple]:
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return {row[0]: row[1:] for row in con.execute(
            "select exception_id, reason_code, status, first_seen_on, closed_on "
            "from fct_compliance_exceptions").fetchall()}


def decisions(out: Path) -> dict[str, tuple]:
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return {row[0]: row[1:] for row in con.execute(
            "select decision_id, completion_key, credit_type, decided_on "
            "from fct_credit_decisions").fetchall()}


@pytest.mark.e2e
def test_a_full_refresh_keeps_closed_exceptions_first_seen_and_decided_on(hand_built_run, tmp_path):
    # D1 and D2 as the session ran them (conftest.hand_built_run), on a copy
    landing, out = hand_built_run.landing, copy_run(hand_built_run, tmp_path / "out").out
    before, decided_before = exceptions(out), decisions(out)
    closed = {k: v for k, v in before.items() if v[1] == "closed"}
    assert closed and any(v[2] == scenario.D1 for v in before.values())
    assert {v[2] for v in decided_before.values()} == {scenario.D1, scenario.D2}

    pipeline.build(RunContext(scenario.D2, landing, out, None), full_refresh=True)
    assert exceptions(out) == before
    assert decisions(out) == decided_before

    run_day(landing, out, scenario.D3)  # a normal day after the full refresh
    after = exceptions(out)
    assert {k: after.get(k) for k in closed} == closed
    assert {k: after[k][2] for k in before} == {k: v[2] for k, v in before.items()}


def test_the_fingerprint_covers_what_decisions_read_and_names_a_changed_seed(tmp_path):
    from cme import fingerprint

    names, seeds = fingerprint.decision_inputs(DBT_PROJECT_DIR)
    assert {"abp_point_step", "accreditor", "timezone"} <= names
    assert "cebroker_states" not in names  # read by a mart rebuilt on every run
    assert "credit_types" in seeds
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    settings = ProviderSettings()
    old = fingerprint.current(settings, project)
    seed = project / "seeds" / "credit_types.csv"
    seed.write_text(seed.read_text().replace("ANCC,CE_BROKER,nurse,contact hour,0.25",
                                             "ANCC,CE_BROKER,nurse,contact hour,0.5"))
    assert fingerprint.current(settings, project).changes_since(old) == ([], ["credit_types.csv"])
    step = settings.model_copy(update={"abp_point_step": 0.5})
    assert fingerprint.current(step, project).changes_since(old) == (["abp_point_step"], ["credit_types.csv"])


def test_the_run_command_offers_recompute_and_explains_full_refresh():
    proc = run_cme("run", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "--recompute" in text and "--full-refresh" in text
    assert "history" in text


@pytest.mark.e2e
def test_a_decision_setting_change_is_caught_and_recompute_applies_it(tmp_path):
    landing, out = scenario.write_landing(tmp_path / "landing"), tmp_path / "out"
    settings = tmp_path / "provider.toml"
    settings.write_text('accreditor = "ACCME"\n')
    run_day(landing, out, scenario.D1, settings, data_tests=False)
    d1 = RunContext(scenario.D1, landing, out, settings)

    # (d) unchanged settings, or a change the decisions do not read: nothing to say
    pipeline.check_settings(d1)
    assert pipeline.rules_changed(d1) is None
    settings.write_text('accreditor = "ACCME"\ncebroker_provider_tracking_number = "50-0000"\n')
    pipeline.check_settings(d1)

    # (b) a change the decisions read stops the run before anything is written, naming it
    settings.write_text('accreditor = "JA"\n')
    d2 = RunContext(scenario.D2, landing, out, settings)
    with pytest.raises(SettingsError) as err:
        pipeline.check_settings(d2)
    message = str(err.value)
    assert "setting(s) accreditor" in message and "seed" not in message
    assert f"--date {scenario.D2.isoformat()} --recompute" in message
    assert f"--settings {settings}" in message
    assert '"JA"' not in message and "'JA'" not in message  # names, never values
    assert "\n" not in message

    # a build that skips the check does not record the new rules as if applied
    pipeline.build(d2)
    assert pipeline.rules_changed(d2) is not None

    # (c) --recompute re-decides past completions under the new setting
    before, decided_before = exceptions(out), decisions(out)
    run_day(landing, out, scenario.D2, settings, recompute=True, data_tests=False)
    after, decided = exceptions(out), decisions(out)
    ipce = {v[0]: v[2] for v in decided.values() if v[1] == "IPCE"}
    d1_completions = {v[0] for v in decided_before.values()}
    assert d1_completions <= ipce.keys()  # every past completion now has its IPCE decision
    assert set(ipce.values()) == {scenario.D2}
    kept = [k for k in before if after[k][1] == "open"]  # problems still there
    assert all(after[k][2] == before[k][2] for k in kept)
    assert any(after[k][2] == scenario.D1 for k in kept)
    assert pipeline.rules_changed(d2) is None  # the recompute recorded the new rules

    # a recompute with nothing changed keeps every decided_on
    run_day(landing, out, scenario.D3, settings, recompute=True)
    again = decisions(out)
    assert {k: again[k] for k in decided} == decided
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select run_date, recomputed from meta.rule_fingerprints "
                           "order by recorded_at").fetchall()
    assert rows == [(scenario.D1, False), (scenario.D2, True)]  # rules as they first applied
