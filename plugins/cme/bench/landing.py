"""Landing data at any scale, written by DuckDB as a set (the sample generator in
`cme.synthetic` builds rows in Python and is meant for hundreds of learners, not millions).

Proportions per completion: one learner per 10 (3% of them with a second account the
identity rules must merge), one activity per 200 (a third of them live), a license for
most physicians, nurses, pharmacists and PAs, a board id for half the physicians, one
attendance row per 10. About 0.5% of completion, attendance and learner rows carry a
defect of a kind real extracts have, so quarantine runs at scale too.

Values come from hash(row number, salt): the same arguments write the same bytes.
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

HISTORY_DAYS = 90  # a first load carries this many days of completions

_MACROS = """
create or replace macro pick(i, salt, n) as (hash(i, salt) % n)::bigint;
create or replace macro digits(i, salt, n) as lpad((hash(i, salt) % (10 ** n)::ubigint)::varchar, n, '0');
-- NPI check digit: Luhn over 80840 + the first nine digits (cme.npi.check_digit)
create or replace macro npi_of(nine) as nine || ((10 - list_sum(list_transform(range(14),
    lambda k: case when k % 2 = 0
        then (2 * substr('80840' || nine, 14 - k, 1)::int) // 10 + (2 * substr('80840' || nine, 14 - k, 1)::int) % 10
        else substr('80840' || nine, 14 - k, 1)::int end)) % 10) % 10)::varchar;
create or replace macro ts(day, minute_of_day) as
    strftime(day::timestamp + to_minutes(minute_of_day::bigint), '%Y-%m-%dT%H:%M:00') || '-06:00';
