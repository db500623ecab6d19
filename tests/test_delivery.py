"""HTTP delivery to the three stand-ins: answers into the ledger and the queue,
exactly once across crashes at any point, and through 30% transient failures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from cme import PROJECT_DIR, delivery, pipeline
from cme.bodies import active_bodies
from cme.export import export_body
from cme.pipeline import RunContext
from cme.synthetic import generate
from cme.transport import TransientError
from tests import standins
from tests.conftest import DAYS
from tests.scenario import run_days

pytestmark = pytest.mark.e2e

ACCEPT_ALL = ({"accept_all_boards": True}, {"licenses": "*"}, {"learners": "*", "today": "2026-11-16"})


def ledger(out: Path, sql: str, params=()):
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_dag_delivers_over_http_records_answers_and_never_sends_twice(landing, tmp_path, monkeypatch):
    """The DAG's steps in process (tests.scenario.run_days: a failed export or delivery
    raises, as `cme run` would exit non-zero), two days, then the second day again."""
    registries = (
        {"boards": {"ABIM": {"ABIM-331100": "Known"}}},  # GL-ABP's ABP id is unknown: rejected
        {"licenses": {"FL": ["RN9876543"]}},
        {"learners": {"123456": "0520", "654321": "0101"}, "today": "2026-11-17"},  # tech: wrong DOB
    )
    settings = tmp_path / "http.toml"
    settings.write_text(standins.HTTP_SETTINGS.format(alert_days=30, timeout=5))
    out = tmp_path / "out"
    with standins.running(*registries) as (services, env):
        for name, value in env.items():  # the stand-ins' connections (AIRFLOW_CONN_CME_*)
            monkeypatch.setenv(name, value)
        run_days(landing, out, DAYS[:2], settings)
        received = {body: dict(s.received) for body, s in services.items()}
        run_days(landing, out, DAYS[1:2], settings, run_id="rerun")
        # the re-run only polled: nothing reached any body a second time
        assert {body: dict(s.received) for body, s in services.items()} == received
    for body, counts in received.items():
        assert counts and max(counts.values()) == 1, body

    def state(last_name_or_license: str, body: str) -> list:
        return ledger(out, "select arg_max(event, event_id), arg_max(message, event_id) "
                           "from ledger.submission_events where body = ? and payload is null and "
                           "record_key in (select record_key from ledger.submission_events "
                           "where body = ? and event = 'prepared' and cast(payload as varchar) like ?) "
                           "group by record_key", [body, body, f"%{last_name_or_license}%"])

    assert state('"Known"', "ACCME_PARS") == [("accepted", None)]  # decided, polled next run
    assert state('"Peds"', "ACCME_PARS") == [("rejected", "Board ID does not match the diplomate")]
    assert state("RN9876543", "CE_BROKER") == [("accepted", None)]
    assert state('"123456"', "CPE_MONITOR") == [("accepted", None)]
    assert state('"654321"', "CPE_MONITOR") == [("rejected", "Date of birth does not match ePID")]
    queue = {(b, d) for b, d in ledger(out, "select body, detail from fct_compliance_exceptions "
                                            "where reason_code = 'REJECTED_BY_BODY' and status = 'open'")}
    # (in this data only the golden nurse's CE Broker record passes its gate, and the
    # registry knows her license; CE Broker's rejection is tested on its own below)
    assert {("ACCME_PARS", "Board ID does not match the diplomate"),
            ("CPE_MONITOR", "Date of birth does not match ePID")} <= queue
    summary = json.loads((out / "reports" / f"run_summary_{DAYS[1]}.json").read_text())
    assert summary["bodies"]["ACCME_PARS"]["accepted"] > 0
    assert summary["bodies"]["CPE_MONITOR"]["rejected"] >= 0
    assert "ACCME_PARS" in summary["due_soon"]  # PARS answers still to come, MOC due within 30 days


def test_cebroker_receipt_names_the_invalid_license_and_accepts_the_rest():
    from cme.bodies.cebroker import CeBrokerClient
    from cme.settings import ProviderSettings
    from cme.transport import Connection
    from tests.test_bodies import records, seed_fields

    batch = records(n_courses=1, per_course=2)
    with standins.running({}, {"licenses": {"FL": [batch[0]["license_number"]]}}, {}) as (services, env):
        url = env["AIRFLOW_CONN_CME_CE_BROKER"].replace("user:secret@", "")
        client = CeBrokerClient(Connection(url, "user", "secret"), seed_fields("CE_BROKER"),
                                ProviderSettings(cebroker_provider_tracking_number="50-1"), 5)
        answers = client.send(batch)
        assert (answers["k0-0"].state, answers["k0-1"].state) == ("accepted", "rejected")
        assert answers["k0-1"].message == "Invalid license Number"
        assert client.lookup(batch[0]) is not None and client.lookup(batch[1]) is None
        bad_key = CeBrokerClient(Connection(url, "user", "wrong"), seed_fields("CE_BROKER"),
                                 ProviderSettings(), 5)
        with pytest.raises(PermissionError):  # a wrong upload key is not a transient failure
            bad_key.send(batch)


@pytest.fixture
def written_batch(tmp_path):
    """One day's files written (not yet delivered) for all three bodies."""
    generate(tmp_path / "landing", days=1, learners=40, seed=5)
    settings = tmp_path / "http.toml"
    settings.write_text(standins.HTTP_SETTINGS.format(alert_days=7, timeout=0.5))
    ctx = RunContext(date.fromisoformat(DAYS[0]), tmp_path / "landing", tmp_path / "out", settings)
    pipeline.check_settings(ctx)
    pipeline.ingest(ctx, "t")
    pipeline.build(ctx)
    written = 0
    for body in active_bodies(ctx.settings()):
        pipeline.gate(ctx, body.name)
        written += export_body(ctx.warehouse, body, ctx.run_date, ctx.out, ctx.settings()).records_written
    assert written > 10
    return ctx, settings, written


