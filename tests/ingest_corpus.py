"""A malformed-input corpus for ingest: each kind of broken extract a provider has sent
or could send, landed beside good rows and driven through `cme.ingest.ingest_day`.

tests/test_ingest_corpus.py asserts each kind's outcome; docs/reliability.md is the
table `render()` writes from a run (a test fails when they differ). Regenerate:

    .venv/bin/python -m tests.ingest_corpus > docs/reliability.md
"""
from __future__ import annotations

import bz2
import gzip
import io
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

import duckdb

from cme.ingest import IngestRefused, ingest_day

TZ = "America/Chicago"
DAY = date(2026, 11, 24)
LEARNERS = "learners.csv"
COMPLETIONS = "lms_completions.csv"
LEARNER_HEADER = ("learner_id,first_name,last_name,email,date_of_birth,profession,npi,"
                  "nabp_eprofile_id,moc_consent,updated_at")
COMPLETION_HEADER = ("completion_id,learner_id,activity_id,completed_at,minutes_engaged,"
                     "post_test_score,evaluation_completed,credits_claimed,moc_requested,status")
OUTSIDE_MARKER = "root:x:0:0:outside-the-landing"
MILLION = 1_000_000


def learner(i: int, dob: str = "1970-03-14", last: str = "Lee", learner_id: str | None = None) -> str:
    return f"{learner_id or f'L{i}'},Ann{i},{last},,{dob},physician,,,Y,2026-11-24T08:00:00-06:00"


def completion(i: int, completed_at: str = "2026-11-24T10:00:00-06:00", minutes: str = "60",
               credits: str = "1.5", activity: str = "A1") -> str:
    return f"C{i},L{i},{activity},{completed_at},{minutes},90,Y,{credits},N,completed"


def lines(header: str, rows: list[str], eol: str = "\n") -> bytes:
    return (eol.join([header, *rows]) + eol).encode()


def beside_good(make_row: Callable[[int], str], bad: str | list[str]) -> list[str]:
    """Two good rows, the bad one(s), two good rows after them."""
    bad = [bad] if isinstance(bad, str) else bad
    return [make_row(1), make_row(2), *bad, make_row(8), make_row(9)]


def good_learners() -> bytes:
    return lines(LEARNER_HEADER, [learner(i) for i in range(1, 6)])


def good_completions() -> bytes:
    return lines(COMPLETION_HEADER, [completion(i) for i in range(1, 6)])


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("learners.csv", data)
    return buffer.getvalue()


