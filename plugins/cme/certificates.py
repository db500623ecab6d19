"""Certificates: one per person and activity, with every credit type the person earned in it.

Each certificate carries a verification code, an HMAC-SHA256 of what it states (person,
name, activity, dates, credits) under a key kept outside the repository, so the same
content always gets the same code and nobody without the key can make one up. Issued
codes are recorded in the append-only `certificates.issued` table (hashes and ids, no
names); the dashboard's /verify page checks a code against it and against today's
awards. The PDF layout is in cme.certificate_layout.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

KEY_ENV = "CME_CERTIFICATE_KEY"
KEY_FILE = "certificate.key"
CODE_CHARS = 12  # 60 bits of the HMAC, base32: typable, and not guessable

# The PARS activity format as a certificate shows it, and as AMA's designation statement
# names it ("designates this live activity ...").
FORMATS = {
    "C": ("Live course", "live activity"),
    "RSS": ("Regularly scheduled series", "live activity"),
    "IL": ("Internet live course", "live activity"),
    "EM": ("Enduring material", "enduring material"),
    "IEM": ("Internet enduring material", "enduring material"),
    "JN": ("Journal-based CME", "journal-based CME activity"),
    "MR": ("Manuscript review", "manuscript review activity"),
    "TIW": ("Test-item writing", "test-item writing activity"),
    "CML": ("Committee learning", "committee learning activity"),
    "PI": ("Performance improvement CME", "performance improvement CME activity"),
    "ISL": ("Internet searching and learning", "internet point-of-care activity"),
    "LFT": ("Learning from teaching", "learning from teaching activity"),
}

# Every credit of a person in an activity, summed per credit type over their completions
# (a repeated completion adds only what the caps across completions let it add).
CERTIFICATES_SQL = """
with awards as (
    select person_id, activity_id, credit_type, unit, credits_awarded, max_credits, completed_on
    from main.fct_credit_awards
    where {where}
),
per_type as (
    select person_id, activity_id, credit_type, max(unit) as unit,
           sum(credits_awarded) as amount, max(max_credits) as designated,
           max(completed_on) as completed_on
    from awards
    group by person_id, activity_id, credit_type
),
final as (
    -- one row per credit type; `_rows` gathers a certificate's credits from them (a list
    -- of structs is DuckDB's, not PostgreSQL's)
    select
        per_type.person_id, per_type.activity_id, people.first_name, people.last_name,
        act.title, act.activity_format, act.start_date, act.end_date, act.delivery_method,
        act.location_city, act.location_state, act.location_country,
        max(per_type.completed_on) over (partition by per_type.person_id, per_type.activity_id)
            as completed_on,
        per_type.credit_type, ct.report_label, ct.accrediting_body, per_type.unit,
        per_type.amount, per_type.designated, ct.designation_statement as statement,
        coalesce(ct.moc_board, '') <> '' as is_moc
    from per_type
    inner join main.dim_people as people using (person_id)
    inner join main.dim_activities as act using (activity_id)
    inner join reference.credit_types as ct using (credit_type)
)
-- CME credit first, then the MOC points it carries
select * from final order by person_id, activity_id, is_moc, report_label, credit_type
"""
_CREDIT = ("credit_type", "report_label", "accrediting_body", "unit", "amount", "designated",
           "statement")


class CertificateKeyError(RuntimeError):
    """No usable verification key; the message says how to provide one."""


@dataclass(frozen=True)
class Credit:
    credit_type: str
    report_label: str
    accrediting_body: str
    unit: str
    amount: str      # awarded, two decimals as printed
    designated: str  # the activity's maximum for the type, as the statement prints it
    statement: str   # the seed's template


@dataclass(frozen=True)
class Certificate:
    person_id: str
    name: str
    activity_id: str
    title: str
    activity_format: str
    start_date: date | None
    end_date: date | None
    location: str
    completed_on: date
    credits: tuple[Credit, ...]
    verification_code: str = ""
    content_sha256: str = ""
    issued_on: date | None = field(default=None, compare=False)

    def content(self) -> bytes:
        """What the code vouches for: the facts the certificate states about this person's
        credit (not the provider's wording, which a setting can change)."""
        facts = {
            "person_id": self.person_id, "name": self.name, "activity_id": self.activity_id,
            "title": self.title, "format": self.activity_format,
            "start_date": str(self.start_date), "end_date": str(self.end_date),
            "location": self.location, "completed_on": str(self.completed_on),
            # sorted by type: the printed order (catalog labels) is not a fact
            "credits": sorted([c.credit_type, c.amount, c.designated, c.unit] for c in self.credits),
        }
        return json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def printable(value: object) -> str:
    """Text as a certificate prints it: control and format characters (a name may carry
    them) dropped, whitespace runs folded."""
    text = "".join(ch for ch in str(value or "") if unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(text.split())


def _amount(value) -> str:
    return f"{float(value):.2f}"


def _location(row: dict) -> str:
    place = ", ".join(p for p in (row["location_city"], row["location_state"],
                                  row["location_country"]) if p)
    if place:
        return printable(place)
    method = (row["delivery_method"] or "").lower()
    return "Online" if method in ("online", "internet", "virtual") else ""


def _rows(con, where: str, params: dict) -> list[dict]:
    """One dict per certificate (person and activity), its credits in `credits`."""
    cursor = con.execute(CERTIFICATES_SQL.replace("{where}", where), params)
    names = [d[0] for d in cursor.description]
    found: dict[tuple, dict] = {}
    for r in cursor.fetchall():
        row = dict(zip(names, r))
        credit = {k: row.pop(k) for k in _CREDIT}
        row.pop("is_moc")
        found.setdefault((row["person_id"], row["activity_id"]), {**row, "credits": []})[
            "credits"].append(credit)
    return list(found.values())


def _select(con, people: list[str] | None = None, activity: str | None = None) -> list[dict]:
    clauses, params = ["true"], {}
    if people is not None:
        clauses.append("person_id = any($people)")
        params["people"] = people
    if activity is not None:
        clauses.append("activity_id = $activity")
        params["activity"] = activity
    return _rows(con, " and ".join(clauses), params)


def _build(row: dict, key: bytes) -> Certificate:
    credits = tuple(Credit(c["credit_type"], printable(c["report_label"]),
                           printable(c["accrediting_body"]), printable(c["unit"]),
                           _amount(c["amount"]),
                           _amount(c["designated"] if c["designated"] is not None else c["amount"]),
                           c["statement"] or "")
                    for c in row["credits"])
    cert = Certificate(row["person_id"], printable(f"{row['first_name']} {row['last_name']}"),
                       row["activity_id"], printable(row["title"]), row["activity_format"] or "",
                       row["start_date"], row["end_date"], _location(row), row["completed_on"],
                       credits)
    content = cert.content()
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return replace(cert, verification_code=format_code(digest),
                   content_sha256=hashlib.sha256(content).hexdigest())


# --- verification codes ----------------------------------------------------------------

def format_code(digest: bytes) -> str:
    raw = base64.b32encode(digest).decode()[:CODE_CHARS]
    return "-".join(raw[i:i + 4] for i in range(0, CODE_CHARS, 4))


def normalize_code(text: str) -> str | None:
    """A typed code in its printed form, or None if it cannot be one. Case, spaces and
    dashes do not matter; 0, 1 and 8 (not in base32) are read as O, I and B."""
    raw = re.sub(r"[\s-]", "", str(text)).upper().translate(str.maketrans("018", "OIB"))
    if not re.fullmatch(rf"[A-Z2-7]{{{CODE_CHARS}}}", raw):
        return None
    return "-".join(raw[i:i + 4] for i in range(0, CODE_CHARS, 4))


def warehouse_folder(con) -> Path | None:
    """The folder of the warehouse file `con` is open on (OUT), None for an in-memory one;
    for PostgreSQL the OUT the connection was opened for."""
    from cme.warehouse import is_postgres

    if is_postgres(con):
        return con.folder
    row = con.execute("select path from duckdb_databases() "
                      "where database_name = current_database()").fetchone()
    return Path(row[0]).resolve().parent if row and row[0] else None


def certificate_key(out_dir: Path | None) -> bytes:
    """The HMAC key: CME_CERTIFICATE_KEY, else OUT/certificate.key, created on first use
    (owner-only; created by linking a finished file, so two processes agree on one key)."""
    value = os.environ.get(KEY_ENV, "")
    if value:
        if len(value) < 16:
            raise CertificateKeyError(f"{KEY_ENV} must be at least 16 characters")
        return value.encode()
    if out_dir is None:
        raise CertificateKeyError(f"set {KEY_ENV}: no output folder to keep a key in")
    path = Path(out_dir) / KEY_FILE
    if not path.exists():
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 16:
        raise CertificateKeyError(f"{path} holds no key (at least 16 characters)")
    return key.encode()


# --- the register of issued certificates ------------------------------------------------

REGISTER_DDL = """
create schema if not exists certificates;
create table if not exists certificates.issued (
    verification_code text not null,
    person_id text not null,
    activity_id text not null,
    content_sha256 text not null,
    issued_on date not null,
    issued_at timestamp with time zone not null
);
"""


def _has_register(con) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables "
                            "where table_schema = 'certificates' and table_name = 'issued'"
                            ).fetchone()[0])


