"""Opening the DuckDB warehouse: one writer at a time, owner-only files."""
from __future__ import annotations

import os
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


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if not read_only:
        private_dir(path.parent)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()
        if not read_only:
            make_private(path)
