"""`cme bench` at its smallest size, as a smoke test: it generates, runs every stage of a
first load and a daily run, measures the floor and writes its figures (not how fast:
docs/benchmarks.md holds the measured table)."""
from __future__ import annotations

import json

import duckdb

from cme.bench.stage import STAGES
from cme.npi import is_valid_npi
from tests.conftest import run_cme


def test_the_benchmark_runs_every_stage_at_its_smallest_size(tmp_path):
    figures, table = tmp_path / "bench.json", tmp_path / "bench.md"
    proc = run_cme("bench", "--work", tmp_path / "work", "--sizes", "100000", "--days", "1",
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
    assert first["rows_read"] > 100_000 and 10_000 < daily["rows_read"] < 20_000
    assert first["stages"]["exports"]["result"]["ACCME_PARS"] > 1000  # records really went out
    assert size["floor"]["result"]["awards"] > 100_000 and size["floor_ratio"] > 1
    assert {t["target"] for t in results["targets"]} and "| **whole run** |" in table.read_text()
    # a run measured earlier joins the tables of a later one (the 10 M size runs apart)
    merged = tmp_path / "merged.json"
    proc = run_cme("bench", "--work", tmp_path / "work", "--sizes", "", "--no-empty-day",
                   "--include", figures, "--json", merged)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [s["first_load"] for s in json.loads(merged.read_text())["sizes"]] == [first]
    assert "### 100,000 completions" in proc.stdout
    # the generated people are valid as the identity rules read them
    landing = tmp_path / "work" / "100000" / "landing" / first["date"]
    npis = [n for (n,) in duckdb.sql(f"select npi from read_csv('{landing}/learners.csv', "
                                     "all_varchar = true) where npi is not null").fetchall()]
    assert len(npis) > 1000 and all(map(is_valid_npi, npis))
