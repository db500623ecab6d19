"""Split one extract's text into records: the cheap structural work, in Python.

The C csv module reads from a line list we control, so a record that goes wrong
(an unterminated quote, a field past the record cap) costs its first physical line
only: that line is quarantined and reading resumes on the next one. Values are
not parsed here; cme.validate checks and types them in DuckDB, as a set.

Reasons never quote a value (a value may be a name, birth date or license number).
"""
from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import re
from dataclasses import dataclass, field
from typing import Iterator

from cme.contract import MAX_RECORD_CHARS, MAX_VALUE_CHARS, Extract

# C0 controls but tab, CR and LF, and DEL: no extract value carries them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WRONG_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}

UNTERMINATED = ("unterminated quote or broken record: it runs on past this line "
                "(this line quarantined alone, reading resumed on the next line)")
HEADER_REPEATED = "repeats the header line (a second header inside the data)"
LONG_VALUE = f"value longer than {MAX_VALUE_CHARS} characters"
CONTROL_CHARACTER = "control character in the value (C0 other than tab/CR/LF, or DEL)"
NOT_UTF8 = "not valid UTF-8"


@dataclass
class Records:
    names: list[str]                       # the header, trimmed and lower-cased
    header_problems: list[tuple[str, str]]  # (column, reason), every row carries them
    rows: list[list[str]] = field(default_factory=list)    # records with len(names) fields
    lines: list[int] = field(default_factory=list)         # physical line each row starts on
    pre_problems: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # row index ->
    quarantined: list[dict] = field(default_factory=list)  # structural: never reach SQL
    rows_read: int = 0


def quarantine_entry(line: int, problems: list[tuple[str, str]], raw_values: dict) -> dict:
    column, reason = problems[0]
    return {"_line": line, "column": column, "reason": reason,
            "all_problems": "; ".join(f"{c}: {r}" if c else r for c, r in problems),
            "raw_values": json.dumps(raw_values)}


def _raw_values(names: list[str], record: list[str]) -> dict:
    # an oversized value is kept cut at the cap (a broken extract should not bloat the warehouse)
    return {n: (v if len(v) <= MAX_VALUE_CHARS else v[:MAX_VALUE_CHARS] + " [cut]")
            for n, v in zip(names, record)}


def _line_values(names: list[str], line: str) -> dict:
    """The values of one physical line alone (its open quote runs to the line's end)."""
    try:
        return _raw_values(names, next(csv.reader([line], strict=False), []))
    except csv.Error:
        return {"": line[:MAX_VALUE_CHARS] + " [cut]"}


def strip_boms(text: str) -> str:
    while text.startswith("\ufeff"):  # a repeated BOM (files concatenated, re-encoded)
        text = text[1:]
    return text


@contextlib.contextmanager
def gc_paused():
    """Millions of small lists and strings, none cyclic: the cyclic collector would
    rescan them again and again (it tripled the time of a 1M-row file)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# A file is split in pieces of about this many characters, each cut after a line where
# the quotes so far balance (so a quoted multi-line value is never cut), and each piece
# is checked in DuckDB before the next is read: memory stays flat whatever the file's size.
CHUNK_CHARS = 16 * 1024 * 1024


def _balanced_cut(lines: list[str]) -> int:
    """How many of `lines` end on a record boundary: after the last line where the quote
    count so far is even (0 when there is none)."""
    cut, odd = 0, False
    for i, line in enumerate(lines):
        if line.count('"') % 2:
            odd = not odd
        if not odd:
            cut = i + 1
    return cut


def read_chunks(extract: Extract, handle, chunk_chars: int | None = None) -> Iterator[Records]:
    """The records of a binary file `handle`, piece by piece (see CHUNK_CHARS). Each piece is
    split as `split_records` splits a whole file, with the header lines put in front, and its
    line numbers are the file's."""
    size = chunk_chars or CHUNK_CHARS
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="")
    previous_limit = csv.field_size_limit(MAX_RECORD_CHARS)
    try:
        header: list[str] | None = None
        consumed = 0  # file lines before the current piece
        pending: list[str] = []
        while True:
            more = text.readlines(size)
            pending += more
            if not pending:
                return
            # cut where the quotes balance. With none, the first line opened a quote: read on
            # while a record could still be that long (MAX_RECORD_CHARS), then cut anyway; the
            # splitter quarantines that line alone and resyncs, as it does in a whole file
            cut = len(pending) if not more else _balanced_cut(pending)
            if cut == 0 and sum(map(len, pending)) < MAX_RECORD_CHARS + 2 * size:
                continue
            piece, pending = pending[:cut or len(pending)], pending[cut or len(pending):]
            if header is None:
                piece[0] = strip_boms(piece[0])
                with gc_paused():
                    _, _, used, _ = _header(extract, piece)
                    header = piece[:used]
                    records = _split(extract, piece, len(piece), "".join(piece))
                shift = 0
            else:
                lines = header + piece
                with gc_paused():
                    records = _split(extract, lines, len(lines), "".join(piece))
                shift = consumed - len(header)
            if shift:
                records.lines = [line + shift for line in records.lines]
                for entry in records.quarantined:
                    entry["_line"] += shift
            consumed += len(piece)
            yield records
    finally:
        csv.field_size_limit(previous_limit)
        text.detach()  # the caller owns the handle


def split_records(extract: Extract, text: str) -> Records:
    previous_limit = csv.field_size_limit(MAX_RECORD_CHARS)
    try:
        with gc_paused():
            lines = io.StringIO(text, newline="").readlines()
            return _split(extract, lines, len(lines), text)
    finally:
        csv.field_size_limit(previous_limit)


