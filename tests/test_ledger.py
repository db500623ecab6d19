"""The ledger across crashes in the export (issue 9, defect 1): each ledger step is one
transaction, and recovery finishes every partial state without writing a record twice."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest
from lxml import etree
from openpyxl import load_workbook

from cme import PROJECT_DIR, pipeline
from cme.bodies import active_bodies
from cme.export import export_body
from cme.pipeline import RunContext
from cme.synthetic import generate
from tests import standins
from tests.conftest import DAYS
from tests.test_delivery import ledger

FILE_SETTINGS = standins.HTTP_SETTINGS.replace('"http"', '"file"')

# Every named point between two ledger writes or file steps of an export, with the
# occurrence (N-th time in the process: bodies export one after another).
CRASH_POINTS = ["after_prepared:1", "after_prepared:3", "after_file:1", "after_file:2",
                "after_file:4", "after_files:1", "after_files:2", "after_manifest:1",
                "after_manifest:3", "after_written:1", "after_written:2"]


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """One day ingested, built and gated for every body (file transport), nothing exported;
    and the records a clean export writes, as the reference."""
    base = tmp_path_factory.mktemp("ledger")
    generate(base / "landing", days=1, learners=40, seed=5)
    settings = base / "file.toml"
    settings.write_text(FILE_SETTINGS.format(alert_days=7, timeout=1))
    ctx = RunContext(date.fromisoformat(DAYS[0]), base / "landing", base / "out", settings)
    pipeline.check_settings(ctx)
    pipeline.ingest(ctx, "t")
    pipeline.build(ctx)
    for body in active_bodies(ctx.settings()):
        pipeline.gate(ctx, body.name)
    reference = copy_run(ctx, base / "reference")
    for body in active_bodies(ctx.settings()):
        export_body(reference.warehouse, body, reference.run_date, reference.out, reference.settings())
    expected = written_versions(reference.out)
    assert len(expected) > 10 and {b for b, *_ in expected} == {"ACCME_PARS", "ACCME_PARS_ACTIVITIES", "CE_BROKER", "CPE_MONITOR"}
    return ctx, expected


def copy_run(ctx: RunContext, where: Path) -> RunContext:
    shutil.copytree(ctx.out, where / "out")
    return RunContext(ctx.run_date, ctx.landing, where / "out", ctx.settings_path)


def written_versions(out: Path) -> set[tuple]:
    return set(ledger(out, "select distinct body, record_key, record_action, record_hash "
                           "from ledger.submission_events where event = 'written'"))


def rows_in(path: Path) -> int:
    """Records in one submission file, read from the file itself."""
    if path.suffix == ".xlsx":
        # counted, not read from the sheet's dimension (a write-only workbook has none)
        return sum(1 for _ in load_workbook(path, read_only=True).worksheets[0].iter_rows()) - 1
    if path.suffix == ".xml":
        return len(etree.parse(str(path)).getroot().findall("roster/attendees/attendee"))
    if path.name.endswith("-requests.jsonl"):
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    return 0  # the CPE Monitor batch CSV repeats the requests file's records


def assert_exactly_once(out: Path, expected: set[tuple]) -> None:
    # the ledger: every record written exactly once, none left prepared-only
    counts = Counter(ledger(out, "select body, record_key, record_action, record_hash "
                                 "from ledger.submission_events where event = 'written'"))
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    unfinished = ledger(out, "select batch_id from ledger.submission_events group by batch_id, "
                             "record_key, record_action, record_hash having bool_or(event = 'prepared') "
                             "and not bool_or(event in ('written', 'abandoned'))")
    assert unfinished == []
    # the folder: each record in exactly one file, every file in a manifest, no leftovers
    submissions = out / "submissions"
    in_manifests, listed, per_body = Counter(), {"manifest"}, Counter()
    for manifest_path in submissions.rglob("*.manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        for f in manifest["files"]:
            path = manifest_path.parent / f["name"]
            listed.add(path)
            per_body[manifest["body"]] += rows_in(path)
            for key in f["record_keys"]:
                in_manifests[(manifest["body"], key)] += 1
        listed.add(manifest_path)
    on_disk = {p for p in submissions.rglob("*") if p.is_file() or p.name.startswith(".")}
    assert on_disk <= listed, f"orphans: {sorted(p.name for p in on_disk - listed)}"
    assert set(in_manifests.values()) == {1}
    assert per_body == Counter(b for b, *_ in expected)  # each record in one written file


@pytest.mark.parametrize("crash", CRASH_POINTS)
def test_export_killed_between_any_two_steps_writes_every_record_once(gated, tmp_path, crash):
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    command = [sys.executable, "-m", "tests.export_once", str(run.out), str(run.settings_path), DAYS[0]]
    proc = subprocess.run(command, env={**__import__("os").environ, "CME_CRASH_AT": crash},
                          cwd=PROJECT_DIR, capture_output=True, text=True)
    assert proc.returncode == 17, (crash, proc.stderr[-2000:])
    # the task's retry: same marts (built before the crash), same gate results
    proc = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_exactly_once(run.out, expected)


def test_partly_written_batch_is_finished_not_written_again(gated, tmp_path):
    """A ledger from before each step was one transaction: a kill left some records of a
    batch `written` and the rest `prepared`. Recovery marks the rest written, in the files
    they are in; the next day's run (marts rebuilt) writes no second file."""
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    for body in active_bodies(run.settings()):
        export_body(run.warehouse, body, run.run_date, run.out, run.settings())
    con = duckdb.connect(str(run.warehouse))
    try:  # undo part of each batch's `written` step, as the old row-by-row insert left it
        con.execute("delete from ledger.submission_events where event = 'written' and event_id in ("
                    "select event_id from (select event_id, row_number() over (partition by batch_id "
                    "order by event_id) as n from ledger.submission_events where event = 'written') "
                    "where n % 2 = 0)")
    finally:
        con.close()
    pipeline.refresh_after_export(run)
    for body in active_bodies(run.settings()):
        pipeline.gate(run, body.name)
        result = export_body(run.warehouse, body, run.run_date, run.out, run.settings())
        assert result.records_written == 0, body.name
    assert_exactly_once(run.out, expected)


