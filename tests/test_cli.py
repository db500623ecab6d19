import os

import pytest

from tests.conftest import run_cme


def test_help_explains_each_command():
    top = run_cme("--help")
    assert top.returncode == 0
    for command in ("generate", "run", "summary"):
        assert command in top.stdout
    run_help = run_cme("run", "--help").stdout
    for option in ("--landing", "--out", "--date", "--from", "--to", "--settings"):
        assert option in run_help
    gen_help = run_cme("generate", "--help").stdout
    for option in ("--out", "--days", "--learners", "--seed"):
        assert option in gen_help


def test_run_needs_a_date_or_a_range(tmp_path):
    (tmp_path / "landing").mkdir()
    proc = run_cme("run", "--landing", tmp_path / "landing", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "--date" in proc.stderr
    proc = run_cme("run", "--landing", tmp_path / "landing", "--out", tmp_path / "out",
                   "--from", "2026-11-18", "--to", "2026-11-16")
    assert proc.returncode == 2 and "before" in proc.stderr


# --- arguments that are not what they say: one usage line, exit 2, no traceback ------
# In process (typer's CliRunner): no Airflow, no subprocess, milliseconds each.
BAD_ARGUMENTS = [
    (["run", "--landing", "{landing}", "--out", "{file}", "--date", "2026-11-16"], "is a file"),
    (["run", "--landing", "{landing}", "--out", "{tmp}/out", "--date", "16/11/2026"], "YYYY-MM-DD"),
    (["run", "--landing", "{landing}", "--out", "{tmp}/out", "--from", "2026-11-16",
      "--to", "18/11/2026"], "YYYY-MM-DD"),
    (["transcript", "--all", "--out", "{tmp}", "--from", "11/01/2026"], "YYYY-MM-DD"),
    (["transcript", "--all", "--out", "{tmp}/missing"], "does not exist"),
    (["transcript", "--all", "--out", "{file}"], "is a file"),
    (["transcript", "--all", "--out", "{tmp}", "--from", "2026-11-20", "--to", "2026-11-01"], "before"),
    (["transcript", "--all", "--out", "{tmp}"], "no warehouse.duckdb"),
    (["docs", "--out", "{tmp}"], "no warehouse.duckdb"),  # not an empty one made up
    (["docs", "--out", "{tmp}/missing", "--serve"], "does not exist"),
    (["freshness", "--out", "{tmp}"], "no warehouse.duckdb"),
    (["generate", "--out", "{file}"], "is a file"),
    (["generate", "--out", "{file}/days"], "cannot be created"),
    (["generate", "--out", "{tmp}/gen", "--start", "2026-13-01"], "YYYY-MM-DD"),
    (["dashboard", "--out", "{tmp}/missing"], "does not exist"),
    (["portal", "--out", "{tmp}/missing"], "does not exist"),
    (["summary", "--out", "{tmp}", "--date", "16/11/2026"], "YYYY-MM-DD"),
    (["batches", "discard", "X-1", "--out", "{tmp}/missing"], "does not exist"),
    (["receipts", "import", "{file}", "--body", "CE_BROKER", "--out", "{file}"], "is a file"),
]


@pytest.mark.parametrize("args, says", BAD_ARGUMENTS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_bad_date_or_folder_is_one_clear_line_and_exit_2(tmp_path, args, says):
    from typer.testing import CliRunner

    from cme.cli import app

    (tmp_path / "landing").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    filled = [a.format(tmp=tmp_path, landing=tmp_path / "landing", file=tmp_path / "a-file")
              for a in args]
    result = CliRunner().invoke(app, filled, env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 2, (result.output, result.exception)
    assert says in result.stderr
    assert "Traceback" not in result.output and not isinstance(result.exception, (ValueError, OSError))
    error_lines = [line for line in result.stderr.splitlines() if says in line]
    assert len(error_lines) == 1  # the reason on one line, not spread over a traceback
    assert not (tmp_path / "out").exists() and not (tmp_path / "gen").exists()  # nothing written


@pytest.mark.slow  # three real `airflow db migrate` calls
def test_cme_run_migrates_its_metadata_database_once_and_again_when_it_is_gone(tmp_path, monkeypatch):
    """`airflow db migrate` costs seconds on every `cme run`: it runs when the SQLite database
    is new (or gone, or from another Airflow version), not on every call."""
    from cme.airflow_runner import airflow_env, ensure_metadata_db

    for key in [k for k in os.environ if k.startswith(("AIRFLOW", "CME_"))]:
        monkeypatch.delenv(key)
    env = airflow_env(tmp_path)
    database = tmp_path / "airflow" / "airflow.db"
    ensure_metadata_db(env)
    assert database.stat().st_size > 0
    database.write_bytes(b"")  # a migrate now would fill it again: the stamp says it is done
    ensure_metadata_db(env)
    assert database.stat().st_size == 0
    database.unlink()  # gone: migrated again
    ensure_metadata_db(env)
    assert database.stat().st_size > 0
