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
        # replaced as a whole in one transaction: a reader sees the old table or the new one
        con.execute("begin transaction")
        con.execute("drop table if exists raw.disclosure_documents")
        con.execute("create table raw.disclosure_documents (disclosure_id VARCHAR, "
                    "file_name VARCHAR, sha256 VARCHAR)")
        if rows:
            write_frame(con, "raw.disclosure_documents",
                        pd.DataFrame(rows, columns=["disclosure_id", "file_name", "sha256"]))
        con.execute("commit")
    return len(rows)
