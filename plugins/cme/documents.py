"""Hash the document store, so dbt can check each disclosure's document_sha256.

A signed disclosure form is kept as `<disclosure_id>.<ext>` in the store. The
table `raw.disclosure_documents` is replaced on every run with what the store
holds now: a form deleted or edited since signing shows up as missing or altered.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from cme.warehouse import connect, write_frame


def store_path(landing: Path, setting: str) -> Path:
    path = Path(setting)
    return path if path.is_absolute() else Path(landing) / path


def hash_documents(warehouse: Path, store: Path) -> int:
    rows = []
    if store.is_dir():
        for path in sorted(p for p in store.iterdir() if p.is_file() and not p.name.startswith(".")):
            rows.append((path.stem, path.name, hashlib.sha256(path.read_bytes()).hexdigest()))
    with connect(Path(warehouse)) as con:
        con.execute("create schema if not exists raw")
        # its rows replaced in one transaction: a reader sees the old rows or the new ones.
        # The table stays (PostgreSQL's views over it depend on the table itself).
        con.execute("create table if not exists raw.disclosure_documents (disclosure_id TEXT, "
                    "file_name TEXT, sha256 TEXT)")
        con.execute("begin transaction")
        con.execute("delete from raw.disclosure_documents")
        if rows:
            write_frame(con, "raw.disclosure_documents",
                        pd.DataFrame(rows, columns=["disclosure_id", "file_name", "sha256"]))
        con.execute("commit")
    return len(rows)
