"""The landing contract as data.

Ingest reads this to parse, type and quarantine rows, the raw tables' DDL is
generated from it, and so is the document for the people who write the extracts,
docs/landing-contract.md (cme.contract_doc; a test fails when the two differ).
The dbt staging models (dbt_project/models/staging/landing/) name the columns again
by hand, as do the quarantine keys of int_quarantined_rows_resolved: a test fails when
a staging model does not select a contract column (tests/test_dbt_conventions.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

PROFESSIONS = ("physician", "nurse", "pharmacist", "pharmacy_technician", "physician_assistant",
               "psychologist", "social_worker", "dietitian", "dentist", "optometrist",
               "athletic_trainer", "respiratory_therapist", "counselor", "occupational_therapist",
               "other")
ACTIVITY_FORMATS = ("C", "RSS", "IL", "EM", "IEM", "JN", "MR", "TIW", "CML", "PI", "ISL", "LFT")
BOARDS = ("ABA", "ABIM", "ABOHNS", "ABOS", "ABP", "ABPath", "ABS", "ABTS", "ABPMR")
ROLES = ("planner", "faculty", "reviewer", "moderator", "staff")
NATURES = ("employee", "owner", "researcher", "consultant", "advisor", "speaker", "contractor",
           "royalties", "executive", "stock")
MITIGATIONS = ("divest", "recusal", "peer_review", "attest", "other")
# PARS activity fields (reference, "Activity data"): the spellings are ours [A].
DELIVERY_METHODS = ("in_person", "online", "hybrid")
OUTCOME_MEASURES = ("competence", "performance", "patient_health", "community_health")

# Longest value read, in characters: a longer one quarantines its row.
MAX_VALUE_CHARS = 10_000
# Longest record read, in characters: a quoted field still open past this (an unterminated
# quote) quarantines the line it started on, and reading resumes on the next line.
MAX_RECORD_CHARS = 1 << 20
# Readiness markers in a date folder: neither extracts nor unknown files.
MARKER_FILES = ("_SUCCESS", "_manifest.json")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text | date | timestamp | bool | int | decimal | state | enum
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    # The learner's personal data: never printed in logs or reports.
    personal: bool = False
    # What the extract's writer needs to know beyond the type (docs/landing-contract.md).
    note: str = ""


@dataclass(frozen=True)
class RowCheck:
    """A rule across two columns of one row: `later` must be after (or on) `earlier`."""
    earlier: str
    later: str
    strict: bool
    reason: str


@dataclass(frozen=True)
class Extract:
    file: str
    table: str
    kind: str  # "reference" (upsert, latest extract wins) or "event" (append-only)
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    row_checks: tuple[RowCheck, ...] = field(default=())
    note: str = ""

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name, type_="text", required=False, **kw) -> Column:
    return Column(name, type_, required, **kw)


EXTRACTS: tuple[Extract, ...] = (
    Extract("activities.csv", "activities", "reference", ("activity_id",), (
        _c("activity_id", required=True),
        _c("title", required=True),
        _c("activity_format", "enum", True, choices=ACTIVITY_FORMATS),
        _c("start_date", "date", True),
        _c("end_date", "date", True),
        _c("accme_activity_id"),
        _c("cebroker_course_id"),
        _c("providership", "enum", choices=("direct", "joint")),
        _c("commercial_support", "bool"),
        _c("commercial_agreement_signed_date", "date"),
        _c("evaluation_required", "bool", True),
        _c("passing_score", "int", minimum=0, maximum=100),
        _c("updated_at", "timestamp", True),
        # Optional PARS activity fields (issue 12); extracts without them still load.
        _c("delivery_method", "enum", choices=DELIVERY_METHODS, note="PARS delivery method (Active)"),
        _c("location_city", note="in-person and hybrid activities (Active)"),
        _c("location_state", "state", note="2-letter state, for the US (Active)"),
        _c("location_country", note="e.g. US (Active)"),
        _c("description", note="activity description (Active)"),
        _c("joint_provider_name", note="for a jointly provided activity (Closed)"),
        _c("outcome_measures", note="`;`-separated, each one of " + ", ".join(f"`{m}`" for m in OUTCOME_MEASURES) + " (Closed)"),
        _c("commercial_support_monetary", "decimal", minimum=0, note="total, when commercial_support.csv does not list supporters (Closed)"),
        _c("commercial_support_in_kind", "decimal", minimum=0, note="as commercial_support_monetary"),
        _c("pars_physician_learners", "int", minimum=0, note="entered in PARS by hand for the year the activity ended, if any; compared with the credit facts"),
        _c("pars_other_learners", "int", minimum=0, note="as pars_physician_learners"),
    ), (RowCheck("start_date", "end_date", False, "end_date is before start_date"),)),
    # Commercial support per supporter (ACCME Standard 4), when the LMS keeps it so; it
    # takes precedence over the activity's own totals.
    Extract("commercial_support.csv", "commercial_supports", "reference", ("activity_id", "supporter"), (
        _c("activity_id", required=True),
        _c("supporter", required=True),
        _c("monetary_amount", "decimal", minimum=0),
        _c("in_kind_amount", "decimal", minimum=0),
        _c("agreement_signed_date", "date", note="must be on or before the activity's start (Standard 4)"),
    ), note="Optional. When it lists supporters for an activity, their amounts replace the activity's "
            "own commercial-support totals, and each supporter needs its own agreement."),
    Extract("activity_credits.csv", "activity_credits", "reference", ("activity_id", "credit_type"), (
        _c("activity_id", required=True),
        _c("credit_type", required=True),
        _c("max_credits", "decimal", True, minimum=0, exclusive_minimum=True),
        _c("uan"),
    )),
    Extract("learners.csv", "learners", "reference", ("learner_id",), (
        _c("learner_id", required=True),
        _c("first_name", required=True, personal=True),
        _c("last_name", required=True, personal=True),
        _c("email", personal=True),
        _c("date_of_birth", "date", personal=True),
        _c("profession", "enum", True, choices=PROFESSIONS),
        _c("npi", personal=True),
        _c("nabp_eprofile_id", personal=True),
        _c("moc_consent", "bool"),
        _c("updated_at", "timestamp", True),
    )),
    Extract("learner_licenses.csv", "learner_licenses", "reference",
            ("learner_id", "state", "license_number"), (
        _c("learner_id", required=True),
        _c("state", "state", True),
        _c("license_number", required=True, personal=True),
        _c("license_profession"),
        _c("expires_on", "date"),
    )),
    Extract("learner_board_ids.csv", "learner_board_ids", "reference", ("learner_id", "board"), (
        _c("learner_id", required=True),
        _c("board", "enum", True, choices=BOARDS),
        _c("board_id", personal=True),
    )),
    # A completion_id appears once as completed and may appear again as revoked.
    Extract("lms_completions.csv", "lms_completions", "event", ("completion_id", "status"), (
        _c("completion_id", required=True),
        _c("learner_id", required=True),
        _c("activity_id", required=True),
        _c("completed_at", "timestamp", True),
        _c("minutes_engaged", "int", minimum=0),
        _c("post_test_score", "int", minimum=0, maximum=100),
        _c("evaluation_completed", "bool"),
        _c("credits_claimed", "decimal", minimum=0),
        _c("moc_requested", "bool"),
        _c("status", "enum", True, choices=("completed", "revoked")),
    )),
    Extract("attendance.csv", "attendance", "event", ("attendance_id",), (
        _c("attendance_id", required=True),
        _c("learner_id", required=True),
        _c("activity_id", required=True),
        _c("session_id", required=True),
        _c("check_in_at", "timestamp", True),
        _c("check_out_at", "timestamp", True),
        _c("evaluation_completed", "bool"),
        _c("moc_requested", "bool"),
    ), (RowCheck("check_in_at", "check_out_at", True, "check_out_at is not after check_in_at"),)),
    Extract("faculty_disclosures.csv", "faculty_disclosures", "event",
            ("disclosure_id", "relationship_seq"), (
        _c("disclosure_id", required=True),
        _c("relationship_seq", "int", True, minimum=0),
        _c("person_id", required=True),
        _c("first_name", required=True, personal=True),
        _c("last_name", required=True, personal=True),
        _c("activity_id", required=True),
        _c("role", "enum", True, choices=ROLES),
        _c("role_start_date", "date", True),
        _c("signed_date", "date"),
        _c("has_relationships", "bool"),
        _c("company"),
        _c("company_is_ineligible", "bool"),
        _c("nature", "enum", choices=NATURES),
        _c("relationship_ended_on", "date"),
        _c("is_relevant", "bool"),
        _c("mitigation_step", "enum", choices=MITIGATIONS),
        _c("mitigated_date", "date"),
        _c("learner_disclosure_date", "date"),
        _c("document_sha256"),
    )),
)

BY_FILE = {e.file: e for e in EXTRACTS}
