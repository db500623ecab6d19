"""Write a landing directory of N days: golden scenarios + seeded bulk + injected defects.

Same arguments, same bytes: one random.Random(seed), no clock, no hash order.
"""
from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta
from pathlib import Path

from cme.contract import BY_FILE, EXTRACTS
from cme.npi import make_npi
from cme.synthetic import activity_details, disclosures, golden

DEFAULT_START = date(2026, 11, 16)
STATES = ("FL", "FL", "FL", "TX", "CA", "GA", "NY")
LICENSE_PREFIX = {"physician": ("ME", "MD"), "nurse": ("RN", "RN"), "pharmacist": ("PS", "PS"),
                  "physician_assistant": ("PA", "PA")}
PROFESSION_WEIGHTS = (("physician", 45), ("nurse", 25), ("pharmacist", 9),
                      ("pharmacy_technician", 5), ("physician_assistant", 6), ("psychologist", 3),
                      ("social_worker", 3), ("dietitian", 2), ("other", 2))
FIRST = ("Alex", "Sam", "Jordan", "Maria", "Wei", "Priya", "Omar", "Lena", "Kofi", "Ines", "Hana",
         "Luis", "Mara", "Theo", "Zoe", "Ravi", "Anya", "Noah", "Ivy", "Caleb")
LAST = ("Smith", "Garcia", "Chen", "Patel", "Okafor", "Nguyen", "Kowalski", "Haddad", "Silva",
        "Moreau", "Berg", "Tanaka", "Ali", "Novak", "Rossi", "Kim", "Adams", "Lopez")
LIVE_FORMATS = ("C", "RSS")
ONLINE_FORMATS = ("IEM", "EM", "IL", "JN", "PI")
MOC_TYPES = {"ABIM": "ABIM_MK", "ABP": "ABP_LLSA", "ABS": "ABS_CME", "ABA": "ABA_MOCA"}

# Each defect: (file, description). Applied round-robin so every kind appears.
DEFECTS = (
    "learners.date_of_birth:us_date", "lms_completions.learner_id:blank",
    "lms_completions.minutes_engaged:letter", "lms_completions.evaluation_completed:bad_bool",
    "activities.activity_format:bad_enum", "attendance.check_out_at:before_check_in",
    "lms_completions.completed_at:bad_timestamp", "lms_completions:duplicate_row",
    "attendance:short_row", "activity_credits.max_credits:zero",
    "learner_licenses.state:long_name", "lms_completions.post_test_score:over_100",
    "activities.end_date:before_start", "learners.profession:bad_enum",
)


def _ts(rng: random.Random, day: date, hour: int, minute: int) -> str:
    """Timestamps in the three forms real extracts use: offset, naive (provider zone), Z."""
    form = rng.random()
    local = datetime(day.year, day.month, day.day, hour, minute)
    if form < 0.8:
        return local.isoformat() + "-06:00"
    if form < 0.9:
        return local.isoformat()
    return (local + timedelta(hours=6)).isoformat() + "Z"


