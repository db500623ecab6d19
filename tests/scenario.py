"""A hand-built landing directory: one case and one near-miss control per exception code.

Day 1 (D1) carries everything; day 2 revokes two completions that day 1 sent;
day 3 adds two new completions (a run whose CPE Monitor batch is stopped).
"""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from cme import pipeline
from cme.contract import BY_FILE
from cme.pipeline import RunContext

D1, D2, D3 = date(2026, 6, 10), date(2026, 6, 11), date(2026, 6, 12)
Y = D1 - timedelta(days=1)
UAN_P, UAN_T = "0204-0000-26-001-H01-P", "0204-0000-26-002-H01-T"


def _write(folder: Path, file: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    columns = [c.name for c in BY_FILE[file].columns]
    with open(folder / file, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])


def _activity(aid, accme="PARS-1", course="20-111"):
    return dict(activity_id=aid, title=aid, activity_format="IEM", start_date="2026-01-01",
                end_date="2026-12-31", accme_activity_id=accme, cebroker_course_id=course,
                providership="direct", commercial_support="N", evaluation_required="N",
                updated_at="2026-01-01T00:00:00Z")


def _learner(lid, profession, dob="1970-01-01", npi="", epid="", consent="Y", last=None):
    return dict(learner_id=lid, first_name="F" + lid, last_name=last or "L" + lid, email="",
                date_of_birth=dob, profession=profession, npi=npi, nabp_eprofile_id=epid,
                moc_consent=consent, updated_at="2026-01-01T00:00:00Z")


def _done(cid, lid, aid, day=Y, moc="N", status="completed"):
    return dict(completion_id=cid, learner_id=lid, activity_id=aid,
                completed_at=f"{day.isoformat()}T10:00:00-05:00", minutes_engaged="60",
                evaluation_completed="Y", credits_claimed="1.0", moc_requested=moc, status=status)


ACTIVITIES = [_activity("A-REG"), _activity("A-UNREG", accme="", course=""), _activity("A-ABS"),
              _activity("A-BADUAN"), _activity("A-MISMATCH")]