def _header(extract: Extract, lines: list[str]) -> tuple[list[str], list[tuple[str, str]], int, str | None]:
    reader = csv.reader(iter(lines), strict=False)
    try:
        header = next(reader, [])
    except csv.Error:
        return [], [("", "the header line cannot be read as CSV")], 1, "the header line cannot be read as CSV"
    names = [h.strip().lower() for h in header]
    used = reader.line_num
    if len(names) == 1:
        for sep, word in _WRONG_DELIMITERS.items():
            if sep in names[0]:
                reason = (f"the file is separated by {word}: the contract requires commas "
                          "(the header reads as one column)")
                return names, [("", reason)], used, reason
    problems = []
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        problems.append((duplicated[0], "column appears twice in the header"))
    problems += [(c.name, "required column missing from the header")
                 for c in extract.columns if c.required and c.name not in names]
    return names, problems, used, None


def _split(extract: Extract, lines: list[str], n: int, text: str) -> Records:
    names, header_problems, pos, refuse_all = _header(extract, lines)
    out = Records(names, header_problems)
    ncols = len(names)
    h0 = names[0] if names else None
    # lines needing a closer look: very long, control characters, undecodable bytes
    special: set[int] = {i for i, line in enumerate(lines) if len(line) > MAX_VALUE_CHARS} \
        if any(len(line) > MAX_VALUE_CHARS for line in lines) else set()
    check_control = _CONTROL.search(text) is not None
    check_utf8 = "\ufffd" in text
    if check_control:
        special |= {i for i, line in enumerate(lines) if _CONTROL.search(line)}
    if check_utf8:
        special |= {i for i, line in enumerate(lines) if "\ufffd" in line}
    rows, row_lines, quarantined = out.rows, out.lines, out.quarantined

    def examine(record: list[str], first: int, span: int) -> bool:
        """One record off the fast path; False when reading must resume on line first + 1."""
        if not record or (len(record) == 1 and record[0].strip() == ""):
            return True  # a blank line is not a row
        out.rows_read += 1
        if refuse_all is not None:
            quarantined.append(quarantine_entry(first + 1, [("", refuse_all)], _raw_values(names, record)))
            return True
        if len(record) != ncols:
            if span > 1:  # an open quote ran on: keep the first line alone, resume after it
                quarantined.append(quarantine_entry(first + 1, [("", UNTERMINATED)],
                                                    _line_values(names, lines[first])))
                return False
            quarantined.append(quarantine_entry(
                first + 1, [("", f"row has {len(record)} fields, header has {ncols}")],
                _raw_values(names, record)))
            return True
        long = [name for name, value in zip(names, record) if len(value) > MAX_VALUE_CHARS]
        if long:
            quarantined.append(quarantine_entry(first + 1, [(long[0], LONG_VALUE)], _raw_values(names, record)))
            return True
        if [v.strip().lower() for v in record] == names:
            quarantined.append(quarantine_entry(first + 1, [("", HEADER_REPEATED)], _raw_values(names, record)))
            return True
        pre = []
        if check_utf8 and any("\ufffd" in v for v in record):
            pre.append(("", NOT_UTF8))
        if check_control:
            pre += [(name, CONTROL_CHARACTER) for name, value in zip(names, record)
                    if _CONTROL.search(value.strip())]
        if pre:
            out.pre_problems[len(rows)] = pre
        rows.append(record)
        row_lines.append(first + 1)
        out.rows_read -= 1  # rows are counted at the end
        return True

    fast = ncols > 1 and refuse_all is None
    if fast and pos < n:
        # the usual file: one record per line, read by the C reader in one go
        try:
            records = list(csv.reader(lines[pos:], strict=False))
        except csv.Error:
            records = None
        if records is not None and len(records) == n - pos:
            odd = {i for i, r in enumerate(records) if len(r) != ncols}
            odd |= {i for i, r in enumerate(records) if r and r[0].strip().lower() == h0}
            odd |= {i - pos for i in special if i >= pos}
            if odd:
                rows += [r for i, r in enumerate(records) if i not in odd]
                row_lines += [pos + 1 + i for i in range(len(records)) if i not in odd]
                for i in sorted(odd):
                    examine(records[i], pos + i, 1)
            else:
                rows += records
                row_lines += range(pos + 1, n + 1)
            out.rows_read += len(rows)
            return out
    # records over several lines, or a broken one: record by record, resuming after a bad one
    while pos < n:
        base = pos
        reader = csv.reader(map(lines.__getitem__, range(base, n)), strict=False)
        prev = 0
        resume = n
        try:
            for record in reader:
                end = reader.line_num
                first = base + prev
                span = end - prev
                prev = end
                if (fast and span == 1 and len(record) == ncols and first not in special
                        and record[0].strip().lower() != h0):
                    rows.append(record)
                    row_lines.append(first + 1)
                elif not examine(record, first, span):
                    resume = first + 1
                    break
        except csv.Error:
            # a field past the record cap: an unterminated quote, or one enormous line
            first = base + prev
            out.rows_read += 1
            if reader.line_num - prev <= 1:
                quarantined.append(quarantine_entry(first + 1, [("", LONG_VALUE)],
                                                    {"": lines[first][:MAX_VALUE_CHARS] + " [cut]"}))
            else:
                quarantined.append(quarantine_entry(first + 1, [("", UNTERMINATED)],
                                                    _line_values(names, lines[first])))
            resume = first + 1
        pos = resume
    out.rows_read += len(rows)
    return out
