"""The `cme` command: generate sample extracts and run the daily DAG on any landing directory."""
from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from cme.dashboard import DEFAULT_PORT

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="CME credit reporting: landing extracts -> warehouse -> body submissions.")
console = Console(stderr=True)


# Exit codes (README, "Exit codes"): 0 done; 1 a run or command failed while working;
# 2 refused before starting (a bad argument, setting or path); 3 the output folder is in
# use by another cme command; 130 / 143 stopped by SIGINT / SIGTERM.
EXIT_BUSY = 3


def _day(value: str, option: str) -> date:
    """An argument date (YYYY-MM-DD), or a one-line usage error (exit 2) naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date",
                                 param_hint=f"'{option}'") from None


def _range(start: str, end: str, start_option: str = "--from", end_option: str = "--to") -> tuple[date, date]:
    first, last = _day(start, start_option), _day(end, end_option)
    if last < first:
        raise typer.BadParameter(f"{end_option} {last} is before {start_option} {first}",
                                 param_hint=f"'{end_option}'")
    return first, last


def _require_warehouse(out: Path) -> None:
    """A reading command's --out must hold the DuckDB warehouse, unless the warehouse is
    PostgreSQL (CME_WAREHOUSE_URL)."""
    from cme.warehouse import warehouse_url

    if not warehouse_url() and not (_folder(out, must_exist=True) / "warehouse.duckdb").exists():
        raise typer.BadParameter(f"{out} holds no warehouse.duckdb: give the --out of `cme run`",
                                 param_hint="'--out'")


def _lock_reader(ctx: typer.Context, out: Path, command: str) -> None:
    """A reader of the DuckDB warehouse shares OUT's lock, so it waits for no run and no run
    writes under it; on PostgreSQL reading never waits for, nor blocks, a run's writes."""
    from cme.warehouse import warehouse_url

    if not warehouse_url():
        _lock(ctx, out, command, shared=True)


def _folder(path: Path, option: str = "--out", must_exist: bool = False) -> Path:
    """A folder argument: refused (usage error, exit 2) when it is a file, when a parent on
    its way is a file, or (must_exist) when it does not exist."""
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file, not a folder", param_hint=f"'{option}'")
    if must_exist and not path.exists():
        raise typer.BadParameter(f"folder {path} does not exist", param_hint=f"'{option}'")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise typer.BadParameter(f"{path} cannot be created: {parent} is a file",
                                 param_hint=f"'{option}'")
    return path


def _lock(ctx: typer.Context, out: Path, command: str, shared: bool = False) -> int:
    """Take the output folder's lock (cme.runlock) until the command ends, or say who holds
    it and exit 3. (Released when the command returns, so commands invoked one after the
    other in one process, as the tests do, do not lock each other out.)"""
    import os

    from cme.runlock import FolderBusy, acquire

    try:
        fd = acquire(out, command, shared=shared)
    except FolderBusy as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(EXIT_BUSY)
    ctx.call_on_close(lambda: os.close(fd))
    return fd


