"""Opening the DuckDB warehouse: one writer at a time, owner-only files."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb


def private_dir(path: Path) -> Path:
    """Create `path` readable by its owner only (it will hold learner data)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def make_private(path: Path) -> None:
    if path.exists():
        os.chmod(path, 0o600)


def read_frame(con, sql: str, params: dict):
    """Run `sql` with only the named `$parameters` it mentions (DuckDB refuses extras) and
    return a frame whose missing values are None, not NaN."""
    import re

    used = {name: params[name] for name in set(re.findall(r"\$([a-z_]+)", sql))}
    frame = con.execute(sql, used).df().astype(object)
    return frame.where(frame.notna(), None)


# DuckDB's own default is 80% of the machine's memory; a cap keeps a run (and the machine)
# inside a known budget, spilling big joins and sorts to disk instead. dbt's connection
# reads the same variable (dbt_project/profiles.yml).
MEMORY_LIMIT_ENV = "CME_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "3GB"


def duckdb_config() -> dict:
    return {"memory_limit": os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT}


def _open(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting out a reader that holds it (the dashboard or an analyst's
    session keeps it only for a query) rather than failing the run's task."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextmanager
def connect(path: Path, read_only: bool = False,
            wait_seconds: float = 60) -> Iterator[duckdb.DuckDBPyConnection]:
    if not read_only:
        private_dir(path.parent)
    con = _open(path, read_only, wait_seconds)
    try:
        yield con
    finally:
        con.close()
        if not read_only:
            make_private(path)
