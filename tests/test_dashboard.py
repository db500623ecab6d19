"""The compliance dashboard in a real browser: `cme dashboard` serving the session's
3-day run, opened in Debian's headless Chromium driven by Playwright.

The numbers on the page are checked against the marts, counted here in Python
from the rows rather than by the dashboard's own SQL.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import pytest
import yaml
from playwright.sync_api import expect, sync_playwright

from tests.conftest import ARTIFACTS, BIN, DAYS
from tests.servers import serve

pytestmark = pytest.mark.e2e

# Chromium as Debian ships it, started without the calls home this machine's closed
# network refuses (and as root, which needs --no-sandbox).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RECORD_MARTS = ("fct_pars_records", "fct_cebroker_records", "fct_cpe_monitor_records")
AS_OF = date.fromisoformat(DAYS[-1])
COLUMNS = ("records", "due", "held", "late", "due_next_30_days", "written", "sent", "accepted",
           "rejected", "superseded")
DBT = Path(__file__).resolve().parents[1] / "dbt_project"
SEEDS, MARTS = DBT / "seeds", DBT / "models" / "marts"


def serve_dashboard(out: Path, *options: str):
    """`cme dashboard` on OUT at a free port, as a user starts it; yields its base URL."""
    return serve("dashboard", out, *options, probe="/static/style.css")


@pytest.fixture(scope="module")
def dashboard(pipeline_run):
    with serve_dashboard(pipeline_run.out) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def _marts(pipeline_run) -> tuple[list[dict], list[dict], list[dict]]:
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        def rows(sql):
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        # the learner-record marts' rows (tests/test_body_records.py checks this union)
        records = rows("select body, record_action, submission_state, error_codes, due_on "
                       "from fct_body_records where record_kind = 'learner'")
        exceptions = rows("select * from fct_compliance_exceptions")
        disclosures = rows("select * from fct_disclosure_status")
    return records, exceptions, disclosures


def test_overview_shows_each_bodys_numbers_as_the_marts_have_them(dashboard, page, pipeline_run):
    records, exceptions, _ = _marts(pipeline_run)
    expected: dict[str, Counter] = {}
    for r in records:
        if r["record_action"] != "Add":
            continue
        c = expected.setdefault(r["body"], Counter())
        state = r["submission_state"]
        c["records"] += 1
        if state == "pending":
            c["due"] += 1
            c["held"] += bool(r["error_codes"])
            c["late"] += r["due_on"] < AS_OF
            c["due_next_30_days"] += AS_OF <= r["due_on"] <= AS_OF + timedelta(days=30)
        c["written"] += state == "written"
        c["sent"] += state in ("sending", "sent")
        c["accepted"] += state == "accepted"
        c["rejected"] += state == "rejected"
        c["superseded"] += state == "superseded"
    assert set(expected) == {"ACCME_PARS", "CE_BROKER", "CPE_MONITOR"}

    page.goto(dashboard + "/")
    expect(page.locator("#as-of")).to_have_text(DAYS[-1])
    for body, counts in expected.items():
        row = page.locator(f"#bodies tr[data-body='{body}']")
        shown = {col: int(row.locator(f"td[data-col='{col}']").inner_text()) for col in COLUMNS}
        assert shown == {col: counts[col] for col in COLUMNS}, body
        # every record is in exactly one place
        assert shown["records"] == sum(shown[c] for c in ("due", "written", "sent", "accepted",
                                                           "rejected", "superseded")), body
    # the file-drop run writes records; some are held back by errors
    assert sum(c["written"] for c in expected.values()) > 0
    assert sum(c["held"] for c in expected.values()) > 0

    open_counts = Counter((e["body"], e["severity"]) for e in exceptions if e["status"] == "open")
    for (body, severity), n in open_counts.items():
        cell = page.locator(f"#open-exceptions td[data-body='{body}'][data-severity='{severity}']")
        assert cell.inner_text() == str(n), (body, severity)

    # one chart per trend, drawn over the three runs
    assert page.locator("figure.chart svg").count() == 4
    assert page.locator("#runs tbody tr").count() == len(DAYS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_overview.png"), full_page=True)


def test_the_queue_filters_by_body_reason_and_due_date_and_opens_the_detail(dashboard, page, pipeline_run):
    _, exceptions, _ = _marts(pipeline_run)
    open_ = [e for e in exceptions if e["status"] == "open"]
    # the body and reason with the most open exceptions that have due dates and a person
    # (activity exceptions name none: the detail's person link is checked below)
    (body, reason), _n = Counter((e["body"], e["reason_code"]) for e in open_
                                 if e["due_on"] and e["person_id"]).most_common(1)[0]
    matching = [e for e in open_ if e["body"] == body and e["reason_code"] == reason]

    page.goto(dashboard + "/exceptions")
    expect(page.locator("#match-count strong")).to_have_text(str(len(open_)))
    page.select_option("select[name=body]", body)
    page.select_option("select[name=reason]", reason)
    page.click("#filters button[type=submit]")
    expect(page.locator("#match-count strong")).to_have_text(str(len(matching)))
    rows = page.locator("#queue tbody tr")
    assert rows.count() == len(matching)
    assert {rows.nth(i).get_attribute("data-reason") for i in range(rows.count())} == {reason}
    assert {rows.nth(i).get_attribute("data-body") for i in range(rows.count())} == {body}

    # narrow to the earliest due date
    first_due = min(e["due_on"] for e in matching)
    page.fill("input[name=due_to]", first_due.isoformat())
    page.click("#filters button[type=submit]")
    due_by_first = [e for e in matching if e["due_on"] and e["due_on"] <= first_due]
    expect(page.locator("#match-count strong")).to_have_text(str(len(due_by_first)))
    assert f"due_to={first_due.isoformat()}" in page.url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_queue_filtered.png"), full_page=True)

    # the detail of the first one
    page.locator("#queue tbody tr a").first.click()
    shown = page.locator("dl#detail").inner_text()
    exception = next(e for e in matching if e["exception_id"] in shown)
    assert exception["reason_code"] in page.locator("h1").inner_text()
    assert exception["due_on"].isoformat() in shown
    assert exception["person_id"] and exception["person_id"] in shown
    # what the code means and how to fix it, from the exception_reasons seed
    explained = _reasons()[exception["reason_code"]]
    assert page.locator("#meaning").inner_text() == explained["meaning"]
    assert page.locator("#how-to-fix").inner_text() == explained["how_to_fix"]


def test_the_queue_lists_everything_open_for_one_person(dashboard, page, pipeline_run):
    _, exceptions, _ = _marts(pipeline_run)
    person, n = Counter(e["person_id"] for e in exceptions
                        if e["status"] == "open" and e["person_id"]).most_common(1)[0]
    assert n > 1
    page.goto(dashboard + "/exceptions")
    page.locator(f"#queue a:text-is('{person}')").first.click()
    expect(page.locator("#match-count strong")).to_have_text(str(n))
    assert page.locator("input[name=person]").input_value() == person


def _reasons() -> dict[str, dict]:
    with open(SEEDS / "exception_reasons.csv", newline="") as handle:
        return {row["reason_code"]: row for row in csv.DictReader(handle)}


def test_every_reason_the_queue_can_hold_is_explained():
    models = yaml.safe_load((MARTS / "_reporting__models.yml").read_text())
    exceptions = next(m for m in models["models"] if m["name"] == "fct_compliance_exceptions")
    column = next(c for c in exceptions["columns"] if c["name"] == "reason_code")
    allowed = next(t["accepted_values"]["arguments"]["values"] for t in column["data_tests"]
                   if isinstance(t, dict) and "accepted_values" in t)
    reasons = _reasons()
    assert set(reasons) == set(allowed)
    assert all(r["meaning"].strip() and r["how_to_fix"].strip() for r in reasons.values())


def test_bad_requests_get_a_page_that_says_what_is_wrong(dashboard):
    bad_date = httpx.get(dashboard + "/exceptions?due_from=11/24/2026", timeout=10)
    assert bad_date.status_code == 400 and "not a date (YYYY-MM-DD)" in bad_date.text
    assert httpx.get(dashboard + "/exceptions?status=bogus", timeout=10).status_code == 400
    for missing in ("/exceptions/no-such-id", "/no-such-page"):
        answer = httpx.get(dashboard + missing, timeout=10)
        assert answer.status_code == 404 and "<h1>Not available</h1>" in answer.text, missing
    typed = httpx.get(dashboard + "/exceptions", params={"person": "<script>x</script>"}, timeout=10)
    assert "<script>x</script>" not in typed.text and "&lt;script&gt;" in typed.text


def test_pages_show_ids_but_no_learner_names_birth_dates_or_licenses(dashboard, pipeline_run):
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        secrets = {v for (v,) in con.execute("""
            select license_number from raw.learner_licenses union select npi from raw.learners
            union select nabp_eprofile_id from raw.learners union select last_name from raw.learners
            union select strftime(date_of_birth, '%m/%d/%Y') from raw.learners
            union select strftime(date_of_birth, '%Y-%m-%d') from raw.learners""").fetchall()
            if v and len(v) >= 4}
        ids = [i for (i,) in con.execute(
            "select exception_id from fct_compliance_exceptions order by exception_id limit 40").fetchall()]
        # a written record of each body: its audit page shows the mart row, withheld fields and all
        records = [k for mart in RECORD_MARTS for (k,) in con.execute(
            f"select record_key from {mart} where submission_state = 'written' order by record_key limit 3"
        ).fetchall()]
    assert len(secrets) > 100 and len(records) >= 3
    pages = ["/", "/exceptions?status=all", "/disclosures", "/validations", "/activities",
             "/activities?incomplete=1&open_exceptions=1"] + [f"/exceptions/{i}" for i in ids] \
        + [f"/records/{quote(k, safe='')}" for k in records]
    for path in pages:
        answer = httpx.get(dashboard + path, timeout=30)
        assert answer.status_code == 200, path
        text = answer.text
        found = [s for s in secrets if re.search(rf"\b{re.escape(s)}\b", text)]
        assert found == [], path


def _activity_years(pipeline_run) -> tuple[list[dict], Counter]:
    """The mart's activity years and the open exceptions per activity (every body)."""
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        cur = con.execute("select * from fct_pars_activities")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
        open_ = Counter(a for (a,) in con.execute(
            "select activity_id from fct_compliance_exceptions where status = 'open'").fetchall())
    for r in rows:
        r["days_left"] = (r["due_on"] - AS_OF).days
        r["open_exceptions"] = open_[r["activity_id"]]
    return rows, open_


