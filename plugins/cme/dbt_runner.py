"""Run one `dbt build` for a day and say which model or test failed.

One dbt process at a time owns the DuckDB file (it allows one writer), so the
whole project builds in a single invocation with threads inside it.
"""
from __future__ import annotations

import json
import re
import logging
import os
import subprocess
from pathlib import Path

from cme import PROJECT_DIR, executable
from cme.settings import ProviderSettings
from cme.warehouse import connect, is_postgres, make_private, pg_params, private_dir, warehouse_url

log = logging.getLogger(__name__)
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def as_of_date(warehouse: Path, run_date: str) -> str:
    """The date the rules' clock reads (late, window closed, disclosure findings): the
    run date, or the latest extract date already loaded if that is later, so that a
    backfill of an old date never turns today's findings back into upcoming ones."""
    import duckdb
    import psycopg2.errors

    try:
        with connect(Path(warehouse), read_only=True) as con:
            latest = con.execute("select max(_extract_date) from raw.loaded_files").fetchone()[0]
    except (duckdb.IOException, duckdb.CatalogException, psycopg2.errors.UndefinedTable):
        latest = None  # nothing loaded yet
    return max(run_date, latest.isoformat()) if latest else run_date


def write_run_clock(warehouse: Path, run_date: str, as_of: str) -> None:
    """The dates the models read at run time (macros run_date() and as_of_date()).
    Dropped again after the build (drop_run_clock): it is no history."""
    with connect(Path(warehouse)) as con:
        con.execute("create schema if not exists meta")
        con.execute("begin transaction")
        if is_postgres(con):
            # PostgreSQL's views depend on the table itself (DuckDB's bind by name at query
            # time): keep the table, replace its one row
            con.execute("create table if not exists meta.run_clock (run_date date, as_of_date date)")
            con.execute("delete from meta.run_clock")
            con.execute("insert into meta.run_clock values (cast(? as date), cast(? as date))",
                        [run_date, as_of])
        else:
            # drop and create in one transaction (`create or replace` is DuckDB's only)
            con.execute("drop table if exists meta.run_clock")
            con.execute("create table meta.run_clock as "
                        "select cast(? as date) as run_date, cast(? as date) as as_of_date",
                        [run_date, as_of])
        con.execute("commit")


def drop_run_clock(warehouse: Path) -> None:
    with connect(Path(warehouse)) as con:
        if is_postgres(con):  # emptied, not dropped: views depend on it (write_run_clock)
            con.execute("delete from meta.run_clock")
            return
        con.execute("drop table if exists meta.run_clock")


def dbt_env(warehouse: Path) -> dict[str, str]:
    """What profiles.yml reads for this warehouse: CME_WAREHOUSE (the DuckDB file), and
    with CME_WAREHOUSE_URL the PostgreSQL target's CME_PG_* (the password only from
    PGPASSWORD, when set: libpq's ~/.pgpass serves otherwise)."""
    env = {"CME_WAREHOUSE": str(warehouse)}
    url = warehouse_url()
    if url:
        env.update({f"CME_PG_{k.upper()}": v for k, v in pg_params(url).items()})
        if os.environ.get("PGPASSWORD"):
            env["CME_PG_PASSWORD"] = os.environ["PGPASSWORD"]
    return env


def target_args() -> list[str]:
    return ["--target", "postgres"] if warehouse_url() else []


# Opt-in (the test suite sets it): keep the project's parsed manifest in the process and
# hand it to every later `dbt build` with the same parse inputs, instead of parsing again.
# dbt's own partial parse cannot help there: it reparses everything when the profile's
# connection changes, and each test's warehouse is a different file. A daily run parses
# once per task process either way, so production leaves this off.
REUSE_MANIFEST = "CME_DBT_REUSE_MANIFEST"
_MANIFESTS: dict[tuple, object] = {}
# options (with their value) and flags that do not change the parse
_PER_CALL = {"--target-path", "--log-path", "--select", "--exclude-resource-type"}
_PER_CALL_FLAGS = {"--full-refresh", "--no-write-json"}


