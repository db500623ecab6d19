"""The activities page: PARS status and reporting completeness per activity and year,
read from `fct_pars_activities` with the open exceptions counted per activity."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

STATUSES = ("Draft", "Active", "Closed")
FLAG_VALUES = ("", "1")  # an unticked checkbox sends nothing, a ticked one value="1"

# Open exceptions per activity, every body (learner records, disclosures, the activity
# record itself): what the queue shows for `?activity=`, so the count and the link agree.
_OPEN_BY_ACTIVITY = """
    select activity_id, count(*) as open_exceptions
    from main.fct_compliance_exceptions
    where status = 'open' and activity_id is not null
    group by activity_id"""

# One row per activity and year with what the page shows; `?` is the as-of date.
_ROWS = f"""
    with activities as (select * from main.fct_pars_activities),
    open_exceptions as ({_OPEN_BY_ACTIVITY})
    select
        activities.activity_id, activities.reporting_year, activities.title, activities.pars_status,
        activities.next_status, activities.missing_for_next_status, activities.missing_fields,
        activities.period_ends_on, activities.learner_records, activities.learner_records_sent,
        activities.learner_records_accepted, activities.submission_state, activities.error_codes,
        activities.due_on,
        coalesce(open_exceptions.open_exceptions, 0) as open_exceptions,
        activities.due_on - cast(? as date) as days_left,
        -- done for the year: Closed and PARS took that version
        activities.pars_status = 'Closed' and activities.submission_state = 'accepted' as is_done
    from activities
    left join open_exceptions using (activity_id)"""


@dataclass(frozen=True)
class ActivityFilter:
    status: str = ""           # Draft, Active, Closed, or "" for any
    year: int | None = None
    open_exceptions: bool = False
    incomplete: bool = False   # learner records sent < due
    text: str = ""             # in the activity id or title, any case

    def where(self) -> tuple[str, list]:
        """The SQL condition over `_ROWS` and its parameters; empty matches everything."""
        conditions = [(sql, params) for sql, params, wanted in (
            ("pars_status = ?", [self.status], self.status),
            ("reporting_year = ?", [self.year], self.year is not None),
            ("open_exceptions > 0", [], self.open_exceptions),
            ("learner_records_sent < learner_records", [], self.incomplete),
            # strpos(), not LIKE: a typed % or _ is a character, not a wildcard
            ("(strpos(lower(activity_id), lower(?)) > 0 or strpos(lower(coalesce(title, '')), lower(?)) > 0)",
             [self.text, self.text], self.text),
        ) if wanted]
        if not conditions:
            return "", []
        return (" where " + " and ".join(sql for sql, _ in conditions),
                [p for _, params in conditions for p in params])


def parse_filter(status: str, year: str, open_exceptions: str, incomplete: str,
                 text: str) -> ActivityFilter:
    """The filter from the page's GET parameters; ValueError says what is wrong."""
    status = "" if status in ("", "any") else status
    if status and status not in STATUSES:
        raise ValueError("status is Draft, Active, Closed or any")
    year = year.strip()
    if year and not (year.isdigit() and len(year) == 4):
        raise ValueError("year is a four-digit reporting year")
    for name, value in (("open_exceptions", open_exceptions), ("incomplete", incomplete)):
        if value not in FLAG_VALUES:
            raise ValueError(f"{name} is 1 or absent")
    text = text.strip()
    if len(text) > 100:
        raise ValueError("the search text is at most 100 characters")
    return ActivityFilter(status=status, year=int(year) if year else None,
                          open_exceptions=open_exceptions == "1", incomplete=incomplete == "1",
                          text=text)


def _rows(con, sql: str, params) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def activities(con, today: date, filters: ActivityFilter, limit: int = 1000) -> tuple[int, list[dict]]:
    """Matching activity years, the year close nearest first, then by activity id."""
    where, params = filters.where()
    total = con.execute(f"select count(*) from ({_ROWS}) as a{where}", [today, *params]).fetchone()[0]
    rows = _rows(con, f"""
        select * from ({_ROWS}) as a{where}
        order by days_left, activity_id, reporting_year
        limit {int(limit)}""", [today, *params])
    return total, rows


def years(con) -> list[int]:
    return [y for (y,) in con.execute(
        "select distinct reporting_year from main.fct_pars_activities order by 1 desc").fetchall()]


def summary(con, today: date) -> dict:
    """The overview's tile: this year's activities (the as-of date's reporting year), how
    many are Closed and how many have open exceptions, days to that year's close, and
    activity years of any year whose close has passed without being done."""
    found = _rows(con, f"""
        select
            count(*) filter (where reporting_year = extract(year from cast(? as date))) as this_year,
            count(*) filter (where reporting_year = extract(year from cast(? as date))
                             and pars_status = 'Closed') as closed,
            count(*) filter (where reporting_year = extract(year from cast(? as date)) and open_exceptions > 0)
                as with_open_exceptions,
            max(days_left) filter (where reporting_year = extract(year from cast(? as date))) as days_to_year_close,
            count(*) filter (where days_left < 0 and not is_done) as past_due
        from ({_ROWS}) as a""", [today] * 4 + [today])
    return {"year": today.year, **found[0]}