def _shown_activities(page) -> list[dict]:
    rows = page.locator("#activities tbody tr[data-activity]")
    shown = []
    for i in range(rows.count()):
        row = rows.nth(i)
        field = lambda name: row.locator(f"[data-field='{name}']")  # noqa: B023 - used in this iteration
        shown.append({
            "activity_id": row.get_attribute("data-activity"),
            "reporting_year": int(row.get_attribute("data-year")),
            "pars_status": row.get_attribute("data-status"),
            "learner_records": int(field("due").inner_text()),
            "learner_records_sent": int(field("sent").inner_text()),
            "learner_records_accepted": int(field("accepted").inner_text()),
            "open_exceptions": int(row.locator("td[data-col='open-exceptions']").inner_text()),
            "days_left": int(field("days-left").get_attribute("data-days-left")),
            "days_text": field("days-left").inner_text(),
        })
    return shown


def _expected(rows: list[dict]) -> list[dict]:
    """The page's rows in its default order: nearest year close first, then activity id."""
    keys = ("activity_id", "reporting_year", "pars_status", "learner_records", "learner_records_sent",
            "learner_records_accepted", "open_exceptions", "days_left")
    return [{k: r[k] for k in keys}
            for r in sorted(rows, key=lambda r: (r["days_left"], r["activity_id"], r["reporting_year"]))]


