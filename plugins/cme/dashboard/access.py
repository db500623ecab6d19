"""How the dashboard opens the warehouse: read-only per request, read-write only to
append a staff note.

DuckDB lets one process write a file while no other process reads it, and refuses, in
one process, a read-write connection to a file that is open read-only (and the other
way round). So the dashboard's own requests share the file for reading and take it
alone for a note, and a run that holds the file (another process) makes either wait
a moment, then answer 503: the run finishes the day, staff retry.

On PostgreSQL (CME_WAREHOUSE_URL) none of that applies: readers never block the run's
writes nor wait for them, so every request opens its own connection and nothing waits.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from cme.warehouse import PgConnection, duckdb_config, make_private, warehouse_url


class Busy(Exception):
    """Another process (a run) holds the warehouse."""


class _SharedOrAlone:
    """Readers share; a writer waits for them to leave and keeps new ones out."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def alone(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._writing = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class Warehouse:
    """The warehouse file of one output directory, as the dashboard's requests open it."""

    def __init__(self, path: Path, write_wait_seconds: float = 3.0):
        self.path = Path(path)
        self.write_wait_seconds = write_wait_seconds
        self._lock = _SharedOrAlone()

    def _connect(self, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=duckdb_config())
            except duckdb.IOException as exc:  # a run (another process) holds the file
                if time.monotonic() >= deadline:
                    raise Busy(str(exc)) from None
                time.sleep(0.25)

    @property
    def url(self) -> str | None:
        return warehouse_url()

    def exists(self) -> bool:
        return bool(self.url) or self.path.exists()

    @contextmanager
    def _pg(self, read_only: bool) -> Iterator[PgConnection]:
        con = PgConnection(self.url, read_only=read_only, folder=self.path.parent)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.url:
            with self._pg(read_only=True) as con:
                yield con
            return
        with self._lock.shared():
            con = self._connect(read_only=True, wait_seconds=0)
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection for one short transaction (a note)."""
        if self.url:
            with self._pg(read_only=False) as con:
                yield con
            return
        with self._lock.alone():
            con = self._connect(read_only=False, wait_seconds=self.write_wait_seconds)
            try:
                yield con
            finally:
                con.close()
                make_private(self.path)  # a warehouse holds learner data: owner only
