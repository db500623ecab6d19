"""Hand-written scenarios with outcomes worked out by hand (docs/golden-scenarios.md).

Everything is placed relative to the first extract date S. Events landed in
folder S happened on S-1 (an extract carries yesterday's activity).
"""
from __future__ import annotations

from datetime import date, timedelta

# learner_id -> expectations live in tests; ids are stable, so tests can name them.
UAN_P = "0204-0000-26-001-H01-P"
UAN_T = "0204-0000-26-002-H01-T"


def _d(day: date) -> str:
    return day.isoformat()


def _ts(day: date, hhmm: str) -> str:
    return f"{day.isoformat()}T{hhmm}:00-06:00"


def activities(s: date) -> list[dict]:
    upd = _ts(s - timedelta(days=2), "08:00")
    base = dict(providership="direct", commercial_support="N", commercial_agreement_signed_date="",
                cebroker_course_id="", updated_at=upd,
                # the PARS activity fields (issue 12): complete unless a case says otherwise
                delivery_method="online", location_city="", location_state="", location_country="",
                description="Case-based module with a post-test.", joint_provider_name="",
                outcome_measures="competence", commercial_support_monetary="",
                commercial_support_in_kind="", pars_physician_learners="", pars_other_learners="")
    return [
        dict(base, activity_id="GA-ENDURING", title="Anticoagulation update", activity_format="IEM",
             start_date=_d(s - timedelta(days=200)), end_date=_d(s + timedelta(days=165)),
             accme_activity_id="PARS-100001", cebroker_course_id="20-700001",
             evaluation_required="Y", passing_score="70"),
        dict(base, activity_id="GA-LIVE", title="Sepsis grand rounds", activity_format="C",
             start_date=_d(s - timedelta(days=1)), end_date=_d(s - timedelta(days=1)),
             accme_activity_id="PARS-100002", cebroker_course_id="20-700002",
             evaluation_required="N", passing_score="",
             # ACTIVITY_FIELDS_MISSING: held in person, but no city and no outcome measure
             delivery_method="in_person", location_state="IL", location_country="US",
             outcome_measures=""),
        dict(base, activity_id="GA-PHARM", title="Opioid stewardship", activity_format="IEM",
             start_date=_d(s - timedelta(days=90)), end_date=_d(s + timedelta(days=275)),
             accme_activity_id="PARS-100003", evaluation_required="Y", passing_score=""),
        dict(base, activity_id="GA-ABP", title="Pediatric asthma cases", activity_format="EM",
             start_date=_d(s - timedelta(days=60)), end_date=_d(s + timedelta(days=300)),
             accme_activity_id="PARS-100004", evaluation_required="N", passing_score="",
             # COMMERCIAL_AGREEMENT_LATE for one of its two supporters (commercial_supports)
             commercial_support="Y", commercial_agreement_signed_date=_d(s - timedelta(days=70))),
        dict(base, activity_id="GA-PAST", title="Retired module", activity_format="EM",
             start_date=_d(s - timedelta(days=400)), end_date=_d(s - timedelta(days=30)),
             accme_activity_id="PARS-100005", evaluation_required="N", passing_score="",
             # LEARNER_COUNT_MISMATCH: the counts entered in PARS by hand are not the facts'
             pars_physician_learners="9", pars_other_learners="0"),
        # ACTIVITY_NOT_IN_PARS: last year's course, never registered, and that year's
        # PARS close has passed (so the activity batch can no longer send it: WINDOW_CLOSED)
        dict(base, activity_id="GA-UNREPORTED", title="Wound care workshop", activity_format="C",
             start_date=_d(s - timedelta(days=330)), end_date=_d(s - timedelta(days=330)),
             accme_activity_id="", evaluation_required="N", passing_score="",
             delivery_method="in_person", location_city="Tampa", location_state="FL",
             location_country="US"),
    ]


def commercial_supports(s: date) -> list[dict]:
    """GA-ABP's two supporters: the second agreement was signed after the activity began."""
    return [
        dict(activity_id="GA-ABP", supporter="Acme Pharma", monetary_amount="10000", in_kind_amount="",
             agreement_signed_date=_d(s - timedelta(days=70))),
        dict(activity_id="GA-ABP", supporter="Globex Devices", monetary_amount="", in_kind_amount="2500",
             agreement_signed_date=_d(s - timedelta(days=50))),
    ]


def activity_credits() -> list[dict]:
    rows = [
        ("GA-ENDURING", "AMA_PRA_1", "2.0", ""), ("GA-ENDURING", "ABIM_MK", "1.0", ""),
        ("GA-ENDURING", "ANCC", "2.0", ""),
        ("GA-LIVE", "AMA_PRA_1", "3.0", ""), ("GA-LIVE", "ANCC", "3.0", ""),
        ("GA-PHARM", "ACPE_P", "1.5", UAN_P), ("GA-PHARM", "ACPE_T", "1.5", UAN_T),
        ("GA-ABP", "AMA_PRA_1", "1.0", ""), ("GA-ABP", "ABP_LLSA", "1.0", ""),
        ("GA-PAST", "AMA_PRA_1", "1.0", ""), ("GA-UNREPORTED", "AMA_PRA_1", "2.0", ""),
    ]
    return [dict(activity_id=a, credit_type=t, max_credits=m, uan=u) for a, t, m, u in rows]


