"""Shared fixtures: one generated landing directory, its 3 days run in process through the
DAG's steps (`pipeline_run`, what most tests read), and one real `cme run` through Airflow
(`airflow_run`, only for the tests of what Airflow and the runner themselves do)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from cme.synthetic import generate

# dbt parses the project once per test process and every later build reuses it
# (cme.dbt_runner.REUSE_MANIFEST): each test's warehouse is a new file, and dbt's own
# partial parse starts over for a new connection. `run_cme` drops CME_* variables, so
# the real `cme run` parses as in production.
os.environ.setdefault("CME_DBT_REUSE_MANIFEST", "1")
BIN = Path(sys.executable).parent
DAYS = ("2026-11-16", "2026-11-17", "2026-11-18")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TESTS = Path(__file__).resolve().parent


def run_cme(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed `cme` command, as a user would run it, in a clean Airflow environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CME_", "DBT_"))}
    base["CME_RETRY_DELAY_SECONDS"] = "1"  # a failure a test provokes is retried at once
    return subprocess.run([str(BIN / "cme"), *map(str, args)], capture_output=True, text=True,
                          env={**base, **(env or {})})


@dataclass
class PipelineRun:
    landing: Path
    out: Path
    stdout: str

    @property
    def warehouse(self) -> Path:
        return self.out / "warehouse.duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)


@pytest.fixture(scope="session")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, days=3, learners=150, seed=7)
    return out


@pytest.fixture(scope="session")
def pipeline_run(landing, tmp_path_factory) -> PipelineRun:
    """The 3 days in process (tests.scenario.run_days: the DAG's steps in its order, no
    Airflow), read-only for every test: a test that writes copies `out` first
    (`copy_run`). `stdout` is what `cme run` prints for them: each day's run summary."""
    from tests.scenario import run_days

    out = tmp_path_factory.mktemp("out") / "run"
    # dbt's file log at debug, as an operator may set it (the default is info): the most
    # it ever writes, for the check that it holds no learner value (test_daily_pipeline)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_LOG_LEVEL_FILE", "debug")
        stdout = run_days(landing, out, DAYS)
    return PipelineRun(landing, out, stdout)


@dataclass
class HandBuiltRun:
    """The hand-built landing (tests/scenario.py) after D1 and after D2, default settings."""
    landing: Path
    out_d1: Path  # the output folder as D1 left it
    out: Path     # and as D2 left it
    results: dict  # each day's run_day results


@pytest.fixture(scope="session")
def hand_built_run(tmp_path_factory) -> HandBuiltRun:
    """The hand-built scenario's first two days in process, once per session, read-only:
    tests that go on from there (other days, other settings, a full refresh) copy `out`
    first (`copy_run`). Files taking it share a worker (see the scheduler below)."""
    from tests import scenario
    from tests.scenario import run_day

    root = tmp_path_factory.mktemp("hand_built")
    landing = scenario.write_landing(root / "landing")
    out = root / "out"
    results = {scenario.D1: run_day(landing, out, scenario.D1, data_tests=False)}
    shutil.copytree(out, root / "out_d1")
    results[scenario.D2] = run_day(landing, out, scenario.D2)
    return HandBuiltRun(landing, root / "out_d1", out, results)


def copy_run(run: PipelineRun | HandBuiltRun, dest: Path) -> PipelineRun:
    """A private copy of a run's output folder, for a test that runs or writes more on it."""
    shutil.copytree(run.out, dest)
    return PipelineRun(run.landing, dest, getattr(run, "stdout", ""))


