"""The SQL validator (cme.validate) and the Python one (cme.parsing.parse_value) agree,
value by value, on a few hundred good and bad values per type: same reason, same value."""
from __future__ import annotations

import itertools
import random
from datetime import timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import pytest

from cme.contract import Column, Extract
from cme.parsing import BadValue, parse_value
from cme.records import Records
from cme.validate import validate

TZ = "America/Chicago"
rng = random.Random(10)


def _mix(*groups: list[str]) -> list[str]:
    values = [v for g in groups for v in g]
    return values + [f" {v}\t" for v in values[:20]]  # trimmed as before


DATES = _mix(["2026-02-28", "2024-02-29", "2026-02-29", "2026-02-30", "2026-13-01", "0000-01-01",
              "0001-01-01", "9999-12-31", "2026-1-1", "11/24/1970", "19701116", "2026-11-24T00:00",
              "", "x", "2026-00-10", "2026-04-31"],
             [f"{rng.randint(1, 9999):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}"
              for _ in range(200)])
TIMES = ["00:00", "23:59", "24:00", "12:60", "10:00:00", "10:00:60", "10:00:59.5", "10:00:00.1234567",
         "10:00:00,25", "1000", "100000", "10", "10:00.5", "10:0000"]
OFFSETS = ["", "Z", "-06:00", "+05:30", "+0530", "+05", "-00:00", "+23:59", "+24:00", "+05:30:15",
           "z", " Z", "+5:00"]
TIMESTAMPS = _mix(
    [f"2026-11-24{sep}{t}{o}" for sep, t, o in itertools.product("T ", TIMES, OFFSETS)],
    ["2026-03-08T02:30:00", "2026-11-01T01:30:00", "2026-11-01T00:59:59", "2026-11-01T02:00:00",
     "9999-12-31T23:00:00", "9999-12-31T17:59:59", "9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+01:00",
     "0001-01-01T06:00:00", "2026-02-30T10:00:00Z", "2026-11-24", "2026-11-24T", "x" * 20])
INTS = _mix(["0", "070", "+5", "-0", "-1", "100", "101", "2147483647", "2147483648", "-2147483648",
             "-2147483649", "99999999999", "1" + "0" * 45, "-" + "9" * 45, "1.0", "1e3", "9O", "", "+", "٣"],
            [str(rng.randint(-3_000_000_000, 3_000_000_000)) for _ in range(100)],
            [str(rng.randint(-5, 120)) for _ in range(100)])
DECIMALS = _mix(["0", "0.0", "1.", ".5", "+1.5", "-0.0001", "1.25", "1.12345", "1.50000", "1e20",
                 "100000000000000000000", "99999999999999.9999", "100000000000000", "1,5", "", ".", "-",
                 "0.00001", "12.3456"],
                [f"{rng.uniform(-10, 200):.{rng.randint(0, 6)}f}" for _ in range(200)])
BOOLS = _mix(["Y", "y", "N", "yes", "No", "TRUE", "false", "1", "0", "2", "", "maybe", "t", "f"])
STATES = _mix(["FL", "fl", "Fl", "F", "FLA", "F1", "", "ñy"])
ENUMS = _mix(["physician", "Physician", "NURSE", "nurse ", "surgeon", "", "pharmacy_technician", "other"])

CASES = [
    (Column("v", "date"), DATES),
    (Column("v", "date", required=True), DATES),
    (Column("v", "timestamp", required=True), TIMESTAMPS),
    (Column("v", "int"), INTS),
    (Column("v", "int", minimum=0, maximum=100), INTS),
    (Column("v", "int", minimum=0), INTS),
    (Column("v", "decimal", minimum=0, exclusive_minimum=True), DECIMALS),
    (Column("v", "decimal", minimum=0), DECIMALS),
    (Column("v", "decimal"), DECIMALS),
    (Column("v", "bool"), BOOLS),
    (Column("v", "state", required=True), STATES),
    (Column("v", "enum", required=True, choices=("physician", "nurse", "pharmacy_technician", "other")),
     ENUMS),
    (Column("v", "text", required=True), ["a", "", "  ", " b "]),
]


def _python(column: Column, text: str):
    try:
        return parse_value(column, text.strip(), ZoneInfo(TZ)), None
    except BadValue as exc:
        return None, str(exc)


def _normalise(kind: str, value):
    if value is None:
        return None
    if kind == "timestamp":
        return value if isinstance(value, str) else value.astimezone(timezone.utc).isoformat()
    if kind == "date":
        return value if isinstance(value, str) else value.isoformat()
    if kind == "bool":
        return value if isinstance(value, str) else ("true" if value else "false")
    if kind == "int":
        return str(value)
    if kind == "decimal":
        return Decimal(value)
    return value


@pytest.mark.parametrize("column, values", CASES, ids=[
    f"{c.type}{'-required' if c.required else ''}{'-min' if c.minimum is not None else ''}"
    f"{'-max' if c.maximum is not None else ''}" for c, _ in CASES])
def test_sql_and_python_agree(column, values):
    extract = Extract("x.csv", "x", "event", ("id",), (Column("id", "text", True), column))
    records = Records(["id", "v"], [], rows=[[str(i), v] for i, v in enumerate(values)],
                      lines=list(range(2, len(values) + 2)))
    con = duckdb.connect()
    validate(con, extract, records, TZ, "_checked")
    got = {line: (value, problems) for line, value, problems in con.execute(
        "select _line, v1, _problems from _checked").fetchall()}
    disagreements, outcomes = [], set()
    for i, text in enumerate(values):
        value, problems = got[i + 2]
        sql_reason = problems[0]["r"] if problems else None
        py_value, py_reason = _python(column, text)
        if column.type == "decimal" and py_value is not None:
            py_value = Decimal(py_value)
        outcomes.add(py_reason is None)
        if (sql_reason, _normalise(column.type, value)) != (py_reason, _normalise(column.type, py_value)):
            disagreements.append((text, (sql_reason, value), (py_reason, py_value)))
    assert not disagreements, disagreements[:10]
    assert outcomes == {True, False}, "good and bad values both"


def test_year_9999_and_year_1_timestamps_are_out_of_range_not_an_overflow():
    column = Column("v", "timestamp")
    assert _python(column, "9999-12-31T23:00:00")[1].startswith("timestamp out of range")
    assert _python(column, "0001-01-01T00:00:00+01:00")[1].startswith("timestamp out of range")
    assert _python(column, "9999-12-31T17:59:59")[0] == "9999-12-31T23:59:59+00:00"
    # the autumn hour shown twice reads as the first (CDT), as Python's fold=0 does
    assert _python(column, "2026-11-01T01:30:00")[0] == "2026-11-01T06:30:00+00:00"
