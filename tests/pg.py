"""A throwaway PostgreSQL 15 server for tests: `initdb` + `pg_ctl` on 127.0.0.1, a free port,
everything under one temporary folder, stopped and removed by `stop()`.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as the
`postgres` account (Debian's package creates it) through `runuser`. The folder is made
outside pytest's root-only temp tree so that account can reach it.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
USER = "cme"  # the login role tests connect as (trust auth on 127.0.0.1 only)


def find_bin(name: str) -> str | None:
    for folder in BIN_DIRS:
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        missing = [b for b in ("initdb", "pg_ctl") if not find_bin(b)]
        if missing:
            raise RuntimeError(
                f"PostgreSQL 15 server binaries not found ({', '.join(missing)}): `make test` "
                f"installs Debian's postgresql-15 package; or install it by hand")
        self.root = Path(tempfile.mkdtemp(prefix="cme-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._as_user, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def start(self) -> "PostgresServer":
        self._run(find_bin("initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   f"-c max_connections=200")
        self._run(find_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")
        return self

    def create_database(self, name: str) -> str:
        """Create `name` and return its URL."""
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'create database "{name}"')
        con.close()
        return self.url(name)

    def url(self, dbname: str, driver: str = "postgresql") -> str:
        return f"{driver}://{USER}@127.0.0.1:{self.port}/{dbname}"

    def log_tail(self, lines: int = 40) -> str:
        log = self.root / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self._as_user, find_bin("pg_ctl"), "-D", str(self.data), "-m", "fast",
                            "-w", "stop"], capture_output=True)
        for _ in range(20):  # the postmaster removes its files as it exits
            try:
                shutil.rmtree(self.root)
                return
            except OSError:
                time.sleep(0.2)
