"""When is an extract date's landing folder ready (cme.landing)? Fast, in process."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cme.landing import LandingNotReady, deadline, missing_folders, poke, readiness
from cme.pipeline import RunContext
from cme.settings import ProviderSettings, SettingsError, load_settings
from tests.conftest import run_cme

D = date(2026, 11, 16)
PLAIN = ProviderSettings()
SUCCESS = ProviderSettings(landing_ready_marker="_SUCCESS")
MANIFEST = ProviderSettings(landing_ready_marker="_manifest.json")
SECRET = "Zebediah-1970-11-24"  # stands for learner data inside a file


def _day(landing: Path, files: dict[str, bytes] | None = None) -> Path:
    folder = landing / D.isoformat()
    folder.mkdir(parents=True)
    for name, data in (files or {"learners.csv": f"learner_id,last_name\nL1,{SECRET}\n".encode(),
                                 "activities.csv": b"activity_id\nA1\n"}).items():
        (folder / name).write_bytes(data)
    return folder


def _manifest(folder: Path, **override: str) -> None:
    files = [{"name": p.name, "sha256": override.get(p.name) or hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(folder.iterdir()) if p.name != "_manifest.json"]
    (folder / "_manifest.json").write_text(json.dumps({"files": files}))


def test_a_missing_folder_is_not_ready_and_named(tmp_path):
    state = readiness(tmp_path, D, PLAIN)
    assert not state.ready
    assert str(tmp_path / "2026-11-16") in state.reason and "does not exist" in state.reason
    assert "\n" not in state.reason


def test_a_near_miss_is_named(tmp_path):
    (tmp_path / "2026-11-16_extract").mkdir()
    (tmp_path / "2026-11-17").mkdir()  # another day's folder is not a near miss
    state = readiness(tmp_path, D, PLAIN)
    assert not state.ready
    assert "2026-11-16_extract" in state.reason and "2026-11-17" not in state.reason


def test_an_existing_folder_is_ready_without_a_marker(tmp_path):
    _day(tmp_path)
    assert readiness(tmp_path, D, PLAIN).ready
    (tmp_path / "2026-11-17").mkdir()  # an empty folder: a day with nothing to send
    assert readiness(tmp_path, date(2026, 11, 17), PLAIN).ready


def test_a_required_success_marker(tmp_path):
    folder = _day(tmp_path)
    state = readiness(tmp_path, D, SUCCESS)
    assert not state.ready and "_SUCCESS" in state.reason and str(folder) in state.reason
    (folder / "_SUCCESS").touch()
    assert readiness(tmp_path, D, SUCCESS).ready


def test_a_required_manifest_that_is_absent(tmp_path):
    _day(tmp_path)
    state = readiness(tmp_path, D, MANIFEST)
    assert not state.ready and "_manifest.json" in state.reason


def test_a_manifest_that_matches(tmp_path):
    folder = _day(tmp_path)
    _manifest(folder)
    state = readiness(tmp_path, D, MANIFEST)
    assert state.ready, state.reason
    # the plain {name: sha256} form is read too
    (folder / "_manifest.json").write_text(json.dumps(
        {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.csv")}))
    assert readiness(tmp_path, D, MANIFEST).ready


def test_a_hash_mismatch_names_the_file_never_its_contents(tmp_path):
    folder = _day(tmp_path)
    _manifest(folder, **{"learners.csv": "0" * 64})  # e.g. still being copied
    state = readiness(tmp_path, D, MANIFEST)
    assert not state.ready
    assert "learners.csv" in state.reason and "SHA-256" in state.reason
    assert SECRET not in state.reason and "0" * 64 not in state.reason


def test_a_manifest_listing_a_missing_file(tmp_path):
    folder = _day(tmp_path)
    _manifest(folder)
    (folder / "activities.csv").unlink()
    state = readiness(tmp_path, D, MANIFEST)
    assert not state.ready and "activities.csv" in state.reason and "missing" in state.reason


def test_an_unreadable_manifest_is_not_ready(tmp_path):
    folder = _day(tmp_path)
    (folder / "_manifest.json").write_text('{"files": [{"name": "learners.csv"')  # cut short
    state = readiness(tmp_path, D, MANIFEST)
    assert not state.ready and "not a readable manifest" in state.reason
    (folder / "_manifest.json").write_text(json.dumps({"files": [{"name": "../x", "sha256": "a" * 64}]}))
    assert "outside" in readiness(tmp_path, D, MANIFEST).reason


def test_the_new_settings_are_validated(tmp_path):
    assert (PLAIN.landing_ready_marker, PLAIN.landing_deadline_hours) == ("none", 12.0)
    for line, named in (('landing_ready_marker = "DONE"', "landing_ready_marker"),
                        ("landing_deadline_hours = -1", "landing_deadline_hours")):
        path = tmp_path / "provider.toml"
        path.write_text(line + "\n")
        with pytest.raises(SettingsError, match=named):
            load_settings(path)


def _ctx(tmp_path: Path, settings: str = "") -> RunContext:
    path = tmp_path / "provider.toml"
    path.write_text(settings)
    return RunContext(D, tmp_path / "landing", tmp_path / "out", path)


def test_the_sensor_waits_until_the_deadline_then_fails_naming_what_is_missing(tmp_path):
    ctx = _ctx(tmp_path, 'timezone = "America/Chicago"\nlanding_deadline_hours = 6\n')
    until = deadline(D, ctx.settings())
    assert until == datetime(2026, 11, 17, 6, tzinfo=ZoneInfo("America/Chicago"))
    assert not poke(ctx, now=until - timedelta(minutes=1)).ready  # keeps waiting
    with pytest.raises(LandingNotReady) as err:
        poke(ctx, now=until)
    assert "2026-11-16" in str(err.value) and "deadline" in str(err.value)
    assert "does not exist" in str(err.value)
    _day(ctx.landing)
    assert poke(ctx, now=until + timedelta(days=3)).ready  # a ready folder is read whenever


def test_a_run_that_does_not_wait_fails_at_once(tmp_path):
    ctx = _ctx(tmp_path)
    with pytest.raises(LandingNotReady, match="does not exist"):
        poke(ctx, wait=False, now=datetime(2020, 1, 1, tzinfo=ZoneInfo("UTC")))


def test_a_scheduled_run_refuses_a_schedule_in_another_time_zone(tmp_path):
    ctx = _ctx(tmp_path, 'timezone = "Europe/Berlin"\n')
    _day(ctx.landing)
    with pytest.raises(LandingNotReady, match="CME_SCHEDULE_TIMEZONE=Europe/Berlin"):
        poke(ctx, schedule_timezone="America/Chicago")
    assert poke(ctx, schedule_timezone="Europe/Berlin").ready


def test_missing_folders_names_the_first_date_not_ready(tmp_path):
    _day(tmp_path)
    days = [D, D + timedelta(days=1)]
    assert missing_folders(tmp_path, days[:1], PLAIN) is None
    assert missing_folders(tmp_path, days, PLAIN).startswith("2026-11-17 is not ready")


def test_cme_run_on_a_missing_folder_exits_with_one_line_before_starting_airflow(tmp_path):
    landing = tmp_path / "landing"
    (landing / "2026-11-16_extract").mkdir(parents=True)
    proc = run_cme("run", "--landing", landing, "--out", tmp_path / "out", "--date", "2026-11-16")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert "\n" not in message, message
    assert "2026-11-16 is not ready" in message and "2026-11-16_extract" in message
    assert not (tmp_path / "out" / "airflow").exists()  # no Airflow started, nothing waited


@pytest.mark.e2e
def test_under_cme_run_the_dags_sensor_looks_once_and_fails_at_once(tmp_path):
    """The DAG run `cme run` makes (dag.test, param wait_for_landing false), past the CLI's
    own check: the sensor does not wait for the missing folder, it fails the run at once
    with the reason, and the run date is the date asked for (not the data interval's)."""
    from cme.airflow_runner import DagRunFailed, airflow_env, ensure_metadata_db, run_days

    env = {k: v for k, v in airflow_env(tmp_path / "out").items() if not k.startswith("CME_")}
    env["CME_RETRY_DELAY_SECONDS"] = "1"  # the summary tasks after it run and retry (all_done)
    ensure_metadata_db(env)
    log = tmp_path / "airflow_runs.log"
    (tmp_path / "landing").mkdir()
    started = time.monotonic()
    with pytest.raises(DagRunFailed, match="2026-11-16"):
        list(run_days([D], tmp_path / "landing", tmp_path / "out", None, env, log))
    assert time.monotonic() - started < 240
    text = log.read_text(errors="replace")
    assert f"2026-11-16 is not ready: landing folder {tmp_path / 'landing' / '2026-11-16'} does not exist" in text
    assert "not ready by its deadline" not in text  # the no-wait message, not the deadline one
    # the failure alerts (file, log line, webhook when set), naming the task and the reason
    alert = json.loads((tmp_path / "out" / "alerts" / "task_failed_2026-11-16_landing_ready.json").read_text())
    assert alert["task_id"] == "landing_ready" and "does not exist" in alert["message"]
    assert "TASK FAILED landing_ready" in text