CREDITS = [dict(activity_id="A-REG", credit_type=t, max_credits="5", uan=u) for t, u in (
    ("AMA_PRA_1", ""), ("ABIM_MK", ""), ("ABS_CME", ""), ("ANCC", ""), ("ACPE_P", UAN_P),
    ("ACPE_T", UAN_T))] + [
    dict(activity_id="A-UNREG", credit_type="AMA_PRA_1", max_credits="5"),
    # MOC is awarded on request and consent for every designated board (rules section 3),
    # so the ABS control needs an activity whose only board is ABS
    dict(activity_id="A-ABS", credit_type="AMA_PRA_1", max_credits="5"),
    dict(activity_id="A-ABS", credit_type="ABS_CME", max_credits="5"),
    dict(activity_id="A-UNREG", credit_type="ANCC", max_credits="5"),
    dict(activity_id="A-BADUAN", credit_type="ACPE_P", max_credits="5", uan="0204-0000-26-01-H01-P"),
    dict(activity_id="A-MISMATCH", credit_type="ACPE_P", max_credits="5", uan="0204-0000-26-003-H01-T"),
]
LEARNERS = [
    _learner("P-OK", "physician", npi="1234567893"),
    _learner("P-NODOB", "physician", dob="", npi="1003000126"),
    _learner("P-NOID", "physician"),
    _learner("P-LICONLY", "physician"),
    _learner("P-BADNPI", "physician", npi="1234567890"),
    _learner("P-ABIMNOID", "physician", npi="1245319599"),
    _learner("P-ABSNOID", "physician", npi="1306849450"),
    _learner("P-LATE", "physician", npi="1555555550"),
    _learner("P-ONTIME", "physician", npi="9876543213"),
    _learner("P-REVOKE", "physician", npi="1003000134"),
    _learner("P-UNREG", "physician", npi="1003000142"),
    _learner("N-OK", "nurse"), _learner("N-BADLIC", "nurse"), _learner("N-UNREG", "nurse"),
    _learner("N-REVOKE", "nurse"),
    _learner("PH-OK", "pharmacist", epid="111"), _learner("PH-NOEPID", "pharmacist"),
    _learner("PH-NODOB", "pharmacist", dob="", epid="222"),
    _learner("PH-BADUAN", "pharmacist", epid="333"), _learner("PH-MISMATCH", "pharmacist", epid="444"),
    _learner("PH-OLD", "pharmacist", epid="555"), _learner("PH-59", "pharmacist", epid="666"),
    # same NPI, different profession: a conflict; same NPI, same facts: a clean merge
    _learner("C-A", "physician", npi="1003000159"), _learner("C-B", "nurse", npi="1003000159"),
    _learner("C-C", "physician", npi="1003000167"), _learner("C-D", "physician", npi="1003000167"),
    # quarantined: a US-style birth date
    _learner("Q-BAD", "physician", dob="06/10/1970"),
]
LICENSES = [
    dict(learner_id="P-LICONLY", state="FL", license_number="ME55555", license_profession="MD"),
    dict(learner_id="N-OK", state="FL", license_number="RN1234567", license_profession="RN"),
    dict(learner_id="N-BADLIC", state="FL", license_number="RN12345", license_profession="RN"),
    dict(learner_id="N-UNREG", state="FL", license_number="RN7654321", license_profession="RN"),
    dict(learner_id="N-REVOKE", state="FL", license_number="RN2222222", license_profession="RN"),
]
BOARDS = [dict(learner_id="P-OK", board="ABIM", board_id="ABIM-1"),
          dict(learner_id="P-ABIMNOID", board="ABIM", board_id=""),
          dict(learner_id="P-ABSNOID", board="ABS", board_id=""),
          dict(learner_id="P-LATE", board="ABIM", board_id="ABIM-2"),
          dict(learner_id="P-ONTIME", board="ABIM", board_id="ABIM-3")]
COMPLETIONS = [
    _done("c-ok", "P-OK", "A-REG", moc="Y"), _done("c-nodob", "P-NODOB", "A-REG"),
    _done("c-noid", "P-NOID", "A-REG"), _done("c-liconly", "P-LICONLY", "A-REG"),
    _done("c-badnpi", "P-BADNPI", "A-REG"), _done("c-abimnoid", "P-ABIMNOID", "A-REG", moc="Y"),
    _done("c-absnoid", "P-ABSNOID", "A-ABS", moc="Y"),
    _done("c-late", "P-LATE", "A-REG", day=D1 - timedelta(days=40), moc="Y"),
    _done("c-ontime", "P-ONTIME", "A-REG", day=D1 - timedelta(days=20), moc="Y"),
    _done("c-prevoke", "P-REVOKE", "A-REG"), _done("c-punreg", "P-UNREG", "A-UNREG"),
    _done("c-nok", "N-OK", "A-REG"), _done("c-nbadlic", "N-BADLIC", "A-REG"),
    _done("c-nunreg", "N-UNREG", "A-UNREG"), _done("c-nrevoke", "N-REVOKE", "A-REG"),
    _done("c-phok", "PH-OK", "A-REG"), _done("c-phnoepid", "PH-NOEPID", "A-REG"),
    _done("c-phnodob", "PH-NODOB", "A-REG"), _done("c-phbaduan", "PH-BADUAN", "A-BADUAN"),
    _done("c-phmismatch", "PH-MISMATCH", "A-MISMATCH"),
    _done("c-phold", "PH-OLD", "A-REG", day=D1 - timedelta(days=61)),
    _done("c-ph59", "PH-59", "A-REG", day=D1 - timedelta(days=59)),
    _done("c-ca", "C-A", "A-REG"), _done("c-cc", "C-C", "A-REG"),
]


