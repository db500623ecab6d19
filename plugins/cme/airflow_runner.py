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


class MetadataDbFailed(RuntimeError):
    pass


def _migrated_stamp(env: dict[str, str]) -> tuple[Path, Path, str] | None:
    """(stamp file, SQLite database, note): the note says which Airflow version migrated
    that database. None for another kind of database (it may be dropped behind our back)."""
    from importlib.metadata import version

    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not conn.startswith("sqlite:///"):
        return None
    database = Path(conn[len("sqlite:///"):])
    note = json.dumps({"airflow": version("apache-airflow-core"), "database": str(database)})
    return Path(env["AIRFLOW_HOME"]) / ".cme-db-migrated", database, note


def ensure_metadata_db(env: dict[str, str], log_file: Path | None = None) -> None:
    """`airflow db migrate`, unless this SQLite database exists and was migrated by this
    Airflow version (a migrate costs a process and about 4 s on every `cme run`); on
    failure raise MetadataDbFailed (its output goes to `log_file`)."""
    stamp = _migrated_stamp(env)
    if stamp and stamp[1].exists() and stamp[0].exists() and stamp[0].read_text() == stamp[2]:
        return
    proc = subprocess.run([executable("airflow"), "db", "migrate"], env=env, capture_output=True)
    if proc.returncode != 0:
        where = "its output is in the terminal above"
        if log_file is not None:
            with open(log_file, "ab") as log:
                log.write(b"airflow db migrate failed:\n" + proc.stdout + proc.stderr)
            os.chmod(log_file, 0o600)
            where = f"see {log_file}"
        raise MetadataDbFailed(f"preparing Airflow's metadata database failed "
                               f"(exit {proc.returncode}); {where}")
    if stamp:
        stamp[0].write_text(stamp[2])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when `cme run` dies, even by SIGKILL (Linux)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_child(proc: subprocess.Popen, grace_seconds: float = 20) -> None:
    """Terminate a running child (SIGTERM, then SIGKILL after `grace_seconds`) and reap it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_days(days: list[date], landing: Path, out: Path, settings: Path | None, env: dict[str, str],
             log_file: Path, full_refresh: bool = False, recompute: bool = False,
             keep_fds: tuple[int, ...] = ()) -> Iterator[date]:
    """Run the DAG for each date in order in one Airflow process; yield each date once its
    run succeeded. Raise DagRunFailed naming the first date whose run failed (its log and
    the dates after it are in `log_file`). Airflow's output goes to `log_file` only.

    The child never outlives this generator: when it is closed or an exception (a signal
    turned into one by `cme run`) leaves it, the child is terminated; when this process is
    killed outright, the kernel sends the child SIGTERM. `keep_fds` (the output folder's
    lock) are inherited by the child, so the folder stays locked while it runs."""
    from cme.airflow_days import RESULT_MARK

    conf = {"landing": str(Path(landing).resolve()), "out": str(Path(out).resolve()),
            "settings": str(Path(settings).resolve()) if settings else None,
            "full_refresh": full_refresh, "recompute": recompute,
            "wait_for_landing": False}  # the DAG's sensor looks once: cme run never waits
    cmd = [sys.executable, "-m", "cme.airflow_days", json.dumps(conf), *(d.isoformat() for d in days)]
    done: set[str] = set()
    with open(log_file, "ab") as log:
        os.chmod(log_file, 0o600)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=keep_fds, preexec_fn=_die_with_parent)
        assert proc.stdout is not None
        try:
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
        finally:
            stop_child(proc)
    missing = [d for d in days if d.isoformat() not in done]
    if proc.returncode != 0 or missing:
        first = missing[0] if missing else days[-1]
        raise DagRunFailed(f"DAG run for {first} failed; see {log_file}")
