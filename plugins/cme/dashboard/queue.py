"""The exception queue as staff work it: filters, free-text search, sort by any column,
pages, and the CSV of the filtered and sorted view.

Everything a view shows is in its query string (`QueueQuery.params`), so every link
(page, sort, export) carries the filters. Parameters are checked here, by hand, so a
bad value gets the dashboard's 400 page rather than FastAPI's JSON.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Mapping
from urllib.parse import urlencode

from cme.dashboard import notes
from cme.textcells import neutralise

STATUSES = ("open", "closed", "all")
MAX_PAGE_SIZE = 500
MAX_TEXT = 100
UNASSIGNED = "-"  # the assignee filter's value for "nobody"

# Sortable columns: the name in the URL -> the SQL expression over `_ROWS`. A whitelist:
# the URL never reaches the SQL text.
SORTS = {
    "severity": "severity", "body": "body", "reason": "reason_code", "due": "due_on",
    "person": "person_id", "activity": "activity_id", "detail": "coalesce(detail, meaning)",
    "first_seen": "first_seen_on", "status": "status", "assignee": "nullif(assignee, '')",
}
# The default: most urgent first (open before closed, errors before warnings, due soonest).
URGENCY = "status desc, severity, due_on nulls last, body, reason_code, exception_id"

# Free-text search: these columns, any case, as literal text (strpos(), not LIKE).
SEARCHED = ("exception_id", "person_id", "activity_id", "record_key", "reason_code", "detail",
            "meaning")

COLUMNS = ("exception_id", "body", "reason_code", "severity", "status", "due_on", "person_id",
           "activity_id", "record_key", "detail", "meaning", "first_seen_on", "last_seen_on",
           "closed_on", "assignee")


def _rows_sql(con) -> str:
    """One row per exception with what the queue shows, the current assignee included."""
    return f"""
        with exceptions as (select * from main.fct_compliance_exceptions),
        reasons as (select reason_code, meaning from reference.exception_reasons),
        assignees as ({notes.current_assignees_sql(con)})
        select exceptions.exception_id, exceptions.body, exceptions.reason_code,
               exceptions.severity, exceptions.status, exceptions.due_on, exceptions.person_id,
               exceptions.activity_id, exceptions.record_key, exceptions.detail, reasons.meaning,
               exceptions.first_seen_on, exceptions.last_seen_on, exceptions.closed_on,
               coalesce(assignees.assignee, '') as assignee
        from exceptions
        left join reasons using (reason_code)
        left join assignees using (exception_id)"""


@dataclass(frozen=True)
class QueueQuery:
    body: str = ""
    reason: str = ""
    due_from: date | None = None
    due_to: date | None = None
    status: str = "open"
    person: str = ""
    activity: str = ""
    assignee: str = ""   # "" any, UNASSIGNED nobody, else that assignee
    q: str = ""          # free text
    sort: str = ""       # "" = most urgent first
    dir: str = "asc"
    page: int = 1
    size: int = 50
    default_size: int = 50  # the setting `queue_page_size`: a size equal to it stays out of links

    def where(self) -> tuple[str, list]:
        """The SQL condition over `_rows_sql` and its parameters."""
        conditions = [(sql, params) for sql, params, wanted in (
            ("status = ?", [self.status], self.status != "all"),
            ("body = ?", [self.body], self.body), ("reason_code = ?", [self.reason], self.reason),
            ("person_id = ?", [self.person], self.person),
            ("activity_id = ?", [self.activity], self.activity),
            ("due_on >= ?", [self.due_from], self.due_from),
            ("due_on <= ?", [self.due_to], self.due_to),
            ("assignee = ?", ["" if self.assignee == UNASSIGNED else self.assignee], self.assignee),
            ("(" + " or ".join(f"strpos(lower(coalesce({c}, '')), lower(?)) > 0" for c in SEARCHED) + ")",
             [self.q] * len(SEARCHED), self.q),
        ) if wanted]
        if not conditions:
            return "", []
        return (" where " + " and ".join(sql for sql, _ in conditions),
                [p for _, params in conditions for p in params])

    def order_by(self) -> str:
        if not self.sort:
            return URGENCY
        # ties broken by the id, so pages never overlap or skip a row
        return f"{SORTS[self.sort]} {self.dir} nulls last, exception_id"

    def params(self, **changes) -> dict[str, str]:
        """The query string of this view (with `changes`), defaults left out."""
        view, default = replace(self, **changes), QueueQuery(size=self.default_size)
        out = {}
        for f in fields(self):
            if f.name == "default_size":
                continue
            value = getattr(view, f.name)
            if value != getattr(default, f.name) or f.name == "status":
                out[f.name] = "" if value is None else str(value)
        return out

    def url(self, path: str = "/exceptions", **changes) -> str:
        return f"{path}?{urlencode(self.params(**changes))}"

    def narrowed_url(self, **only) -> str:
        """A person's or activity's link: just that id, keeping status, sort and size."""
        view = QueueQuery(status=self.status, sort=self.sort, dir=self.dir, size=self.size,
                          default_size=self.default_size, **only)
        return view.url()

    def sort_url(self, column: str) -> str:
        """A header's link: sort by it ascending, or flip the direction if it already is."""
        flip = "desc" if self.sort == column and self.dir == "asc" else "asc"
        return self.url(sort=column, dir=flip, page=1)


