"""CE Broker: roster XML (rosters/roster/attendees/attendee), one roster per
course and completion date, files split to stay under the size limit.

The upload key is a credential: it is added at send time, never written here.
"""
from __future__ import annotations

from itertools import groupby
from pathlib import Path

from lxml import etree

from cme.bodies.base import Body, Field, OutputFile, ReceiptRow, text, write_atomically
from cme.settings import ProviderSettings
from cme.textcells import UnwritableValue

GATE_SQL = """
select
    r.record_key, r.record_action, r.provider_number, r.course_number, r.completion_date,
    r.license_profession, r.license_number, r.state, r.first_name, r.last_name, r.credit_hours,
    r.due_on, array_to_string(r.error_codes, ',') as open_errors,
    r.credits_on_step, r.record_hash
from main.fct_cebroker_records as r
where r.submission_state = 'pending'
order by r.course_number, r.completion_date, r.record_key
"""

BATCH_SQL = """
select uncovered_awards, duplicate_keys, provider_number_set
from main.fct_gate_batch_totals
where body = $body
"""

SCHEMA = Path(__file__).with_name("schemas") / "cebroker_roster.xsd"
MAX_FILE_BYTES = 16 * 1024 * 1024  # CE Broker's limit per upload


def _element(parent, record: dict, f: Field) -> None:
    try:
        etree.SubElement(parent, f.name).text = text(record.get(f.source))
    except Exception as exc:  # noqa: BLE001 - never let a value into the message
        raise UnwritableValue(record["record_key"], f.name, type(exc).__name__) from None


def _roster(records: list[dict], fields: list[Field]) -> etree._Element:
    roster = etree.Element("roster")
    first = records[0]
    for f in fields:
        if f.part == "roster":
            _element(roster, first, f)
    attendees = etree.SubElement(roster, "attendees")
    for record in records:
        attendee = etree.SubElement(attendees, "attendee")
        for f in fields:
            if f.part == "attendee":
                _element(attendee, record, f)
    return roster


