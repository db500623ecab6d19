"""CPE Monitor stand-in: SubmitCPEActivityJSON answering `status` or `error_message`.

Rejects an unknown ePID, a birth date (MMDD) that does not match, and anything
more than 60 days after participation. GetCPEActivity looks a record up by
ePID, UAN and participation date, for a client unsure whether its call arrived.
`response_file` answers an uploaded batch CSV the same way, row by row.
Registry: {"learners": {"123456": "0520"}, "today": "2026-11-18"}; "learners": "*" accepts all.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from cme.bodies.base import write_atomically
from cme.standins.server import StandIn, json_response


def decide(params: dict, registry: dict) -> dict:
    """CPE Monitor's answer to one activity submission: {"status": "Accepted"} or
    {"error_message": ...}, from the registry of known ePIDs and birth dates."""
    epid, dob = params.get("epid", ""), params.get("date_of_birth", "")
    known = registry.get("learners", {})
    today = date.fromisoformat(registry.get("today", date.today().isoformat()))
    try:
        days = (today - datetime.strptime(params.get("date_of_participation", ""), "%m/%d/%Y").date()).days
    except ValueError:
        return {"error_message": "Invalid date of participation"}
    if known != "*" and epid not in known:
        return {"error_message": "Unknown ePID"}
    if known != "*" and known[epid] != dob:
        return {"error_message": "Date of birth does not match ePID"}
    if days > 60:
        return {"error_message": "Participation is more than 60 days ago"}
    return {"status": "Accepted"}


def response_file(submission: Path, registry: dict, out: Path) -> Path:
    """CPE Monitor's response to an uploaded batch file (our assumption, docs/decisions.md):
    the batch CSV with each row's `status` and `error_message`, as the JSON API answers."""
    rows = list(csv.DictReader(io.StringIO(submission.read_text(), newline="")))
    buffer = io.StringIO(newline="")
    columns = list(rows[0]) if rows else []
    writer = csv.DictWriter(buffer, columns + ["status", "error_message"], lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        answer = decide(row, registry)
        writer.writerow({**row, "status": answer.get("status", "Rejected"),
                         "error_message": answer.get("error_message", "")})
    write_atomically(out, buffer.getvalue().encode())
    return out


class CpeMonitorStandIn(StandIn):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.activities: set[str] = set()

    @staticmethod
    def natural_key(epid: str, uan: str, participated: str) -> str:
        return f"{epid}|{uan}|{participated}"

    def route(self, method, path, params, body, content_type):
        if path == "/SubmitCPEActivityJSON":
            if (params.get("username"), params.get("password")) != self.credentials:
                return json_response(401, {"error_message": "invalid credentials"})
            key = self.natural_key(params.get("epid", ""), params.get("uan", ""),
                                   params.get("date_of_participation", ""))
            self.record(key)  # every submission received counts, accepted or not
            answer = decide(params, self.registry)
            if answer.get("status") == "Accepted":
                self.activities.add(key)
            return json_response(200, answer)
        if path == "/GetCPEActivity":
            key = self.natural_key(params.get("epid", ""), params.get("uan", ""),
                                   params.get("date_of_participation", ""))
            return json_response(200 if key in self.activities else 404, {"found": key in self.activities})
        return json_response(404, {"error_message": "not found"})
