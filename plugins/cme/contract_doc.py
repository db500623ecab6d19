"""Write the landing contract as Markdown from `cme.contract`, so the document a provider's
extract team reads and the code that parses their files cannot drift apart
(tests/test_contract_doc.py fails when docs/landing-contract.md is not what this writes).

Regenerate: `.venv/bin/python -m cme.contract_doc > docs/landing-contract.md`
"""
from __future__ import annotations

from cme.contract import EXTRACTS, MARKER_FILES, MAX_VALUE_CHARS, Column, Extract

INTRO = """# The landing contract: the extracts the pipeline reads

<!-- Generated from plugins/cme/contract.py by `python -m cme.contract_doc`; edit the code, not this file. -->

An LMS and a registration or check-in system drop their extracts into a
**landing directory**, one folder per extract date (`YYYY-MM-DD`):

```
landing/
  2026-11-24/
    activities.csv  activity_credits.csv  learners.csv  learner_licenses.csv
    learner_board_ids.csv  lms_completions.csv  attendance.csv  faculty_disclosures.csv
  2026-11-25/
    ...
  documents/          signed disclosure forms, <disclosure_id>.pdf (setting `document_store`)
```

## Rules for every file

- CSV, UTF-8 (a byte-order mark is accepted), comma separated, RFC 4180 quoting,
  one header row. Columns may come in any order; header names are matched
  case-insensitively after trimming. Columns not listed here are kept in the raw
  tables and ignored downstream.
- A file missing from a date folder means "no rows of that kind that day"; an
  empty folder is a valid day. A missing folder is a day not landed yet: the
  scheduled run waits for it until the deadline (setting
  `landing_ready_marker` and `landing_deadline_hours`, see
  `docs/decisions.md`). Write each folder in one move (copy it under another
  name, then rename it to `YYYY-MM-DD`), or set `landing_ready_marker` and
  write `_SUCCESS`, or `_manifest.json` (`{"files": [{"name": ...,
  "sha256": ...}]}`), last. File names are exact; a file the contract does
  not list (other than the readiness markers `{markers}`) is not
  read and is named in the run summary as unknown.
- A file that is not a CSV text file — 0 bytes or no header line, a symbolic
  link, a directory or other non-regular file, a zip/xlsx, gzip, bzip2, xz, 7z,
  zstd, PDF or Office file, UTF-16 — **refuses the whole day**: nothing of that
  date is loaded and the run fails, naming the file. Fix it and re-run the day.
- A value is at most {max_value:,} characters; a value may not contain control
  characters (other than tab, CR and LF) or DEL. A quote left open quarantines
  the line it starts on, and reading resumes on the next line.
- Types:
  - `text`: any text, trimmed; blank is empty.
  - `date`: `YYYY-MM-DD`.
  - `timestamp`: ISO 8601 with an offset (`2026-11-24T14:05:00-06:00`); without
    an offset it is read in the provider's time zone (setting `timezone`). In
    UTC its year must be 1 to 9999.
  - `bool`: `Y`/`N`, `true`/`false` or `1`/`0`, any case.
  - `int`, `decimal`: plain numbers within the range given, no thousands
    separators or exponents; an int fits a 32-bit integer, a decimal has at
    most 4 decimal places and at most 14 digits before the point.
  - `state`: two letters (a state code such as `FL`), stored upper-case.
  - `enum`: one of the values listed, in any case.
- A row with a value that does not parse, a blank required column, a value out of
  its range or a broken row rule is **quarantined**: kept in `raw.quarantine` with
  its file, line, column and reason, counted in the run summary, and listed in the
  exception queue until a later extract brings a good row with the same key.
  Nothing is dropped: for every file, rows read = rows loaded + rows quarantined.
- Columns marked *personal* are a learner's personal data: never printed in
  logs, summaries, reports or error messages.
- **Reference files** (activities, credits, learners, licenses, board ids) are
  upserts: the latest extract date wins per key, so re-sending a file changes
  nothing, and a backfill of an older date never rolls a newer row back.
- **Event files** (completions, attendance, disclosures) are append-only: a row
  is a fact of its day. A completion is revoked by landing its
  `completion_id` again with `status = revoked`. A live completion is one
  (learner, activity, local day of check-in), and its minutes are the union of
  that day's check-in intervals (overlapping sessions count once).
- A file landed again for the same date with the same bytes is skipped; with new
  bytes it replaces that date's rows for the file, never duplicates them.
"""


def _values(column: Column) -> str:
    if column.choices:
        return ", ".join(f"`{c}`" for c in column.choices)
    low = None if column.minimum is None else (
        f"> {column.minimum:g}" if column.exclusive_minimum else f">= {column.minimum:g}")
    high = None if column.maximum is None else f"<= {column.maximum:g}"
    return "; ".join(p for p in (" and ".join(p for p in (low, high) if p), column.note) if p)


def _extract(extract: Extract) -> str:
    kind = "reference (upsert, latest extract wins)" if extract.kind == "reference" \
        else "event (append-only)"
    lines = [f"## {extract.file}", "",
             f"Raw table `raw.{extract.table}`; {kind}; key "
             + ", ".join(f"`{k}`" for k in extract.key) + "."
             + (f" {extract.note}" if extract.note else ""), "",
             "| column | type | required | values | personal |", "|---|---|---|---|---|"]
    for c in extract.columns:
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {_values(c)} | "
                     f"{'yes' if c.personal else ''} |")
    for check in extract.row_checks:
        relation = "after" if check.strict else "on or after"
        lines += ["", f"Row rule: `{check.later}` must be {relation} `{check.earlier}` "
                      f"(else quarantined: \"{check.reason}\")."]
    return "\n".join(lines) + "\n"


def render() -> str:
    intro = INTRO.replace("{markers}", "`, `".join(MARKER_FILES)).replace(
        "{max_value:,}", f"{MAX_VALUE_CHARS:,}")
    return intro + "".join("\n" + _extract(e) for e in EXTRACTS)


if __name__ == "__main__":
    print(render(), end="")
