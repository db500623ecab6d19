"""Issue 13 (A): the credit catalog is data, and every row of it routes and certifies.

One day in process (ingest and the dbt build, as the DAG runs them) for a jointly
accredited provider, so IPCE is in play: one activity designates every credit type in
the seed, and one learner of every profession completes it (MOC requested with consent,
a board id for every board, a CE Broker license, an ePID). Every type must then be
awarded to every eligible learner, and each award must land in the mart of the body the
seed names, and in no mart when it names none. A new seed row is covered without
touching this file.
"""
from __future__ import annotations

import csv
import re
import string
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from cme import PROJECT_DIR, pipeline
from cme.contract import BOARDS, PROFESSIONS
from cme.pipeline import RunContext
from tests.scenario import _activity, _done, _learner, _write

SEEDS = PROJECT_DIR / "dbt_project" / "seeds"
CATALOG = list(csv.DictReader(open(SEEDS / "credit_types.csv", newline="", encoding="utf-8")))
D1 = date(2026, 6, 10)
Y = D1 - timedelta(days=1)
PLACEHOLDERS = {"amount", "provider", "format"}
CLAIMED, MAX_CREDIT, MAX_MOC = Decimal("4"), "4", "1"  # every board's total (<= 3 types x 1) fits in 4


def _eligible(row: dict) -> list[str]:
    return list(PROFESSIONS) if row["eligible_professions"] == "*" else row["eligible_professions"].split("|")


def _uan(seq: int, audience: str) -> str:
    return f"0204-0000-26-{seq:03d}-H01-{audience}"


# ---- the catalog as data ---------------------------------------------------------------

def test_the_catalog_has_60_types_covering_every_family_the_issue_names():
    codes = {r["credit_type"] for r in CATALOG}
    assert len(CATALOG) >= 60 and len(codes) == len(CATALOG)
    families = {"AMA_PRA_1", "AMA_PRA_2", "AAFP_PRESCRIBED", "AAFP_ELECTIVE", "AOA_1A", "AOA_1B",
                "AOA_2A", "AOA_2B", "ANCC", "ACPE_P", "ACPE_P_APP", "ACPE_P_PRAC", "ACPE_T",
                "ACPE_T_APP", "ACPE_T_PRAC", "AAPA_1", "AAPA_2", "APA", "ASWB", "ADA_CERP", "CDR",
                "IPCE", "COPE", "BOC", "AANP", "AARC", "PARTICIPATION"}
    assert families <= codes, families - codes
    assert {r["moc_board"] for r in CATALOG if r["moc_board"]} == set(BOARDS)  # every PARS board


def test_the_rows_decisions_and_tests_depend_on_are_unchanged():
    decisive = ("body", "eligible_professions", "unit", "step", "moc_board", "moc_category",
                "board_split_rank")
    before = {  # issue 12's catalog: golden cases and the scenario tests rely on these values
        "AMA_PRA_1": ("ACCME_PARS", "physician", "credit", "0.25", "", "", ""),
        "ANCC": ("CE_BROKER", "nurse", "contact hour", "0.25", "", "", ""),
        "ACPE_P": ("CPE_MONITOR", "pharmacist", "contact hour", "0.25", "", "", ""),
        "ACPE_T": ("CPE_MONITOR", "pharmacy_technician", "contact hour", "0.25", "", "", ""),
        "AAPA_1": ("NONE", "physician_assistant", "credit", "0.25", "", "", ""),
        "APA": ("NONE", "psychologist", "credit", "0.25", "", "", ""),
        "ASWB": ("NONE", "social_worker", "credit", "0.25", "", "", ""),
        "CDR": ("NONE", "dietitian", "CPEU", "0.25", "", "", ""),
        "IPCE": ("JA_PARS", "*", "credit", "0.25", "", "", ""),
        "ABIM_MK": ("ACCME_PARS", "physician", "point", "0.25", "ABIM", "Medical Knowledge", "1"),
        "ABIM_PS": ("ACCME_PARS", "physician", "point", "0.25", "ABIM", "Patient Safety", "2"),
        "ABIM_PA": ("ACCME_PARS", "physician", "point", "0.25", "ABIM", "Practice Assessment", "3"),
        "ABP_LLSA": ("ACCME_PARS", "physician", "point", "1", "ABP",
                     "Lifelong Learning and Self-Assessment", "1"),
        "ABP_QI": ("ACCME_PARS", "physician", "point", "1", "ABP", "Quality Improvement", "2"),
        "ABS_SA": ("ACCME_PARS", "physician", "credit", "0.25", "ABS", "Self-Assessment", "1"),
        "ABS_CME": ("ACCME_PARS", "physician", "credit", "0.25", "ABS", "Accredited CME", "2"),
        "ABA_PS": ("ACCME_PARS", "physician", "credit", "0.25", "ABA", "Patient Safety", "1"),
        "ABA_MOCA": ("ACCME_PARS", "physician", "credit", "0.25", "ABA", "MOCA Lifelong Learning", "2"),
    }
    now = {r["credit_type"]: tuple(r[c] for c in decisive) for r in CATALOG}
    assert {k: now[k] for k in before} == before