def write_landing(root: Path) -> Path:
    d1 = root / D1.isoformat()
    _write(d1, "activities.csv", ACTIVITIES)
    _write(d1, "activity_credits.csv", CREDITS)
    _write(d1, "learners.csv", LEARNERS)
    _write(d1, "learner_licenses.csv", LICENSES)
    _write(d1, "learner_board_ids.csv", BOARDS)
    _write(d1, "lms_completions.csv", COMPLETIONS)
    _write(root / D2.isoformat(), "lms_completions.csv", [
        _done("c-prevoke", "P-REVOKE", "A-REG", status="revoked"),
        _done("c-nrevoke", "N-REVOKE", "A-REG", status="revoked")])
    _write(root / D3.isoformat(), "lms_completions.csv", [
        _done("c-ok-3", "P-OK", "A-REG", day=D2), _done("c-phok-3", "PH-OK", "A-REG", day=D2)])
    write_disclosures(root)
    return root


# --- faculty disclosure (Standard 3): activities starting soon after D1 ---------------
import hashlib  # noqa: E402

SOON = D1 + timedelta(days=10)
ROLE_START = date(2026, 5, 1)
DISCLOSURE_ACTIVITIES = [
    dict(_activity("A-SOON"), start_date=SOON.isoformat(), end_date=SOON.isoformat()),
    dict(_activity("A-CS"), start_date=SOON.isoformat(), end_date=SOON.isoformat(),
         commercial_support="Y", commercial_agreement_signed_date=(SOON + timedelta(days=5)).isoformat()),
    dict(_activity("A-CS-OK"), start_date=SOON.isoformat(), end_date=SOON.isoformat(),
         commercial_support="Y", commercial_agreement_signed_date=(SOON - timedelta(days=19)).isoformat()),
]


def _disclosure(person, signed="2026-04-20", role="faculty", learner=(SOON - timedelta(days=5)),
                relationship=None, seq=0):
    row = dict(disclosure_id=f"d-{person}", relationship_seq=str(seq), person_id=person,
               first_name="F", last_name=person, activity_id="A-SOON", role=role,
               role_start_date=ROLE_START.isoformat(), signed_date=signed,
               has_relationships="Y" if relationship else "N",
               learner_disclosure_date=learner.isoformat() if learner else "",
               document_sha256=hashlib.sha256(f"signed form d-{person}".encode()).hexdigest())
    return {**row, **(relationship or {})}


INELIGIBLE = dict(company="PharmaCo", company_is_ineligible="Y", is_relevant="Y", nature="consultant")
DISCLOSURES = [
    _disclosure("F-OK"),
    _disclosure("F-MISS", signed=""),
    _disclosure("F-OLD", signed="2025-04-01"),             # 13 months before the role: stale
    _disclosure("F-FRESH", signed="2025-05-15"),           # 11.5 months: still fresh
    _disclosure("F-AFTER", signed="2026-05-10"),           # signed after the role started
    _disclosure("F-NOMIT", relationship=INELIGIBLE, seq=1),
    _disclosure("F-ENDED", relationship={**INELIGIBLE, "relationship_ended_on": "2024-01-01"}, seq=1),
    _disclosure("F-LATEMIT", relationship={**INELIGIBLE, "mitigation_step": "peer_review",
                                           "mitigated_date": "2026-05-05"}, seq=1),
    _disclosure("F-ONTIMEMIT", relationship={**INELIGIBLE, "mitigation_step": "peer_review",
                                             "mitigated_date": "2026-04-25"}, seq=1),
    _disclosure("F-OWNER", relationship={**INELIGIBLE, "nature": "owner", "mitigation_step": "recusal",
                                         "mitigated_date": "2026-04-25"}, seq=1),
    _disclosure("F-LDL", learner=SOON + timedelta(days=5)),  # shown to learners after the start
    _disclosure("F-NODOC"),
    _disclosure("F-ALTERED"),
    _disclosure("S-STAFF", signed="", role="staff"),        # staff are exempt
]