"""

PROFESSIONS = "['physician','physician','physician','physician','physician','physician','physician','physician','physician'," \
              "'nurse','nurse','nurse','nurse','nurse','pharmacist','pharmacist','pharmacy_technician','physician_assistant'," \
              "'psychologist','other']"
STATES = "['FL','FL','FL','TX','CA','GA','NY']"


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    con.execute(f"copy ({sql}) to '{path}' (header, delimiter ',')")
    return con.execute(f"select count(*) from read_csv('{path}', all_varchar=true)").fetchone()[0]


def write_day(folder: Path, first_day: date, day_index: int, completions: int,
              learners_total: int, activities_total: int, event_lo: int) -> dict[str, int]:
    """Write one extract-date folder. Day 0 is the first load: every activity, credit,
    learner, license and board id, and `completions` completions over the HISTORY_DAYS
    before it. A later day adds `completions` completions of the day before, its new
    learners (one per 10 completions) and a few live activities with their attendance."""
    folder.mkdir(parents=True, exist_ok=True)
    run_day = first_day + timedelta(days=day_index)
    con = duckdb.connect()
    con.execute("set threads = 2")
    con.execute(_MACROS)
    rows: dict[str, int] = {}
    first = day_index == 0
    # id ranges: day 0 owns learners 1..learners_total, activities 1..activities_total;
    # day k adds its own new learners and live activities above those
    new_learners = learners_total if first else max(1, completions // 10)
    learner_lo = 0 if first else learners_total + (day_index - 1) * new_learners
    new_activities = activities_total if first else 5
    activity_lo = 0 if first else activities_total + (day_index - 1) * 5
    live_back = f"1 + pick(i, 'day', {HISTORY_DAYS})" if first else "1"
    con.execute(f"""
        create table act as
        select i, 'BA' || lpad(i::varchar, 7, '0') as activity_id,
               {'i % 3 = 0' if first else 'true'} as live,
               case when {'i % 3 = 0' if first else 'true'}
                    then date '{run_day}' - ({live_back})::int
                    else date '{run_day}' - 400 end as start_date
        from range({activity_lo}, {activity_lo + new_activities}) t(i)""")
    rows["activities.csv"] = _copy(con, f"""
        select activity_id, 'Activity ' || i as title,
               case when live then 'C' else ['IEM','EM','IL','JN','PI'][1 + pick(i, 'fmt', 5)] end as activity_format,
               start_date, case when live then start_date else start_date + 700 end as end_date,
               case when pick(i, 'pars', 10) < 9 then 'PARS-' || (2000000 + i) end as accme_activity_id,
               case when pick(i, 'ceb', 10) < 6 then '20-' || (8000000 + i) end as cebroker_course_id,
               case when pick(i, 'ship', 2) = 0 then 'direct' else 'joint' end as providership,
               'N' as commercial_support, null as commercial_agreement_signed_date,
               case when pick(i, 'eval', 2) = 0 then 'Y' else 'N' end as evaluation_required,
               case when pick(i, 'pass', 4) = 0 then '70' end as passing_score,
               ts(date '{run_day}' - 3, 480) as updated_at
        from act order by i""", folder / "activities.csv")
    rows["activity_credits.csv"] = _copy(con, """
        with credit_types as (
            select i, activity_id, live, unnest(list_concat(['AMA_PRA_1'],
                case when pick(i, 'ancc', 2) = 0 then ['ANCC'] else [] end,
                case when pick(i, 'acpe', 4) = 0 then ['ACPE_P', 'ACPE_T'] else [] end,
                case when pick(i, 'moc', 10) < 3 then [['ABIM_MK','ABP_LLSA','ABS_CME','ABA_MOCA'][1 + pick(i, 'board', 4)]] else [] end,
                case when pick(i, 'aapa', 5) = 0 then ['AAPA_1'] else [] end)) as credit_type
            from act)
        select activity_id, credit_type,
               ['1.0','1.5','2.0','3.0','6.25'][1 + pick(i, 'max', 5)] as max_credits,
               case when credit_type in ('ACPE_P', 'ACPE_T') then
                   '0204-0000-26-' || lpad((i % 1000)::varchar, 3, '0') || '-' || case when live then 'L' else 'H' end
                   || '01-' || case when credit_type = 'ACPE_P' then 'P' else 'T' end end as uan
        from credit_types order by activity_id, credit_type""", folder / "activity_credits.csv")
    con.execute(f"""
        create table person as
        select i, 'BL' || lpad(i::varchar, 8, '0') as learner_id,
               {PROFESSIONS}[1 + pick(i, 'prof', 20)] as profession
        from range({learner_lo}, {learner_lo + new_learners}) t(i)""")
    rows["learners.csv"] = _copy(con, f"""
        with accounts as (
            select *, learner_id as account_id, false as second from person
            union all  -- a second account of 3% of people, linked by e-mail only
            select *, learner_id || '-2', true from person where pick(i, 'dup', 100) < 3)
        select account_id as learner_id,
               ['Alex','Sam','Maria','Wei','Priya','Omar'][1 + pick(i, 'first', 6)] as first_name,
               ['Smith','Garcia','Chen','Patel','Okafor','Nguyen'][1 + pick(i, 'last', 6)] as last_name,
               case when second then upper('p' || i || '@example.org') else 'p' || i || '@example.org' end as email,
               case when pick(i, 'defect', 200) = 0 then strftime(date '1950-01-01' + pick(i, 'dob', 16000)::int, '%m/%d/%Y')
                    else strftime(date '1950-01-01' + pick(i, 'dob', 16000)::int, '%Y-%m-%d') end as date_of_birth,
               case when pick(i, 'defect', 200) = 1 then 'doctor' else profession end as profession,
               case when profession = 'physician' and not second then npi_of('1' || digits(i, 'npi', 8)) end as npi,
               case when profession like 'pharm%' then digits(i, 'nabp', 7) end as nabp_eprofile_id,
               case when pick(i, 'consent', 5) < 4 then 'Y' else 'N' end as moc_consent,
               ts(date '{run_day}' - 5, 540) as updated_at
        from accounts order by account_id""", folder / "learners.csv")
    rows["learner_licenses.csv"] = _copy(con, f"""
        select learner_id, {STATES}[1 + pick(i, 'state', 7)] as state,
               case profession when 'physician' then 'ME' when 'nurse' then 'RN'
                    when 'pharmacist' then 'PS' else 'PA' end || digits(i, 'lic', 7) as license_number,
               case profession when 'physician' then 'MD' when 'nurse' then 'RN'
                    when 'pharmacist' then 'PS' else 'PA' end as license_profession,
               date '{run_day}' + 30 + pick(i, 'exp', 870)::int as expires_on
        from person
        where profession in ('physician', 'nurse', 'pharmacist', 'physician_assistant')
          and pick(i, 'haslic', 10) < 9
        order by learner_id""", folder / "learner_licenses.csv")
    rows["learner_board_ids.csv"] = _copy(con, """
        with boards as (
            select i, learner_id, ['ABIM','ABP','ABS','ABA'][1 + pick(i, 'board', 4)] as board
            from person where profession = 'physician' and pick(i, 'hasboard', 2) = 0)
        select learner_id, board,
               case when board <> 'ABS' then board || '-' || digits(i, 'bid', 6) end as board_id
        from boards order by learner_id""", folder / "learner_board_ids.csv")
    # completions: online activities, learners of the history so far
    learners_so_far = learner_lo + new_learners
    online = max(1, activities_total - activities_total // 3 - (1 if activities_total % 3 else 0))
    con.execute(f"""
        create table online as
        select row_number() over (order by i) - 1 as k, 'BA' || lpad(i::varchar, 7, '0') as activity_id
        from range({activities_total}) t(i) where i % 3 <> 0""")
    days_back = f"1 + pick(i, 'back', {HISTORY_DAYS})" if first else "1"
    rows["lms_completions.csv"] = _copy(con, f"""
        with c as (
            select i, 'BC' || {day_index} || '-' || lpad(i::varchar, 8, '0') as completion_id,
                   'BL' || lpad(pick(i, 'who', {learners_so_far})::varchar, 8, '0') as learner_id,
                   pick(i, 'what', {online}) as k,
                   date '{run_day}' - ({days_back})::int as day,
                   pick(i, 'defect', 200) as defect
            from range({event_lo}, {event_lo + completions}) t(i)),
        rows as (
            select c.completion_id,
                   case when defect = 4 then null else c.learner_id end as learner_id,
                   online.activity_id,
                   case when defect = 2 then strftime(day, '%Y-%m-%d') || ' 3pm'
                        else ts(day, 360 + pick(i, 'min', 1000)) end as completed_at,
                   case when defect = 0 then '9O'
                        when pick(i, 'hasmin', 20) > 0 then (3 + pick(i, 'minutes', 200))::varchar end as minutes_engaged,
                   case when defect = 3 then '101' when pick(i, 'score', 4) = 0 then (40 + pick(i, 'pts', 61))::varchar end as post_test_score,
                   case when defect = 1 then 'maybe' when pick(i, 'evald', 10) < 9 then 'Y' else 'N' end as evaluation_completed,
                   case when pick(i, 'claim', 5) < 3 then ((1 + pick(i, 'q', 12)) * 0.25)::decimal(6, 2)::varchar end as credits_claimed,
                   case when pick(i, 'mocr', 2) = 0 then 'Y' else 'N' end as moc_requested,
                   'completed' as status, i, 0 as copy
            from c join online using (k))
        select * exclude (i, copy) from (
            select * from rows
            union all  -- a row sent twice, and a few revocations of the day's completions
            select * replace (1 as copy) from rows where pick(i, 'defect', 200) = 5
            union all
            select * replace ('revoked' as status, 2 as copy) from rows where pick(i, 'revoke', 1000) = 0)
        order by i, copy""", folder / "lms_completions.csv")
    rows["attendance.csv"] = _copy(con, f"""
        with live as (
            select row_number() over (order by i) - 1 as k, activity_id, start_date from act where live),
        a as (
            select i, pick(i, 'where', (select count(*) from live)) as k,
                   'BL' || lpad(pick(i, 'who', {learners_so_far})::varchar, 8, '0') as learner_id,
                   480 + 15 * pick(i, 'start', 8) as check_in, 45 + 15 * pick(i, 'len', 10) as length
            from range({event_lo // 10}, {event_lo // 10 + max(1, completions // 10)}) t(i))
        select 'BT' || {day_index} || '-' || lpad(i::varchar, 8, '0') as attendance_id, learner_id,
               live.activity_id, 'S1' as session_id,
               ts(live.start_date, check_in) as check_in_at,
               case when pick(i, 'defect', 200) = 0 then ts(live.start_date, check_in - 60)
                    else ts(live.start_date, check_in + length) end as check_out_at,
               case when pick(i, 'evald', 10) < 9 then 'Y' else 'N' end as evaluation_completed,
               case when pick(i, 'mocr', 3) = 0 then 'Y' else 'N' end as moc_requested
        from a join live using (k) order by i""", folder / "attendance.csv")
    con.close()
    return rows


def write_landing(landing: Path, first_day: date, completions: int, days: int,
                  daily_completions: int) -> dict[str, dict[str, int]]:
    """A first-load folder with `completions` completions, then `days` daily folders of
    `daily_completions` each. Returns rows written per folder and file (data rows)."""
    learners = max(10, completions // 10)
    activities = max(9, completions // 200)
    written = {}
    event_lo = 0  # completion (and attendance) numbers never repeat across days
    for k in range(days + 1):
        day = first_day + timedelta(days=k)
        n = completions if k == 0 else daily_completions
        written[day.isoformat()] = write_day(
            Path(landing) / day.isoformat(), first_day, k, n, learners, activities, event_lo)
        event_lo += n
    return written


def main() -> None:
    """python -m cme.bench.landing LANDING FIRST_DAY COMPLETIONS DAYS DAILY (prints JSON counts)"""
    import json
    import sys

    landing, first, completions, days, daily = sys.argv[1:6]
    print(json.dumps(write_landing(Path(landing), date.fromisoformat(first), int(completions),
                                   int(days), int(daily))))


if __name__ == "__main__":
    main()