def _writable(con) -> bool:
    from cme.warehouse import is_postgres

    if is_postgres(con):
        return not con.read_only
    row = con.execute("select readonly from duckdb_databases() "
                      "where database_name = current_database()").fetchone()
    return bool(row) and not row[0]


def register(con, certs: list[Certificate], today: date) -> int:
    """Record the certificates whose code is not already the latest of their person and
    activity (append-only: a changed certificate adds a row, the old one stays and now
    verifies as superseded). Returns how many rows were added."""
    con.execute(REGISTER_DDL)
    if not certs:
        return 0
    import pandas as pd

    batch = pd.DataFrame([(c.verification_code, c.person_id, c.activity_id, c.content_sha256)
                          for c in certs],
                         columns=["verification_code", "person_id", "activity_id", "content_sha256"])
    con.register("certificate_batch", batch)
    try:
        before = con.execute("select count(*) from certificates.issued").fetchall()[0][0]
        con.execute("""
            insert into certificates.issued
            select b.verification_code, b.person_id, b.activity_id, b.content_sha256,
                   $today, current_timestamp
            from certificate_batch as b
            left join (select person_id, activity_id, verification_code as latest
                       from (select *, row_number() over (partition by person_id, activity_id
                                                          order by issued_at desc) as nth
                             from certificates.issued) as i
                       where nth = 1) as l
                using (person_id, activity_id)
            where l.latest is distinct from b.verification_code
        """, {"today": today})
        return con.execute("select count(*) from certificates.issued").fetchall()[0][0] - before
    finally:
        con.unregister("certificate_batch")


