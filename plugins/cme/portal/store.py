"""The portal's own small state, in SQLite under OUT/portal/: spent link nonces and
the request log the rate limits count.

Not in the DuckDB warehouse: DuckDB allows one writer per file, and the daily run
is it; the portal opens the warehouse read-only for a query at a time. Addresses
are kept only as an HMAC under the portal key, never as written.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from cme.warehouse import make_private, private_dir

SCHEMA = """
create table if not exists spent_nonces (nonce text primary key, person_id text not null,
                                         spent_at real not null);
create table if not exists requests (kind text not null, who text not null, at real not null);
create index if not exists requests_who on requests (kind, who, at);
"""
HOUR = 3600.0


class PortalStore:
    def __init__(self, folder: Path):
        path = private_dir(Path(folder)) / "portal.sqlite"
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._con.executescript(SCHEMA)
        make_private(path)

    def spend(self, nonce: str, person_id: str) -> bool:
        """Record the nonce as used; False when it already was (the link is spent)."""
        with self._lock:
            try:
                self._con.execute("insert into spent_nonces values (?, ?, ?)",
                                  (nonce, person_id, time.time()))
                return True
            except sqlite3.IntegrityError:
                return False

    def allow(self, limits: dict[str, tuple[str, int]], now: float | None = None) -> bool:
        """Count one request against each (kind -> (who, per-hour limit)); False when
        any is already at its limit (the request is still counted: retrying does not
        reset it). Entries older than an hour are dropped as they go."""
        now = now or time.time()
        with self._lock:
            self._con.execute("begin immediate")
            try:
                self._con.execute("delete from requests where at < ?", (now - HOUR,))
                allowed = True
                for kind, (who, limit) in limits.items():
                    (count,) = self._con.execute(
                        "select count(*) from requests where kind = ? and who = ?", (kind, who)).fetchone()
                    allowed &= count < limit
                    self._con.execute("insert into requests values (?, ?, ?)", (kind, who, now))
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise
        return allowed

    def close(self) -> None:
        self._con.close()
