"""`cme bench`: generate landing data at each size, run a first load and daily runs stage by
stage, each stage in its own process, and measure wall time, CPU time and peak memory.

Peak memory is the largest resident set of any one process of the stage's tree (Linux
`wait4` rusage), which is what a machine's memory limit meets.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psutil

from cme.warehouse import duckdb_config
from cme.bench.stage import STAGES

FIRST_DAY = date(2026, 11, 16)
TARGETS = {
    "empty_day_seconds": 15.0,      # a day with no new rows, small history, through `cme run`
    "first_load_floor_ratio": 60.0,  # first load of 1 M completions / the floor
    "daily_seconds_at_1m": 30.0,     # a daily run of ~10 k completions on 1 M history
    "daily_growth_10m_over_1m": 1.5,
    "peak_rss_gib": 4.0,             # any process, 10 M first load
}


# A stage whose largest process passes this is stopped (and reported as failed) rather
# than left to push the machine into the kernel's out-of-memory killer.
RSS_LIMIT = int(float(os.environ.get("CME_BENCH_RSS_LIMIT_GIB", "16")) * 2**30)


def _largest_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return max(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


@dataclass
class Measure:
    wall: float
    cpu: float
    rss_mb: float
    result: dict = field(default_factory=dict)
    ok: bool = True


def measure(cmd: list[str], log: Path, env: dict | None = None) -> Measure:
    """Run `cmd` to completion; its stdout and stderr go to `log`, its last stdout line
    (JSON) is the result."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out_path = log.with_suffix(".out")
    killed = False
    with open(out_path, "wb") as out, open(log, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if _largest_rss(proc.pid) > RSS_LIMIT:  # spare the machine: stop the stage
                killed = True
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.kill()
            time.sleep(0.2)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if killed:
        with open(log, "a") as err:
            err.write(f"\nstopped by the benchmark: a process passed {RSS_LIMIT / 2**30:.0f} GiB resident\n")
    lines = out_path.read_text(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    return Measure(round(wall, 2), round(usage.ru_utime + usage.ru_stime, 2),
                   round(usage.ru_maxrss / 1024, 1), result if isinstance(result, dict) else {},
                   proc.returncode == 0)


def run_day(landing: Path, out: Path, day: date, logs: Path) -> dict:
    stages = {}
    for stage in STAGES:
        m = measure([sys.executable, "-m", "cme.bench.stage", stage, "--landing", str(landing),
                     "--out", str(out), "--date", day.isoformat()],
                    logs / f"{day.isoformat()}_{stage}.log")
        stages[stage] = asdict(m)
        if not m.ok:  # kept: the figures up to the failure are what was measured
            failed = f"{stage} failed (see {logs / (day.isoformat() + '_' + stage + '.log')})"
            break
    else:
        failed = None
    rows = stages["ingest"]["result"].get("rows_read", 0)
    wall = sum(s["wall"] for s in stages.values())
    return {"date": day.isoformat(), "rows_read": rows, "stages": stages, "failed": failed,
            "total": {"wall": round(wall, 2), "cpu": round(sum(s["cpu"] for s in stages.values()), 2),
                      "rss_mb": max(s["rss_mb"] for s in stages.values()),
                      "rows_per_second": round(rows / wall) if wall else None}}


def bench_size(work: Path, completions: int, days: int, daily: int) -> dict:
    root = work / str(completions)
    shutil.rmtree(root, ignore_errors=True)
    landing, out, logs = root / "landing", root / "out", root / "logs"
    # in a process of its own: a child's peak memory counts its parent's at the fork, so
    # the benchmark's own process must stay small
    made = measure([sys.executable, "-m", "cme.bench.landing", str(landing), FIRST_DAY.isoformat(),
                    str(completions), str(days), str(daily)], logs / "generate.log")
    if not made.ok:
        raise RuntimeError(f"generating {completions:,} completions failed; see {logs / 'generate.log'}")
    written, generated = made.result, made.wall
    floor = measure([sys.executable, "-m", "cme.bench.floor", str(landing / FIRST_DAY.isoformat()),
                     str(root / "floor.duckdb")], logs / "floor.log")
    (root / "floor.duckdb").unlink(missing_ok=True)
    first = run_day(landing, out, FIRST_DAY, logs)
    daily_runs = []
    for k in range(1, days + 1):
        if (daily_runs[-1] if daily_runs else first)["failed"]:
            break
        daily_runs.append(run_day(landing, out, FIRST_DAY + timedelta(days=k), logs))
    return {"completions": completions, "generate_seconds": generated,
            "rows_landed": {d: sum(f.values()) for d, f in written.items()},
            "floor": asdict(floor),
            "floor_ratio": round(first["total"]["wall"] / floor.wall, 1)
            if floor.wall and not first["failed"] else None,
            "first_load": first, "daily": daily_runs}


def bench_empty_day(work: Path) -> dict:
    """A day with no new rows on a small history (the demo's three days), end to end
    through `cme run`, the way a user runs it."""
    root = work / "empty_day"
    shutil.rmtree(root, ignore_errors=True)
    landing, out = root / "landing", root / "out"
    cme = str(Path(sys.executable).parent / "cme")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CME_"))}
    subprocess.run([cme, "generate", "--out", str(landing), "--days", "3", "--learners", "300",
                    "--seed", "7"], check=True, capture_output=True, env=env)
    setup = subprocess.run([cme, "run", "--landing", str(landing), "--out", str(out), "--from",
                            FIRST_DAY.isoformat(), "--to", (FIRST_DAY + timedelta(days=2)).isoformat()],
                           capture_output=True, text=True, env=env)
    if setup.returncode != 0:
        raise RuntimeError(f"cme run of the small history failed:\n{setup.stdout}\n{setup.stderr}")
    empty = FIRST_DAY + timedelta(days=3)
    (landing / empty.isoformat()).mkdir()
    m = measure([cme, "run", "--landing", str(landing), "--out", str(out), "--date", empty.isoformat()],
                root / "empty_day.log", env=env)
    if not m.ok:
        raise RuntimeError(f"cme run of the empty day failed; see {root / 'empty_day.log'}")
    return asdict(m)


def _commit() -> str | None:
    """The code measured: the project's git commit, when it is a checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def _exponent(a: float, b: float, na: int, nb: int) -> float | None:
    """How a time grows with size: 1.0 is linear, 2.0 quadratic (None when too small to say)."""
    if a <= 0 or b <= 0 or na == nb:
        return None
    return round(math.log(b / a) / math.log(nb / na), 2)


def assess(results: dict) -> list[dict]:
    """Each target with the measured figure and met / not met (None: size not run)."""
    sizes = {s["completions"]: s for s in results["sizes"]}
    checks = []

    def check(name, measured, limit, note=""):
        checks.append({"target": name, "limit": limit, "measured": measured,
                       "met": None if measured is None else measured <= limit, "note": note})

    empty = results.get("empty_day")
    check("day with no new rows, small history, `cme run` (s)",
          empty and empty["wall"], TARGETS["empty_day_seconds"])
    m1 = sizes.get(1_000_000)
    check("first load of 1 M completions / floor", m1 and m1["floor_ratio"],
          TARGETS["first_load_floor_ratio"])
    ordered = sorted(sizes)
    worst = None
    for a, b in zip(ordered, ordered[1:]):
        for stage in STAGES:
            sa, sb = (sizes[n]["first_load"]["stages"].get(stage) for n in (a, b))
            if not (sa and sb and sa["ok"] and sb["ok"]):
                continue
            e = _exponent(sa["wall"], sb["wall"], a, b)
            if e is not None and (worst is None or e > worst[0]):
                worst = (e, stage, a, b)
    check("largest growth exponent of a first-load stage (1.0 = linear)",
          worst and worst[0], 1.1, worst and f"{worst[1]}, {worst[2]:,} -> {worst[3]:,}")

    def daily_wall(size):
        runs = [r for r in sizes.get(size, {}).get("daily") or [] if not r["failed"]]
        return round(sum(r["total"]["wall"] for r in runs) / len(runs), 2) if runs else None

    d1, d10 = daily_wall(1_000_000), daily_wall(10_000_000)
    check("daily run of 10 k completions on 1 M history (s)", d1, TARGETS["daily_seconds_at_1m"])
    check("daily run on 10 M history / on 1 M history", d10 and d1 and round(d10 / d1, 2),
          TARGETS["daily_growth_10m_over_1m"])
    m10 = sizes.get(10_000_000)
    peak = None
    if m10:
        peak = round(max([m10["first_load"]["total"]["rss_mb"]]
                         + [r["total"]["rss_mb"] for r in m10["daily"]]) / 1024, 2)
    check("10 M first load: peak memory of any process (GiB)", peak, TARGETS["peak_rss_gib"],
          m10["first_load"]["failed"] or "" if m10 else "")
    if m10 and m10["first_load"]["failed"]:
        checks[-1]["met"] = False  # it did not complete
    return checks


def markdown(results: dict) -> str:
    """The tables docs/benchmarks.md holds."""
    lines = []
    for size in results["sizes"]:
        n = size["completions"]
        first, daily = size["first_load"], size["daily"]
        lines += [f"### {n:,} completions ({sum(size['rows_landed'].values()):,} rows landed in "
                  f"{len(size['rows_landed'])} folders; generated in {size['generate_seconds']} s)", "",
                  "| stage | first load: wall s | CPU s | peak MB | daily run (mean of "
                  f"{len(daily)}): wall s | CPU s | peak MB |", "|---|---:|---:|---:|---:|---:|---:|"]
        for stage in [*STAGES, "total"]:
            f = first["total"] if stage == "total" else first["stages"].get(stage)
            ds = [x for x in (d["total"] if stage == "total" else d["stages"].get(stage) for d in daily) if x]
            mean = (lambda key: round(sum(x[key] for x in ds) / len(ds), 2)) if ds else (lambda key: "")  # noqa: B023 - used in this iteration
            peak = max((x["rss_mb"] for x in ds), default="")
            name = "**whole run**" if stage == "total" else stage
            cells = "| not run | | " if f is None else (
                f"| {f['wall']}{'' if f.get('ok', True) else ' (failed)'} | {f['cpu']} | {f['rss_mb']:.0f} ")
            lines.append(f"| {name} {cells}| {mean('wall')} | "
                         f"{mean('cpu')} | {peak if peak == '' else f'{peak:.0f}'} |")
        for run in [first, *daily]:
            if run["failed"]:
                lines += ["", f"**{run['date']}: {run['failed']}.**"]
        measured = size.get("measured") or {k: results.get(k) for k in ("started", "commit",
                                                                       "duckdb_memory_limit")}
        lines += ["", f"Measured {measured.get('started') or '?'} at commit {measured.get('commit') or '?'}, "
                      f"DuckDB memory limit {measured.get('duckdb_memory_limit') or '?'}."]
        lines += ["", f"Rows per second (whole run, all files): first load "
                      f"{first['total']['rows_per_second']:,}; daily "
                      + ", ".join(f"{d['total']['rows_per_second']:,}" for d in daily) + ".",
                  f"Floor (DuckDB alone, one statement): {size['floor']['wall']} s wall, "
                  f"{size['floor']['cpu']} s CPU, {size['floor']['rss_mb']:.0f} MB; "
                  f"first load / floor = **{size['floor_ratio']}**.", ""]
    if results.get("empty_day"):
        e = results["empty_day"]
        lines += [f"Day with no new rows on a small history, `cme run`: {e['wall']} s wall, "
                  f"{e['cpu']} s CPU, {e['rss_mb']:.0f} MB.", ""]
    lines += ["### Targets", "", "| target | limit | measured | met |", "|---|---:|---:|---|"]
    for c in results["targets"]:
        met = "not run" if c["met"] is None else ("yes" if c["met"] else "**no**")
        note = f" ({c['note']})" if c.get("note") else ""
        lines.append(f"| {c['target']}{note} | {c['limit']} | {c['measured']} | {met} |")
    return "\n".join(lines) + "\n"


def bench(work: Path, sizes: list[int], days: int, daily: int, empty_day: bool,
          json_path: Path | None, progress=print, include: list[Path] = ()) -> dict:
    """Measure `sizes`; sizes and the empty day from the `include` files (earlier runs,
    e.g. the hour-long 10 M one made separately) join the tables and the targets."""
    work.mkdir(parents=True, exist_ok=True)
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
               "argv": sys.argv, "commit": _commit(),
               "duckdb_memory_limit": duckdb_config()["memory_limit"], "sizes": []}
    for path in include:
        earlier = json.loads(Path(path).read_text())
        for size in earlier["sizes"]:
            size.setdefault("measured", {k: earlier.get(k) for k in ("started", "commit",
                                                                     "duckdb_memory_limit")})
        results["sizes"] += [s for s in earlier["sizes"] if s["completions"] not in sizes]
        if earlier.get("empty_day") and not empty_day:
            results["empty_day"] = earlier["empty_day"]
    if empty_day:
        progress("empty day on a small history (cme run) ...")
        results["empty_day"] = bench_empty_day(work)
    for n in sizes:
        progress(f"{n:,} completions: generate, floor, first load, {days} daily run(s) ...")
        results["sizes"].append(bench_size(work, n, days, daily))
        results["sizes"].sort(key=lambda s: s["completions"])
        results["targets"] = assess(results)
        if json_path:  # written after each size: a long run keeps what it measured
            json_path.write_text(json.dumps(results, indent=1))
    results["targets"] = assess(results)
    if json_path:
        json_path.write_text(json.dumps(results, indent=1))
    return results