def _without_text(shown: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "days_text"} for r in shown]


def test_the_activities_page_shows_status_and_completeness_as_the_mart_has_them(dashboard, page, pipeline_run):
    rows, open_ = _activity_years(pipeline_run)
    this_year = [r for r in rows if r["reporting_year"] == AS_OF.year]
    # the demo data has activity years before and in the as-of year, some with learner
    # records still unsent, and open exceptions on some activities
    assert this_year and any(r["days_left"] < 0 for r in rows)
    assert any(r["learner_records_sent"] < r["learner_records"] for r in rows)
    assert any(r["open_exceptions"] for r in rows)

    # the overview's tile, then its link: this year's activities
    page.goto(dashboard + "/")
    tile = page.locator("#activities-summary")
    assert int(tile.locator("[data-field='this_year']").inner_text()) == len(this_year)
    assert int(tile.locator("[data-field='closed']").inner_text()) == sum(
        r["pars_status"] == "Closed" for r in this_year)
    assert int(tile.locator("[data-field='with_open_exceptions']").inner_text()) == sum(
        r["open_exceptions"] > 0 for r in this_year)
    assert int(tile.locator("[data-field='days_to_year_close']").inner_text()) == this_year[0]["days_left"]
    page.click("#activities-link")
    expect(page.locator("#match-count strong")).to_have_text(str(len(this_year)))
    assert _without_text(_shown_activities(page)) == _expected(this_year)

    # every year, from the nav
    page.click("#activities-nav")
    expect(page.locator("#match-count strong")).to_have_text(str(len(rows)))
    shown = _shown_activities(page)
    assert _without_text(shown) == _expected(rows)
    for r in shown:  # a passed year close reads as past due, unless the year is done at PARS
        done = next(m for m in rows if (m["activity_id"], m["reporting_year"]) ==
                    (r["activity_id"], r["reporting_year"]))
        done = done["pars_status"] == "Closed" and done["submission_state"] == "accepted"
        if r["days_left"] >= 0:
            assert r["days_text"].startswith(f"{r['days_left']} days"), r
        else:
            assert (f"{-r['days_left']} days past due" in r["days_text"]) != done, r
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_activities.png"), full_page=True)

    # filters: incomplete reporting with open exceptions, kept in the form
    page.check("input[name=incomplete]")
    page.check("input[name=open_exceptions]")
    page.click("#filters button[type=submit]")
    wanted = [r for r in rows if r["learner_records_sent"] < r["learner_records"] and r["open_exceptions"]]
    assert 0 < len(wanted) < len(rows)
    expect(page.locator("#match-count strong")).to_have_text(str(len(wanted)))
    assert _without_text(_shown_activities(page)) == _expected(wanted)
    assert page.locator("input[name=incomplete]").is_checked()
    assert page.locator("input[name=open_exceptions]").is_checked()
    # narrowed by status and year, and by text in the title
    first = wanted[0]
    page.select_option("select[name=status]", first["pars_status"])
    page.select_option("select[name=year]", str(first["reporting_year"]))
    page.fill("input[name=q]", first["title"].upper())
    page.click("#filters button[type=submit]")
    narrowed = [r for r in wanted if r["pars_status"] == first["pars_status"]
                and r["reporting_year"] == first["reporting_year"]
                and any(first["title"].lower() in (v or "").lower() for v in (r["activity_id"], r["title"]))]
    assert _without_text(_shown_activities(page)) == _expected(narrowed)
    assert page.locator("select[name=status]").input_value() == first["pars_status"]
    assert page.locator("input[name=q]").input_value() == first["title"].upper()
    # a status no activity year has here shows none
    missing = next((s for s in ("Draft", "Active", "Closed") if s not in {r["pars_status"] for r in rows}), None)
    if missing:
        page.goto(dashboard + f"/activities?status={missing}")
        expect(page.locator("#match-count strong")).to_have_text("0")

    # an activity's open exceptions open the queue filtered by that activity
    activity, n = max(((r["activity_id"], r["open_exceptions"]) for r in rows), key=lambda x: (x[1], x[0]))
    page.goto(dashboard + "/activities")
    page.locator(f"#activities tr[data-activity='{activity}'] a.open-exceptions").first.click()
    expect(page.locator("#match-count strong")).to_have_text(str(n))
    assert page.locator("input[name=activity]").input_value() == activity
    queue = page.locator("#queue tbody tr td:nth-child(6)")
    assert {queue.nth(i).inner_text() for i in range(queue.count())} == {activity}
    assert open_[activity] == n