def _million() -> bytes:
    """1,000,000 completions, 1% bad: a third each unparseable minutes, a foreign date, blank id."""
    out = io.StringIO()
    out.write(COMPLETION_HEADER + "\r\n")
    for i in range(MILLION):
        if i % 100 == 50:
            kind = (i // 100) % 3
            if kind == 0:
                out.write(f"C{i},L{i % 5000},A{i % 40},2026-11-24T10:{i % 60:02d}:00-06:00,sixty,90,Y,1.5,N,completed\r\n")
            elif kind == 1:
                out.write(f"C{i},L{i % 5000},A{i % 40},11/24/2026 10:00,60,90,Y,1.5,N,completed\r\n")
            else:
                out.write(f",L{i % 5000},A{i % 40},2026-11-24T10:{i % 60:02d}:00-06:00,60,90,Y,1.5,N,completed\r\n")
        else:
            out.write(f"C{i},L{i % 5000},A{i % 40},2026-11-24T10:{i % 60:02d}:00-06:00,{i % 240},{i % 101},"
                      f"Y,{i % 4}.25,N,completed\r\n")
    return out.getvalue().encode()


@dataclass(frozen=True)
class Kind:
    name: str
    what: str                 # one line for the table
    target: str               # the file the kind is about
    land: Callable[[Path, Path], None]  # (date folder, a folder outside the landing)
    refused: bool = False


def _files(**files: bytes) -> Callable[[Path, Path], None]:
    def land(folder: Path, outside: Path) -> None:
        for name, data in files.items():
            (folder / name.replace("__", ".")).write_bytes(data)
    return land


def _learners_with(bad: str | list[str], eol: str = "\n") -> Callable[[Path, Path], None]:
    return _files(learners__csv=lines(LEARNER_HEADER, beside_good(learner, bad), eol),
                  lms_completions__csv=good_completions())


def _completions_with(bad: str | list[str]) -> Callable[[Path, Path], None]:
    return _files(learners__csv=good_learners(),
                  lms_completions__csv=lines(COMPLETION_HEADER, beside_good(completion, bad)))


def _symlink(folder: Path, outside: Path) -> None:
    secret = outside / "passwd"
    secret.write_text(OUTSIDE_MARKER + ":/root:/bin/bash\n")
    (folder / LEARNERS).symlink_to(secret)
    (folder / COMPLETIONS).write_bytes(good_completions())


def _directory(folder: Path, outside: Path) -> None:
    (folder / LEARNERS).mkdir()
    (folder / LEARNERS / "part-0.csv").write_bytes(good_learners())
    (folder / COMPLETIONS).write_bytes(good_completions())


def _absent(folder: Path, outside: Path) -> None:
    (folder / COMPLETIONS).write_bytes(good_completions())


def _unknown(folder: Path, outside: Path) -> None:
    _files(learners__csv=good_learners(), lms_completions__csv=good_completions())(folder, outside)
    (folder / "notes.txt").write_text("re-sent after the outage\n")
    (folder / "Learners.CSV").write_bytes(good_learners())
    (folder / "_SUCCESS").write_text("")  # a readiness marker: neither an extract nor unknown


def _truncated(folder: Path, outside: Path) -> None:
    body = lines(COMPLETION_HEADER, [completion(i) for i in range(1, 6)])
    (folder / COMPLETIONS).write_bytes(body + completion(6).encode()[:25])  # cut mid-row, no EOL
    (folder / LEARNERS).write_bytes(good_learners())


def _header_twice(folder: Path, outside: Path) -> None:
    (folder / LEARNERS).write_bytes(lines(LEARNER_HEADER, beside_good(learner, LEARNER_HEADER)))
    (folder / COMPLETIONS).write_bytes(good_completions())


def _wrong_delimiter(folder: Path, outside: Path) -> None:
    (folder / LEARNERS).write_bytes(lines(LEARNER_HEADER.replace(",", ";"),
                                          [learner(i).replace(",", ";") for i in range(1, 6)]))
    (folder / COMPLETIONS).write_bytes(good_completions())


def _latin1(folder: Path, outside: Path) -> None:
    rows = beside_good(learner, "L5,José,Núñez,,1970-03-14,physician,,,Y,2026-11-24T08:00:00-06:00")
    (folder / LEARNERS).write_bytes(("\n".join([LEARNER_HEADER, *rows]) + "\n").encode("latin-1"))
    (folder / COMPLETIONS).write_bytes(good_completions())


def _double_bom(folder: Path, outside: Path) -> None:
    (folder / LEARNERS).write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + good_learners())
    (folder / COMPLETIONS).write_bytes(good_completions())


def _million_rows(folder: Path, outside: Path) -> None:
    (folder / COMPLETIONS).write_bytes(_million())
    (folder / LEARNERS).write_bytes(good_learners())


def _refused_with(name: str, data: bytes) -> Callable[[Path, Path], None]:
    def land(folder: Path, outside: Path) -> None:
        others = {LEARNERS: good_learners(), COMPLETIONS: good_completions()}
        others[name] = data
        for file, body in others.items():
            (folder / file).write_bytes(body)
    return land