def _learner(learner_id, first, last, profession, dob, npi="", email="", epid="", consent="Y",
             upd="2026-01-05T09:00:00-06:00"):
    return dict(learner_id=learner_id, first_name=first, last_name=last, email=email,
                date_of_birth=dob, profession=profession, npi=npi, nabp_eprofile_id=epid,
                moc_consent=consent, updated_at=upd)


def learners_day1() -> list[dict]:
    return [
        _learner("GL-PHYS-1", "Ada", "Known", "physician", "1970-03-14", npi="1234567893",
                 email="ada.known@example.org"),
        _learner("GL-NURSE-1", "Nina", "Florence", "nurse", "1985-07-02"),
        _learner("GL-PAIR-A", "Paul", "Pair", "physician", "1968-12-01", npi="1003000126"),
        _learner("GL-PAIR-B", "Paul", "Pair", "physician", "1968-12-01", npi="1003000126"),
        _learner("GL-PHARM-1", "Phil", "Macy", "pharmacist", "1979-05-20", epid="123456"),
        _learner("GL-TECH-1", "Tess", "Tech", "pharmacy_technician", "1995-09-09", epid="654321"),
        # Quarantined on day 1 (US-style date); corrected on day 2.
        _learner("GL-BAD-DOB", "Dana", "Late", "physician", "11/24/1970", npi="1245319599"),
        # Same e-mail and last name, different birthday: one person, in conflict.
        _learner("GL-CONFLICT-A", "Cora", "Clash", "physician", "1975-01-01",
                 email="cora.clash@example.org", npi=""),
        _learner("GL-CONFLICT-B", "Cora", "Clash", "physician", "1975-02-02",
                 email="Cora.Clash@Example.org", npi=""),
        _learner("GL-ABP", "Pia", "Peds", "physician", "1980-04-04", npi="1306849450"),
        _learner("GL-PHYS-2", "Bo", "Fail", "physician", "1971-01-11", npi=""),
        _learner("GL-PHYS-3", "Cy", "NoEval", "physician", "1972-02-12", npi=""),
        _learner("GL-PHYS-4", "Di", "NoMoc", "physician", "1973-03-13", npi=""),
        _learner("GL-PHYS-5", "Ed", "NoConsent", "physician", "1974-04-14", npi="", consent="N"),
        _learner("GL-PHYS-6", "Fay", "Brief", "physician", "1975-05-15", npi=""),
        _learner("GL-PHYS-7", "Gus", "Revoke", "physician", "1976-06-16", npi=""),
        # No birth date yet: the PARS record waits (MISSING_DOB) until day 2 brings it.
        _learner("GL-NODOB", "Hal", "Waits", "physician", "", npi="1555555550"),
    ]


def learners_day2() -> list[dict]:
    return [
        _learner("GL-BAD-DOB", "Dana", "Late", "physician", "1970-11-24", npi="1245319599",
                 upd="2026-01-06T09:00:00-06:00"),
        _learner("GL-NODOB", "Hal", "Waits", "physician", "1969-06-30", npi="1555555550",
                 upd="2026-01-06T09:00:00-06:00"),
        # A new account that shares a Florida license with GL-NURSE-1: merged into her person.
        _learner("GL-NURSE-1B", "Nina", "Florence", "nurse", "1985-07-02"),
    ]


def licenses_day1() -> list[dict]:
    return [
        dict(learner_id="GL-PHYS-1", state="FL", license_number="ME123456", license_profession="MD",
             expires_on="2028-01-31"),
        dict(learner_id="GL-NURSE-1", state="FL", license_number="RN9876543",
             license_profession="RN", expires_on="2027-07-31"),
    ]


def licenses_day2() -> list[dict]:
    return [dict(learner_id="GL-NURSE-1B", state="FL", license_number="RN9876543",
                 license_profession="RN", expires_on="2027-07-31")]


def board_ids() -> list[dict]:
    return [dict(learner_id="GL-PHYS-1", board="ABIM", board_id="ABIM-331100"),
            dict(learner_id="GL-ABP", board="ABP", board_id="ABP-4400"),
            dict(learner_id="GL-PHYS-2", board="ABIM", board_id="ABIM-2"),
            dict(learner_id="GL-PHYS-3", board="ABIM", board_id="ABIM-3"),
            dict(learner_id="GL-PHYS-4", board="ABIM", board_id="ABIM-4"),
            dict(learner_id="GL-PHYS-5", board="ABIM", board_id="ABIM-5"),
            dict(learner_id="GL-PHYS-6", board="ABIM", board_id="ABIM-6")]


