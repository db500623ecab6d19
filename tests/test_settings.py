from pathlib import Path

import pytest

from cme.pipeline import RunContext, check_settings
from cme.settings import DEFAULT_SETTINGS_PATH, SettingsError, load_settings
from tests.conftest import run_cme


def test_shipped_settings_carry_the_rules_defaults():
    s = load_settings(DEFAULT_SETTINGS_PATH)
    assert s.accreditor == "ACCME"
    assert s.timezone == "America/Chicago"
    assert s.cebroker_states == ("FL",)
    assert (s.pars_moc_window_days, s.cebroker_window_days, s.cpe_monitor_window_days) == (30, 30, 60)
    assert s.pars_learner_year_close == "03-31"
    assert s.disclosure_freshness_months == 12
    assert set(s.transport.values()) == {"file"}


@pytest.mark.parametrize("line, named", [
    ('timezone = "Mars/Olympus"', "timezone"),
    ('accreditor = "AMA"', "accreditor"),
    ('cpe_monitor_window_days = 0', "cpe_monitor_window_days"),
    ('cebroker_states = ["Florida"]', "cebroker_states"),
    ('pars_learner_year_close = "13-40"', "pars_learner_year_close"),
    ('upload_key = "secret"', "upload_key"),  # unknown keys are refused, credentials included
    ('smtp_sender = "not an address"', "smtp_sender"),
    ('portal_public_url = "portal.example.org"', "portal_public_url"),  # mailed links need a scheme
    ('portal_link_minutes = 0', "portal_link_minutes"),
])
def test_an_invalid_setting_is_named(tmp_path: Path, line, named):
    path = tmp_path / "provider.toml"
    path.write_text(line + "\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert named in str(err.value)


def test_the_dags_first_task_stops_on_a_bad_setting(tmp_path: Path):
    path = tmp_path / "provider.toml"
    path.write_text('timezone = "Nowhere/Special"\n')
    ctx = RunContext.from_conf("2026-11-16", {"landing": str(tmp_path), "out": str(tmp_path / "o"),
                                              "settings": str(path)})
    with pytest.raises(SettingsError, match="timezone"):
        check_settings(ctx)
    assert not (tmp_path / "o").exists()  # nothing written before the settings are valid


def test_cme_run_refuses_a_bad_settings_file_before_starting_airflow(tmp_path: Path):
    path = tmp_path / "provider.toml"
    path.write_text('transport = {PARS = "ftp"}\n')
    (tmp_path / "landing").mkdir()
    proc = run_cme("run", "--landing", tmp_path / "landing", "--out", tmp_path / "out",
                   "--date", "2026-11-16", "--settings", path)
    assert proc.returncode == 2
    assert "transport" in proc.stderr
    assert not (tmp_path / "out" / "airflow").exists()
