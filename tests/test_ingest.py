"""Ingest: parse per the contract, quarantine with reasons, conserve rows, never duplicate."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from cme.contract import BY_FILE
from cme.ingest import ingest_day, parse_file
from cme.parsing import BadValue, parse_timestamp, parse_value
from zoneinfo import ZoneInfo

TZ = "America/Chicago"
DAY = date(2026, 11, 24)
LEARNER_HEADER = "learner_id,first_name,last_name,email,date_of_birth,profession,npi,nabp_eprofile_id,moc_consent,updated_at\r\n"


def write(folder: Path, name: str, text: str, bom: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())


def counts(warehouse: Path, sql: str):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_bad_rows_are_quarantined_with_file_line_column_and_reason(tmp_path):
    write(tmp_path / "landing" / DAY.isoformat(), "learners.csv", LEARNER_HEADER
          + "L1,Ann,Lee,,1970-03-14,physician,,,Y,2026-11-24T08:00:00-06:00\r\n"
          + "L2,Bob,Ray,,11/24/1970,physician,,,Y,2026-11-24T08:00:00-06:00\r\n"
          + ",Cy,Doe,,1970-01-01,nurse,,,N,2026-11-24T08:00:00-06:00\r\n"
          + "L4,Di,Poe,,1970-01-01,surgeon,,,maybe,2026-11-24T08:00:00-06:00\r\n")
    wh = tmp_path / "w.duckdb"
    report = ingest_day(tmp_path / "landing", wh, DAY, TZ, "load-1")
    learners = next(f for f in report.files if f.file == "learners.csv")
    assert (learners.rows_read, learners.rows_loaded, learners.rows_quarantined) == (4, 1, 3)
    rows = counts(wh, 'select _line, "column", reason, all_problems from raw.quarantine order by _line')
    assert rows[0][:3] == (3, "date_of_birth", "not an ISO date (YYYY-MM-DD)")
    assert rows[1][:3] == (4, "learner_id", "required value is blank")
    assert rows[2][1] == "profession" and "moc_consent: not a boolean" in rows[2][3]
    # the reason never repeats the value (a birth date here), but the raw row is kept whole
    assert "11/24/1970" not in json.dumps(report.to_dict())
    raw = counts(wh, "select raw_values from raw.quarantine where _line = 3")[0][0]
    assert json.loads(raw)["date_of_birth"] == "11/24/1970"


def test_relanding_a_folder_creates_no_duplicates_and_a_resent_extract_replaces_the_day(tmp_path):
    folder = tmp_path / "landing" / DAY.isoformat()
    body = LEARNER_HEADER + "L1,Ann,Lee,,1970-03-14,physician,,,Y,2026-11-24T08:00:00-06:00\r\n"
    write(folder, "learners.csv", body)
    wh = tmp_path / "w.duckdb"
    ingest_day(tmp_path / "landing", wh, DAY, TZ, "first")
    again = ingest_day(tmp_path / "landing", wh, DAY, TZ, "second")
    assert {f.status for f in again.files if f.file == "learners.csv"} == {"unchanged"}
    assert counts(wh, "select count(*), min(_load_id) from raw.learners") == [(1, "first")]
    # the same day re-sent with a correction and one more row: replaced, not appended
    write(folder, "learners.csv", body.replace("Ann", "Anne")
          + "L2,Bo,Ray,,1971-01-01,nurse,,,N,2026-11-24T09:00:00-06:00\r\n")
    ingest_day(tmp_path / "landing", wh, DAY, TZ, "third")
    assert counts(wh, "select learner_id, first_name from raw.learners order by 1") == [
        ("L1", "Anne"), ("L2", "Bo")]


def test_missing_files_and_missing_folder_are_empty_extracts(tmp_path):
    wh = tmp_path / "w.duckdb"
    report = ingest_day(tmp_path / "landing", wh, DAY, TZ, "x")
    assert not report.folder_found
    assert report.rows_read == 0
    assert {f.status for f in report.files} == {"missing"}


def test_headers_match_case_insensitively_with_bom_and_extra_columns_are_kept(tmp_path):
    header = " Learner_ID ,FIRST_NAME,last_name,Email,date_of_birth,Profession,npi,nabp_eprofile_id,moc_consent,updated_at,crm_ref\r\n"
    write(tmp_path / "landing" / DAY.isoformat(), "learners.csv",
          header + "L1,Ann,Lee,,1970-03-14,Physician,,,true,2026-11-24T08:00:00,crm-9\r\n", bom=True)
    wh = tmp_path / "w.duckdb"
    ingest_day(tmp_path / "landing", wh, DAY, TZ, "x")
    row = counts(wh, "select learner_id, profession, moc_consent, _extra, "
                     "strftime(updated_at at time zone 'UTC', '%H:%M') from raw.learners")[0]
    assert row[:3] == ("L1", "physician", True)
    assert json.loads(row[3]) == {"crm_ref": "crm-9"}
    assert row[4] == "14:00"  # no offset: read in America/Chicago (UTC-6 in November)


def test_a_row_with_the_wrong_number_of_fields_is_kept_in_quarantine(tmp_path):
    text = ("activity_id,credit_type,max_credits,uan\r\n"
            "A1,AMA_PRA_1,1.5\r\n"
            'A2,ANCC,"2.0",\r\n'
            "A3,ANCC,0,\r\n")
    parsed = parse_file(BY_FILE["activity_credits.csv"], text.encode(), ZoneInfo(TZ))
    assert parsed.rows_read == 3
    assert [r["activity_id"] for r in parsed.loaded] == ["A2"]
    assert [(q["_line"], q["reason"]) for q in parsed.quarantined] == [
        (2, "row has 3 fields, header has 4"), (4, "must be > 0")]


def test_duplicate_key_in_one_file_keeps_the_first_and_quarantines_the_second():
    text = ("completion_id,learner_id,activity_id,completed_at,status\r\n"
            "C1,L1,A1,2026-11-24T10:00:00-06:00,completed\r\n"
            "C1,L1,A1,2026-11-24T10:00:00-06:00,completed\r\n"
            "C1,L1,A1,2026-11-24T11:00:00-06:00,revoked\r\n")
    parsed = parse_file(BY_FILE["lms_completions.csv"], text.encode(), ZoneInfo(TZ))
    assert len(parsed.loaded) == 2
    assert parsed.quarantined[0]["_line"] == 3
    assert "duplicate key" in parsed.quarantined[0]["reason"]


def test_a_quoted_field_spanning_lines_reports_the_line_the_row_starts_on():
    text = ('activity_id,title,activity_format,start_date,end_date,evaluation_required,updated_at\r\n'
            '"A1","Two\r\nline title",C,2026-01-01,2026-01-01,Y,2026-01-01T00:00:00Z\r\n'
            '"A2","x",C,2026-01-02,2026-01-01,Y,2026-01-01T00:00:00Z\r\n')
    parsed = parse_file(BY_FILE["activities.csv"], text.encode(), ZoneInfo(TZ))
    assert parsed.loaded[0]["title"] == "Two\r\nline title"
    assert parsed.quarantined[0]["_line"] == 4
    assert parsed.quarantined[0]["reason"] == "end_date is before start_date"


@pytest.mark.parametrize("kind, text, expected", [
    ("bool", "Y", "true"), ("bool", "false", "false"), ("bool", "1", "true"), ("bool", "n", "false"),
    ("date", "2026-02-28", "2026-02-28"),
    ("int", "070", "70"), ("decimal", "1.25", "1.25"),
])
def test_values_parse_per_the_contract(kind, text, expected):
    from cme.contract import Column
    assert parse_value(Column("x", kind), text, ZoneInfo(TZ)) == expected


@pytest.mark.parametrize("kind, text", [
    ("bool", "yes please"), ("date", "2026-02-30"), ("date", "11/24/1970"), ("int", "9O"),
    ("decimal", "1,5"), ("timestamp", "2026-11-24 3pm"), ("state", "Florida"),
])
def test_unparseable_values_are_refused(kind, text):
    from cme.contract import Column
    with pytest.raises(BadValue):
        parse_value(Column("x", kind), text, ZoneInfo(TZ))


def test_timestamps_keep_their_offset_and_naive_ones_use_the_provider_zone():
    tz = ZoneInfo(TZ)
    assert parse_timestamp("2026-11-24T14:05:00-06:00", tz) == "2026-11-24T20:05:00+00:00"
    assert parse_timestamp("2026-07-01T09:00:00", tz) == "2026-07-01T14:00:00+00:00"  # CDT
    assert parse_timestamp("2026-11-24T20:05:00Z", tz) == "2026-11-24T20:05:00+00:00"