class _Bulk:
    def __init__(self, rng: random.Random, start: date, days: int, n_learners: int):
        self.rng, self.start, self.days = rng, start, days
        self.activities: list[dict] = []
        self.credits: list[dict] = []
        self.learners: list[dict] = []
        self.licenses: list[dict] = []
        self.boards: list[dict] = []
        self.accounts_by_profession: dict[str, list[str]] = {}
        self._make_activities(max(8, n_learners // 20))
        self._make_people(n_learners)

    def _make_activities(self, n: int) -> None:
        rng, s = self.rng, self.start
        for i in range(n):
            aid = f"A{i + 1:05d}"
            live = i % 3 == 0
            if live:
                day = s - timedelta(days=1) + timedelta(days=rng.randrange(max(1, self.days)))
                start, end, fmt = day, day, rng.choice(LIVE_FORMATS)
            else:
                start = s - timedelta(days=rng.randrange(30, 300))
                end = s + timedelta(days=rng.randrange(-20, 300))  # a few already expired
                fmt = rng.choice(ONLINE_FORMATS)
            support = rng.random() < 0.2
            self.activities.append(dict(
                activity_id=aid, title=f"Activity {i + 1}", activity_format=fmt,
                start_date=start.isoformat(), end_date=end.isoformat(),
                accme_activity_id=f"PARS-{200000 + i}" if rng.random() < 0.9 else "",
                cebroker_course_id=f"20-{800000 + i}" if rng.random() < 0.6 else "",
                providership=rng.choice(("direct", "joint")),
                commercial_support="Y" if support else "N",
                commercial_agreement_signed_date=(start - timedelta(days=20)).isoformat()
                if support else "",
                evaluation_required=rng.choice("YN"),
                passing_score=rng.choice(("", "", "70", "80")),
                updated_at=_ts(rng, s - timedelta(days=3), 8, 0)))
            max_credit = rng.choice(("1.0", "1.5", "2.0", "3.0", "6.25"))
            types = ["AMA_PRA_1"]
            if rng.random() < 0.5:
                types.append("ANCC")
            if rng.random() < 0.25:
                types += ["ACPE_P", "ACPE_T"]
            if rng.random() < 0.3:
                types.append(rng.choice(sorted(MOC_TYPES.values())))
            if rng.random() < 0.2:
                types.append("AAPA_1")
            for t in types:
                uan = ""
                if t in ("ACPE_P", "ACPE_T"):
                    letter = "P" if t == "ACPE_P" else "T"
                    fmt_letter = "L" if live else "H"
                    uan = f"0204-0000-26-{i % 1000:03d}-{fmt_letter}0{rng.randint(1, 8)}-{letter}"
                self.credits.append(dict(activity_id=aid, credit_type=t, max_credits=max_credit,
                                         uan=uan))

    def _make_people(self, n: int) -> None:
        rng = self.rng
        professions = [p for p, w in PROFESSION_WEIGHTS for _ in range(w)]
        for i in range(n):
            profession = rng.choice(professions)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            dob = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 45))
            lid = f"L{i + 1:06d}"
            npi = make_npi(f"1{rng.randrange(10**8):08d}") if profession == "physician" and \
                rng.random() < 0.9 else ""
            row = dict(learner_id=lid, first_name=first, last_name=last,
                       email=f"{first}.{last}.{i}@example.org".lower(),
                       date_of_birth=dob.isoformat() if rng.random() < 0.95 else "",
                       profession=profession, npi=npi,
                       nabp_eprofile_id=str(rng.randrange(10**5, 10**7))
                       if profession.startswith("pharm") and rng.random() < 0.9 else "",
                       moc_consent="Y" if rng.random() < 0.8 else "N",
                       updated_at=_ts(rng, self.start - timedelta(days=5), 9, 0))
            self.learners.append(row)
            self.accounts_by_profession.setdefault(profession, []).append(lid)
            prefix = LICENSE_PREFIX.get(profession)
            licenses = []
            if prefix:
                for state in sorted(set(rng.sample(STATES, rng.choice((1, 1, 2))))):
                    licenses.append(dict(learner_id=lid, state=state,
                                         license_number=f"{prefix[0]}{rng.randrange(10**6, 10**7)}",
                                         license_profession=prefix[1],
                                         expires_on=(self.start + timedelta(days=rng.randrange(30, 900))).isoformat()))
                self.licenses += licenses
            boards = []
            if profession == "physician" and rng.random() < 0.5:
                board = rng.choice(sorted(MOC_TYPES))
                boards.append(dict(learner_id=lid, board=board,
                                   board_id="" if board == "ABS" or rng.random() < 0.1
                                   else f"{board}-{rng.randrange(10**5, 10**6)}"))
                self.boards += boards
            if rng.random() < 0.06:  # a second account of the same person
                self._duplicate_account(row, licenses, boards, i)

    def _duplicate_account(self, row, licenses, boards, i) -> None:
        rng = self.rng
        dup = dict(row, learner_id=f"L{i + 1:06d}-2")
        link = rng.choice(("npi", "license", "email", "board"))
        if link == "npi" and not row["npi"]:
            link = "email"
        if link == "license" and licenses:
            self.licenses.append(dict(licenses[0], learner_id=dup["learner_id"]))
        elif link == "board" and boards and boards[0]["board_id"]:
            self.boards.append(dict(boards[0], learner_id=dup["learner_id"]))
        elif link != "npi":
            dup["email"] = row["email"].upper()  # e-mail match is case-insensitive
        if link != "npi":
            dup["npi"] = ""
        if rng.random() < 0.15 and row["date_of_birth"]:  # disagreeing birthday: a conflict
            d = date.fromisoformat(row["date_of_birth"]) + timedelta(days=1)
            dup["date_of_birth"] = d.isoformat()
        self.learners.append(dup)
        self.accounts_by_profession[row["profession"]].append(dup["learner_id"])

    def events(self, folder_day: date, n_completions: int) -> tuple[list[dict], list[dict]]:
        """LMS completions and attendance that happened the day before `folder_day`."""
        rng, y = self.rng, folder_day - timedelta(days=1)
        accounts = [lid for lids in self.accounts_by_profession.values() for lid in lids]
        credits_by_activity: dict[str, list[str]] = {}
        for c in self.credits:
            credits_by_activity.setdefault(c["activity_id"], []).append(c["credit_type"])
        online = [a for a in self.activities if a["activity_format"] not in LIVE_FORMATS]
        completions = []
        for k in range(n_completions):
            act = rng.choice(online)
            learner = self._pick_learner(credits_by_activity[act["activity_id"]], accounts)
            has_claim = rng.random() < 0.6
            minutes = rng.randrange(3, 200)
            completions.append(dict(
                completion_id=f"C{folder_day:%Y%m%d}{k:05d}", learner_id=learner,
                activity_id=act["activity_id"],
                completed_at=_ts(rng, y, rng.randrange(6, 23), rng.randrange(60)),
                minutes_engaged=str(minutes) if rng.random() < 0.95 else "",
                post_test_score=str(rng.randrange(40, 101)) if act["passing_score"] else "",
                evaluation_completed="Y" if rng.random() < 0.9 else "N",
                credits_claimed=f"{rng.randrange(1, 13) * 0.25 + rng.choice((0, 0, 0.1)):.2f}"
                if has_claim else "",
                moc_requested="Y" if rng.random() < 0.5 else "N", status="completed"))
        # a few revocations of earlier completions
        for c in rng.sample(completions, k=min(2, len(completions))):
            if rng.random() < 0.5:
                completions.append(dict(c, status="revoked"))
        attendance = []
        live_today = [a for a in self.activities if a["activity_format"] in LIVE_FORMATS
                      and a["start_date"] <= y.isoformat() <= a["end_date"]]
        for act in live_today:
            for n, learner in enumerate(rng.sample(accounts, k=min(len(accounts), rng.randrange(5, 25)))):
                for s_i in range(rng.choice((1, 2, 2, 3))):
                    start_h = 8 + s_i * 2 - rng.choice((0, 0, 1))  # some sessions overlap
                    start_m = rng.choice((0, 15, 30))
                    length = rng.choice((45, 60, 90, 120))
                    end = datetime(y.year, y.month, y.day, start_h, start_m) + timedelta(minutes=length)
                    attendance.append(dict(
                        attendance_id=f"T{act['activity_id']}-{folder_day:%m%d}-{n:03d}-{s_i}",
                        learner_id=learner, activity_id=act["activity_id"], session_id=f"S{s_i + 1}",
                        check_in_at=_ts(rng, y, start_h, start_m),
                        check_out_at=_ts(rng, y, end.hour, end.minute),
                        evaluation_completed="Y" if rng.random() < 0.9 else "N",
                        moc_requested="Y" if rng.random() < 0.3 else "N"))
        return completions, attendance

    def _pick_learner(self, types: list[str], accounts: list[str]) -> str:
        # Mostly people the activity is meant for, sometimes anyone (profession-not-eligible).
        rng = self.rng
        if rng.random() < 0.8:
            wanted = {"AMA_PRA_1": "physician", "ANCC": "nurse", "ACPE_P": "pharmacist",
                      "ACPE_T": "pharmacy_technician", "AAPA_1": "physician_assistant"}
            professions = [wanted[t] for t in types if t in wanted]
            pool = self.accounts_by_profession.get(rng.choice(professions), []) if professions else []
            if pool:
                return rng.choice(pool)
        return rng.choice(accounts)


