"""Airflow 3's services as real processes for the end-to-end tests: API server, DAG
processor and scheduler (LocalExecutor), each in its own session with its log under
AIRFLOW_HOME, stopped together. Used by test_scheduler.py (SQLite) and
test_production_mode.py (PostgreSQL 15)."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cme.airflow_runner import airflow_env

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "cme_daily_reporting"
TZ = "America/Chicago"  # the DAG's default schedule zone and the settings' default


def service_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """What `cme run` uses (home tmp_path/airflow, from cme.airflow_runner), plus what every
    Airflow 3 service needs to run tasks (one JWT secret, the execution API's URL) and the
    DAG's paths under tmp_path (scheduled runs have no conf). Call with AIRFLOW*/CME_*
    variables already removed from os.environ."""
    env = airflow_env(tmp_path)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # the DAG: its schedule zone, a short wait between looks, a short retry delay, paths
        "CME_SCHEDULE_TIMEZONE": TZ,
        "CME_LANDING_POKE_SECONDS": "2",
        "CME_RETRY_DELAY_SECONDS": "1",
        "CME_LANDING_DIR": str(tmp_path / "landing"),
        "CME_OUTPUT_DIR": str(tmp_path / "out"),
    })
    env.update(extra)
    return env


class AirflowProcesses:
    """Airflow commands as subprocesses, each logging to HOME/<name>.log."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env, self.procs = home, env, {}

    def migrate(self) -> None:
        proc = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=self.env, capture_output=True)
        if proc.returncode != 0:
            pytest.fail(f"airflow db migrate failed ({proc.returncode}):\n"
                        + (proc.stdout + proc.stderr).decode(errors="replace")[-4000:])

    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen([str(BIN / "airflow"), *args], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def start_services(self, port: int, apps: str) -> None:
        """The API server (`apps`: "execution", or "core,execution" for the REST API too) on
        127.0.0.1:`port`, the DAG processor and the scheduler."""
        self.start("api-server", "api-server", "--apps", apps, "--port", str(port),
                   "--host", "127.0.0.1", "--workers", "1")
        self.start("dag-processor", "dag-processor")
        self.start("scheduler", "scheduler")

    def stop(self) -> None:
        for proc in self.procs.values():  # each in its own session: its workers go too
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def report(self) -> str:
        """What a failure shows: each process's state and log tail, and every task log."""
        parts = []
        for name, proc in self.procs.items():
            text = (self.home / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name} (exit {proc.poll()}) last lines:\n" + "\n".join(text.splitlines()[-40:]))
        for log in sorted((self.home / "logs").glob(f"dag_id={DAG_ID}/**/*.log")):
            text = log.read_text(errors="replace")
            parts.append(f"--- {log.relative_to(self.home)}:\n" + "\n".join(text.splitlines()[-30:]))
        return "\n".join(parts)

    def poll(self, step: str, check, timeout: float, every: float = 1.0):
        """Call `check()` until it returns something true; fail naming the step, with logs."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            result = check()
            if result:
                return result
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            if dead:
                pytest.fail(f"{step}: Airflow process(es) exited {dead}\n{self.report()}")
            time.sleep(every)
        pytest.fail(f"{step}: not within {timeout:.0f} s\n{self.report()}")