@pytest.fixture(scope="session")
def airflow_run(landing, tmp_path_factory) -> PipelineRun:
    """The real thing, once: `cme run` drives the DAG through Airflow (one Airflow process
    for the range) over the first two days. Only for what the in-process run cannot show:
    the runner's output and exit code, Airflow's task logs (XCom values logged), the
    folder's permissions as `cme run` sets them (tests/test_cme_run.py)."""
    out = tmp_path_factory.mktemp("airflow_out") / "run"
    proc = run_cme("run", "--landing", landing, "--out", out, "--from", DAYS[0], "--to", DAYS[1])
    log = out / "logs" / "airflow_runs.log"
    if proc.returncode != 0:
        ARTIFACTS.mkdir(exist_ok=True)
        if log.exists():
            (ARTIFACTS / "airflow_runs.log").write_bytes(log.read_bytes())
        pytest.fail(f"cme run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                    f"log copied to {ARTIFACTS}")
    return PipelineRun(landing, out, proc.stdout)


@pytest.fixture
def db(pipeline_run):
    con = pipeline_run.connect()
    yield con
    con.close()  # DuckDB allows no writer while a reader holds the file


# --- slow tests: `make check` runs `pytest -m "not slow"` ----------------------------
# A test is slow when it runs whole days of the pipeline (marked e2e, or it takes a
# fixture that runs them), or lives in a file that only does slow things; a single slow
# test elsewhere carries @pytest.mark.slow itself (the real Airflow failure paths).
SLOW_FILES = {
    "tests/test_bench.py",           # cme bench at 10,000 completions (about 1.5 minutes)
    "tests/test_cme_run.py",         # the real 2-day `cme run` (airflow_run)
    "tests/test_dbt_unit_tests.py",  # dbt's unit tests, built against an empty warehouse
    "tests/test_gate_reports.py",    # a real GX gate writing its Data Docs site
    "tests/test_scheduler.py",       # the real scheduler, DAG processor and API server
    "tests/test_production_mode.py",  # the real scheduler on PostgreSQL (issue 14)
    "tests/test_pg_warehouse.py",    # days built on DuckDB and on PostgreSQL, compared
    "tests/test_twenty_days.py",     # twenty days with two killed runs
}
# fixtures that run days of the pipeline (besides the module fixtures of e2e files)
SLOW_FIXTURES = {"pipeline_run", "airflow_run", "db", "gated", "written_batch", "hygiene_run",
                 "identity_run", "http_run", "world", "runs", "warehouse", "scenario_run",
                 "hand_built_run"}


def _is_slow(item) -> bool:
    return (item.nodeid.split("::", 1)[0] in SLOW_FILES or item.get_closest_marker("e2e") is not None
            or not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())))


def _files_taking(pattern: str) -> set[str]:
    uses = re.compile(r"def \w+\(([^)]*)\)")
    return {f"tests/{p.name}" for p in TESTS.glob("test_*.py")
            if any(re.search(pattern, params) for params in uses.findall(p.read_text()))}


def _shares_pipeline_run() -> set[str]:
    """Files with a test or fixture that takes `pipeline_run` (or `db`, which reads it)."""
    return _files_taking(r"\b(pipeline_run|db)\b")


def _shares_hand_built_run() -> set[str]:
    return _files_taking(r"\bhand_built_run\b")


# --- two test workers (make test: pytest -n 2) -------------------------------------
# Each test file is one unit of work, so its module fixtures (scenarios run through
# several days) run once; every file using the session's `pipeline_run` (3 days in
# process) is one unit, so that run happens once rather than once per worker. The
# longest units start first. (xdist's own --dist loadgroup marks groups by rewriting
# node ids, which pytest 9 no longer allows, so the grouping is a scheduler here.)
# then the shared run, then file order (the real scheduler's run takes about 2.5 minutes,
# the real 2-day `cme run` about 3, the benchmark about 2)
LONGEST_FIRST = ("tests/test_production_mode.py", "tests/test_twenty_days.py", "tests/test_cme_run.py",
                 "tests/test_scheduler.py", "tests/test_bench.py")


def _unit(path: str, shared: set[str], hand_built: set[str] = frozenset()) -> str:
    if path in shared:
        return "pipeline_run"
    return "hand_built_run" if path in hand_built else path


def pytest_collection_modifyitems(config, items):
    shared = _shares_pipeline_run()
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)

    def rank(item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        if path in LONGEST_FIRST:  # in the listed order: the longest first
            return 0, LONGEST_FIRST.index(path)
        return (1, 0) if path in shared else (2, 0)
    items.sort(key=rank)  # stable: file order is kept within each rank


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    shared, hand_built = _shares_pipeline_run(), _shares_hand_built_run()
    config.option.loadscopereorder = False  # keep the collection's order: longest first

    class FilesAndSharedRun(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::", 1)[0], shared, hand_built)

    return FilesAndSharedRun(config, log)