def test_a_bad_activity_filter_gets_a_page_that_says_what_is_wrong(dashboard):
    for query, message in (("status=Open", "status is Draft, Active, Closed or any"),
                           ("year=26", "year is a four-digit reporting year"),
                           ("incomplete=yes", "incomplete is 1 or absent"),
                           ("q=" + "x" * 101, "at most 100 characters")):
        answer = httpx.get(dashboard + "/activities?" + query, timeout=10)
        assert answer.status_code == 400 and "<h1>Not available</h1>" in answer.text, query
        assert message in answer.text, query
    assert httpx.get(dashboard + "/activities?status=any&year=2026&incomplete=1", timeout=10).status_code == 200


def test_an_exception_opens_its_records_audit_trail(dashboard, page, pipeline_run):
    """From an exception on a record to the record's page: the ledger, the mart row, the
    decisions and the landed rows, each landed row with its stored copy verified."""
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        exception_id, key = con.execute("""
            select e.exception_id, e.record_key from fct_compliance_exceptions e
            join fct_pars_records r using (record_key)
            where r.submission_state = 'written'  -- a birth date that arrived on day 2
            order by e.exception_id limit 1""").fetchone()
        written = con.execute("select count(*) from ledger.submission_events "
                              "where record_key = ? and event = 'written'", [key]).fetchone()[0]
    page.goto(dashboard + f"/exceptions/{exception_id}")
    page.click("#record-link")
    expect(page.locator("#record-key")).to_have_text(key)
    assert "%7C" in page.url  # the key's '|' travels encoded
    assert page.locator("#events tr[data-event='written']").count() == written > 0
    assert set(page.locator("#events tr[data-event='written'] td.check").all_inner_texts()) == {"verified"}
    assert page.locator("table.record").count() == 1
    assert "[personal]" in page.locator("table.record").inner_text()
    assert page.locator("#decisions tbody tr").count() > 0
    sources = page.locator("#sources tbody tr")
    assert sources.count() > 0
    assert set(page.locator("#sources td.check").all_inner_texts()) == {"verified"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_record_audit.png"), full_page=True)
    missing = httpx.get(dashboard + "/records/" + quote("ACCME_PARS|nobody", safe=""), timeout=10)
    assert missing.status_code == 404 and "no such record" in missing.text


def test_closed_exceptions_stay_findable(dashboard, page, pipeline_run):
    _, exceptions, _ = _marts(pipeline_run)
    closed = [e for e in exceptions if e["status"] == "closed"]
    assert closed, "the 3-day run closes some exceptions (a birth date arriving on day 2)"
    page.goto(dashboard + "/exceptions?status=closed")
    expect(page.locator("#match-count strong")).to_have_text(str(len(closed)))


def test_disclosures_due_in_the_next_30_days(dashboard, page, pipeline_run):
    _, _, disclosures = _marts(pipeline_run)
    horizon = AS_OF + timedelta(days=30)
    due = [d for d in disclosures
           if AS_OF <= d["activity_start_date"] <= horizon
           or (d["status"] != "compliant" and d["next_due_on"] and AS_OF <= d["next_due_on"] <= horizon)]
    statuses = Counter(d["status"] for d in due)
    # the generated data has upcoming activities with problems still to fix, and one beyond 30 days
    assert statuses["at risk"] > 0 and statuses["compliant"] > 0
    assert any(d["activity_start_date"] > horizon for d in disclosures)

    page.goto(dashboard + "/disclosures")
    rows = page.locator("#disclosures tbody tr")
    assert rows.count() == len(due)
    shown = Counter(rows.nth(i).get_attribute("data-status") for i in range(rows.count()))
    assert shown == statuses
    # open problems come first
    assert rows.first.get_attribute("data-status") != "compliant"
    page.goto(dashboard + "/")
    assert page.locator("#disclosure-problems").inner_text() == str(statuses["at risk"] + statuses["finding"])


def test_data_docs_of_every_run_are_reachable(dashboard, page, pipeline_run):
    page.goto(dashboard + "/")
    page.click("#validations-link")
    for day in DAYS:  # both suites of each body the run gated (learner records and PARS activities)
        summary = json.loads((pipeline_run.out / "reports" / f"run_summary_{day}.json").read_text())
        assert len(summary["bodies"]) == 4, day
        assert page.locator(f"#validations tr[data-run='{day}']").count() == 2 * len(summary["bodies"]), day
    first = page.locator(f"#validations tr[data-run='{DAYS[0]}'] a").first
    suite = first.inner_text()
    first.click()  # GX's own report of that validation
    expect(page).to_have_title("Data documentation compiled by Great Expectations")
    text = page.locator("body").inner_text()
    assert f"run {DAYS[0]}" in text and suite in text
    expect(page.locator("text=Expectation Suite:")).to_be_visible()


def test_a_run_in_progress_gets_a_retry_page_not_an_error(dashboard, pipeline_run):
    writer = duckdb.connect(str(pipeline_run.warehouse))  # what a run holds while it writes
    try:
        answer = httpx.get(dashboard + "/exceptions", timeout=10)
    finally:
        writer.close()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "60"
    assert "a run is writing the warehouse" in answer.text
    assert httpx.get(dashboard + "/exceptions", timeout=10).status_code == 200


def test_the_run_summary_says_how_to_open_the_dashboard(pipeline_run):
    assert f"dashboard: http://127.0.0.1:8050/ after `{BIN / 'cme'} dashboard --out {pipeline_run.out.resolve()}`" \
        in pipeline_run.stdout