def write_disclosures(root: Path) -> None:
    d1 = root / D1.isoformat()
    with open(d1 / "activities.csv", "a", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        for row in DISCLOSURE_ACTIVITIES:
            writer.writerow([row.get(c.name, "") for c in BY_FILE["activities.csv"].columns])
    _write(d1, "faculty_disclosures.csv", DISCLOSURES)
    store = root / "documents"
    store.mkdir(parents=True, exist_ok=True)
    for row in DISCLOSURES:
        if row["signed_date"] and row["person_id"] != "F-NODOC":
            text = f"signed form {row['disclosure_id']}" + (" (edited)" if row["person_id"] == "F-ALTERED" else "")
            (store / f"{row['disclosure_id']}.pdf").write_text(text)


def run_day(landing: Path, out: Path, day, settings: Path | None = None,
            recompute: bool = False, full_refresh: bool = False, load_id: str | None = None,
            data_tests: bool = True) -> dict:
    """One day in process, the DAG's steps in its order: each body's export result, the
    run summary and the deadline alert (or None).

    `data_tests=False` builds without dbt's data tests (about half of a build): for a
    fixture's earlier days only. The marts keep every day's rows, so the data tests of the
    day a fixture ends on check what the earlier days built; a daily run always tests."""
    ctx = RunContext(day, landing, out, settings, recompute=recompute, data_tests=data_tests)
    pipeline.check_settings(ctx)
    pipeline.ingest(ctx, load_id=load_id or f"test-{day}")
    pipeline.build(ctx, full_refresh=full_refresh)
    results = {}
    for body in pipeline.list_bodies(ctx):
        pipeline.gate(ctx, body)
        results[body] = pipeline.export(ctx, body)
    pipeline.refresh_after_export(ctx)
    results["summary"] = summary = pipeline.summarize(ctx)
    results["alert"] = pipeline.alert_on_closed_windows(ctx, summary)
    return results


def run_days(landing: Path, out: Path, days, settings: Path | None = None,
             full_refresh: bool = False, recompute: bool = False, run_id: str = "in_process",
             test_every_day: bool = False) -> str:
    """`cme run --from FIRST --to LAST` without Airflow: the DAG's steps for each date in
    order, a full refresh / recompute on the first date only (as cme.airflow_days), the
    DAG's last task (check_exports: raises RunFailed when a body's export failed), and
    what `cme run` prints, each day's run summary, returned. The load id has the DAG's
    shape, `<date>/<run id>`. Used by every test whose point is what the pipeline does;
    what only Airflow does (task graph, retries, task logs, the runner) is tested on real
    DAG runs (tests/test_cme_run.py and the few tests marked so). dbt's data tests run
    on the last date (every date with `test_every_day`; see run_day)."""
    import logging

    from cme.summary import format_summary
    from cme.warehouse import private_dir

    log = logging.getLogger("tests.run_days")
    out = private_dir(Path(out).resolve())  # as `cme run` makes it
    landing = Path(landing).resolve()
    settings = Path(settings).resolve() if settings else None
    printed = []
    days = list(days)
    for i, day in enumerate(days):
        day = date.fromisoformat(day) if isinstance(day, str) else day
        results = run_day(landing, out, day, settings,
                          recompute=recompute and i == 0, full_refresh=full_refresh and i == 0,
                          load_id=f"{day.isoformat()}/{run_id}__{day.isoformat()}",
                          data_tests=test_every_day or i == len(days) - 1)
        # what Airflow logs of each task's return value (XCom): it must carry no learner data
        log.info("Done. Returned value was: %s", results)
        pipeline.check_exports(RunContext(day, landing, out, settings))
        printed.append(format_summary(results["summary"]))
    return "\n".join(printed) + "\n"