def _inject(rng: random.Random, files: dict[str, list[dict]], count: int, offset: int,
            protected: set[int]) -> int:
    """Corrupt `count` rows, cycling through DEFECTS; rows in `protected` (golden, or already
    corrupted) are spared."""
    done = 0
    for k in range(count):
        kind = DEFECTS[(offset + k) % len(DEFECTS)]
        target, what = kind.split(":")
        file, _, column = target.partition(".")
        rows = [r for r in files.get(f"{file}.csv", []) if id(r) not in protected]
        if not rows:
            continue
        row = rng.choice(rows)
        if what == "us_date" and row.get(column):
            d = date.fromisoformat(row[column])
            row[column] = f"{d:%m/%d/%Y}"
        elif what == "blank":
            row[column] = ""
        elif what == "letter":
            row[column] = "9O"
        elif what == "bad_bool":
            row[column] = "maybe"
        elif what == "bad_enum":
            row[column] = "WEB" if column == "activity_format" else "doctor"
        elif what == "before_check_in":
            row[column] = row["check_in_at"][:11] + "05:00:00-06:00"
        elif what == "bad_timestamp":
            row[column] = row[column][:10] + " 3pm"
        elif what == "duplicate_row":
            files[f"{file}.csv"].append(dict(row))
        elif what == "short_row":
            row["__short__"] = True
        elif what == "zero":
            row[column] = "0"
        elif what == "long_name":
            row[column] = "Florida"
        elif what == "over_100":
            row[column] = "101"
        elif what == "before_start":
            row[column] = (date.fromisoformat(row["start_date"]) - timedelta(days=3)).isoformat()
        else:
            continue
        protected.add(id(row))  # one defect per row, so each quarantine has one known cause
        done += 1
    return done