def _project_state() -> tuple:
    """Every project file's path, size and mtime: an edited model is parsed again."""
    return tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in DBT_PROJECT_DIR.rglob("*")
                        if p.is_file() and not {"target", "logs"} & set(p.relative_to(DBT_PROJECT_DIR).parts)))


def _parsed_manifest(args: list[str], warehouse: Path):
    """The manifest `args` would parse (the project, --vars, --target, the profile's
    database name), parsed once per process with `dbt parse`."""
    from dbt.cli.main import dbtRunner

    parse_args, skip = [], False
    for arg in args[1:]:  # args[0] is the command
        if skip:
            skip = False
        elif arg in _PER_CALL:
            skip = True
        elif arg not in _PER_CALL_FLAGS:
            parse_args.append(arg)
    connection = {k: v for k, v in dbt_env(warehouse).items() if k not in ("CME_WAREHOUSE", "CME_PG_PASSWORD")}
    key = (tuple(parse_args), Path(warehouse).stem, tuple(sorted(connection.items())), _project_state())
    if key not in _MANIFESTS:
        paths = []
        for option in ("--target-path", "--log-path"):
            if option in args:
                paths += [option, args[args.index(option) + 1]]
        result = dbtRunner().invoke(["parse", *parse_args, *paths])
        if not result.success:
            return None  # the build parses itself and reports the error
        if len(_MANIFESTS) >= 4:  # a few settings at a time; the oldest goes
            _MANIFESTS.pop(next(iter(_MANIFESTS)))
        _MANIFESTS[key] = result.result
    # A build compiles into the manifest it is given (an ephemeral model's CTE is marked
    # injected there), so each build gets its own copy: a second build on the kept one
    # referred to the ephemeral fct_compliance_exceptions_current without defining it.
    return _MANIFESTS[key].deepcopy()


def file_log_level() -> str:
    """The level of dbt's file log (`OUT/dbt/logs/dbt.log`): `info` (each node started,
    finished or failed, with its error and the path of its compiled SQL), unless the
    operator sets dbt's own DBT_LOG_LEVEL_FILE, e.g. to `debug` for every statement
    dbt sends. At debug the log costs about an eighth of a build's CPU: dbt formats,
    writes and flushes several lines per node (docs/decisions.md, "How dbt runs").
    DBT_LOG_LEVEL, dbt's level for both logs, applies when DBT_LOG_LEVEL_FILE is unset,
    as in dbt."""
    return os.environ.get("DBT_LOG_LEVEL_FILE") or os.environ.get("DBT_LOG_LEVEL") or "info"


