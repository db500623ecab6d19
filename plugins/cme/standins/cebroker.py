"""CE Broker roster web service stand-in: UploadXMLString with form field InXML.

Answers a return receipt that mirrors the request, with a Message on each
attendee (empty = accepted; "Invalid license Number" for a license the state
database does not hold). GetAttendee looks an attendee up by course, license
and completion date, for a client unsure whether its last upload arrived.
`receipt_file` gives the same answers for an uploaded roster file, as a return receipt.
Registry: {"licenses": {"FL": ["RN9876543", ...]}}, or {"licenses": "*"} to accept all.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from lxml import etree

from cme.bodies.base import write_atomically
from cme.standins.server import StandIn, json_response


def answer_rosters(doc, registry: dict, on_attendee=None):
    """Add CE Broker's `Message` to each attendee of a roster document, in place: empty
    when the state database holds the license, else "Invalid license Number".
    `on_attendee(course, license, date_completed, message)` sees every attendee."""
    known = registry.get("licenses", {})
    for roster in doc.iterfind("roster"):
        course = roster.findtext("id_course")
        for attendee in roster.iterfind("attendees/attendee"):
            license_ = attendee.findtext("license")
            valid = known == "*" or license_ in known.get(attendee.findtext("cebroker_state"), [])
            message = "" if valid else "Invalid license Number"
            if on_attendee:
                on_attendee(course, license_, attendee.findtext("date_completed"), message)
            etree.SubElement(attendee, "Message").text = message
    return doc


def receipt_file(submission: Path, registry: dict, out: Path) -> Path:
    """The return receipt CE Broker gives for an uploaded roster file: the same answer as
    the web service's, the roster mirrored with a Message on each attendee."""
    doc = etree.parse(str(submission)).getroot()
    write_atomically(out, etree.tostring(answer_rosters(doc, registry), xml_declaration=True,
                                         encoding="UTF-8", pretty_print=True))
    return out


class CeBrokerStandIn(StandIn):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attendees: dict[str, str] = {}  # natural key -> message

    @staticmethod
    def natural_key(course: str, license_: str, completed: str) -> str:
        return f"{course}|{license_}|{completed}"

    def route(self, method, path, params, body, content_type):
        if path == "/UploadXMLString" and method == "POST":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            try:
                doc = etree.fromstring(form.get("InXML", "").encode())
            except etree.XMLSyntaxError:
                return 400, "text/plain", b"InXML is not XML"
            if doc.get("upload_key") != self.credentials[1]:
                return 401, "text/plain", b"invalid upload key"

            def received(course, license_, completed, message):
                key = self.natural_key(course, license_, completed)
                self.record(key)  # every attendee received counts, accepted or not
                if not message:
                    self.attendees[key] = message

            answer_rosters(doc, self.registry, received)
            return 200, "application/xml", etree.tostring(doc)
        if path == "/GetAttendee":
            key = self.natural_key(params.get("course", ""), params.get("license", ""),
                                   params.get("date_completed", ""))
            if key not in self.attendees:
                return json_response(404, {"found": False})
            return json_response(200, {"found": True, "Message": self.attendees[key]})
        return json_response(404, {"found": False})
