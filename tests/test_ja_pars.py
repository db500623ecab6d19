"""A jointly accredited provider reports to JA-PARS, with IPCE credit for the whole team."""
from __future__ import annotations

import pytest
from openpyxl import load_workbook

from tests import scenario
from tests.test_exception_codes import run_day

pytestmark = pytest.mark.e2e


def test_ja_provider_writes_ja_pars_with_ipce_for_physicians_and_nurses(tmp_path):
    landing = tmp_path / "landing" / scenario.D1.isoformat()
    scenario._write(landing, "activities.csv", [scenario._activity("A-TEAM")])
    scenario._write(landing, "activity_credits.csv", [
        dict(activity_id="A-TEAM", credit_type="AMA_PRA_1", max_credits="2"),
        dict(activity_id="A-TEAM", credit_type="IPCE", max_credits="2")])
    scenario._write(landing, "learners.csv", [
        scenario._learner("DOC", "physician", npi="1234567893", last="Doc"),
        scenario._learner("NURSE", "nurse", last="Nurse")])
    scenario._write(landing, "lms_completions.csv", [
        scenario._done("c1", "DOC", "A-TEAM"), scenario._done("c2", "NURSE", "A-TEAM")])
    settings = tmp_path / "ja.toml"
    settings.write_text('accreditor = "JA"\n')
    results = run_day(tmp_path / "landing", tmp_path / "out", scenario.D1, settings=settings)
    assert "ACCME_PARS" not in results and results["JA_PARS"]["status"] == "written"
    [path] = (tmp_path / "out" / "submissions" / "JA_PARS" / scenario.D1.isoformat()).glob("*.xlsx")
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    header = rows[0]
    assert "Number of IPCE Credits" in header
    got = {r[header.index("Last Name")]: (r[header.index("Number of CME Credits")],
                                          r[header.index("Number of IPCE Credits")]) for r in rows[1:]}
    assert got == {"Doc": (1, 1), "Nurse": (0, 1)}