def _write_csv(path: Path, file: str, rows: list[dict], rng: random.Random) -> None:
    columns = [c.name for c in BY_FILE[file].columns]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    header = columns
    if file == "attendance.csv":
        header = [" " + c.title() for c in columns]  # names match case-insensitively after trim
    if file == "lms_completions.csv":
        header = columns + ["lms_internal_ref"]  # extra columns are kept in raw, ignored later
    writer.writerow(header)
    for i, row in enumerate(rows):
        values = [row.get(c, "") for c in columns]
        if file == "lms_completions.csv":
            values.append(f"ref-{i}")
        if row.get("__short__"):
            values = values[:-2]
        writer.writerow(values)
    data = buf.getvalue().encode("utf-8")
    if file == "learners.csv":
        data = b"\xef\xbb\xbf" + data  # a byte-order mark, as Excel writes
    path.write_bytes(data)


def generate(out: Path, days: int = 3, learners: int = 200, seed: int = 7,
             defect_rate: float = 0.02, start: date = DEFAULT_START) -> list[Path]:
    """Write `days` folders under `out`; return them in date order."""
    rng = random.Random(seed)
    bulk = _Bulk(rng, start, days, learners)
    out = Path(out)
    folders = []
    injected = 0
    for d in range(days):
        day = start + timedelta(days=d)
        files: dict[str, list[dict]] = {e.file: [] for e in EXTRACTS}
        if d == 0:
            files.update({
                "activities.csv": golden.activities(start),
                "activity_credits.csv": golden.activity_credits(),
                "learners.csv": golden.learners_day1(),
                "learner_licenses.csv": golden.licenses_day1(),
                "learner_board_ids.csv": golden.board_ids(),
                "lms_completions.csv": golden.completions_day1(start),
                "attendance.csv": golden.attendance_day1(start),
            })
        elif d == 1:
            files.update({
                "learners.csv": golden.learners_day2(),
                "learner_licenses.csv": golden.licenses_day2(),
                "lms_completions.csv": golden.completions_day2(start),
            })
        # Golden rows carry hand-worked expectations: defects never touch them.
        protected = {id(row) for rows in files.values() for row in rows}
        if d == 0:
            files["activities.csv"] += bulk.activities
            files["activity_credits.csv"] += bulk.credits
            files["learners.csv"] += bulk.learners
            files["learner_licenses.csv"] += bulk.licenses
            files["learner_board_ids.csv"] += bulk.boards
        completions, attendance = bulk.events(day, max(1, learners * 3 // 10))
        files["lms_completions.csv"] += completions
        files["attendance.csv"] += attendance
        if defect_rate > 0:
            total = sum(len(v) for v in files.values())
            # day 1 carries at least one of every defect kind, later days their share
            count = max(len(DEFECTS) if d == 0 else 0, round(total * defect_rate))
            injected += _inject(rng, files, count, injected, protected)
        if d == 0:
            # Added after the defects, which never touch them, from their own random
            # stream: the rest of a seed's data is as it was before disclosures existed.
            upcoming, upcoming_credits = disclosures.upcoming_activities(start)
            files["activities.csv"] += upcoming
            files["activity_credits.csv"] += upcoming_credits
            files["faculty_disclosures.csv"], forms = disclosures.disclosures(
                seed, start, bulk.activities + upcoming)
            disclosures.write_forms(out / "documents", forms)
            files["commercial_support.csv"] = golden.commercial_supports(start) + \
                activity_details.fill(seed, files["activities.csv"])
        folder = out / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for file, rows in files.items():
            if rows or d == 0:
                _write_csv(folder / file, file, rows, rng)
        folders.append(folder)
    return folders