_200K, _1M = "x" * 200_000, "x" * 1_000_000
_200K_LINES = "\n".join(["y" * 79] * 2_500)  # 200 KB over 2,500 lines
KINDS: tuple[Kind, ...] = (
    Kind("oversized_field_200kb", "a 200 KB quoted field", COMPLETIONS,
         _completions_with(completion(5, activity=f'"{_200K}"'))),
    Kind("oversized_field_1mb", "a 1 MB quoted field", COMPLETIONS,
         _completions_with(completion(5, activity=f'"{_1M}"'))),
    Kind("oversized_field_multiline", "a 200 KB quoted field over 2,500 lines", COMPLETIONS,
         _completions_with(completion(5, activity=f'"{_200K_LINES}"'))),
    Kind("unterminated_quote", "a quote opened and never closed", LEARNERS,
         _learners_with('L5,"Ann5,Lee,,1970-03-14,physician,,,Y,2026-11-24T08:00:00-06:00')),
    Kind("timestamp_year_9999", "a timestamp in year 9999 (year 10000 in UTC)", COMPLETIONS,
         _completions_with(completion(5, completed_at="9999-12-31T23:00:00"))),
    Kind("minutes_99999999999", "minutes 99999999999 (past INTEGER)", COMPLETIONS,
         _completions_with(completion(5, minutes="99999999999"))),
    Kind("credits_1e20", "credits 1e20, and 10^20 written out (past DECIMAL(18,4))", COMPLETIONS,
         _completions_with([completion(5, credits="1e20"),
                            completion(6, credits="100000000000000000000")])),
    Kind("nul_byte", "a NUL byte inside an id", LEARNERS, _learners_with(learner(5, learner_id="L\x005"))),
    Kind("bell_in_name", "a BEL control character inside a name", LEARNERS,
         _learners_with(learner(5, last="Le\x07e"))),
    Kind("zip_named_csv", "a zip archive named learners.csv", LEARNERS,
         _refused_with(LEARNERS, _zip(good_learners())), refused=True),
    Kind("gzip_named_csv", "a gzip file named lms_completions.csv", COMPLETIONS,
         _refused_with(COMPLETIONS, gzip.compress(good_completions(), mtime=0)), refused=True),
    Kind("bzip2_named_csv", "a bzip2 file named learners.csv", LEARNERS,
         _refused_with(LEARNERS, bz2.compress(good_learners())), refused=True),
    Kind("pdf_named_csv", "a PDF named learners.csv", LEARNERS,
         _refused_with(LEARNERS, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), refused=True),
    Kind("utf16_file", "learners.csv saved as UTF-16", LEARNERS,
         _refused_with(LEARNERS, good_learners().decode().encode("utf-16")), refused=True),
    Kind("double_bom", "two byte-order marks before the header", LEARNERS, _double_bom),
    Kind("symlink_outside", "learners.csv a symbolic link to a file outside the landing", LEARNERS,
         _symlink, refused=True),
    Kind("directory_named_csv", "a directory named learners.csv", LEARNERS, _directory, refused=True),
    Kind("zero_byte_file", "learners.csv of 0 bytes (no header)", LEARNERS,
         _refused_with(LEARNERS, b""), refused=True),
    Kind("unknown_extra_file", "notes.txt and Learners.CSV beside the extracts", "notes.txt", _unknown),
    Kind("absent_file", "no learners.csv that day", LEARNERS, _absent),
    Kind("truncated_last_line", "the last line cut mid-row, no line end", COMPLETIONS, _truncated),
    Kind("wrong_delimiter", "learners.csv separated by semicolons", LEARNERS, _wrong_delimiter),
    Kind("latin1_bytes", "a name in Latin-1, not UTF-8", LEARNERS, _latin1),
    Kind("crlf_line_ends", "CRLF line ends", LEARNERS, _learners_with(learner(5), eol="\r\n")),
    Kind("header_repeated", "the header line again inside the data", LEARNERS, _header_twice),
    Kind("thousands_separators", "1,200 minutes and 1,000.5 credits (quoted)", COMPLETIONS,
         _completions_with([completion(5, minutes='"1,200"'), completion(6, credits='"1,000.5"')])),
    Kind("date_us", "birth date 11/16/1970", LEARNERS, _learners_with(learner(5, dob="11/16/1970"))),
    Kind("date_dotted", "birth date 16.11.1970", LEARNERS, _learners_with(learner(5, dob="16.11.1970"))),
    Kind("date_slashed_iso", "birth date 1970/11/16", LEARNERS, _learners_with(learner(5, dob="1970/11/16"))),
    Kind("date_month_name", "birth date 16-Nov-1970", LEARNERS, _learners_with(learner(5, dob="16-Nov-1970"))),
    Kind("date_compact", "birth date 19701116", LEARNERS, _learners_with(learner(5, dob="19701116"))),
    Kind("million_rows", "1,000,000 completions, 1% bad", COMPLETIONS, _million_rows),
)
BY_NAME = {k.name: k for k in KINDS}


@dataclass
class Outcome:
    kind: Kind
    refused: str | None = None          # the error message when the day was refused
    unchanged: bool | None = None       # refused: the warehouse is as it was before the day
    files: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # read, loaded, quarantined
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine: list[tuple] = field(default_factory=list)  # (file, line, column, reason)
    loaded_text: str = ""               # every loaded and quarantined value, for leak checks
    unknown_files: list[str] = field(default_factory=list)
    absent_files: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)  # raw.loaded_files.status
    conserved: bool = True
    seconds: float = 0.0


def _snapshot(warehouse: Path) -> list:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [con.execute(f"select * from raw.{t} order by all").fetchall()
                for t in ("learners", "lms_completions", "quarantine", "loaded_files")]
    finally:
        con.close()


