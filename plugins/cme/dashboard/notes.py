"""Staff notes and assignees on exceptions: an append-only history in the warehouse.

`workqueue.exception_notes` is not a dbt model: dbt never builds, drops or
full-refreshes the `workqueue` schema, so notes survive `cme run --full-refresh`.
Rows are only ever inserted; an exception's current assignee is the one its latest
note names (blank: nobody).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

MAX_NOTE = 2000
MAX_ASSIGNEE = 80
# control characters other than tab and newline (a note keeps its line breaks)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

DDL = """
create schema if not exists workqueue;
create sequence if not exists workqueue.note_seq;
create table if not exists workqueue.exception_notes (
    note_id BIGINT default nextval('workqueue.note_seq') primary key,
    exception_id TEXT not null,
    assignee TEXT not null,   -- '' = nobody
    note TEXT not null,
    author TEXT not null,     -- from the sign-on proxy's header, '' without one
    noted_at TIMESTAMPTZ not null default current_timestamp
);
"""

_EMPTY = ("select cast(null as varchar) as exception_id, cast(null as varchar) as assignee "
          "where false")


def _exists(con) -> bool:
    return con.execute("select count(*) from information_schema.tables where table_schema = "
                       "'workqueue' and table_name = 'exception_notes'").fetchone()[0] > 0


def current_assignees_sql(con) -> str:
    """SQL for (exception_id, assignee) of each exception with a note: its latest note's
    assignee. Empty on a warehouse where no note was ever written."""
    if not _exists(con):
        return _EMPTY
    # the latest note per exception by a window (DuckDB's arg_max is not PostgreSQL's)
    return ("select exception_id, assignee from (select exception_id, assignee, row_number() "
            "over (partition by exception_id order by note_id desc) as nth "
            "from workqueue.exception_notes) as latest where nth = 1")


def history(con, exception_id: str) -> list[dict]:
    """An exception's notes, oldest first."""
    if not _exists(con):
        return []
    cursor = con.execute("""
        select note_id, assignee, note, author,
               left(cast(noted_at at time zone 'UTC' as varchar), 19) as noted_at_utc
        from workqueue.exception_notes
        where exception_id = ? order by note_id""", [exception_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Note:
    assignee: str
    note: str
    author: str


def checked(assignee: str, note: str, author: str) -> Note:
    """The note as it will be stored; ValueError says what is wrong."""
    assignee, note = assignee.strip(), note.replace("\r\n", "\n").strip()
    if not note:
        raise ValueError("a note is required (say what was done or why the assignee changed)")
    if len(note) > MAX_NOTE:
        raise ValueError(f"the note is at most {MAX_NOTE} characters")
    if len(assignee) > MAX_ASSIGNEE:
        raise ValueError(f"the assignee is at most {MAX_ASSIGNEE} characters")
    if _CONTROL.search(note) or _CONTROL.search(assignee) or "\n" in assignee or "\t" in assignee:
        raise ValueError("the note or assignee holds a control character")
    if assignee == "-":
        raise ValueError("'-' means unassigned in the queue's filter: leave the assignee blank")
    # a header is the proxy's: kept short and printable, never trusted further than display
    author = _CONTROL.sub("", author).strip()[:MAX_ASSIGNEE]
    return Note(assignee, note, author)


def append(con, exception_id: str, note: Note) -> None:
    """One row, in one transaction (the schema is created on the first note)."""
    con.execute("begin")
    con.execute(DDL)
    con.execute("insert into workqueue.exception_notes (exception_id, assignee, note, author) "
                "values (?, ?, ?, ?)", [exception_id, note.assignee, note.note, note.author])
    con.execute("commit")


def form_token(secret: bytes, exception_id: str) -> str:
    """The detail page's form token: only a page this app served carries it, so another
    site cannot post a note through a staff member's browser."""
    return hmac.new(secret, exception_id.encode(), hashlib.sha256).hexdigest()


def token_ok(secret: bytes, exception_id: str, token: str) -> bool:
    return hmac.compare_digest(form_token(secret, exception_id), token or "")
