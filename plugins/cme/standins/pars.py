"""ACCME PARS learner web service stand-in (SaveLearnerActivity-like, asynchronous).

SaveLearnerActivity answers `Received` with a CreditId; the decision (accepted,
or rejected with a reason, e.g. a board id that does not match the diplomate)
is read later with GetLearnerStatusByCreditId. GetLearnerStatusByLearner finds a
record by its natural fields, for a client unsure whether its last call arrived.
`results_file` answers an uploaded learner template the same way, as a result workbook.
Registry: {"boards": {"ABIM": {"ABIM-331100": "Known"}}}: board id -> last name;
{"accept_all_boards": true} accepts every board id.
"""
from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path

from cme.bodies.base import write_atomically
from cme.standins.server import StandIn, json_response


def decide(r: dict, registry: dict) -> tuple[str, str]:
    """PARS's decision on one learner record (named as in the template), from the registry."""
    board = r.get("Certifying Board")
    if board and board != "ABS" and not registry.get("accept_all_boards"):
        known = registry.get("boards", {}).get(board, {})
        if known.get(r.get("Certifying Board ID")) != r.get("Last Name"):
            return "Rejected", "Board ID does not match the diplomate"
    return "Accepted", ""


def results_file(submission: Path, registry: dict, out: Path) -> Path:
    """The learner-upload result PARS would return for an uploaded learner template (our
    assumption, docs/decisions.md): the workbook with `Status` and `Message` added."""
    from openpyxl import Workbook, load_workbook

    source = load_workbook(submission, read_only=True).worksheets[0]
    rows = source.iter_rows(values_only=True)
    header = list(next(rows))
    book = Workbook()
    sheet = book.active
    sheet.title = "Results"
    sheet.append(header + ["Status", "Message"])
    for row in rows:
        named: dict = {}
        for name, value in zip(header, row):
            named.setdefault(name, "" if value is None else str(value))
        sheet.append(list(row) + list(decide(named, registry)))
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomically(out, buffer.getvalue())  # owner-only: it names learners
    return out


class ParsStandIn(StandIn):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records: dict[str, dict] = {}  # credit id -> {key, status, message}
        self.by_key: dict[str, str] = {}
        self._ids = iter(range(1, 10**9))
        self._id_lock = threading.Lock()
        self.activities: dict[tuple[str, str], dict] = {}  # (provider activity id, year) -> saved

    @staticmethod
    def natural_key(r: dict) -> str:
        return "|".join(str(r.get(k) or "") for k in (
            "Record Action", "ACCME Activity ID", "Completion Date", "Last Name", "Date of Birth",
            "Certifying Board"))

    def _decide(self, r: dict) -> tuple[str, str]:
        return decide(r, self.registry)

    def route(self, method, path, params, body, content_type):
        if path == "/SaveLearnerActivity" and method == "POST":
            request = json.loads(body or b"{}")
            if (request.get("User"), request.get("Password")) != self.credentials:
                return json_response(401, {"Status": "Error", "Message": "invalid credentials"})
            record = request.get("Record", {})
            key = self.natural_key(record)
            with self._id_lock:
                # like a naive body, every call stores a record: a duplicate is a duplicate
                credit_id = f"C{next(self._ids):07d}"
                status, message = self._decide(record)
                self.records[credit_id] = {"key": key, "status": status, "message": message}
                self.by_key[key] = credit_id
                self.record(key)
            return json_response(200, {"Status": "Received", "CreditId": credit_id})
        if path == "/SaveActivity" and method == "POST":
            return self._save_activity(json.loads(body or b"{}"))
        if path == "/GetActivity":
            found = self.activities.get((params.get("ProviderActivityId", ""), params.get("ReportingYear", "")))
            if not found:
                return json_response(404, {"Status": "NotFound"})
            return json_response(200, {"Status": "Accepted", **found})
        if path == "/GetLearnerStatusByCreditId":
            found = self.records.get(params.get("CreditId", ""))
            if not found:
                return json_response(404, {"Status": "NotFound"})
            return json_response(200, {"Status": found["status"], "Message": found["message"]})
        if path == "/GetLearnerStatusByLearner":
            credit_id = self.by_key.get(self.natural_key(params))
            if not credit_id:
                return json_response(404, {"Status": "NotFound"})
            found = self.records[credit_id]
            return json_response(200, {"Status": found["status"], "Message": found["message"],
                                       "CreditId": credit_id})
        return json_response(404, {"Status": "NotFound"})

    def _save_activity(self, request: dict):
        """SaveActivity: an upsert by provider activity id and year, decided at once. Refused:
        a record without its Draft fields, or Closed without learner counts."""
        if (request.get("User"), request.get("Password")) != self.credentials:
            return json_response(401, {"Status": "Error", "Message": "invalid credentials"})
        activity = request.get("Activity", {})
        missing = [f for f in ("Provider Activity ID", "Reporting Year", "Activity Title", "Activity Format",
                               "Start Date", "End Date") if not activity.get(f)]
        if activity.get("Activity Status") == "Closed":
            missing += [f for f in ("Total Physician Learners", "Total Other Learners") if activity.get(f) == ""]
        if missing:
            return json_response(200, {"Status": "Rejected", "Message": "missing " + ", ".join(missing)})
        key = (activity["Provider Activity ID"], activity["Reporting Year"])
        with self._id_lock:
            held = self.activities.get(key)
            activity_id = held["ActivityId"] if held else f"A{next(self._ids):07d}"
            self.activities[key] = {"ActivityId": activity_id, "Activity": activity}
            # received counts versions: the same version twice is a duplicate, a new one an update
            version = hashlib.sha256(json.dumps(activity, sort_keys=True).encode()).hexdigest()[:12]
            self.record("|".join((*key, version)))
        return json_response(200, {"Status": "Accepted", "ActivityId": activity_id})
