"""`cme bench` at a small size, as a smoke test: it generates, runs every stage of a
first load and a daily run, measures the floor and writes its figures (not how fast:
docs/benchmarks.md holds the measured table, from the command's own sizes). 10,000
completions and 1,000 a day, a tenth of the command's smallest size, keep the test
about a minute shorter: what it checks does not depend on the size."""
from __future__ import annotations

import json

import duckdb

from cme.bench.stage import STAGES
from cme.npi import is_valid_npi
from tests.conftest import run_cme

SIZE = 10_000  # completions in the first load (`cme bench`'s own smallest size is 100,000)


def test_the_benchmark_runs_every_stage_at_a_small_size(tmp_path):
    figures, table = tmp_path / "bench.json", tmp_path / "bench.md"
    proc = run_cme("bench", "--work", tmp_path / "work", "--sizes", str(SIZE), "--days", "1", "--daily", str(SIZE // 10),
                   "--no-empty-day", "--json", figures, "--markdown", table)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(figures.read_text())
    [size] = results["sizes"]
    first, [daily] = size["first_load"], size["daily"]
    for run in (first, daily):
        assert run["failed"] is None
        assert list(run["stages"]) == list(STAGES) and all(s["ok"] for s in run["stages"].values())
        assert all(s["wall"] > 0 and s["rss_mb"] > 0 for s in run["stages"].values())
        # every row landed that day was read by ingest
        assert run["rows_read"] == size["rows_landed"][run["date"]] > 0
    assert first["rows_read"] > SIZE and SIZE // 10 < daily["rows_read"] < SIZE // 5
    assert first["stages"]["exports"]["result"]["ACCME_PARS"] > SIZE // 100  # records really went out
    assert size["floor"]["result"]["awards"] > SIZE and size["floor_ratio"] > 1
    assert {t["target"] for t in results["targets"]} and "| **whole run** |" in table.read_text()
    # a run measured earlier joins the tables of a later one (the 10 M size runs apart)
    merged = tmp_path / "merged.json"
    proc = run_cme("bench", "--work", tmp_path / "work", "--sizes", "", "--no-empty-day",
                   "--include", figures, "--json", merged)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [s["first_load"] for s in json.loads(merged.read_text())["sizes"]] == [first]
    assert f"### {SIZE:,} completions" in proc.stdout
    # the generated people are valid as the identity rules read them
    landing = tmp_path / "work" / str(SIZE) / "landing" / first["date"]
    npis = [n for (n,) in duckdb.sql(f"select npi from read_csv('{landing}/learners.csv', "
                                     "all_varchar = true) where npi is not null").fetchall()]
    assert len(npis) > SIZE // 100 and all(map(is_valid_npi, npis))
