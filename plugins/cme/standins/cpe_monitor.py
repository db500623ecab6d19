"""CPE Monitor stand-in: SubmitCPEActivityJSON answering `status` or `error_message`.

Rejects an unknown ePID, a birth date (MMDD) that does not match, and anything
more than 60 days after participation. GetCPEActivity looks a record up by
ePID, UAN and participation date, for a client unsure whether its call arrived.
Registry: {"learners": {"123456": "0520"}, "today": "2026-11-18"}; "learners": "*" accepts all.
"""
from __future__ import annotations

from datetime import date, datetime

from cme.standins.server import StandIn, json_response


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
            epid, dob = params.get("epid", ""), params.get("date_of_birth", "")
            known = self.registry.get("learners", {})
            today = date.fromisoformat(self.registry.get("today", date.today().isoformat()))
            participated = params.get("date_of_participation", "")
            key = self.natural_key(epid, params.get("uan", ""), participated)
            self.record(key)  # every submission received counts, accepted or not
            try:
                days = (today - datetime.strptime(participated, "%m/%d/%Y").date()).days
            except ValueError:
                return json_response(200, {"error_message": "Invalid date of participation"})
            if known != "*" and epid not in known:
                return json_response(200, {"error_message": "Unknown ePID"})
            if known != "*" and known[epid] != dob:
                return json_response(200, {"error_message": "Date of birth does not match ePID"})
            if days > 60:
                return json_response(200, {"error_message": "Participation is more than 60 days ago"})
            self.activities.add(key)
            return json_response(200, {"status": "Accepted"})
        if path == "/GetCPEActivity":
            key = self.natural_key(params.get("epid", ""), params.get("uan", ""),
                                   params.get("date_of_participation", ""))
            return json_response(200 if key in self.activities else 404, {"found": key in self.activities})
        return json_response(404, {"error_message": "not found"})
