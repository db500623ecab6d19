"""Faculty disclosures for the sample data: the people in content roles of the bulk
live activities and of a few upcoming ones, mostly compliant, with a seeded share of
every Standard 3 problem, and the signed forms in the document store.

It draws from its own random stream, so adding it left the learner and completion
data of a given seed unchanged.
"""
from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from pathlib import Path

# Days after the first extract date that the upcoming activities start: all but the
# last fall within the default 30-day window the dashboard lists.
UPCOMING_OFFSETS = (4, 9, 15, 21, 27, 45)
FACULTY_POOL = 30
COMPANIES = (("PharmaCo", True), ("DeviceCorp", True), ("BioGen Labs", True),
             ("City Hospital", False), ("State University", False))


def _d(day: date | None) -> str:
    return day.isoformat() if day else ""


def upcoming_activities(start: date) -> tuple[list[dict], list[dict]]:
    """Live activities starting after the first extract date, with their credits."""
    activities, credits = [], []
    for i, offset in enumerate(UPCOMING_OFFSETS):
        day = start + timedelta(days=offset)
        aid = f"AU{i + 1:03d}"
        supported = i in (1, 4)
        activities.append(dict(
            activity_id=aid, title=f"Upcoming symposium {i + 1}", activity_format="C",
            start_date=_d(day), end_date=_d(day), accme_activity_id=f"PARS-{300000 + i}",
            cebroker_course_id="", providership="direct",
            commercial_support="Y" if supported else "N",
            # the second supported activity has no signed agreement yet
            commercial_agreement_signed_date=_d(day - timedelta(days=40)) if i == 1 else "",
            evaluation_required="Y", passing_score="",
            updated_at=f"{_d(start - timedelta(days=3))}T08:00:00-06:00"))
        credits.append(dict(activity_id=aid, credit_type="AMA_PRA_1", max_credits="2.0", uan=""))
    return activities, credits


class _Disclosures:
    def __init__(self, seed: int, today: date):
        self.rng = random.Random(f"disclosures-{seed}")
        self.today = today
        self.rows: list[dict] = []
        self.forms: dict[str, str] = {}  # disclosure_id -> the signed form's text

    def add_activity(self, activity: dict) -> None:
        rng = self.rng
        start = date.fromisoformat(activity["start_date"])
        roles = ["planner", "faculty"] + ["faculty"] * rng.randrange(2)
        roles += [r for r, p in (("reviewer", 0.4), ("moderator", 0.3), ("staff", 0.5))
                  if rng.random() < p]
        for role in roles:
            person = f"FAC-{rng.randrange(1, FACULTY_POOL + 1):04d}"
            lead = rng.randrange(60, 120) if role in ("planner", "staff") else rng.randrange(25, 50)
            self._add_person(activity["activity_id"], role, person, start, start - timedelta(days=lead))

    def _add_person(self, activity_id: str, role: str, person: str, start: date, role_start: date):
        rng = self.rng
        did = f"D-{activity_id}-{role[:3]}-{person}"
        if any(r["disclosure_id"] == did for r in self.rows):
            return  # the same person drawn twice for one role
        signed: date | None = role_start - timedelta(days=rng.randrange(3, 90))
        roll = rng.random()
        if roll < 0.08:
            signed = None                                          # DISCLOSURE_MISSING
        elif roll < 0.12:
            signed = role_start - timedelta(days=400)              # DISCLOSURE_STALE
        if signed and signed > self.today:
            signed = None  # nobody signs in the future: still to come
        shown = role_start + timedelta(days=rng.randrange(1, 10))
        if shown >= start or shown > self.today or rng.random() < 0.05:
            shown = None   # not yet shown to learners (LEARNER_DISCLOSURE_LATE until it is)
        base = dict(disclosure_id=did, person_id=person,
                    first_name=f"Faculty{person[-4:]}", last_name="Sample",
                    activity_id=activity_id, role=role, role_start_date=_d(role_start),
                    signed_date=_d(signed), learner_disclosure_date=_d(shown),
                    document_sha256="")
        relationships = []
        if signed and rng.random() < 0.25:
            company, ineligible = rng.choice(COMPANIES)
            rel = dict(company=company, company_is_ineligible="Y" if ineligible else "N",
                       nature=rng.choice(("consultant", "speaker", "advisor", "researcher")),
                       is_relevant="Y" if rng.random() < 0.7 else "N",
                       relationship_ended_on="", mitigation_step="", mitigated_date="")
            if ineligible and rel["is_relevant"] == "Y":
                fate = rng.random()
                if fate < 0.6:    # mitigated before the role began
                    rel.update(mitigation_step="peer_review",
                               mitigated_date=_d(min(role_start - timedelta(days=2), self.today)))
                elif fate < 0.8:  # MITIGATION_LATE (or still due, for a role not yet begun)
                    late = role_start + timedelta(days=3)
                    rel.update(mitigation_step="attest", mitigated_date=_d(late) if late <= self.today else "")
                # else MITIGATION_MISSING
            relationships.append(rel)
        if signed:
            form = f"Signed disclosure {did}, {_d(signed)}\n"
            self.forms[did] = form
            base["document_sha256"] = hashlib.sha256(form.encode()).hexdigest()
        if not relationships:
            self.rows.append(dict(base, relationship_seq="0", has_relationships="N"))
        for seq, rel in enumerate(relationships, start=1):
            self.rows.append(dict(base, relationship_seq=str(seq), has_relationships="Y", **rel))

    def add_owner_case(self, activity_id: str, start: date) -> None:
        """One owner of an ineligible company in a content role: never allowed."""
        role_start = start - timedelta(days=30)
        did = f"D-{activity_id}-own"
        self.forms[did] = f"Signed disclosure {did}\n"
        self.rows.append(dict(
            disclosure_id=did, relationship_seq="1", person_id="FAC-0099",
            first_name="Faculty0099", last_name="Sample", activity_id=activity_id, role="faculty",
            role_start_date=_d(role_start), signed_date=_d(role_start - timedelta(days=20)),
            has_relationships="Y", company="DeviceCorp", company_is_ineligible="Y", nature="owner",
            relationship_ended_on="", is_relevant="Y", mitigation_step="recusal",
            mitigated_date=_d(role_start - timedelta(days=10)),
            learner_disclosure_date=_d(min(role_start + timedelta(days=2), self.today)),
            document_sha256=hashlib.sha256(self.forms[did].encode()).hexdigest()))


def disclosures(seed: int, start: date, activities: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Disclosure rows for the live `activities`, and the forms to store, keyed by
    disclosure id. One stored form is missing and one altered after signing."""
    made = _Disclosures(seed, start)
    for activity in activities:
        if activity["activity_format"] in ("C", "RSS"):
            made.add_activity(activity)
    upcoming = [a for a in activities if a["activity_id"].startswith("AU")]
    if upcoming:
        made.add_owner_case(upcoming[0]["activity_id"], date.fromisoformat(upcoming[0]["start_date"]))
    forms = dict(made.forms)
    signed = sorted(forms)
    if len(signed) >= 2:
        del forms[signed[0]]                    # DISCLOSURE_DOCUMENT_MISSING
        forms[signed[1]] += "edited later\n"    # DISCLOSURE_DOCUMENT_ALTERED
    return made.rows, forms


def write_forms(store: Path, forms: dict[str, str]) -> None:
    store.mkdir(parents=True, exist_ok=True)
    for did, text in sorted(forms.items()):
        (store / f"{did}.pdf").write_text(text)
