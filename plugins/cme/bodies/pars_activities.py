"""PARS and JA-PARS activity records: the activity batch, one row per activity and year.

The reference names two activity batch channels, an Excel batch and an XML batch
following MedBiquitous MEMS. We write the Excel batch: the learner template is
already Excel, staff can open and check it before uploading, and the reference
documents neither file's layout, so the column names (seed body_fields) are ours
to confirm with ACCME [A]. The web-service route is `SaveActivity` (reference:
web-service operations), answered at once.

An activity record is an upsert at PARS: a changed version (a new status, a
corrected field, final learner counts) goes again under the same Provider
Activity ID and year, and replaces the one PARS holds. Activities are never
deleted from PARS by this export (docs/decisions.md).
"""
from __future__ import annotations

from pathlib import Path

from cme.bodies.base import Body, Field, OutputFile
from cme.bodies.pars import write_workbook
from cme.settings import ProviderSettings

GATE_SQL = """
select
    r.*,
    array_to_string(r.error_codes, ',') as open_errors
from main.fct_pars_activities as r
where r.submission_state = 'pending' and r.body = $body
order by r.record_key
"""

# Totals the batch suite reconciles, computed in the mart fct_gate_batch_totals: no key
# twice, and the learners in the Closed records going out equal the distinct people with
# awards behind them.
BATCH_SQL = """
select duplicate_keys, learners_in_closed_records, learners_awarded
from main.fct_gate_batch_totals
where body = $body
"""


def write_batch(records: list[dict], fields: list[Field], folder: Path, batch_id: str,
                settings: ProviderSettings) -> list[OutputFile]:
    return write_workbook(records, fields, folder, batch_id, "Activities")


class ActivityClient:
    """PARS activity web service: SaveActivity per record, answered at once (accepted, or
    rejected with a reason); GetActivity tells whether PARS holds this very version."""

    def __init__(self, conn, fields, settings, timeout):
        from cme.bodies.http_client import HttpClient

        self.http = HttpClient(conn, fields, settings, timeout)

    def _credentials(self) -> dict:
        return {"ProviderId": self.http.settings.accme_provider_id, "User": self.http.conn.login,
                "Password": self.http.conn.password}

    def send(self, records: list[dict]) -> dict:
        from cme.transport import Answer

        answers = {}
        for record in records:
            response = self.http.request("POST", "/SaveActivity", json={
                **self._credentials(), "Activity": self.http.named(record)})
            body = response.json()
            if body.get("Status") == "Accepted":
                answers[record["record_key"]] = Answer("accepted", "", body.get("ActivityId"))
            else:
                answers[record["record_key"]] = Answer("rejected", body.get("Message", "refused"))
        return answers

    def lookup(self, record: dict):
        from cme.transport import Answer

        named = self.http.named(record)
        response = self.http.request("GET", "/GetActivity", params={
            "ProviderActivityId": named["Provider Activity ID"], "ReportingYear": named["Reporting Year"]})
        if response.status_code == 404:
            return None
        body = response.json()
        # PARS holds this activity and year; it is this version only if every field matches
        if body.get("Activity") != named:
            return None
        return Answer("accepted", "", body.get("ActivityId"))

    def poll(self, reference: str):
        return None  # SaveActivity answers at once: nothing is ever awaiting a decision


BODIES = [
    Body("ACCME_PARS_ACTIVITIES", "fct_pars_activities", "pars_activities", GATE_SQL, BATCH_SQL,
         write_batch, is_active=lambda s: s.accreditor == "ACCME", client=ActivityClient),
    Body("JA_PARS_ACTIVITIES", "fct_pars_activities", "pars_activities", GATE_SQL, BATCH_SQL,
         write_batch, is_active=lambda s: s.accreditor == "JA", client=ActivityClient),
]