def _lms(cid, learner, activity, at, minutes="", score="", evaluation="Y", claimed="", moc="N",
         status="completed"):
    return dict(completion_id=cid, learner_id=learner, activity_id=activity, completed_at=at,
                minutes_engaged=minutes, post_test_score=score, evaluation_completed=evaluation,
                credits_claimed=claimed, moc_requested=moc, status=status)


def completions_day1(s: date) -> list[dict]:
    y = s - timedelta(days=1)
    return [
        # 1.6 claimed -> floor to 1.5 AMA; ABIM_MK = min(1.5, cap 1.0) = 1.0
        _lms("GC-1", "GL-PHYS-1", "GA-ENDURING", _ts(y, "10:15"), "100", "85", "Y", "1.6", "Y"),
        # expired activity
        _lms("GC-PAST", "GL-PHYS-1", "GA-PAST", _ts(y, "11:00"), "60", "", "Y", "1.0"),
        # 95 minutes, nothing claimed -> 1.583 -> nearest quarter 1.5
        _lms("GC-PHARM", "GL-PHARM-1", "GA-PHARM", _ts(y, "12:00"), "95", "", "Y", ""),
        # 100 minutes -> 1.667 -> 1.75 -> capped at 1.5
        _lms("GC-TECH", "GL-TECH-1", "GA-PHARM", _ts(y, "12:30"), "100", "", "Y", ""),
        # learner row quarantined today: unmatched until day 2
        _lms("GC-BAD", "GL-BAD-DOB", "GA-ENDURING", _ts(y, "13:00"), "60", "90", "Y", "1.0"),
        _lms("GC-CONFLICT", "GL-CONFLICT-A", "GA-ENDURING", _ts(y, "13:30"), "60", "90", "Y", "1.0"),
        # ABP: twice on one day on a non-journal activity; only the first earns ABP points
        _lms("GC-ABP-1", "GL-ABP", "GA-ABP", _ts(y, "09:00"), "60", "", "Y", "1.0", "Y"),
        _lms("GC-ABP-2", "GL-ABP", "GA-ABP", _ts(y, "15:00"), "60", "", "Y", "1.0", "Y"),
        # nurse on an activity that designates no nursing credit
        _lms("GC-NURSE-ABP", "GL-NURSE-1", "GA-ABP", _ts(y, "16:00"), "60", "", "Y", "1.0"),
        _lms("GC-FAIL", "GL-PHYS-2", "GA-ENDURING", _ts(y, "10:00"), "60", "60", "Y", "1.0", "Y"),
        _lms("GC-NOEVAL", "GL-PHYS-3", "GA-ENDURING", _ts(y, "10:00"), "60", "90", "N", "1.0", "Y"),
        _lms("GC-NOMOC", "GL-PHYS-4", "GA-ENDURING", _ts(y, "10:00"), "60", "90", "Y", "1.0", "N"),
        _lms("GC-NOCONSENT", "GL-PHYS-5", "GA-ENDURING", _ts(y, "10:00"), "60", "90", "Y", "1.0",
             "Y"),
        # 5 minutes and nothing claimed rounds to zero
        _lms("GC-ZERO", "GL-PHYS-6", "GA-ENDURING", _ts(y, "10:00"), "5", "90", "Y", "", "Y"),
        _lms("GC-REV", "GL-PHYS-7", "GA-ENDURING", _ts(y, "10:00"), "60", "90", "Y", "1.0"),
        _lms("GC-NODOB", "GL-NODOB", "GA-ENDURING", _ts(y, "11:30"), "60", "90", "Y", "1.0"),
    ]


def completions_day2(s: date) -> list[dict]:
    y = s - timedelta(days=1)
    return [_lms("GC-REV", "GL-PHYS-7", "GA-ENDURING", _ts(y, "10:00"), "60", "90", "Y", "1.0",
                 status="revoked")]


def attendance_day1(s: date) -> list[dict]:
    y = s - timedelta(days=1)

    def a(aid, learner, session, start, end):
        return dict(attendance_id=aid, learner_id=learner, activity_id="GA-LIVE", session_id=session,
                    check_in_at=_ts(y, start), check_out_at=_ts(y, end), evaluation_completed="Y",
                    moc_requested="N")
    return [
        # overlapping sessions: union 09:00-11:15 = 135 min = 2.25 contact hours
        a("GT-N1", "GL-NURSE-1", "S1", "09:00", "10:30"),
        a("GT-N2", "GL-NURSE-1", "S2", "10:00", "11:15"),
        # one person through two accounts: 180 min on A, 60 on B -> one 3.0 award
        a("GT-PA", "GL-PAIR-A", "S1", "09:00", "12:00"),
        a("GT-PB", "GL-PAIR-B", "S1", "09:00", "10:00"),
    ]
