"""File-drop answers and transport switches (issue 9, defect 8): `cme receipts import`
reads each body's result file into the ledger, `cme batches discard` makes a batch
that was never uploaded due again, and a record written to a file is never re-sent
over HTTP after the body's transport changes."""
from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from cme import pipeline
from cme.bodies import active_bodies
from cme.cli import app
from cme.delivery import deliver_body
from cme.export import export_body, submission_dir
from cme.pipeline import RunContext
from cme.standins import cebroker as cebroker_standin
from cme.standins import cpe_monitor as cpe_standin
from cme.standins import pars as pars_standin
from tests import standins
from tests.test_ledger import FILE_SETTINGS, copy_run, gated, ledger  # noqa: F401 - fixture

ACCEPT_ALL = ({"accept_all_boards": True}, {"licenses": "*"}, {"learners": "*", "today": "2026-11-16"})


def export_all(run: RunContext) -> dict[str, object]:
    return {b.name: export_body(run.warehouse, b, run.run_date, run.out, run.settings())
            for b in active_bodies(run.settings())}


def cli(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def states(out: Path, body: str) -> dict[tuple, str]:
    return dict(((k, a, h), s) for k, a, h, s in ledger(
        out, "select record_key, record_action, record_hash, arg_max(event, event_id) "
             "from ledger.submission_events where body = ? group by all", [body]))


def use_http(run: RunContext, tmp_path: Path) -> RunContext:
    settings = tmp_path / "http.toml"
    settings.write_text(standins.HTTP_SETTINGS.format(alert_days=7, timeout=2))
    return RunContext(run.run_date, run.landing, run.out, settings)


def test_records_written_to_a_file_are_not_resent_after_switching_to_http(gated, tmp_path, monkeypatch):
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    # day one: some CE Broker and CPE Monitor records are held back by the gate, the rest
    # go to files; then the provider switches every body to HTTP
    later = {}
    for body in ("CE_BROKER", "CPE_MONITOR"):
        keys = sorted(k for b, k, *_ in expected if b == body)
        later[body] = keys[: max(1, len(keys) // 3)]
        gate = run.out / "gates" / body / f"{run.run_date.isoformat()}.json"
        data = json.loads(gate.read_text())
        gate.write_text(json.dumps({**data, "held": {**data["held"], **{k: ["test"] for k in later[body]}}}))
    first = export_all(run)
    in_files = {b for b, r in first.items() if r.records_written}
    assert in_files == {"ACCME_PARS", "CE_BROKER", "CPE_MONITOR", "ACCME_PARS_ACTIVITIES"}
    http = use_http(run, tmp_path)
    for body in ("CE_BROKER", "CPE_MONITOR"):
        gate = run.out / "gates" / body / f"{run.run_date.isoformat()}.json"
        data = json.loads(gate.read_text())
        gate.write_text(json.dumps({**data, "held": {k: v for k, v in data["held"].items()
                                                       if k not in later[body]}}))
    with standins.running(*ACCEPT_ALL) as (services, env):
        monkeypatch.setattr(os, "environ", {**os.environ, **env})
        for body in active_bodies(http.settings()):  # the file records: nothing goes
            deliver_body(http.warehouse, body, http.run_date, http.settings())
        assert {b: dict(s.received) for b, s in services.items()} == {b: {} for b in services}
        second = export_all(http)  # the held records pass the next day's gate: over HTTP
        assert {b: r.records_written for b, r in second.items()} == {
            "ACCME_PARS": 0, "CE_BROKER": len(later["CE_BROKER"]), "CPE_MONITOR": len(later["CPE_MONITOR"]),
            "ACCME_PARS_ACTIVITIES": 0}
        for body in active_bodies(http.settings()):
            deliver_body(http.warehouse, body, http.run_date, http.settings())
        received = {b: sum(s.received.values()) for b, s in services.items()}
    assert received == {"ACCME_PARS": 0, "CE_BROKER": len(later["CE_BROKER"]),
                        "CPE_MONITOR": len(later["CPE_MONITOR"]), "ACCME_PARS_ACTIVITIES": 0}
    for body in ("CE_BROKER", "CPE_MONITOR"):
        final = states(run.out, body)
        assert sorted(final.values()).count("accepted") == len(later[body])
        assert set(final.values()) == {"written", "accepted"}  # file records stay delivered


def test_receipts_import_records_answers_once_and_opens_rejected_by_body(gated, tmp_path):
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    export_all(run)
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    folder = {b: submission_dir(run.out, b, run.run_date) for b in ("ACCME_PARS", "CE_BROKER", "CPE_MONITOR")}
    pars = pars_standin.results_file(next(folder["ACCME_PARS"].glob("*.xlsx")), {"boards": {}},
                                     receipts / "pars-results.xlsx")
    ceb = [cebroker_standin.receipt_file(p, {"licenses": {"FL": []}}, receipts / f"receipt-{p.name}")
           for p in sorted(folder["CE_BROKER"].glob("*.xml"))]
    cpe = cpe_standin.response_file(next(folder["CPE_MONITOR"].glob("*-batch.csv")), ACCEPT_ALL[2],
                                    receipts / "cpe-response.csv")
    # a row the ledger does not hold is reported by its row number, not dropped
    with cpe.open("a") as handle:
        handle.write("0204,999999,0101,0204-0000-26-999-L01-P,11/16/2026,I,1.0,Accepted,\r\n")
    lines = cpe.read_text().splitlines()

    result = cli("receipts", "import", "--body", "ACCME_PARS", "--out", run.out, pars)
    assert result.exit_code == 0, result.output
    result = cli("receipts", "import", "--body", "CE_BROKER", "--out", run.out, *ceb)
    assert result.exit_code == 0, result.output
    result = cli("receipts", "import", "--body", "CPE_MONITOR", "--out", run.out, cpe)
    assert result.exit_code == 1  # something matched nothing: said so
    assert f"rows {len(lines)} match no record" in result.output
    n_cpe = sum(1 for b, *_ in expected if b == "CPE_MONITOR")
    assert f"{n_cpe} accepted, 0 rejected, 0 already recorded, 1 unmatched" in result.output
    assert "999999" not in result.output  # counts and row numbers only

    final = {b: states(run.out, b) for b in ("ACCME_PARS", "CE_BROKER", "CPE_MONITOR")}
    assert set(final["CE_BROKER"].values()) == {"rejected"}
    assert set(final["CPE_MONITOR"].values()) == {"accepted"}
    assert {"accepted", "rejected"} <= set(final["ACCME_PARS"].values())  # board records refused
    assert "written" not in {s for f in final.values() for s in f.values()}

    # importing the same files again changes nothing
    before = ledger(run.out, "select count(*) from ledger.submission_events")
    result = cli("receipts", "import", "--body", "CE_BROKER", "--out", run.out, *ceb)
    assert result.exit_code == 0 and "0 accepted, 0 rejected" in result.output
    assert ledger(run.out, "select count(*) from ledger.submission_events") == before

    # the rejections open REJECTED_BY_BODY with the body's message after the next build
    pipeline.refresh_after_export(run)
    queue = ledger(run.out, "select body, detail, count(*) from fct_compliance_exceptions "
                            "where reason_code = 'REJECTED_BY_BODY' and status = 'open' group by all")
    opened = {(b, d): n for b, d, n in queue}
    assert opened[("CE_BROKER", "Invalid license Number")] == len(final["CE_BROKER"])
    assert ("ACCME_PARS", "Board ID does not match the diplomate") in opened

    # a batch with answers cannot be discarded; neither can an unknown one
    batch = ledger(run.out, "select min(batch_id) from ledger.submission_events where body = 'CE_BROKER'")[0][0]
    assert cli("batches", "discard", batch, "--out", run.out).exit_code == 2
    assert cli("batches", "discard", "NO-SUCH-BATCH", "--out", run.out).exit_code == 2


def test_discarded_batch_is_due_again_and_written_in_a_new_batch(gated, tmp_path):
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    first = export_all(run)
    batch = first["CE_BROKER"].files[0].rsplit("-", 1)[0]
    n = first["CE_BROKER"].records_written
    result = cli("batches", "discard", batch, "--out", run.out)
    assert result.exit_code == 0, result.output
    folder = submission_dir(run.out, "CE_BROKER", run.run_date)
    assert (folder / f"{batch}.discarded.json").exists()  # the file stays, marked
    assert all((folder / name).exists() for name in first["CE_BROKER"].files)
    assert cli("batches", "discard", batch, "--out", run.out).exit_code == 0  # nothing left: no-op

    pipeline.refresh_after_export(run)
    held = json.loads((run.out / "gates" / "CE_BROKER" / f"{run.run_date.isoformat()}.json").read_text())["held"]
    pending = ledger(run.out, "select count(*) from fct_cebroker_records where submission_state = 'pending'")
    assert pending == [(n + len(held),)]  # the discarded records, and those the gate held
    for body in active_bodies(run.settings()):
        pipeline.gate(run, body.name)
    second = export_all(run)
    assert second["CE_BROKER"].records_written == n
    assert second["ACCME_PARS"].records_written == second["CPE_MONITOR"].records_written == 0
    assert not set(second["CE_BROKER"].files) & set(first["CE_BROKER"].files)
    final = states(run.out, "CE_BROKER")
    assert set(final.values()) == {"written"}
    written = ledger(run.out, "select count(distinct batch_id) from ledger.submission_events "
                              "where body = 'CE_BROKER' and event = 'discarded'")
    assert written == [(1,)]
