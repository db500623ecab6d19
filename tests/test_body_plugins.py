"""Body plug-ins: every body module provides what `ReportingBody` names, and a new body is
a new module (plus its seed rows, mart and suites): the gates, the export and HTTP
delivery pick it up without naming it. In process, on a hand-made warehouse (seconds)."""
from __future__ import annotations

import inspect
import json
import re
import sys
from datetime import date

import duckdb
import pytest

import cme.bodies
from cme import delivery, export, gates
from cme.bodies import all_bodies
from cme.bodies.base import ReportingBody
from cme.settings import ProviderSettings
from cme.transport import Connection
from tests.ledger_state import build_ledger_state

DAY = date(2026, 11, 16)


def test_every_registered_body_provides_what_a_reporting_body_provides():
    bodies = all_bodies()
    assert bodies, "no body found"
    for name, body in bodies.items():
        assert isinstance(body, ReportingBody), name
        assert body.name == name
        for hook in ("write", "write_order", "is_active"):
            assert callable(getattr(body, hook)), (name, hook)
        assert body.client is None or all(
            callable(getattr(body.client, m, None)) for m in ("send", "lookup", "poll")), name
        assert body.request_size is None or body.request_size >= 1, name
        assert isinstance(body.is_active(ProviderSettings()), bool), name
        # the gate queries read marts only: no intermediate model, no staging
        for sql in (body.gate_sql, body.batch_sql):
            assert not re.search(r"\b(intermediate|staging)\.", sql), name
            assert f"main.{body.mart}" in body.gate_sql, name


def test_the_gates_export_and_delivery_never_name_a_body():
    names = set(all_bodies()) | {m.name for m in __import__("pkgutil").iter_modules(cme.bodies.__path__)}
    names -= {"base", "http_client"}
    for module in (gates, export, delivery):
        source = inspect.getsource(module)
        named = sorted(n for n in names if re.search(rf"\b{n}\b", source, re.IGNORECASE))
        assert named == [], f"{module.__name__} special-cases {named}"


PLUGIN = '''
"""A made-up body for tests: one line of text per record."""
from cme.bodies.base import Body, OutputFile, write_atomically
from cme.transport import Answer

GATE_SQL = """
select record_key, record_action, record_hash, value, array_to_string(error_codes, ',') as open_errors
from main.fct_dummy_records where submission_state = 'pending' and body = $body order by record_key
"""
BATCH_SQL = "select (select count(*) - count(distinct record_key) from main.fct_dummy_records) as duplicate_keys"
SENT = []


def write_lines(records, fields, folder, batch_id, settings):
    path = folder / f"{batch_id}.txt"
    write_atomically(path, "".join(
        "|".join(str(r[f.source]) for f in fields) + "\\n" for r in records).encode())
    return [OutputFile(path, tuple(r["record_key"] for r in records))]


class Client:
    def __init__(self, conn, fields, settings, timeout):
        pass

    def send(self, records):
        SENT.append([r["record_key"] for r in records])
        return {r["record_key"]: Answer("accepted") for r in records}

    def lookup(self, record):
        return None

    def poll(self, reference):
        return None


def backwards(record):
    return (record["record_action"] != "Delete", [-ord(c) for c in record["record_key"]])


BODIES = [Body("DUMMY_BODY", "fct_dummy_records", "dummy", GATE_SQL, BATCH_SQL, write_lines,
               is_active=lambda settings: True, write_order=backwards, client=Client, request_size=2)]
'''

RECORDS_SUITE = {"name": "dummy_records", "expectations": [
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "open_errors", "value_set": [""]},
     "meta": {"scope": "record", "why": "the record has an open compliance exception"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "value", "regex": "^[0-9]+$"},
     "meta": {"scope": "record", "why": "the value is digits"}}]}
BATCH_SUITE = {"name": "dummy_batch", "expectations": [
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "duplicate_keys", "min_value": 0, "max_value": 0},
     "meta": {"scope": "batch", "why": "no natural key twice"}}]}


@pytest.fixture
def plugged_in(tmp_path, monkeypatch):
    """The made-up body as a module on the bodies package's path, its suites, its
    body_fields rows and its mart in a warehouse of its own."""
    plugins = tmp_path / "more_bodies"
    plugins.mkdir()
    (plugins / "dummy_body.py").write_text(PLUGIN)
    monkeypatch.setattr(cme.bodies, "__path__", [*cme.bodies.__path__, str(plugins)])
    monkeypatch.delitem(sys.modules, "cme.bodies.dummy_body", raising=False)
    suites = tmp_path / "expectations"
    suites.mkdir()
    for suite in (RECORDS_SUITE, BATCH_SUITE):
        (suites / f"{suite['name']}.json").write_text(json.dumps(suite))
    monkeypatch.setattr(gates, "SUITES_DIR", suites)
    warehouse = tmp_path / "out" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    con.execute("create schema reference")
    con.execute("create table reference.body_fields as select * from (values "
                "('DUMMY_BODY', 1, 'record', 'Key', 'record_key'), "
                "('DUMMY_BODY', 2, 'record', 'Value', 'value')) "
                "as t(body, position, part, field_name, source_column)")
    con.execute("create table main.fct_dummy_records as select * from (values "
                "('DUMMY_BODY', 'k1', 'Add', 'h1', 'pending', 'P-1', 'A1', 'c1', '11', []::varchar[]), "
                "('DUMMY_BODY', 'k2', 'Add', 'h2', 'pending', 'P-2', 'A1', 'c2', 'x2', []::varchar[]), "
                "('DUMMY_BODY', 'k3', 'Add', 'h3', 'pending', 'P-3', 'A1', 'c3', '33', ['MISSING_DOB']), "
                "('DUMMY_BODY', 'k4', 'Add', 'h4', 'pending', 'P-4', 'A1', 'c4', '44', []::varchar[]), "
                "('DUMMY_BODY', 'k5', 'Add', 'h5', 'pending', 'P-5', 'A1', 'c5', '55', []::varchar[])) "
                "as t(body, record_key, record_action, record_hash, submission_state, person_id, "
                "activity_id, content_hash, value, error_codes)")
    con.close()
    build_ledger_state(warehouse)
    yield warehouse
    sys.modules.pop("cme.bodies.dummy_body", None)


def test_a_new_body_module_goes_through_gate_export_and_delivery_unnamed(plugged_in):
    warehouse, out = plugged_in, plugged_in.parent
    body = all_bodies()["DUMMY_BODY"]
    assert body in cme.bodies.active_bodies(ProviderSettings())
    settings = ProviderSettings(transport={"DUMMY_BODY": "http"})  # a module's body is a known body

    gate = gates.run_gate(warehouse, body, DAY, out, settings)
    assert gate.records_due == 5 and gate.stopped == []
    assert gate.held == {"k2": ["the value is digits"], "k3": ["the record has an open compliance exception"]}

    written = export.export_body(warehouse, body, DAY, out, settings)
    assert written.status == "written" and written.records_written == 3
    [file_name] = written.files
    lines = (export.submission_dir(out, "DUMMY_BODY", DAY) / file_name).read_text().splitlines()
    assert lines == ["k5|55", "k4|44", "k1|11"]  # the body's own write order

    result = delivery.deliver_body(warehouse, body, DAY, settings, conn=Connection("http://x", "u", "p"))
    assert (result.sent, result.accepted) == (3, 3)
    sent = sys.modules["cme.bodies.dummy_body"].SENT
    assert sorted(len(r) for r in sent) == [1, 2]  # request_size 2: two requests for three records
    assert sorted(k for r in sent for k in r) == ["k1", "k4", "k5"]
