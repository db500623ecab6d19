"""Body formats in isolation: CE Broker's size limit, field names from the seed."""
from __future__ import annotations

import copy
import csv
from pathlib import Path

from lxml import etree

from cme import PROJECT_DIR
from cme.bodies import active_bodies, all_bodies
from cme.bodies.base import Field
from cme.bodies.cebroker import SCHEMA, write_rosters
from cme.settings import ProviderSettings


def seed_fields(body: str) -> list[Field]:
    rows = csv.DictReader(open(PROJECT_DIR / "dbt_project" / "seeds" / "body_fields.csv"))
    return [Field(int(r["position"]), r["part"], r["field_name"], r["source_column"])
            for r in rows if r["body"] == body]


def records(n_courses: int, per_course: int) -> list[dict]:
    return [dict(record_key=f"k{c}-{a}", provider_number="0000", course_number=f"{700000 + c}",
                 completion_date="11/15/2026", license_profession="RN", license_number=f"RN{a:07d}",
                 state="FL", first_name="Ann", last_name="Lee", credit_hours="1.25")
            for c in range(n_courses) for a in range(per_course)]


def test_rosters_split_into_files_under_the_size_limit_and_lose_nobody(tmp_path: Path):
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    batch = records(n_courses=4, per_course=30)
    limit = 6_000  # bytes: small enough to force splits, roster and attendee level
    outputs = write_rosters(batch, seed_fields("CE_BROKER"), tmp_path, "B-1",
                            ProviderSettings(cebroker_provider_tracking_number="50-1"), max_bytes=limit)
    assert len(outputs) > 4
    seen = []
    for out in outputs:
        assert out.path.stat().st_size <= limit
        doc = etree.parse(str(out.path))
        assert schema.validate(doc), schema.error_log
        licenses = [a.findtext("license") for a in doc.iterfind("roster/attendees/attendee")]
        assert len(licenses) == len(out.record_keys)
        seen += list(out.record_keys)
    assert sorted(seen) == sorted(r["record_key"] for r in batch)  # each exactly once


def test_a_batch_under_the_limit_is_one_file_with_one_roster_per_course_and_date(tmp_path: Path):
    outputs = write_rosters(records(2, 3), seed_fields("CE_BROKER"), tmp_path, "B-2",
                            ProviderSettings())
    assert len(outputs) == 1
    doc = etree.parse(str(outputs[0].path))
    assert [r.findtext("id_course") for r in doc.iterfind("roster")] == ["700000", "700001"]
    assert doc.getroot().get("upload_key") is None  # a credential: added when sending only


def test_every_body_has_its_fields_and_suites_and_the_accreditor_picks_pars_or_ja():
    for name, body in all_bodies().items():
        assert seed_fields(name), name
        for kind in ("records", "batch"):
            assert (PROJECT_DIR / "expectations" / f"{body.suite}_{kind}.json").exists()
    assert [b.name for b in active_bodies(ProviderSettings())] == [
        "ACCME_PARS", "ACCME_PARS_ACTIVITIES", "CE_BROKER", "CPE_MONITOR"]
    assert [b.name for b in active_bodies(ProviderSettings(accreditor="JA"))] == [
        "CE_BROKER", "CPE_MONITOR", "JA_PARS", "JA_PARS_ACTIVITIES"]


def test_the_roster_files_are_chosen_from_each_rosters_size_and_filled_greedily(tmp_path: Path):
    """The writer adds roster sizes instead of re-serialising the growing file for every
    roster (quadratic): each file stays under the limit and no file could have taken the
    next file's first roster."""
    fields, settings = seed_fields("CE_BROKER"), ProviderSettings(cebroker_provider_tracking_number="50-1")
    batch = [dict(r, license_number=f"RN{i:07d}", first_name="A" * (1 + i % 17))
             for i, r in enumerate(records(n_courses=40, per_course=7))]
    limit = 9_000
    outputs = write_rosters(batch, fields, tmp_path, "B-3", settings, max_bytes=limit)
    assert [k for o in outputs for k in o.record_keys] == [r["record_key"] for r in batch]
    flat = etree.XMLParser(remove_blank_text=True)  # so pretty_print indents the joined file anew
    docs = [etree.parse(str(o.path), flat).getroot() for o in outputs]
    for out, _doc in zip(outputs, docs):
        assert out.path.stat().st_size <= limit
    for doc, following in zip(docs, docs[1:]):
        joined = etree.Element("rosters", id_parent_provider="1")
        joined.extend(copy.deepcopy(r) for r in [*doc.iterfind("roster"), next(following.iterfind("roster"))])
        data = etree.tostring(joined, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        assert len(data) > limit  # greedy: the next roster did not fit