def run(kind: Kind) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"corpus-{kind.name}-") as tmp:
        root = Path(tmp)
        folder, outside, warehouse = root / "landing" / DAY.isoformat(), root / "outside", root / "w.duckdb"
        folder.mkdir(parents=True)
        outside.mkdir()
        out = Outcome(kind)
        if kind.refused:  # the day first lands good; the broken re-send must change nothing
            _files(learners__csv=good_learners(), lms_completions__csv=lines(
                COMPLETION_HEADER, [completion(i) for i in range(1, 4)]))(folder, outside)
            ingest_day(root / "landing", warehouse, DAY, TZ, "good")
            before = _snapshot(warehouse)
            for path in folder.iterdir():
                path.unlink()
        kind.land(folder, outside)
        started = time.perf_counter()
        try:
            report = ingest_day(root / "landing", warehouse, DAY, TZ, "corpus")
        except IngestRefused as exc:
            out.refused = str(exc)
            out.unchanged = _snapshot(warehouse) == before
            out.seconds = time.perf_counter() - started
            return out
        out.seconds = time.perf_counter() - started
        out.unknown_files, out.absent_files = report.unknown_files, report.absent_files
        for f in report.files:
            out.files[f.file] = (f.rows_read, f.rows_loaded, f.rows_quarantined)
            out.reasons[f.file] = f.reasons
            out.conserved &= f.rows_read == f.rows_loaded + f.rows_quarantined
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            out.quarantine = con.execute(
                'select _file, _line, "column", reason from raw.quarantine order by _file, _line').fetchall()
            out.statuses = dict(con.execute(
                "select _file, status from raw.loaded_files where _extract_date = ?", [DAY]).fetchall())
            for _file, read, loaded, quarantined in con.execute(
                    "select _file, rows_read, rows_loaded, rows_quarantined from raw.loaded_files").fetchall():
                out.conserved &= read == loaded + quarantined
            if kind.name != "million_rows":
                out.loaded_text = "\n".join(str(r) for t in ("learners", "lms_completions", "quarantine")
                                            for r in con.execute(f"select * from raw.{t}").fetchall())
        finally:
            con.close()
        return out


_CACHE: dict[str, Outcome] = {}


def outcome(name: str) -> Outcome:
    if name not in _CACHE:
        _CACHE[name] = run(BY_NAME[name])
    return _CACHE[name]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(outcomes: list[Outcome]) -> str:
    out = ["# Reliability: what ingest does with a broken extract", "",
           "<!-- Generated by `.venv/bin/python -m tests.ingest_corpus > docs/reliability.md` from a run of",
           "     the malformed-input corpus (tests/ingest_corpus.py); tests/test_ingest_corpus.py fails when",
           "     this file is not what a run writes. Edit the corpus, not this file. -->", "",
           "Each kind of broken input is landed beside good rows (two good rows before the bad one, two",
           "after) and ingested through `cme.ingest.ingest_day`. A file ingest cannot read as a CSV",
           "extract is **refused**: the whole day loads nothing, the warehouse stays as it was, and the",
           "error names every refused file and why (docs/decisions.md, \"Ingest: file-level errors and",
           "row-level quarantine\"). Anything else is read row by row: a bad row is quarantined with its",
           "line, column and reason, and for every file rows read = rows loaded + rows quarantined.", "",
           "| kind | input | file | read | loaded | quarantined | outcome / reasons |",
           "|---|---|---|---:|---:|---:|---|"]
    for o in outcomes:
        k = o.kind
        if o.refused:
            out.append(f"| {k.name} | {_cell(k.what)} | {k.target} | refused | refused | refused | "
                       f"{_cell(o.refused)} |")
            continue
        if k.target in o.files:
            read, loaded, quarantined = o.files[k.target]
        else:
            read = loaded = quarantined = 0
        if k.target in o.absent_files:
            note = f"absent: \"no {k.target} today\" (no rows of that kind)"
        elif k.target in o.unknown_files or k.name == "unknown_extra_file":
            note = "named as unknown files, not read: " + ", ".join(o.unknown_files)
        else:
            reasons = o.reasons.get(k.target, {})
            note = "; ".join(f"{r} ×{n}" for r, n in reasons.items()) or "all rows load"
        out.append(f"| {k.name} | {_cell(k.what)} | {k.target} | {read:,} | {loaded:,} | {quarantined:,} | "
                   f"{_cell(note)} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render([outcome(k.name) for k in KINDS]), end="")
    sys.stderr.write("".join(f"{k.name}: {outcome(k.name).seconds:.1f} s\n" for k in KINDS))