def _invoke(args: list[str], warehouse: Path, results_path: Path | None = None) -> tuple[bool, str]:
    """One dbt command inside this process (dbt's programmatic API), not a new process:
    a daily run makes one or two builds, and a new process pays dbt's imports and
    start-up (about 3 s here) each time. The warehouse path reaches profiles.yml through
    CME_WAREHOUSE, set for the call only. With `results_path`, the command's run results
    are written there (for a command run with --no-write-json). Returns success and
    dbt's console lines."""
    import contextlib
    import io

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    env = {**dbt_env(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_LOG_LEVEL_FILE": file_log_level()}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    lines: list[str] = []
    try:
        with contextlib.chdir(DBT_PROJECT_DIR), contextlib.redirect_stdout(io.StringIO()) as out:
            # builds only: `dbt parse` must write its manifest.json, which a given manifest skips
            reuse = args[0] == "build" and os.environ.get(REUSE_MANIFEST) == "1"
            manifest = _parsed_manifest(args, warehouse) if reuse else None
            result = dbtRunner(manifest=manifest).invoke(args)
        lines.append(out.getvalue())
        if results_path is not None:
            results_path.unlink(missing_ok=True)
            if hasattr(result.result, "write"):
                result.result.write(str(results_path))
    finally:
        # dbt-duckdb keeps its DuckDB handle in a class attribute; drop it so the file is
        # closed (DuckDB allows one writer) before the next step opens it
        DuckDBConnectionManager.close_all_connections()
        import gc

        gc.collect()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if "--log-path" in args:  # dbt creates its log with the umask's mode; ours are owner-only
            try:
                logs = private_dir(Path(args[args.index("--log-path") + 1]))
                for path in logs.iterdir():
                    if path.is_file():
                        make_private(path)
            except OSError as exc:  # never hides dbt's own outcome
                log.warning("could not make dbt's log files owner-only: %s", exc)
    if result.exception is not None:
        lines.append(f"{type(result.exception).__name__}: {result.exception}")
    return result.success, "".join(lines)


class DbtBuildError(RuntimeError):
    """dbt build failed; the message names every failed model, test or seed."""


def dbt_build(warehouse: Path, run_date: str, settings: ProviderSettings, work_dir: Path,
              full_refresh: bool = False, select: str | None = None, label: str = "build",
              recompute_all: bool = False, data_tests: bool = True) -> dict:
    """Build the project against `warehouse` for `run_date`. Returns counts by status.

    Each invocation's results are written to `run_results_<label>.json` (dbt's
    manifest.json and run_results.json are not written: serialising the manifest
    cost about a second of every build, and nothing reads it).

    `full_refresh` rebuilds every model except the history-bearing ones
    (`full_refresh: false`); `recompute_all` makes those re-decide every completion.
    `data_tests=False` builds the models without their data tests: for test fixtures
    only (tests/scenario.py), whose last day runs them; a daily run always tests.
    """
    work_dir = private_dir(Path(work_dir))
    write_run_clock(warehouse, run_date, as_of_date(warehouse, run_date))
    # only settings go in --vars (and recompute_all when asked): they rarely change, so
    # dbt keeps its partial parse across daily runs
    dbt_vars = {**settings.dbt_vars(), **({"recompute_all": True} if recompute_all else {})}
    cmd = [executable("dbt"), "build", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(work_dir / "target"),
           "--log-path", str(work_dir / "logs"), "--vars", json.dumps(dbt_vars)]
    # dbt unit tests check the models' logic, not the day's data: they run in the test
    # suite (tests/test_dbt_unit_tests.py) and `cme dbt-unit-tests`, not in every daily build
    cmd += ["--exclude-resource-type", "unit_test", *target_args(), "--no-write-json"]
    if not data_tests:
        cmd += ["--exclude-resource-type", "test"]
    if full_refresh:
        cmd.append("--full-refresh")
    if select:
        cmd += ["--select", select]
    results_path = work_dir / f"run_results_{label}.json"
    try:
        ok, output = _invoke(cmd[1:], warehouse, results_path=results_path)
    finally:
        drop_run_clock(warehouse)
    # dbt's console output names models and tests and counts, never row values.
    log.info("dbt build output:\n%s", output[-20000:])
    results = json.loads(results_path.read_text()) if results_path.exists() else {"results": []}
    counts: dict[str, int] = {}
    failures = []
    for r in results["results"]:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        if r["status"] in ("error", "fail"):
            node = r["unique_id"].split(".")
            kind, name = node[0], node[-1]
            message = _ANSI.sub("", r.get("message") or "").strip().splitlines()
            failures.append(f"{kind} {name}: {message[0] if message else r['status']}")
    if not ok:
        detail = "; ".join(failures) or output[-2000:]
        raise DbtBuildError(f"dbt build failed for {run_date}: {detail}")
    return counts


def dbt_freshness(warehouse: Path, work_dir: Path) -> list[dict]:
    """`dbt source freshness` of the landing sources (thresholds in _landing__sources.yml)
    against this warehouse, DuckDB or PostgreSQL. One dict per source checked: source,
    status (pass, warn, error), max_loaded_at, hours_ago, warn_after_hours,
    error_after_hours. Raises DbtBuildError when dbt could not check at all."""
    work_dir = private_dir(Path(work_dir))
    target = work_dir / "target"
    results_path = target / "sources.json"
    results_path.unlink(missing_ok=True)
    _ok, output = _invoke(["source", "freshness", "--select", "source:landing", "--project-dir",
                           str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                           "--target-path", str(target), "--log-path", str(work_dir / "logs"),
                           "--output", str(results_path), *target_args()], warehouse)
    log.info("dbt source freshness output:\n%s", output[-20000:])
    results = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    if not results or any(r["status"] == "runtime error" for r in results):
        tail = _ANSI.sub("", output).strip().splitlines()[-5:]
        raise DbtBuildError("dbt source freshness failed: " + " / ".join(tail))

    def hours(rule: dict | None) -> float | None:
        if not rule or rule.get("count") is None:
            return None
        return rule["count"] * {"minute": 1 / 60, "hour": 1, "day": 24}[rule["period"]]

    return [{"source": r["unique_id"].split(".", 2)[2], "status": r["status"],
             "max_loaded_at": r["max_loaded_at"],
             "hours_ago": round(r["max_loaded_at_time_ago_in_s"] / 3600, 1),
             "warn_after_hours": hours(r["criteria"].get("warn_after")),
             "error_after_hours": hours(r["criteria"].get("error_after"))} for r in results]


DOCS_FILES = ("index.html", "manifest.json", "catalog.json")


def dbt_docs(warehouse: Path, dest: Path) -> Path:
    """`dbt docs generate` against this warehouse (the DuckDB file, or PostgreSQL with
    CME_WAREHOUSE_URL), written to `dest` (owner only: the catalog has table sizes and the
    SQL). `--no-compile`: the catalog comes from the built relations, so the models are not
    compiled again (they read the run clock, which exists only during a build). Raises
    DbtBuildError naming dbt's error when it fails."""
    dest = private_dir(Path(dest))
    common = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
              "--target-path", str(dest / "target"), "--log-path", str(dest / "logs"), *target_args()]
    # `docs generate --no-compile` writes no manifest.json: `dbt parse` writes it first
    ok, output = _invoke(["parse", *common], warehouse)
    if ok:
        ok, more = _invoke(["docs", "generate", "--no-compile", *common], warehouse)
        output += more
    log.info("dbt docs generate output:\n%s", output[-20000:])
    target = dest / "target"
    if not ok or not all((target / name).exists() for name in DOCS_FILES):
        tail = _ANSI.sub("", output).strip().splitlines()[-5:]
        raise DbtBuildError("dbt docs generate failed: " + " / ".join(tail))
    for name in DOCS_FILES:  # the site is these three files; the rest of target/ stays put
        (dest / name).write_bytes((target / name).read_bytes())
        os.chmod(dest / name, 0o600)
    return dest


def dbt_unit_tests(work_dir: Path) -> subprocess.CompletedProcess:
    """Run every dbt unit test against an empty warehouse built from the project's
    schema (`dbt build --empty`: every relation, no rows), as CI does for a change."""
    work_dir = private_dir(Path(work_dir))
    warehouse = work_dir / "unit_tests.duckdb"
    base = [executable("dbt"), "--no-partial-parse", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR)]
    paths = ["--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    env = {**os.environ, "CME_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    from cme.documents import hash_documents
    from cme.ingest import ensure_schema
    from cme.ledger import ensure_ledger

    with connect(warehouse) as con:  # the sources, empty, as a first ingest leaves them
        ensure_schema(con)
        ensure_ledger(con)
    hash_documents(warehouse, work_dir / "no-documents")
    write_run_clock(warehouse, "2099-12-31", "2099-12-31")
    for step in (["build", "--empty", "--exclude-resource-type", "unit_test"],
                 ["test", "--select", "test_type:unit"]):
        proc = subprocess.run([*base[:1], step[0], *base[1:], *paths, *step[1:]], env=env,
                              capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
        if proc.returncode != 0:
            return proc
    return proc
