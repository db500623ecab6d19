"""The PARS activity fields of generated activities (issue 12), and their supporters.

Filled after everything else from their own random stream, so the rest of a
seed's data is as it was before these columns existed. About one activity in
seven is left short of a field PARS needs to close it, as real extracts are.
"""
from __future__ import annotations

import random

CITIES = (("Chicago", "IL"), ("Tampa", "FL"), ("Denver", "CO"), ("Boston", "MA"), ("Austin", "TX"))
MEASURES = ("competence", "performance", "patient_health", "community_health")
SUPPORTERS = ("Acme Pharma", "Globex Devices", "Initech Labs", "Umbrella Biologics")
LIVE_FORMATS = ("C", "RSS")


def fill(seed: int, activities: list[dict]) -> list[dict]:
    """Give every activity without them the PARS activity fields; return supporter rows
    (commercial_support.csv) for half the commercially supported ones."""
    rng = random.Random(f"activity-details-{seed}")
    supporters = []
    for activity in activities:
        if "delivery_method" in activity:  # hand-written (golden) rows carry their own
            continue
        live = activity.get("activity_format") in LIVE_FORMATS
        method = rng.choice(("in_person", "in_person", "hybrid")) if live else "online"
        city, state = rng.choice(CITIES)
        activity.update(
            delivery_method=method,
            location_city=city if method != "online" else "",
            location_state=state if method != "online" else "",
            location_country="US" if method != "online" else "",
            description=f"{activity['title']}: objectives, faculty and agenda in the LMS.",
            joint_provider_name="Partner Medical Society" if activity.get("providership") == "joint" else "",
            outcome_measures=";".join(sorted(rng.sample(MEASURES, rng.randint(1, 2)))),
            commercial_support_monetary="", commercial_support_in_kind="",
            pars_physician_learners="", pars_other_learners="")
        supported = activity.get("commercial_support") == "Y"
        if supported:
            activity["commercial_support_monetary"] = str(rng.choice((5000, 12500, 20000)))
            if rng.random() < 0.5:
                for name in rng.sample(SUPPORTERS, rng.randint(1, 2)):
                    supporters.append(dict(
                        activity_id=activity["activity_id"], supporter=name,
                        monetary_amount=str(rng.choice((2500, 5000, 10000))), in_kind_amount="",
                        agreement_signed_date=activity.get("commercial_agreement_signed_date", "")))
        # one in seven short of a field PARS needs to close the activity
        if rng.random() < 1 / 7:
            activity[rng.choice(("outcome_measures", "description", "delivery_method"))] = ""
    return supporters