def _issued_dates(con, codes: list[str]) -> dict[str, date]:
    if not codes or not _has_register(con):
        return {}
    return dict(con.execute("select verification_code, min(issued_on) from certificates.issued "
                            "where verification_code = any($codes) group by 1",
                            {"codes": codes}).fetchall())


def _today(settings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


# --- the interface other parts use (portal, CLI, dashboard) ------------------------------

def certificates_for_person(con, person_id: str) -> list[dict]:
    """One entry per activity the person has credit in (read-only `con` is enough)."""
    key = certificate_key(warehouse_folder(con))
    return [{"activity_id": c.activity_id, "title": c.title, "completed_on": c.completed_on,
             "verification_code": c.verification_code,
             "credits": [{"credit_type": x.credit_type, "report_label": x.report_label,
                          "amount": float(x.amount), "unit": x.unit} for x in c.credits]}
            for c in (_build(r, key) for r in _select(con, people=[person_id]))]


def certificate_pdf(con, settings, person_id: str, activity_id: str) -> bytes:
    """The certificate of `person_id` for `activity_id`; KeyError if they have no credit in
    it. On a writable `con` the certificate is also recorded in certificates.issued; on a
    read-only one its code verifies once `cme certificates` has recorded the same content
    (the code is the same, as it depends on the content only)."""
    from cme.certificate_layout import render

    rows = _select(con, people=[person_id], activity=activity_id)
    if not rows:
        raise KeyError(f"no credit for person {person_id} in activity {activity_id}")
    cert = _build(rows[0], certificate_key(warehouse_folder(con)))
    today = _today(settings)
    if _writable(con):
        register(con, [cert], today)
    issued = _issued_dates(con, [cert.verification_code]).get(cert.verification_code, today)
    return render(replace(cert, issued_on=issued), settings)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def write_certificates(warehouse: Path, out_dir: Path, who: list[str] | None,
                       activity: str | None, settings) -> list[Path]:
    """Record and write OUT/certificates/<person_id>/<activity_id>.pdf for each person in
    `who` (person or learner account ids; None: everyone with credit), optionally for one
    activity. Raises LookupError for an id that is no one."""
    from cme.bodies.base import write_atomically
    from cme.certificate_layout import render
    from cme.warehouse import connect, private_dir

    key = certificate_key(Path(out_dir))
    with connect(Path(warehouse)) as con:
        people = None
        if who is not None:
            people = []
            for ident in who:
                found = con.execute("select person_id from main.dim_people where person_id = $id "
                                    "or $id = any(learner_ids)", {"id": ident}).fetchone()
                if not found:
                    raise LookupError(f"no person or learner account {ident!r} in the warehouse")
                people.append(found[0])
        certs = [_build(r, key) for r in _select(con, people, activity)]
        register(con, certs, _today(settings))
        issued = _issued_dates(con, [c.verification_code for c in certs])
    folder = private_dir(Path(out_dir) / "certificates")
    written = []
    for cert in certs:
        path = private_dir(folder / _safe(cert.person_id)) / f"{_safe(cert.activity_id)}.pdf"
        write_atomically(path, render(replace(cert, issued_on=issued[cert.verification_code]),
                                      settings))
        written.append(path)
    return written


# --- verification (the dashboard's /verify) ---------------------------------------------

@dataclass(frozen=True)
class Verification:
    code: str
    status: str  # genuine | superseded | withdrawn
    issued_on: date
    certificate: Certificate | None  # only when genuine: what the certificate itself shows


def verify(con, typed: str) -> Verification | None:
    """What a code stands for now; None for a code that is malformed or was never issued
    (the page says the same for both). Needs no key: it compares content hashes."""
    code = normalize_code(typed)
    if code is None or not _has_register(con):
        return None
    found = con.execute("""
        select person_id, activity_id, max(content_sha256), min(issued_on)
        from certificates.issued where verification_code = $code group by 1, 2
    """, {"code": code}).fetchone()
    if found is None:
        return None
    person_id, activity_id, content_sha256, issued_on = found
    latest = con.execute("""
        select verification_code from certificates.issued
        where person_id = $person and activity_id = $activity
        order by issued_at desc limit 1
    """, {"person": person_id, "activity": activity_id}).fetchone()[0]
    rows = _select(con, people=[person_id], activity=activity_id)
    if latest != code:
        return Verification(code, "superseded", issued_on, None)
    if not rows:
        return Verification(code, "withdrawn", issued_on, None)
    # any key gives the same content hash; the code itself is checked against the register
    now = _build(rows[0], b"-")
    if now.content_sha256 != content_sha256:
        return Verification(code, "superseded", issued_on, None)
    return Verification(code, "genuine", issued_on,
                        replace(now, verification_code=code, issued_on=issued_on))