def test_moc_types_fit_the_pars_record_and_split_in_a_known_order():
    ranks = defaultdict(list)
    for r in CATALOG:
        if r["moc_board"]:
            assert r["body"] == "ACCME_PARS", r["credit_type"]  # PARS takes every MOC award
            ranks[r["moc_board"]].append(int(r["board_split_rank"]))
    for board, got in ranks.items():
        assert sorted(got) == list(range(1, len(got) + 1)), board  # unique ranks, no gaps
        assert len(got) <= 3, f"{board}: fct_pars_records carries three credit types per board"


def test_seed_docs_list_exactly_the_contract_professions():
    doc = yaml.safe_load((SEEDS / "_seeds.yml").read_text())
    [seed] = [s for s in doc["seeds"] if s["name"] == "credit_types"]
    [column] = [c for c in seed["columns"] if c["name"] == "eligible_professions"]
    [check] = [t["list_entries_accepted"] for t in column["data_tests"] if isinstance(t, dict)]
    assert check["arguments"]["values"] == list(PROFESSIONS)
    for r in CATALOG:
        assert set(_eligible(r)) <= set(PROFESSIONS), r["credit_type"]


# ---- (b) it certifies: the designation statement renders with an amount ----------------

@pytest.mark.parametrize("row", CATALOG, ids=lambda r: r["credit_type"])
def test_every_designation_statement_renders_with_its_amount(row):
    template = row["designation_statement"]
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    assert "amount" in fields and fields <= PLACEHOLDERS, fields
    text = template.format(amount="1.75", provider="Example CME Provider", format="enduring material")
    assert "1.75" in text and "{" not in text and "}" not in text
    if row["unit"] == "participation":  # a participation certificate prints hours, never credit
        assert re.search(r"\{amount\} hour\(s\)", template), template
        assert not re.search(r"\{amount\}[^.]*credit", template, re.I), template


# ---- (a) it routes: one day, every type designated, every profession completing --------

def _landing(root: Path) -> tuple[Path, dict[str, str]]:
    uans, credits = {}, []
    for seq, r in enumerate(CATALOG, start=1):
        uan = ""
        if r["body"] == "CPE_MONITOR":  # a UAN per ACPE type, its audience letter the profession's
            uan = uans[r["credit_type"]] = _uan(seq, "T" if _eligible(r) == ["pharmacy_technician"] else "P")
        credits.append(dict(activity_id="ALL", credit_type=r["credit_type"], uan=uan,
                            max_credits=MAX_MOC if r["moc_board"] else MAX_CREDIT))
    licensed = {p: lp for p, lp in csv.reader(open(SEEDS / "profession_licenses.csv")) if p != "profession"}
    day = root / D1.isoformat()
    _write(day, "activities.csv", [_activity("ALL", accme="PARS-ALL", course="20-900"),
                                   _activity("ONE", accme="PARS-ONE", course="20-901")])
    _write(day, "activity_credits.csv",
           credits + [dict(activity_id="ONE", credit_type="AMA_PRA_1", max_credits=MAX_CREDIT)])
    _write(day, "learners.csv", [_learner(f"L-{p}", p, npi="1234567893" if p == "physician" else "",
                                          epid=f"{i}00" if p.startswith("pharmac") else "")
                                 for i, p in enumerate(PROFESSIONS, start=1)])
    _write(day, "learner_licenses.csv", [
        dict(learner_id=f"L-{p}", state="FL", license_number=f"LIC{i:05d}", license_profession=lp)
        for i, (p, lp) in enumerate(licensed.items())])
    _write(day, "learner_board_ids.csv", [dict(learner_id="L-physician", board=b, board_id=f"{b}-1")
                                          for b in BOARDS])
    _write(day, "lms_completions.csv", [
        dict(_done(f"c-{p}", f"L-{p}", "ALL", day=Y, moc="Y"), credits_claimed=str(CLAIMED))
        for p in PROFESSIONS] + [
        dict(_done(f"one-{p}", f"L-{p}", "ONE", day=Y), credits_claimed=str(CLAIMED))
        for p in ("physician", "nurse", "dentist")])
    return root, uans


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    landing, uans = _landing(root / "landing")
    settings = root / "ja.toml"
    settings.write_text('accreditor = "JA"\n')  # IPCE is JA-PARS credit
    ctx = RunContext(D1, landing, root / "out", settings)
    pipeline.check_settings(ctx)
    pipeline.ingest(ctx, load_id="catalog")
    pipeline.build(ctx)
    con = duckdb.connect(str(root / "out" / "warehouse.duckdb"), read_only=True)
    yield con, uans
    con.close()


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


