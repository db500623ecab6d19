"""Run the real DAG for given dates through Airflow itself (`airflow dags test`).

Each date is one DAG run on an SQLite metadata database under OUT/airflow
(or $AIRFLOW_HOME when set), so any landing directory can be processed with
the same DAG the scheduler runs.
"""
from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from pathlib import Path

from cme import PROJECT_DIR, executable
from cme.warehouse import private_dir

DAG_ID = "cme_daily_reporting"


class DagRunFailed(RuntimeError):
    pass


def airflow_env(out: Path) -> dict[str, str]:
    home = Path(os.environ.get("AIRFLOW_HOME") or private_dir(Path(out) / "airflow"))
    env = {**os.environ}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
    })
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    return env


def ensure_metadata_db(env: dict[str, str]) -> None:
    subprocess.run([executable("airflow"), "db", "migrate"], env=env, check=True, capture_output=True)


def run_day(day: date, landing: Path, out: Path, settings: Path | None, env: dict[str, str],
            log_file: Path, full_refresh: bool = False, recompute: bool = False) -> None:
    conf = {"landing": str(Path(landing).resolve()), "out": str(Path(out).resolve()),
            "settings": str(Path(settings).resolve()) if settings else None,
            "run_date": day.isoformat(), "full_refresh": full_refresh,
            "recompute": recompute}
    cmd = [executable("airflow"), "dags", "test", DAG_ID, day.isoformat(), "-c", json.dumps(conf)]
    with open(log_file, "ab") as log:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    os.chmod(log_file, 0o600)
    # `dags test` exits 0 even when a task failed; the run state line is what counts.
    tail = log_file.read_bytes()[-4000:].decode(errors="replace")
    if proc.returncode != 0 or "DagRun failed" in tail or "state=failed" in tail:
        raise DagRunFailed(f"DAG run for {day} failed; see {log_file}")