def test_a_day_due_more_than_one_batch_writes_every_record_once_in_several(gated, tmp_path, monkeypatch):
    """Records due beyond CME_EXPORT_PAGE_RECORDS go out in several batches (memory stays
    flat on a first load of millions): the same record versions as one batch, each once."""
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    monkeypatch.setenv("CME_EXPORT_PAGE_RECORDS", "3")
    for body in active_bodies(run.settings()):
        export_body(run.warehouse, body, run.run_date, run.out, run.settings())
    assert_exactly_once(run.out, expected)
    sizes = ledger(run.out, "select body, batch_id, count(distinct record_key) from "
                            "ledger.submission_events where event = 'written' group by all")
    assert max(n for *_, n in sizes) <= 3
    per_body = Counter(b for b, *_ in expected)
    assert Counter(b for b, *_ in sizes)["ACCME_PARS"] >= -(-per_body["ACCME_PARS"] // 3) > 1


def test_a_kill_between_two_batches_of_a_day_loses_and_repeats_nothing(gated, tmp_path):
    ctx, expected = gated
    run = copy_run(ctx, tmp_path)
    command = [sys.executable, "-m", "tests.export_once", str(run.out), str(run.settings_path), DAYS[0]]
    env = {**__import__("os").environ, "CME_EXPORT_PAGE_RECORDS": "3"}
    proc = subprocess.run(command, env={**env, "CME_CRASH_AT": "after_written:2"},
                          cwd=PROJECT_DIR, capture_output=True, text=True)
    assert proc.returncode == 17, proc.stderr[-2000:]
    first = written_versions(run.out)
    assert first and first < expected  # two batches written, the rest not yet
    proc = subprocess.run(command, env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_exactly_once(run.out, expected)