def _final_states(out: Path) -> dict[str, str]:
    rows = ledger(out, "select body || record_key, arg_max(event, event_id) from ledger.submission_events "
                       "group by body, record_key, record_action, record_hash")
    return dict(rows)


@pytest.mark.parametrize("crashes", [["before_send:1", "after_send:2", "after_answers:4", "after_send:5"]])
def test_killed_at_any_point_every_record_reaches_its_body_exactly_once(written_batch, crashes):
    ctx, settings, written = written_batch
    command = [sys.executable, "-m", "tests.deliver_once", str(ctx.out), str(settings), DAYS[0]]
    with standins.running(*ACCEPT_ALL) as (services, env):
        base = {**os.environ, **env}
        for crash in crashes:  # before the send, after the send before the ledger, between answer writes
            proc = subprocess.run(command, env={**base, "CME_CRASH_AT": crash}, cwd=PROJECT_DIR,
                                  capture_output=True, text=True)
            assert proc.returncode == 17, (crash, proc.stderr[-2000:])
        in_doubt = [k for k, s in _final_states(ctx.out).items() if s == "sending"]
        assert in_doubt  # the crashes left records whose fate the ledger does not know
        proc = subprocess.run(command, env=base, cwd=PROJECT_DIR, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        received = {body: dict(s.received) for body, s in services.items()}
    states = _final_states(ctx.out)
    assert set(states.values()) <= {"accepted", "sent"}  # none lost, none left in doubt
    assert sum(len(c) for c in received.values()) == written  # every record arrived
    assert all(n == 1 for c in received.values() for n in c.values())  # and only once


def test_thirty_percent_transient_failures_end_with_everything_accepted_once(written_batch, monkeypatch):
    ctx, settings, written = written_batch
    monkeypatch.setattr(delivery, "BACKOFF_SECONDS", 0.01)
    with standins.running(*ACCEPT_ALL, failure_rate=0.3, slow_seconds=0.8, seed=11) as (services, env):
        monkeypatch.setattr(os, "environ", {**os.environ, **env})
        for _attempt in range(30):  # Airflow's task retries, in miniature
            try:
                for body in active_bodies(ctx.settings()):
                    delivery.deliver_body(ctx.warehouse, body, ctx.run_date, ctx.settings(), timeout=0.3)
                break
            except TransientError:
                continue
        else:
            pytest.fail("delivery did not finish in 30 attempts")
        # PARS decides asynchronously: the next run's poll collects the answers
        for _ in range(30):
            try:
                for body in active_bodies(ctx.settings()):
                    delivery.deliver_body(ctx.warehouse, body, ctx.run_date, ctx.settings(), timeout=0.3)
                if "sent" not in _final_states(ctx.out).values():
                    break
            except TransientError:
                continue
        received = {body: dict(s.received) for body, s in services.items()}
        failures = sum(s.requests for s in services.values())
    assert set(_final_states(ctx.out).values()) == {"accepted"}
    assert sum(len(c) for c in received.values()) == written
    assert all(n == 1 for c in received.values() for n in c.values())
    assert failures > written  # faults really happened and were retried