def _date(name: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: not a date (YYYY-MM-DD): {value[:20]!r}") from None


def _int(name: str, value: str, default: int, high: int) -> int:
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= high:
        raise ValueError(f"{name} is a whole number from 1 to {high}")
    return int(value)


def parse_query(args: Mapping[str, str], page_size: int) -> QueueQuery:
    """The view from the request's query string; ValueError says what is wrong."""
    get = lambda name: (args.get(name) or "").strip()
    status = get("status") or "open"
    if status not in STATUSES:
        raise ValueError("status is open, closed or all")
    sort, direction = get("sort"), get("dir") or "asc"
    if sort and sort not in SORTS:
        raise ValueError(f"cannot sort by {sort[:30]!r}: sort is one of {', '.join(SORTS)}")
    if direction not in ("asc", "desc"):
        raise ValueError("dir is asc or desc")
    for name in ("q", "person", "activity", "assignee", "body", "reason"):
        if len(get(name)) > MAX_TEXT:
            raise ValueError(f"{name} is at most {MAX_TEXT} characters")
    return QueueQuery(
        body=get("body"), reason=get("reason"), due_from=_date("due_from", get("due_from")),
        due_to=_date("due_to", get("due_to")), status=status, person=get("person"),
        activity=get("activity"), assignee=get("assignee"), q=get("q"), sort=sort, dir=direction,
        page=_int("page", get("page"), 1, 10**6), size=_int("size", get("size"), page_size, MAX_PAGE_SIZE),
        default_size=page_size)


def _fetch(con, sql: str, params) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    total: int
    page: int
    pages: int
    first: int  # 1-based position of the first row shown (0 when none)
    last: int

    def numbers(self, around: int = 2) -> list[int]:
        """Page numbers to link: the first, the last, and a few either side of this one."""
        near = range(max(1, self.page - around), min(self.pages, self.page + around) + 1)
        return sorted({1, self.pages, *near})


def page_of(con, query: QueueQuery) -> tuple[Page, QueueQuery]:
    """The rows of the view's page (a page past the end shows the last one)."""
    where, params = query.where()
    base = _rows_sql(con)
    total = con.execute(f"select count(*) from ({base}) as q{where}", params).fetchone()[0]
    pages = max(1, -(-total // query.size))
    query = replace(query, page=min(query.page, pages))
    offset = (query.page - 1) * query.size
    rows = _fetch(con, f"select * from ({base}) as q{where} order by {query.order_by()} "
                       f"limit {int(query.size)} offset {int(offset)}", params)
    return Page(rows, total, query.page, pages, offset + 1 if rows else 0, offset + len(rows)), query


def all_rows(con, query: QueueQuery) -> list[dict]:
    """Every row of the view, in its order (the export: not just one page)."""
    where, params = query.where()
    return _fetch(con, f"select * from ({_rows_sql(con)}) as q{where} order by {query.order_by()}",
                  params)


def choices(con) -> dict[str, list[str]]:
    """What the filters' drop-downs offer."""
    distinct = lambda sql: [r[0] for r in con.execute(sql).fetchall()]
    return {
        "bodies": distinct("select distinct body from main.fct_compliance_exceptions order by 1"),
        "reasons": distinct("select distinct reason_code from main.fct_compliance_exceptions order by 1"),
        "assignees": distinct(f"select distinct assignee from ({notes.current_assignees_sql(con)}) "
                              "as a where assignee <> '' order by 1"),
    }


def to_csv(rows: list[dict]) -> str:
    """The rows as CSV, every text cell neutralised so a spreadsheet never runs it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([neutralise("" if row[c] is None else row[c] if isinstance(row[c], str)
                                 else str(row[c])) for c in COLUMNS] for row in rows)
    return buffer.getvalue()
