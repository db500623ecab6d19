"""Issue 10: every kind of broken extract in the corpus (tests/ingest_corpus.py) gets the
outcome a user would want: the bad row quarantined with its reason and the rows around it
loaded, or the whole day refused with a message naming the file and nothing of it loaded.
Rows are conserved for every file, and docs/reliability.md is what a run produces."""
from __future__ import annotations

import pytest

from cme import PROJECT_DIR
from cme.records import CONTROL_CHARACTER, HEADER_REPEATED, LONG_VALUE, NOT_UTF8, UNTERMINATED
from cme.parsing import DECIMAL_RANGE_REASON, INT_RANGE_REASON, TIMESTAMP_RANGE_REASON
from tests.ingest_corpus import (COMPLETIONS, KINDS, LEARNERS, MILLION, OUTSIDE_MARKER, outcome,
                                 render)

DOC = PROJECT_DIR / "docs" / "reliability.md"
ISO_DATE = "not an ISO date (YYYY-MM-DD)"

# kind -> (file, [(line, column, reason)]): one bad row among four good ones, unless listed
ROW_LEVEL = {
    "oversized_field_200kb": (COMPLETIONS, [(4, "activity_id", LONG_VALUE)]),
    "oversized_field_1mb": (COMPLETIONS, [(4, "activity_id", LONG_VALUE)]),
    "oversized_field_multiline": (COMPLETIONS, [(4, "activity_id", LONG_VALUE)]),
    "unterminated_quote": (LEARNERS, [(4, "", UNTERMINATED)]),
    "timestamp_year_9999": (COMPLETIONS, [(4, "completed_at", TIMESTAMP_RANGE_REASON)]),
    "minutes_99999999999": (COMPLETIONS, [(4, "minutes_engaged", INT_RANGE_REASON)]),
    "credits_1e20": (COMPLETIONS, [(4, "credits_claimed", "not a decimal number"),
                                   (5, "credits_claimed", DECIMAL_RANGE_REASON)]),
    "nul_byte": (LEARNERS, [(4, "learner_id", CONTROL_CHARACTER)]),
    "bell_in_name": (LEARNERS, [(4, "last_name", CONTROL_CHARACTER)]),
    "truncated_last_line": (COMPLETIONS, [(7, "", "row has 4 fields, header has 10")]),
    "latin1_bytes": (LEARNERS, [(4, "", NOT_UTF8)]),
    "header_repeated": (LEARNERS, [(4, "", HEADER_REPEATED)]),
    "thousands_separators": (COMPLETIONS, [(4, "minutes_engaged", "not a whole number"),
                                           (5, "credits_claimed", "not a decimal number")]),
    **{f"date_{k}": (LEARNERS, [(4, "date_of_birth", ISO_DATE)])
       for k in ("us", "dotted", "slashed_iso", "month_name", "compact")},
}
ALL_LOAD = {"double_bom": LEARNERS, "crlf_line_ends": LEARNERS}
REFUSED = {k.name: k.target for k in KINDS if k.refused}
REFUSAL_WORDS = {"zip_named_csv": "zip archive", "gzip_named_csv": "gzip", "bzip2_named_csv": "bzip2",
                 "pdf_named_csv": "PDF", "utf16_file": "UTF-16", "symlink_outside": "symbolic link",
                 "directory_named_csv": "directory", "zero_byte_file": "0 bytes"}


def test_the_corpus_has_every_kind_the_issue_lists():
    assert len(KINDS) >= 20
    covered = set(ROW_LEVEL) | set(ALL_LOAD) | set(REFUSED) | {
        "unknown_extra_file", "absent_file", "wrong_delimiter", "million_rows"}
    assert covered == {k.name for k in KINDS}


@pytest.mark.parametrize("name", sorted(ROW_LEVEL))
def test_a_bad_row_is_quarantined_with_its_reason_and_the_rows_around_it_load(name):
    result = outcome(name)
    file, expected = ROW_LEVEL[name]
    assert result.refused is None
    assert result.conserved, result.files
    read, loaded, quarantined = result.files[file]
    assert (loaded, quarantined) == (read - len(expected), len(expected))
    assert loaded >= 4, "the good rows before and after the bad one load"
    assert [q[1:] for q in result.quarantine if q[0] == file] == expected
    for other, (r, ld, q) in result.files.items():
        assert r == ld + q, other


@pytest.mark.parametrize("name", sorted(ALL_LOAD))
def test_harmless_variations_load_every_row(name):
    result = outcome(name)
    assert result.files[ALL_LOAD[name]] == (5, 5, 0) and not result.quarantine
    assert "\ufeff" not in result.loaded_text and "\\r" not in result.loaded_text


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_that_is_not_a_csv_extract_refuses_the_whole_day(name):
    result = outcome(name)
    assert result.refused, "the day must fail"
    assert f"2026-11-24/{REFUSED[name]}" in result.refused and REFUSAL_WORDS[name] in result.refused
    assert "nothing of the day was loaded" in result.refused
    assert result.unchanged, "a refused day leaves the warehouse as it was before it"


def test_a_symlink_is_never_followed_so_nothing_outside_the_landing_is_stored():
    result = outcome("symlink_outside")
    assert result.refused and OUTSIDE_MARKER not in result.refused
    assert OUTSIDE_MARKER not in result.loaded_text


