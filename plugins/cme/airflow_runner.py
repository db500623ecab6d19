"""Run the real DAG for given dates through Airflow itself (`dag.test()`, as
`airflow dags test` does; one Airflow process for a whole range, see cme.airflow_days).

Each date is one DAG run on an SQLite metadata database under OUT/airflow
(or $AIRFLOW_HOME when set), so any landing directory can be processed with
the same DAG the scheduler runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
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


def run_days(days: list[date], landing: Path, out: Path, settings: Path | None, env: dict[str, str],
             log_file: Path, full_refresh: bool = False, recompute: bool = False) -> Iterator[date]:
    """Run the DAG for each date in order in one Airflow process; yield each date once its
    run succeeded. Raise DagRunFailed naming the first date whose run failed (its log and
    the dates after it are in `log_file`). Airflow's output goes to `log_file` only."""
    from cme.airflow_days import RESULT_MARK

    conf = {"landing": str(Path(landing).resolve()), "out": str(Path(out).resolve()),
            "settings": str(Path(settings).resolve()) if settings else None,
            "full_refresh": full_refresh, "recompute": recompute,
            "wait_for_landing": False}  # the DAG's sensor looks once: cme run never waits
    cmd = [sys.executable, "-m", "cme.airflow_days", json.dumps(conf), *(d.isoformat() for d in days)]
    done: set[str] = set()
    with open(log_file, "ab") as log:
        os.chmod(log_file, 0o600)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            text = line.decode(errors="replace")
            if text.startswith(RESULT_MARK):
                result = json.loads(text[len(RESULT_MARK):])
                log.flush()
                if result["state"] != "success":
                    proc.wait()
                    raise DagRunFailed(f"DAG run for {result['date']} failed; see {log_file}")
                done.add(result["date"])
                yield date.fromisoformat(result["date"])
        proc.wait()
    missing = [d for d in days if d.isoformat() not in done]
    if proc.returncode != 0 or missing:
        first = missing[0] if missing else days[-1]
        raise DagRunFailed(f"DAG run for {first} failed; see {log_file}")