class Interrupted(Exception):
    """SIGTERM (or SIGHUP) received: raised in the main thread so cleanup runs."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Interrupted(signum)


def _dates(day: Optional[str], start: Optional[str], end: Optional[str]) -> list[date]:
    if day and (start or end):
        raise typer.BadParameter("give either --date or --from/--to, not both")
    if day:
        return [_day(day, "--date")]
    if not (start and end):
        raise typer.BadParameter("give --date, or both --from and --to")
    first, last = _range(start, end)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Landing directory to write (one folder per day)."),
    days: int = typer.Option(3, "--days", min=1, help="How many extract days."),
    learners: int = typer.Option(200, "--learners", min=1,
                                 help="How many people (bulk, besides the golden scenarios)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed writes the same bytes."),
    defect_rate: float = typer.Option(0.02, "--defect-rate", min=0.0, max=1.0,
                                      help="Share of rows given a parse defect (0 for clean data)."),
    start: str = typer.Option("2026-11-16", "--start", help="First extract date (YYYY-MM-DD)."),
):
    """Write synthetic LMS and registration extracts per the landing contract.

    Day 1 holds every reference file plus hand-worked golden scenarios
    (docs/golden-scenarios.md) and at least one defect of every quarantine kind.
    """
    from cme.synthetic import generate as run

    first = _day(start, "--start")
    folders = run(_folder(out), days=days, learners=learners, seed=seed, defect_rate=defect_rate,
                  start=first)
    console.print(f"wrote {len(folders)} day folders to {out}: "
                  f"{folders[0].name} .. {folders[-1].name}")


@app.command()
def bench(
    work: Path = typer.Option(Path("bench-work"), "--work",
                              help="Scratch folder (landing data and warehouses per size)."),
    sizes: str = typer.Option("100000,1000000,10000000", "--sizes",
                              help="Completions in the first load, comma separated."),
    days: int = typer.Option(2, "--days", min=0, help="Daily runs after each first load."),
    daily: int = typer.Option(10_000, "--daily", min=1, help="Completions each daily run adds."),
    empty_day: bool = typer.Option(True, "--empty-day/--no-empty-day",
                                   help="Also time a day with no new rows on a small history through `cme run`."),
    json_out: Path = typer.Option(Path("bench-results.json"), "--json", help="Where to write the figures."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Also write the tables as Markdown."),
    include: list[Path] = typer.Option([], "--include",
                                       help="Figures of an earlier run (JSON) to put in the same tables."),
):
    """Measure each stage of a run (wall, CPU, peak memory) at several sizes, and the floor.

    Prints a table per size and the targets met or not (docs/benchmarks.md)."""
    from cme.bench.run import bench as run_bench, markdown

    try:
        counts = [int(s.replace("_", "")) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"{sizes!r} is not a comma-separated list of numbers",
                                 param_hint="'--sizes'") from None
    if not counts and not include:
        raise typer.BadParameter("no sizes to measure", param_hint="'--sizes'")
    if counts and min(counts) < 1000:
        raise typer.BadParameter("every size must be at least 1000 completions", param_hint="'--sizes'")
    for path in include:
        if not path.is_file():
            raise typer.BadParameter(f"{path} is not a file", param_hint="'--include'")
    results = run_bench(_folder(work, "--work"), counts, days, daily, empty_day, json_out,
                        progress=lambda line: console.print(escape(line)), include=include)
    text = markdown(results)
    if markdown_out:
        markdown_out.write_text(text)
    typer.echo(text)
    console.print(f"figures written to {json_out}")


@app.command()
def run(
    ctx: typer.Context,
    landing: Path = typer.Option(..., "--landing", exists=True, file_okay=False,
                                 help="Landing directory with one folder per extract date."),
    out: Path = typer.Option(..., "--out", help="Output directory: OUT/warehouse.duckdb, OUT/reports/."),
    day: Optional[str] = typer.Option(None, "--date", help="One extract date, YYYY-MM-DD."),
    start: Optional[str] = typer.Option(None, "--from", help="First date of a range (with --to)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last date of a range, inclusive."),
    settings: Optional[Path] = typer.Option(None, "--settings", exists=True, dir_okay=False,
                                            help="Provider settings file (default config/provider.toml)."),
    full_refresh: bool = typer.Option(False, "--full-refresh",
                                      help="Rebuild every table from all landed data on the first "
                                           "date, except the history (exceptions with their first-seen "
                                           "and closed dates, decisions' decided_on), which is kept. "
                                           "It does not re-decide past completions: use --recompute."),
    recompute: bool = typer.Option(False, "--recompute",
                                   help="On the first date, re-decide every completion under the "
                                        "current settings and seeds, keeping decided_on where the "
                                        "decision is unchanged. Needed after a change to a setting or "
                                        "seed the decisions read; a run stops and says so until then."),
):
    """Run the cme_daily_reporting DAG through Airflow, once per date, in date order.

    Each run loads landing/<date>/ into OUT/warehouse.duckdb, builds the dbt
    marts and prints the run summary. Re-running a date changes nothing that
    was already right.
    """
    import signal
    from contextlib import closing

    from cme.airflow_runner import (DagRunFailed, MetadataDbFailed, airflow_env, ensure_metadata_db,
                                    run_days)
    from cme.settings import SettingsError, load_settings
    from cme.summary import format_summary
    from cme.warehouse import private_dir

    from cme.pipeline import RunContext, rules_changed

    dates = _dates(day, start, end)
    _folder(out)
    try:
        provider = load_settings(settings)
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    # --- landing readiness (issue 10): cme run processes folders that already landed and
    # never waits; a date whose folder is missing or incomplete stops it here, in one line.
    from cme.landing import missing_folders

    not_ready = missing_folders(landing, dates, provider)
    if not_ready:
        console.print(not_ready, style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    # --- end landing readiness
    # one command at a time on OUT, from here to the end of the Airflow child (cme.runlock)
    lock = _lock(ctx, out, "cme run")
    # the DAG's first task would stop on it too; say it here rather than in the Airflow log
    stale = rules_changed(RunContext(dates[0], landing.resolve(), out.resolve(),
                                     settings.resolve() if settings else None, recompute))
    if stale:
        console.print(f"[red]{stale}[/red]")
        raise typer.Exit(2)
    out = private_dir(out.resolve())
    env = airflow_env(out)
    log_file = private_dir(out / "logs") / "airflow_runs.log"
    # SIGTERM ends the run like Ctrl-C: the Airflow child is stopped, not left running
    # (a signal ignored on purpose, as `nohup` ignores SIGHUP, stays ignored)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _raise_interrupted)
    started = time.time()
    current = dates[0]
    try:
        ensure_metadata_db(env, log_file)
        console.print(f"running cme_daily_reporting for {dates[0]}"
                      + (f" to {dates[-1]} ..." if len(dates) > 1 else " ..."))
        with closing(run_days(dates, landing, out, settings, env, log_file,
                              full_refresh=full_refresh, recompute=recompute,
                              keep_fds=(lock,))) as days_done:
            for finished in days_done:
                report = out / "reports" / f"run_summary_{finished.isoformat()}.json"
                typer.echo(format_summary(json.loads(report.read_text())))
                later = [d for d in dates if d > finished]
                current = later[0] if later else finished
    except (KeyboardInterrupt, Interrupted) as exc:
        name = exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"
        console.print(f"[red]stopped by {name}: the Airflow run was ended; the run for {current} "
                      f"did not finish (run that date again)[/red]", soft_wrap=True)
        raise typer.Exit(128 + (exc.signum if isinstance(exc, Interrupted) else signal.SIGINT))
    except MetadataDbFailed as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    except DagRunFailed as exc:
        _report_failure(out, current, started)
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(1)


def _report_failure(out: Path, day: date, started: float) -> None:
    """After a failed DAG run of `day`: its summary if this run wrote one, then each task that
    failed for good, with its error class and a value-free message (no learner values)."""
    from cme.alerts import describe, failed_since
    from cme.summary import format_summary

    report = out / "reports" / f"run_summary_{day.isoformat()}.json"
    if report.exists() and report.stat().st_mtime >= started:
        typer.echo(format_summary(json.loads(report.read_text())))
    # an outcome older than this run is an earlier run's (a run that stopped before its
    # check_settings forgot them)
    from cme.pipeline import export_status_path

    exports = {body: why for body, why in _failed_exports(out, day).items()
               if export_status_path(out, body, day).stat().st_mtime >= started}
    for body, why in exports.items():
        console.print(f"[red]task export[{body}] failed: {escape(why)}[/red]", soft_wrap=True)
    # every other task that failed for good in this run, from its alert (cme.alerts);
    # check_exports only repeats the export lines above
    for alert in failed_since(out, day, started):
        if alert["task_id"] == "export" and alert.get("body") in exports:
            continue
        if alert["task_id"] == "check_exports" and exports:
            continue
        console.print(f"[red]{escape(describe(alert))}[/red]", soft_wrap=True)


def _failed_exports(out: Path, day: date) -> dict[str, str]:
    """Bodies whose export or delivery failed on `day` (value-free, from OUT/exports)."""
    from cme.pipeline import export_statuses

    return {body: f"{status['stage']}: {status['error_class']}: {status['message']}"
            for body, status in export_statuses(out, day).items() if status.get("status") != "ok"}


@app.command()
def transcript(
    ctx: typer.Context,
    who: list[str] = typer.Argument(None, help="Person ids (P-...) or learner account ids; omit with --all."),
    out: Path = typer.Option(..., "--out", help="Output directory of the runs (holds warehouse.duckdb)."),
    start: Optional[str] = typer.Option(None, "--from", help="First completion date to include "
                                        "(default: January 1 of the reporting year)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last completion date to include "
                                      "(default: December 31 of the reporting year)."),
    everyone: bool = typer.Option(False, "--all", help="Everyone with credit in the date range."),
    settings: Optional[Path] = typer.Option(None, "--settings", exists=True, dir_okay=False),
):
    """Write a learner transcript (PDF and CSV) to OUT/transcripts/: every award by
    credit type and date, totals per credit type, and where each was reported and how
    it stands. The period defaults to the reporting year: the calendar year of the
    latest extract date loaded."""
    from cme.settings import load_settings
    from cme.transcripts import write_transcripts

    if bool(who) == everyone:
        raise typer.BadParameter("name people or learner accounts, or give --all")
    first = _day(start, "--from") if start else None
    last = _day(end, "--to") if end else None
    if first and last and last < first:
        raise typer.BadParameter(f"--to {last} is before --from {first}", param_hint="'--to'")

    _require_warehouse(out)
    _lock_reader(ctx, out, "cme transcript")
    try:
        provider = load_settings(settings)
        files = write_transcripts(out / "warehouse.duckdb", out, None if everyone else who,
                                  first, last, provider.provider_name, provider.timezone)
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1)
    console.print(f"wrote {len(files) // 2} transcript(s) to {out / 'transcripts'}")


@app.command()
def certificates(
    ctx: typer.Context,
    who: list[str] = typer.Argument(None, help="Person ids (P-...) or learner account ids; omit with --all."),
    out: Path = typer.Option(..., "--out", help="Output directory of the runs (holds warehouse.duckdb)."),
    everyone: bool = typer.Option(False, "--all", help="Everyone with credit."),
    activity: Optional[str] = typer.Option(None, "--activity", help="Only this activity id."),
    settings: Optional[Path] = typer.Option(None, "--settings", exists=True, dir_okay=False),
):
    """Write a PDF certificate per person and activity, every credit type earned in it
    together, to OUT/certificates/<person_id>/<activity_id>.pdf, and record each one's
    verification code (the dashboard's /verify). The key: CME_CERTIFICATE_KEY, else
    OUT/certificate.key (made on first use)."""
    from cme.certificates import CertificateKeyError, write_certificates
    from cme.settings import SettingsError, load_settings

    if bool(who) == everyone:
        raise typer.BadParameter("name people or learner accounts, or give --all")
    _require_warehouse(out)
    try:
        provider = load_settings(settings)
    except SettingsError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    # records the codes it issues in the warehouse: alone, as an import is
    _lock(ctx, out, "cme certificates")
    try:
        files = write_certificates(out / "warehouse.duckdb", out, None if everyone else who,
                                   activity, provider)
    except CertificateKeyError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    except LookupError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"wrote {len(files)} certificate(s) to {out / 'certificates'}")


@app.command()
def audit(
    ctx: typer.Context,
    record_key: str = typer.Argument(..., help="A record key as in the body marts, e.g. "
                                               "'ACCME_PARS|P-...|A00005|2026-11-16|CME' (quote it: it holds '|')."),
    out: Path = typer.Option(..., "--out", help="Output directory of the runs (holds warehouse.duckdb)."),
    as_json: bool = typer.Option(False, "--json", help="Print the chain as JSON instead of tables."),
):
    """Trace a submitted record to its sources: ledger events and submission files (SHA-256
    checked on disk), the reporting-mart row, the credit decisions, and the landed rows
    with file, line, load id and the stored copy of the file. Names, birth dates and
    license numbers are not shown."""
    from rich.console import Console as RichConsole

    from cme.audit import render, trace
    from cme.warehouse import connect

    # OUT must exist on PostgreSQL too: the audit hashes the run's files there
    _folder(out, must_exist=True)
    _require_warehouse(out)
    _lock(ctx, out, "cme audit", shared=True)  # reads files a run or an import may be writing
    with connect(out / "warehouse.duckdb", read_only=True) as con:
        result = trace(con, out.resolve(), record_key)
    if result is None:
        console.print(f"no record {escape(record_key)} in the body marts or the ledger of {out}",
                      style="red", soft_wrap=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        import sys

        # tables of SHA-256s and paths: wide, rather than folded to 80 columns when piped
        render(result, RichConsole() if sys.stdout.isatty() else RichConsole(width=200))


@app.command()
def docs(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Output directory of the runs (holds warehouse.duckdb)."),
    serve: bool = typer.Option(False, "--serve", help="Then serve the docs until Ctrl-C."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (with --serve)."),
    port: int = typer.Option(8070, "--port", help="Port to serve on (with --serve)."),
):
    """Generate the dbt docs of the warehouse in OUT (every model and column with its
    description, lineage, and the built tables' columns and row counts) into OUT/docs/,
    readable by the owner only; --serve serves them on http://127.0.0.1:8070/."""
    from cme.dbt_runner import DbtBuildError, dbt_docs

    _require_warehouse(out)
    _lock_reader(ctx, out, "cme docs")
    try:
        site = dbt_docs(out / "warehouse.duckdb", out / "docs")
    except DbtBuildError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"dbt docs of {out.resolve()} written to {site}")
    if serve:
        import functools
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                pass

        handler = functools.partial(Quiet, directory=str(site))
        with ThreadingHTTPServer((host, port), handler) as server:
            console.print(f"serving them at http://{host}:{port}/ (Ctrl-C stops it)")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass


@app.command()
def freshness(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Output directory of the runs (holds warehouse.duckdb)."),
):
    """Say how old the newest landed extract is (`dbt source freshness` on the landing
    sources): pass, warn (a daily extract is missing: 3 days) or error (5 days). Exits 1
    on error only, so a scheduler or monitor can alert on it; a warning exits 0."""
    from cme.dbt_runner import DbtBuildError, dbt_freshness

    _require_warehouse(out)
    _lock_reader(ctx, out, "cme freshness")
    try:
        results = dbt_freshness(out / "warehouse.duckdb", out / "dbt" / "freshness")
    except DbtBuildError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    colour = {"pass": "green", "warn": "yellow", "error": "red"}
    for r in results:
        newest = (r["max_loaded_at"] or "none")[:10]
        typer.secho(f"{r['source']}: {r['status']}, newest extract {newest}, {r['hours_ago']:g} h ago "
                    f"(warn after {r['warn_after_hours']:g} h, error after {r['error_after_hours']:g} h)",
                    fg=colour.get(r["status"]))
    if any(r["status"] == "error" for r in results):
        raise typer.Exit(1)


@app.command()
def summary(out: Path = typer.Option(..., "--out"), day: str = typer.Option(..., "--date")):
    """Print the run summary of a date that has run."""
    from cme.summary import format_summary

    report = out / "reports" / f"run_summary_{_day(day, '--date').isoformat()}.json"
    if not report.exists():
        console.print(f"[red]no run summary for {day} in {out}/reports[/red]")
        raise typer.Exit(1)
    typer.echo(format_summary(json.loads(report.read_text())))


@app.command()
def dashboard(
    out: Path = typer.Option(..., "--out", exists=True, file_okay=False,
                             help="Output directory of the runs (holds warehouse.duckdb)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on. The pages show learner ids: keep it local, "
                                  "or put it behind your sign-on proxy."),
    port: int = typer.Option(DEFAULT_PORT, "--port"),
    settings: Optional[Path] = typer.Option(None, "--settings", exists=True, dir_okay=False),
):
    """Serve the compliance dashboard: per-body submission status, the exception queue,
    disclosures due soon, trends over the runs and the validation reports (Data Docs)."""
    import uvicorn

    from cme.dashboard.app import create_app
    from cme.settings import load_settings

    provider = load_settings(settings)
    app_ = create_app(out, upcoming_days=provider.disclosure_upcoming_days,
                      page_size=provider.queue_page_size, author_header=provider.queue_author_header)
    console.print(f"compliance dashboard for {out.resolve()} at http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
def portal(
    out: Path = typer.Option(..., "--out", exists=True, file_okay=False,
                             help="Output directory of the runs (holds warehouse.duckdb)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default 8060)."),
    settings: Optional[Path] = typer.Option(None, "--settings", exists=True, dir_okay=False),
):
    """Serve the learner portal: learners ask for their records by e-mail and get a
    one-time link to their credit, transcripts and certificates. Needs the signing key
    in the environment variable CME_PORTAL_KEY (32 characters or more)."""
    import os

    import uvicorn

    from cme.portal import DEFAULT_PORT as PORTAL_PORT, KEY_ENV, MIN_KEY_LENGTH
    from cme.portal.app import create_app
    from cme.settings import SettingsError, load_settings

    key = os.environ.get(KEY_ENV, "")
    if len(key) < MIN_KEY_LENGTH:
        console.print(f"[red]set {KEY_ENV} to a secret of {MIN_KEY_LENGTH} characters or more "
                      f"(e.g. `export {KEY_ENV}=$(openssl rand -hex 32)`): it signs the mailed "
                      f"links, and is never kept in the repository[/red]")
        raise typer.Exit(2)
    from cme.warehouse import warehouse_url

    if not warehouse_url() and not (out / "warehouse.duckdb").exists():
        raise typer.BadParameter(f"{out} holds no warehouse.duckdb: give the --out of `cme run`",
                                 param_hint="'--out'")
    try:
        provider = load_settings(settings)
    except SettingsError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2)
    port = port or PORTAL_PORT
    public_url = provider.portal_public_url or f"http://{host}:{port}"
    app_ = create_app(out, provider, key.encode(), public_url)
    console.print(f"learner portal for {out.resolve()} at {public_url}/ (Ctrl-C stops it)")
    # no access log: the paths carry the learners' link tokens
    uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def retention(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", exists=True, file_okay=False,
                             help="Output directory of the runs (holds warehouse.duckdb)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what is beyond retention; change nothing."),
    apply_: bool = typer.Option(False, "--apply", help="Archive, then purge, what is beyond retention."),
    as_of: Optional[str] = typer.Option(None, "--as-of",
                                        help="The day to judge from, YYYY-MM-DD (default: today in "
                                             "the provider's time zone)."),
    settings: Optional[Path] = typer.Option(None, "--settings", exists=True, dir_okay=False,
                                            help="Provider settings file (default config/provider.toml)."),
):
    """Learner attendance and completion records past every retention period that applies
    (setting `retention`): --dry-run lists them per table and rule (counts and dates only);
    --apply archives them to OUT/archive/retention/<as-of>/ (Parquet, with a manifest), then
    deletes them from the warehouse. Records inside any period, the ledger and the credit
    awarded are never touched."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cme.retention import POSTGRES_REFUSAL, RetentionError, apply, dry_run as list_beyond
    from cme.warehouse import warehouse_url
    from cme.settings import SettingsError, load_settings

    if dry_run == apply_:
        raise typer.BadParameter("give exactly one of --dry-run or --apply")
    if warehouse_url():  # before the lock and the settings: nothing is read or changed
        console.print(f"[red]{escape(POSTGRES_REFUSAL)}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    try:
        provider = load_settings(settings)
    except SettingsError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    day = (_day(as_of, "--as-of") if as_of
           else datetime.now(ZoneInfo(provider.timezone)).date())
    # purging writes the warehouse: alone; listing only reads it, not while a run writes
    _lock(ctx, out, "cme retention", shared=dry_run)
    try:
        result = (list_beyond(out / "warehouse.duckdb", provider, day) if dry_run
                  else apply(out / "warehouse.duckdb", out, provider, day))
    except RetentionError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    verb = "beyond retention" if dry_run else "archived and purged"
    typer.echo(f"retention as of {day}{' (dry run)' if dry_run else ''}: "
               f"{result.rows} row(s) {verb}")
    for line in result.lines:
        typer.echo(f"  raw.{line.table}: {line.rows} row(s) under {line.rule!r}, "
                   f"dated {line.oldest} to {line.newest}")
    if result.archive:
        typer.echo(f"  archive: {result.archive} ({result.retired_records} body record(s) "
                   f"retired: kept at the body, never withdrawn)")
    if not dry_run:
        typer.echo(f"  stored landing files removed (every row in them purged): "
                   f"{result.stored_files_removed}")


batches = typer.Typer(no_args_is_help=True, help="Submission batches in the ledger.")
receipts = typer.Typer(no_args_is_help=True, help="The bodies' answers to uploaded files.")
app.add_typer(batches, name="batches")
app.add_typer(receipts, name="receipts")


@batches.command("discard")
def batches_discard(
    ctx: typer.Context,
    batch_id: str = typer.Argument(..., help="The batch id (as in its manifest, e.g. CE_BROKER-20261116-001)."),
    out: Path = typer.Option(..., "--out", exists=True, file_okay=False,
                             help="Output directory of the runs (holds warehouse.duckdb)."),
):
    """Mark a written batch's files as never uploaded: its records are due again and the
    next run writes them in a new batch. The files stay, with <batch>.discarded.json beside
    them. Refused for a batch with any record sent over HTTP or answered by the body."""
    from cme.ledger import LedgerStateMissing
    from cme.receipts import DiscardRefused, discard_batch

    _lock(ctx, out, "cme batches discard")
    try:
        n = discard_batch(out / "warehouse.duckdb", out, batch_id, date.today())
    except (DiscardRefused, LedgerStateMissing) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    console.print(f"{batch_id}: {n} record(s) discarded; they are due again on the next run"
                  if n else f"{batch_id}: nothing left to discard")


@receipts.command("import")
def receipts_import(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                       help="The body's result files for uploaded submissions."),
    body: str = typer.Option(..., "--body", help="ACCME_PARS, JA_PARS, CE_BROKER or CPE_MONITOR."),
    out: Path = typer.Option(..., "--out", exists=True, file_okay=False,
                             help="Output directory of the runs (holds warehouse.duckdb)."),
):
    """Record a body's answers to uploaded files in the ledger: accepted, or rejected with
    the body's message (REJECTED_BY_BODY in the exception queue after the next run).
    Importing the same file again changes nothing. Prints counts only."""
    from cme.bodies import all_bodies
    from cme.ledger import LedgerStateMissing
    from cme.receipts import ReceiptError, import_receipts

    spec = all_bodies().get(body)
    if spec is None:
        console.print(f"[red]unknown body {body}; one of {', '.join(sorted(all_bodies()))}[/red]")
        raise typer.Exit(2)
    _lock(ctx, out, "cme receipts import")
    try:
        result = import_receipts(out / "warehouse.duckdb", spec, files, date.today())
    except (ReceiptError, LedgerStateMissing) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    typer.echo(f"{body}: {result.rows} row(s) read; {result.accepted} accepted, "
               f"{result.rejected} rejected, {result.already_recorded} already recorded, "
               f"{result.unmatched} unmatched")
    for name, rows in result.unmatched_rows.items():
        typer.echo(f"  {name}: rows {', '.join(map(str, rows))} match no record written to a file")
    if result.unmatched:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