def _document(rosters: list[etree._Element], settings: ProviderSettings) -> bytes:
    root = etree.Element("rosters", id_parent_provider=settings.cebroker_provider_tracking_number
                         .removeprefix("50-"))
    root.extend(rosters)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_rosters(records: list[dict], fields: list[Field], folder: Path, batch_id: str,
                  settings: ProviderSettings, max_bytes: int = MAX_FILE_BYTES) -> list[OutputFile]:
    """One roster per (course, completion date); a new file before one would pass max_bytes.

    Each roster is serialised once for its size: a file's size is its envelope (declaration
    and root element) plus its rosters' sizes, since lxml indents a roster the same whatever
    its siblings. So choosing the files is linear in the records (re-serialising the growing
    file for every roster was quadratic), and each file is checked once more when written."""
    groups = [list(g) for _, g in groupby(records, key=lambda r: (r["course_number"], r["completion_date"]))]
    pieces: list[tuple[list[dict], int]] = []  # (attendees, size of a file holding this roster alone)
    for group in groups:
        # a roster larger than the limit on its own is split by attendees
        split = [group]
        while True:
            alone = len(_document([_roster(split[-1], fields)], settings))
            if alone <= max_bytes or len(split[-1]) == 1:
                break
            last = split.pop()
            split += [last[: len(last) // 2], last[len(last) // 2:]]
        for n, piece in enumerate(split):
            size = alone if n == len(split) - 1 else len(_document([_roster(piece, fields)], settings))
            pieces.append((piece, size))
    if not pieces:
        return []
    first = _roster(pieces[0][0], fields)
    envelope = 2 * pieces[0][1] - len(_document([first, _roster(pieces[0][0], fields)], settings))
    chunks: list[list[list[dict]]] = [[]]
    total = envelope
    for piece, alone in pieces:
        grows = alone - envelope
        if chunks[-1] and total + grows > max_bytes:
            chunks.append([])
            total = envelope
        chunks[-1].append(piece)
        total += grows
    outputs = []
    for n, chunk in enumerate(chunks):
        data = _document([_roster(p, fields) for p in chunk], settings)
        if len(data) > max_bytes and len(chunk) > 1:
            raise AssertionError(f"CE Broker file {n + 1} of batch {batch_id} would be {len(data)} bytes, "
                                 f"over {max_bytes}: the roster sizes did not add up")
        path = folder / f"{batch_id}-{n + 1:02d}.xml"
        write_atomically(path, data)
        outputs.append(OutputFile(path, tuple(r["record_key"] for p in chunk for r in p)))
    return outputs


def read_receipt(path: Path, fields: list[Field]) -> list[ReceiptRow]:
    """CE Broker's return receipt [C1]: the roster document as uploaded, with a `Message`
    on each attendee (empty = accepted). Rows are numbered by attendee, in file order."""
    document = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    if document.tag != "rosters":
        raise ValueError(f"{path.name}: not a CE Broker roster receipt (root <{document.tag}>)")
    results, n = [], 0
    for roster in document.iterfind("roster"):
        for attendee in roster.iterfind("attendees/attendee"):
            n += 1
            values = {}
            for f in fields:
                node = roster if f.part == "roster" else attendee
                if node.find(f.name) is not None:
                    values.setdefault(f.source, node.findtext(f.name))
            if attendee.find("Message") is None:
                continue  # not answered: not a receipt row
            message = (attendee.findtext("Message") or "").strip()
            results.append(ReceiptRow(n, values, not message, message))
    return results


class CeBrokerClient:
    """CE Broker XML web service: UploadXMLString with the roster in form field InXML.

    The upload key (the connection's password) goes into the request only."""

    def __init__(self, conn, fields, settings, timeout):
        from cme.bodies.http_client import HttpClient

        self.http = HttpClient(conn, fields, settings, timeout)

    def send(self, records: list[dict]) -> dict:
        from cme.transport import Answer

        ordered = sorted(records, key=lambda r: (r["course_number"], r["completion_date"]))
        rosters = [_roster(list(g), self.http.fields) for _, g in
                   groupby(ordered, key=lambda r: (r["course_number"], r["completion_date"]))]
        document = etree.fromstring(_document(rosters, self.http.settings))
        document.set("upload_key", self.http.conn.password)
        response = self.http.request("POST", "/UploadXMLString", data={
            "InXML": etree.tostring(document).decode()})
        receipt = etree.fromstring(response.content)
        by_natural_key = {(r["course_number"], r["license_number"], r["completion_date"]): r["record_key"]
                          for r in records}
        answers = {}
        for roster in receipt.iterfind("roster"):
            for attendee in roster.iterfind("attendees/attendee"):
                key = by_natural_key[(roster.findtext("id_course"), attendee.findtext("license"),
                                      attendee.findtext("date_completed"))]
                message = attendee.findtext("Message") or ""
                answers[key] = Answer("rejected" if message else "accepted", message)
        return answers

    def lookup(self, record: dict):
        from cme.transport import Answer

        response = self.http.request("GET", "/GetAttendee", params={
            "course": record["course_number"], "license": record["license_number"],
            "date_completed": record["completion_date"]})
        return Answer("accepted") if response.status_code == 200 else None

    def poll(self, reference: str):
        return None  # CE Broker answers in the receipt


def roster_order(record: dict) -> tuple:
    """Rosters group a batch's records by course and completion date (no Deletes here)."""
    return (str(record.get("course_number") or ""), str(record.get("completion_date") or ""),
            record["record_key"])


# request_size None: one upload carries every record due (the client builds the rosters)
BODIES = [Body("CE_BROKER", "fct_cebroker_records", "cebroker", GATE_SQL, BATCH_SQL, write_rosters,
               write_order=roster_order, client=CeBrokerClient, request_size=None,
               read_receipt=read_receipt, receipt_key=("course_number", "license_number", "completion_date"))]
