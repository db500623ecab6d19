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


def _open(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting out a reader that holds it (the dashboard or an analyst's
    session keeps it only for a query) rather than failing the run's task."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
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