def test_a_wrong_delimiter_quarantines_every_row_saying_the_contract_requires_commas():
    result = outcome("wrong_delimiter")
    assert result.files[LEARNERS] == (5, 0, 5)
    assert {q[3] for q in result.quarantine} == {
        "the file is separated by semicolons: the contract requires commas (the header reads as one column)"}


def test_unknown_files_are_named_and_absent_ones_listed():
    unknown = outcome("unknown_extra_file")
    assert unknown.unknown_files == ["Learners.CSV", "notes.txt"]  # _SUCCESS is a marker
    assert unknown.statuses["notes.txt"] == "unknown" and unknown.files[LEARNERS] == (5, 5, 0)
    absent = outcome("absent_file")
    assert LEARNERS in absent.absent_files and absent.statuses[LEARNERS] == "absent"
    assert absent.files[LEARNERS] == (0, 0, 0) and absent.files[COMPLETIONS] == (5, 5, 0)


@pytest.mark.slow  # a million rows
def test_a_million_rows_with_one_percent_bad_load_in_seconds():
    result = outcome("million_rows")
    assert result.files[COMPLETIONS] == (MILLION, MILLION - MILLION // 100, MILLION // 100)
    assert result.conserved
    reasons = result.reasons[COMPLETIONS]
    assert sum(reasons.values()) == MILLION // 100 and len(reasons) == 3, reasons
    # ~15 s alone on the 2-core CI machine; generous for a busy one
    assert result.seconds < 60, f"1M rows took {result.seconds:.0f} s"


@pytest.mark.slow  # every kind, the million rows too
def test_no_reason_or_refusal_quotes_a_value():
    for kind in KINDS:
        result = outcome(kind.name)
        text = (result.refused or "") + " ".join(q[3] for q in result.quarantine)
        for value in ("Ann", "Lee", "1970", "José", "xxxx", "99999999999", "1e20", "Nov"):
            assert value not in text, (kind.name, value)


@pytest.mark.slow  # every kind, the million rows too
def test_the_reliability_document_is_what_a_run_writes():
    assert DOC.read_text() == render([outcome(k.name) for k in KINDS]), (
        "docs/reliability.md is out of date: run "
        "`.venv/bin/python -m tests.ingest_corpus > docs/reliability.md`")


def test_a_failure_mid_day_leaves_the_warehouse_as_it_was_before_the_day(tmp_path, monkeypatch):
    """One transaction for the day: a file that fails after others loaded rolls them back too."""
    import duckdb

    from cme import ingest
    from tests.ingest_corpus import (DAY, LEARNER_HEADER, TZ, _snapshot, good_completions,
                                     good_learners, learner, lines)

    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / LEARNERS).write_bytes(good_learners())
    (folder / COMPLETIONS).write_bytes(good_completions())
    warehouse = tmp_path / "w.duckdb"
    ingest.ingest_day(tmp_path / "landing", warehouse, DAY, TZ, "first")
    before = _snapshot(warehouse)
    # the re-sent day: learners changed (loads first), completions changed and fail
    (folder / LEARNERS).write_bytes(lines(LEARNER_HEADER, [learner(i) for i in range(1, 9)]))
    (folder / COMPLETIONS).write_bytes(good_completions() + b"C9,L9,A1,2026-11-24T10:00:00Z,1,1,Y,1,N,completed\n")
    real = ingest.check

    def failing(con, extract, records, tz, table, append=False):
        if extract.file == COMPLETIONS:
            raise OSError("disk full")
        return real(con, extract, records, tz, table, append)

    monkeypatch.setattr(ingest, "check", failing)
    with pytest.raises(OSError):
        ingest.ingest_day(tmp_path / "landing", warehouse, DAY, TZ, "second")
    assert _snapshot(warehouse) == before
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*), min(_load_id) from raw.learners").fetchone() == (5, "first")
    con.close()


def test_the_summary_says_which_files_were_absent_and_which_unknown():
    from cme.summary import format_summary

    summary = {"run_date": "2026-11-24", "rows_read": 5, "rows_quarantined": 0, "people": 1,
               "people_in_identity_conflict": 0, "activities": 1, "completions_decided_this_run": 0,
               "unmatched_completions": 0, "awards_this_run": 0, "awards_total": 0,
               "quarantine_reasons": {}, "decisions_this_run": {}, "warehouse": "w", "report": "r",
               "absent_files": ["attendance.csv", "learners.csv"], "unknown_files": ["notes.txt"]}
    text = format_summary(summary)
    assert "no attendance.csv today, no learners.csv today" in text
    assert "UNKNOWN files in the date folder, not read: notes.txt" in text


@pytest.mark.slow  # every kind again, one character at a time
@pytest.mark.parametrize("chunk_chars", [1])
def test_a_file_read_in_pieces_gives_the_same_outcome_as_read_whole(monkeypatch, chunk_chars):
    """Ingest reads a file in pieces (memory stays flat at any size). Cut after every line
    (1) or every few lines (200), every kind of broken file still gives the same rows
    loaded and quarantined, with the same lines and reasons, as one piece would."""
    from cme import records
    from tests.ingest_corpus import BY_NAME, run

    whole = {k.name: outcome(k.name) for k in KINDS if k.name != "million_rows"}
    monkeypatch.setattr(records, "CHUNK_CHARS", chunk_chars)
    for name, expected in whole.items():
        pieces = run(BY_NAME[name])
        assert (pieces.files, pieces.quarantine, pieces.refused) == (
            expected.files, expected.quarantine, expected.refused), name
