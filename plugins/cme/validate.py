"""Check, canonicalise and type an extract's records in DuckDB, as a set.

The rules and reasons are cme.parsing's (`parse_value`), written in SQL so a million
rows take seconds, not minutes; tests/test_validate_agrees.py keeps the two in step.
The result is a temp table: one row per record with `_problems` (a list of
{c: column, r: reason}, empty when the row loads), the typed values `v0..vN` in
contract order, `_raw_values` (JSON, quarantined rows) and `_extra` (JSON of
columns the contract does not know, loaded rows).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from cme.contract import Column, Extract
from cme.parsing import (DECIMAL_RANGE_REASON, INT_MAX, INT_MIN, INT_RANGE_REASON,
                         TIMESTAMP_PATTERN, TIMESTAMP_RANGE_REASON, TIMESTAMP_REASON, _FALSE,
                         _TRUE)
from cme.records import Records, gc_paused

SQL_TYPES = {"text": "VARCHAR", "enum": "VARCHAR", "state": "VARCHAR", "date": "DATE",
             "timestamp": "TIMESTAMPTZ", "bool": "BOOLEAN", "int": "INTEGER",
             "decimal": "DECIMAL(18,4)"}
# what Python's str.strip() removes, so values are trimmed as parse_value's callers did
_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _num(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _range_checks(column: Column, number: str, negative: str) -> list[tuple[str, str]]:
    """(condition, reason) for the contract's range, as parsing._check_range words it.
    `number` may be NULL for a value too large to convert: `negative` says its side."""
    checks = []
    if column.minimum is not None:
        op = ">" if column.exclusive_minimum else ">="
        cmp = "<=" if column.exclusive_minimum else "<"
        checks.append((f"coalesce({number} {cmp} {_num(column.minimum)}, {negative})",
                       f"must be {op} {column.minimum:g}"))
    if column.maximum is not None:
        checks.append((f"coalesce({number} > {_num(column.maximum)}, not {negative})",
                       f"must be <= {column.maximum:g}"))
    return checks


def column_sql(column: Column, i: int, tz: str) -> tuple[list[list[str]], list[tuple[str, str]], str]:
    """For contract column number i, whose trimmed text is `t{i}`: helper columns (stage by
    stage, each "expr as name"), the (bad condition, reason) checks in parse_value's order,
    and the typed value (used only when no check failed)."""
    t = f"t{i}"
    kind = column.type
    helpers: list[list[str]] = []
    if kind == "text":
        return helpers, [], t
    if kind == "bool":
        true = ", ".join(lit(v) for v in sorted(_TRUE))
        false = ", ".join(lit(v) for v in sorted(_FALSE))
        helpers = [[f"(case when lower({t}) in ({true}) then true when lower({t}) in ({false}) "
                    f"then false end) as b{i}"]]
        return helpers, [(f"b{i} is null", "not a boolean (Y/N, true/false, 1/0)")], f"b{i}"
    if kind == "date":
        helpers = [[f"regexp_full_match({t}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') as df{i}"],
                    [f"(case when df{i} and {t} >= '0001' then try_cast({t} as date) end) as d{i}"]]
        return helpers, [(f"not df{i}", "not an ISO date (YYYY-MM-DD)"),
                         (f"d{i} is null", "not a calendar date")], f"d{i}"
    if kind == "timestamp":
        return _timestamp_sql(i, tz)
    if kind == "int":
        helpers = [[f"regexp_full_match({t}, '[+-]?[0-9]+') as nf{i}",
                    f"try_cast({t} as hugeint) as n{i}"]]
        checks = [(f"not nf{i}", "not a whole number"),
                  *_range_checks(column, f"n{i}", f"starts_with({t}, '-')"),
                  (f"coalesce(n{i} not between {INT_MIN} and {INT_MAX}, true)", INT_RANGE_REASON)]
        return helpers, checks, f"cast(n{i} as integer)"
    if kind == "decimal":
        helpers = [[f"regexp_full_match({t}, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)') as nf{i}",
                    f"try_cast({t} as double) as n{i}",
                    f"try_cast({t} as decimal(18,4)) as d{i}"]]
        checks = [(f"not nf{i}", "not a decimal number"),
                  *_range_checks(column, f"n{i}", f"starts_with({t}, '-')"),
                  (f"length(regexp_extract({t}, '\\.([0-9]*)$', 1)) > 4", "more than 4 decimal places"),
                  (f"d{i} is null", DECIMAL_RANGE_REASON)]
        return helpers, checks, f"d{i}"
    if kind == "state":
        return helpers, [(f"not regexp_full_match({t}, '[A-Za-z]{{2}}')", "not a 2-letter state code")], \
            f"upper({t})"
    if kind == "enum":
        whens = " ".join(f"when {lit(c.lower())} then {lit(c)}" for c in column.choices)
        helpers = [[f"(case lower({t}) {whens} end) as e{i}"]]
        return helpers, [(f"e{i} is null", f"not one of {', '.join(column.choices)}")], f"e{i}"
    raise AssertionError(f"unknown column type {kind}")


def _timestamp_sql(i: int, tz: str) -> tuple[list[list[str]], list[tuple[str, str]], str]:
    t = f"t{i}"
    parts = (f"regexp_extract(substr({t}, 12), '^([0-9:]+)(?:[.,]([0-9]+))?(Z|[+-][0-9:]*)?$', "
             "['tm', 'fr', 'of'])")
    stage1 = [f"(length({t}) >= 16 and regexp_full_match({t}, {lit(TIMESTAMP_PATTERN[1:-1])})) as tf{i}",
              f"{parts} as tp{i}"]
    digits = f"(replace(tp{i}.tm, ':', '') || '0000')"  # hh, hhmm or hhmmss: minutes, seconds default 00
    odig = f"(replace(substr(tp{i}.of, 2), ':', '') || '0000')"
    stage2 = [f"(case when tf{i} then {digits} end) as tt{i}", f"{odig} as tq{i}"]
    h, mi, s = (f"substr(tt{i}, {k}, 2)" for k in (1, 3, 5))
    local = (f"(case when tf{i} and {h} <= '23' and {mi} <= '59' and {s} <= '59' and {t} >= '0001' "
             f"then try_cast(substr({t}, 1, 10) || ' ' || {h} || ':' || {mi} || ':' || {s} || '.' "
             f"|| rpad(left(tp{i}.fr, 6), 6, '0') as timestamp) end)")
    oh, om, os_ = (f"cast(substr(tq{i}, {k}, 2) as integer)" for k in (1, 3, 5))
    seconds = (f"(case when tp{i}.of = '' then null when tp{i}.of = 'Z' then 0 else "
               f"(case when starts_with(tp{i}.of, '-') then -1 else 1 end) * ({oh} * 3600 + {om} * 60 + {os_}) end)")
    stage3 = [f"{local} as tl{i}", f"{seconds} as to{i}"]
    # no offset: the provider's zone; a wall time shown twice (the autumn change) reads as
    # the first, as Python's fold=0 does; a skipped one with the offset before the change
    stage4 = [f"(case when to{i} is null and tl{i} is not null then timezone({lit(tz)}, tl{i}) end) as tz{i}"]
    earlier = f"(tz{i} - interval 1 hour)"
    stage5 = [f"(case when to{i} is not null then tl{i} - to_seconds(to{i}) "
              f"when timezone({lit(tz)}, {earlier}) = tl{i} then timezone('UTC', {earlier}) "
              f"else timezone('UTC', tz{i}) end) as tu{i}"]
    checks = [(f"not tf{i}", TIMESTAMP_REASON),
              (f"tl{i} is null or abs(coalesce(to{i}, 0)) >= 86400", TIMESTAMP_REASON),
              (f"year(tu{i}) not between 1 and 9999", TIMESTAMP_RANGE_REASON)]
    return [stage1, stage2, stage3, stage4, stage5], checks, f"timezone('UTC', tu{i})"


def frame(records: Records) -> pd.DataFrame:
    ncols = len(records.names)
    with gc_paused():
        if records.rows:
            cells = np.empty((len(records.rows), ncols), dtype=object)
            cells[:] = records.rows
        else:
            cells = np.empty((0, ncols), dtype=object)
        data = pd.DataFrame(cells, columns=[f"f{i}" for i in range(ncols)], copy=False)
        data["_line"] = np.asarray(records.lines, dtype=np.int64)
        pre = np.full(len(records.rows), None, dtype=object)
        for index, problems in records.pre_problems.items():
            pre[index] = "\x1e".join(f"{c}\x1f{r}" for c, r in problems)
        data["_pre"] = pre
    return data


def validate(con, extract: Extract, records: Records, tz: str, table: str) -> None:
    """Create temp table `table` from `records` (see the module's doc)."""
    check(con, extract, records, tz, table)
    finish(con, extract, records.names, table)


def _kind(table: str) -> str:
    """A name with a schema is an ordinary table: its rows can leave memory for the
    database file; a bare name is a temporary table (small inputs, tests)."""
    return "table" if "." in table else "temp table"


def check(con, extract: Extract, records: Records, tz: str, table: str, append: bool = False) -> None:
    """Check and type `records` into temp table `<table>_checked`; with `append`, add them
    to it (the pieces of one file, cme.records.read_chunks)."""
    names = records.names
    last = {name: i for i, name in enumerate(names)}  # a repeated column: its last value
    view = f"{table.rpartition('.')[2]}_in"
    con.register(view, frame(records))
    # trim() with a character list is slow: only for values that start or end with one
    ws = lit(_WHITESPACE)
    trims = [(f"case when contains({ws}, left(f{last[c.name]}, 1)) or contains({ws}, right(f{last[c.name]}, 1)) "
              f"then trim(f{last[c.name]}, {ws}) else f{last[c.name]} end") if c.name in last else "''"
             for c in extract.columns]
    stages: list[list[str]] = [[], [], [], [], []]
    values, problems, checked = [], [], []
    for i, column in enumerate(extract.columns):
        helpers, checks, value = column_sql(column, i, tz)
        for k, stage in enumerate(helpers):
            stages[k] += stage
        blank = lit("required value is blank") if column.required else "NULL"
        checked.append(f"case when t{i} = '' then {blank} " + " ".join(
            f"when coalesce({cond}, true) then {lit(reason)}" for cond, reason in checks) + f" end as p{i}")
        values.append(f"case when t{i} <> '' and p{i} is null then {value} end as v{i}")
        problems.append(f"case when p{i} is not null then {{'c': {lit(column.name)}, 'r': p{i}}} end")
    row_checks = []
    for rule in extract.row_checks:
        a = next(i for i, c in enumerate(extract.columns) if c.name == rule.earlier)
        b = next(i for i, c in enumerate(extract.columns) if c.name == rule.later)
        op = "<=" if rule.strict else "<"
        row_checks.append((a, b, op))
        problems.append(f"case when v{b} {op} v{a} then "
                        f"{{'c': {lit(rule.later)}, 'r': {lit(rule.reason)}}} end")
    header = "[" + ", ".join(f"{{'c': {lit(c)}, 'r': {lit(r)}}}" for c, r in records.header_problems) + "]"
    if not records.header_problems:
        header = "[]::struct(c varchar, r varchar)[]"
    pre = ("case when _pre is null then []::struct(c varchar, r varchar)[] else "
           "list_transform(string_split(_pre, chr(30)), "
           "lambda x: {'c': split_part(x, chr(31), 1), 'r': split_part(x, chr(31), 2)}) end")
    found = f"list_concat({header}, {pre}, list_filter([{', '.join(problems)}], lambda x: x is not null))"
    # most rows have no problem: build the list only for those that do
    clean = " and ".join([f"p{i} is null" for i in range(len(extract.columns))] + [
        f"not coalesce(v{b} {op} v{a}, false)" for a, b, op in row_checks])
    if not records.header_problems:
        found = f"case when _pre is null and {clean} then []::struct(c varchar, r varchar)[] else {found} end"
    helper_ctes = " ".join(
        f"h{k + 1} as (select *{''.join(', ' + e for e in stage)} from {'trimmed' if k == 0 else f'h{k}'}),"
        for k, stage in enumerate(stages))
    raw_columns = ", ".join(f"f{i}" for i in range(len(names)))
    con.execute(f"""
        {f'insert into {table}_checked' if append else f'create or replace {_kind(table)} {table}_checked as'}
        with trimmed as (
            select _line, _pre{', ' + raw_columns if raw_columns else ''},
                   {', '.join(f'{t} as t{i}' for i, t in enumerate(trims))}
            from {view}),
        {helper_ctes}
        judged as (select *, {', '.join(checked)} from h{len(stages)}),
        typed as (select *, {', '.join(values)} from judged)
        select _line{', ' + raw_columns if raw_columns else ''},
               {', '.join(f'v{i}' for i in range(len(extract.columns)))}, {found} as _problems
        from typed""")
    con.unregister(view)


def finish(con, extract: Extract, names: list[str], table: str) -> None:
    """Temp table `table` from `<table>_checked`: a key repeated in the file quarantines
    every occurrence after the first; the raw values of quarantined rows and the extra
    columns of loaded ones as JSON."""
    last = {name: i for i, name in enumerate(names)}  # a repeated column: its last value
    known = {c.name for c in extract.columns}
    keys = [next(i for i, c in enumerate(extract.columns) if c.name == k) for k in extract.key]
    on = " and ".join(f"c.v{k} = d.v{k}" for k in keys)
    key_list = ", ".join(f"v{k}" for k in keys)
    key_names = ",".join(extract.key)
    unique = list(dict.fromkeys(names))
    raw = "json_object(" + ", ".join(f"{lit(n)}, f{last[n]}" for n in unique) + ")" if unique else "'{}'"
    extras = [n for n in unique if n not in known]
    extra = ("json_object(" + ", ".join(f"{lit(n)}, f{last[n]}" for n in extras) + ")") if extras else "NULL"
    # a key seen again in the file: the first occurrence loads, later ones are quarantined
    con.execute(f"""
        create or replace {_kind(table)} {table} as
        with dups as (
            select {key_list}, min(_line) as _first from {table}_checked
            where len(_problems) = 0 group by all having count(*) > 1),
        keyed as (
            select c.*, d._first from {table}_checked as c
            left join dups as d on len(c._problems) = 0 and {on})
        select _line,
               case when _first < _line
                    then [{{'c': {lit(key_names)}, 'r': 'duplicate key in this file (first on line '
                            || _first || ')'}}]
                    else _problems end as _problems,
               {', '.join(f'v{i}' for i in range(len(extract.columns)))},
               case when len(_problems) > 0 or _first < _line then {raw}::json end as _raw_values,
               case when len(_problems) = 0 and coalesce(_first >= _line, true) then {extra}::json end as _extra
        from keyed""")
    con.execute(f"drop table {table}_checked")


def problems_text(column: str = "_problems") -> str:
    """SQL: the all_problems text, '; '-joined `column: reason` (the reason alone when no column)."""
    return (f"array_to_string(list_transform({column}, "
            "lambda x: case when x.c = '' then x.r else x.c || ': ' || x.r end), '; ')")