@pytest.mark.e2e
def test_every_type_is_awarded_to_every_eligible_profession(warehouse):
    con, _ = warehouse
    decided = {(d["person"], d["credit_type"]): d for d in _rows(con, """
        select p.profession as person, d.credit_type, d.is_awarded, d.reason_code, d.credits_awarded, d.unit
        from fct_credit_decisions as d inner join dim_people as p using (person_id)
        where d.activity_id = 'ALL'""")}
    missing = []
    for r in CATALOG:
        for profession in _eligible(r):
            d = decided.get((profession, r["credit_type"]))
            if d is None or not d["is_awarded"] or d["credits_awarded"] <= 0 or d["unit"] != r["unit"]:
                missing.append((r["credit_type"], profession, d and d["reason_code"]))
    assert not missing, missing
    # the ineligible are refused by profession, not silently skipped
    assert decided[("nurse", "AMA_PRA_1")]["reason_code"] == "PROFESSION_NOT_ELIGIBLE"


@pytest.mark.e2e
def test_each_award_lands_in_the_mart_of_its_body_and_nowhere_else(warehouse):
    con, uans = warehouse
    by_type = {r["credit_type"]: r for r in CATALOG}
    awards = _rows(con, """select p.profession as person, a.credit_type, a.credits_awarded as amount
                           from fct_credit_awards as a inner join dim_people as p using (person_id)""")
    want = defaultdict(Decimal)  # (mart, person, what) -> amount the seed routes there
    for a in awards:
        row = by_type[a["credit_type"]]
        body, person = row["body"], a["person"]
        if row["moc_board"]:
            want["pars", person, row["moc_board"], row["report_label"]] += a["amount"]
        elif body == "ACCME_PARS":
            want["pars", person, "cme"] += a["amount"]
        elif body == "JA_PARS":
            want["pars", person, "ipce"] += a["amount"]
        elif body == "CE_BROKER":
            want["cebroker", person] += a["amount"]
        elif body == "CPE_MONITOR":
            want["cpe", person, uans[a["credit_type"]]] += a["amount"]
        else:
            assert body == "NONE", (a["credit_type"], body)
    got = defaultdict(Decimal)
    for r in _rows(con, """select p.profession as person, r.* from fct_pars_records as r
                           inner join dim_people as p using (person_id) where record_action = 'Add'"""):
        assert r["body"] == "JA_PARS"
        for what, amount in (("cme", r["cme_credits"]), ("ipce", r["ipce_credits"])):
            if amount:
                got["pars", r["person"], what] += amount
        for i in (1, 2, 3):
            if r[f"credit_type_{i}"] is not None:
                got["pars", r["person"], r["board"], r[f"credit_type_{i}"]] += r[f"credits_{i}"]
    for r in _rows(con, """select p.profession as person, r.credit_hours from fct_cebroker_records as r
                           inner join dim_people as p using (person_id) where record_action = 'Add'"""):
        got["cebroker", r["person"]] += r["credit_hours"]
    for r in _rows(con, """select p.profession as person, r.uan, r.contact_hours from fct_cpe_monitor_records as r
                           inner join dim_people as p using (person_id) where record_action = 'Add'"""):
        got["cpe", r["person"], r["uan"]] += r["contact_hours"]
    wrong = {k: dict(in_mart=got.get(k), routed_by_seed=want.get(k))
             for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert not wrong, wrong
    # every routed type has awards, so the comparison above covers each one
    routed = {r["credit_type"] for r in CATALOG if r["body"] != "NONE"}
    assert {a["credit_type"] for a in awards} >= routed


@pytest.mark.e2e
def test_participation_is_awarded_as_hours_and_reported_nowhere(warehouse):
    con, _ = warehouse
    participation = {r["credit_type"] for r in CATALOG if r["unit"] == "participation"}
    assert participation and all(
        next(r for r in CATALOG if r["credit_type"] == t)["body"] == "NONE" for t in participation)
    rows = _rows(con, f"""select credit_type, unit, credits_awarded from fct_credit_awards
                          where credit_type in ({', '.join(repr(t) for t in participation)})""")
    assert rows and {r["unit"] for r in rows} == {"participation"}
    assert {r["credits_awarded"] for r in rows} == {CLAIMED}  # the hours, within the designation


@pytest.mark.e2e
def test_an_undesignated_type_is_explained_only_when_it_is_a_professions_own_credit(warehouse):
    con, _ = warehouse
    got = {(p, t): reason for p, t, reason in con.execute("""
        select p.profession, d.credit_type, d.reason_code
        from fct_credit_decisions as d inner join dim_people as p using (person_id)
        where d.activity_id = 'ONE'""").fetchall()}
    # activity ONE designates AMA PRA Category 1 only (a JA provider: IPCE is explained)
    assert got == {
        ("physician", "AMA_PRA_1"): None,
        ("physician", "IPCE"): "NOT_DESIGNATED",
        ("nurse", "AMA_PRA_1"): "PROFESSION_NOT_ELIGIBLE",
        ("nurse", "ANCC"): "NOT_DESIGNATED",  # "why no nursing hours?"
        ("nurse", "IPCE"): "NOT_DESIGNATED",
        ("dentist", "AMA_PRA_1"): "PROFESSION_NOT_ELIGIBLE",
        ("dentist", "ADA_CERP"): "NOT_DESIGNATED",
        ("dentist", "IPCE"): "NOT_DESIGNATED",
    }  # no AMA PRA Category 2, AAFP, AOA, AANP, participation... rows for every completion
