"""The exception queue as staff work it, in a real browser (issue 13, part D): sort by a
column, pages that keep the filters, free-text search, the CSV of a filtered view, and
notes with an assignee kept in the warehouse.

What the page shows is checked against the mart, filtered and ordered here in Python.
Notes are written to a copy of the session's run, served by a second dashboard.
"""
from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from pathlib import Path

import duckdb
import httpx
import pytest
from playwright.sync_api import expect

from cme.dashboard.queue import to_csv
from tests.conftest import ARTIFACTS, DAYS
from tests.test_dashboard import browser, dashboard, page, serve_dashboard  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

SEARCHED = ("exception_id", "person_id", "activity_id", "record_key", "reason_code", "detail", "meaning")
PAGE_SIZE = 50  # config/provider.toml, queue_page_size


def _queue_rows(warehouse: Path) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute("""select e.*, r.meaning from fct_compliance_exceptions e
                             left join reference.exception_reasons r using (reason_code)""")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def _sorted(rows: list[dict], column: str, descending: bool = False) -> list[dict]:
    """By one column, missing values last either way, ties by exception id."""
    by_id = sorted(rows, key=lambda r: r["exception_id"])
    present = [r for r in by_id if r[column] is not None]
    return sorted(present, key=lambda r: r[column], reverse=descending) + \
        [r for r in by_id if r[column] is None]


def _most_urgent_first(rows: list[dict]) -> list[dict]:
    """Open before closed, errors before warnings, soonest due, then body, reason, id."""
    ordered = sorted(rows, key=lambda r: (r["severity"], r["due_on"] is None, r["due_on"] or date.min,
                                          r["body"], r["reason_code"], r["exception_id"]))
    return sorted(ordered, key=lambda r: r["status"], reverse=True)


def _ids(rows: list[dict]) -> list[str]:
    return [r["exception_id"] for r in rows]


def _shown(page) -> list[str]:
    # a click on a link or a submit returns once the new page has started loading; its
    # rows are there only once it has loaded (read before, the list was empty)
    page.wait_for_load_state()
    return page.locator("#queue tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-id'))")


def test_sorting_by_a_column_orders_the_rows_as_the_mart_has_them(dashboard, page, pipeline_run):
    rows = _queue_rows(pipeline_run.warehouse)
    assert len(rows) > 20 and any(r["due_on"] is None for r in rows)
    page.goto(dashboard + "/exceptions?status=all&size=20")  # sort links keep the size
    assert _shown(page) == _ids(_most_urgent_first(rows))[:20]

    page.click("#queue th[data-sort='due'] a")
    assert _shown(page) == _ids(_sorted(rows, "due_on"))[:20]
    assert "sort=due" in page.url and "status=all" in page.url and "size=20" in page.url  # kept
    expect(page.locator("#queue th[data-sort='due']")).to_have_attribute("aria-sort", "ascending")
    page.click("#queue th[data-sort='due'] a")  # again: the other way
    assert _shown(page) == _ids(_sorted(rows, "due_on", descending=True))[:20]
    expect(page.locator("#queue th[data-sort='due']")).to_have_attribute("aria-sort", "descending")

    page.click("#queue th[data-sort='person'] a")
    assert _shown(page) == _ids(_sorted(rows, "person_id"))[:20]
    page.click("#queue th[data-sort='reason'] a")
    page.click("#queue th[data-sort='reason'] a")
    assert _shown(page) == _ids(_sorted(rows, "reason_code", descending=True))[:20]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_queue_sorted.png"), full_page=True)


def test_pages_show_the_next_rows_and_keep_the_filters_and_sort(dashboard, page, pipeline_run):
    rows = _queue_rows(pipeline_run.warehouse)
    body = max({r["body"] for r in rows}, key=lambda b: sum(r["body"] == b for r in rows))
    matching = [r for r in rows if r["body"] == body]
    assert len(matching) > 20
    page.goto(dashboard + f"/exceptions?status=all&body={body}&size=10")
    expected = _ids(_most_urgent_first(matching))
    assert _shown(page) == expected[:10]
    expect(page.locator("#range")).to_have_text("1–10")

    page.click("#pages a[rel='next']")
    assert _shown(page) == expected[10:20]
    expect(page.locator("#match-count strong")).to_have_text(str(len(matching)))
    expect(page.locator("#range")).to_have_text("11–20")
    assert page.locator("select[name=body]").input_value() == body
    assert page.locator("select[name=status]").input_value() == "all"
    for href in page.locator("#pages a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert f"body={body}" in href and "status=all" in href and "size=10" in href, href

    # the last page holds the rest
    pages = -(-len(matching) // 10)
    page.locator("#pages").get_by_role("link", name=str(pages), exact=True).click()
    assert _shown(page) == expected[(pages - 1) * 10:]

    # a sort starts again at page 1, filters kept; the next page follows the sort
    page.click("#queue th[data-sort='first_seen'] a")
    by_seen = _ids(_sorted(matching, "first_seen_on"))
    assert _shown(page) == by_seen[:10]
    page.click("#pages a[rel='next']")
    assert _shown(page) == by_seen[10:20]
    assert "sort=first_seen" in page.url and f"body={body}" in page.url

    # changing a filter keeps the sort and size and goes back to page 1
    page.select_option("select[name=status]", "open")
    page.click("#filters button[type=submit]")
    open_ = [r for r in matching if r["status"] == "open"]
    assert _shown(page) == _ids(_sorted(open_, "first_seen_on"))[:10]


def test_search_narrows_to_matching_rows_any_case_and_literally(dashboard, page, pipeline_run):
    rows = _queue_rows(pipeline_run.warehouse)

    def matches(text: str) -> list[dict]:
        return [r for r in rows if r["status"] == "open"
                and any(text.lower() in (r[c] or "").lower() for c in SEARCHED)]

    # a person id, typed in capitals, finds their exceptions (and records naming them)
    person = max({r["person_id"] for r in rows if r["person_id"] and r["status"] == "open"},
                 key=lambda p: sum(r["person_id"] == p for r in rows))
    # a word from the detail of one reason, and one from what a reason means
    detail_word = next(w for r in rows if r["detail"] and r["status"] == "open"
                       for w in r["detail"].split() if len(w) > 6 and w.isalpha())
    for text in (person.upper(), detail_word.upper()):
        wanted = matches(text)
        assert 0 < len(wanted) < sum(r["status"] == "open" for r in rows), text
        page.goto(dashboard + "/exceptions")
        page.fill("input[name=q]", text)
        page.click("#filters button[type=submit]")
        expect(page.locator("#match-count strong")).to_have_text(str(len(wanted)))
        assert _shown(page) == _ids(_most_urgent_first(wanted))[:PAGE_SIZE]
        assert page.locator("input[name=q]").input_value() == text
    # % and _ are characters, not LIKE's wildcards
    for text in ("%", "_"):
        answer = httpx.get(dashboard + "/exceptions", params={"q": text}, timeout=10)
        assert answer.status_code == 200
        assert f"<strong>{len(matches(text))}</strong> matching" in answer.text, text
    assert len(matches("%")) < sum(r["status"] == "open" for r in rows)


def test_the_csv_export_holds_every_row_of_the_filtered_sorted_view(dashboard, page, pipeline_run):
    rows = _queue_rows(pipeline_run.warehouse)
    reason = max({r["reason_code"] for r in rows}, key=lambda c: sum(r["reason_code"] == c for r in rows))
    wanted = _sorted([r for r in rows if r["reason_code"] == reason], "due_on", descending=True)
    assert len(wanted) > 5
    page.goto(dashboard + f"/exceptions?status=all&reason={reason}&sort=due&dir=desc&size=5")
    assert _shown(page) == _ids(wanted)[:5]  # the page shows five
    with page.expect_download() as download:
        page.click("#export")
    saved = Path(download.value.path())
    assert download.value.suggested_filename == f"exceptions_{DAYS[-1]}.csv"
    exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [r["exception_id"] for r in exported] == _ids(wanted)  # all of them, in order
    for got, row in zip(exported, wanted):
        assert got["reason_code"] == reason and got["status"] == row["status"]
        assert got["due_on"] == (row["due_on"].isoformat() if row["due_on"] else "")
        assert got["person_id"] == (row["person_id"] or "")
        assert got["detail"] == (row["detail"] or "")
    assert "first_name" not in exported[0] and "last_name" not in exported[0]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised():
    row = {c: None for c in ("exception_id", "body", "reason_code", "severity", "status", "due_on",
                             "person_id", "activity_id", "record_key", "detail", "meaning",
                             "first_seen_on", "last_seen_on", "closed_on", "assignee")}
    row.update(exception_id="e1", detail='=HYPERLINK("http://x","y")', assignee="@ops",
               meaning="O'Brien-Smith stays", due_on=date(2026, 11, 18))
    got = next(csv.DictReader(io.StringIO(to_csv([row]))))
    assert got["detail"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert got["assignee"] == "'@ops"
    assert got["meaning"] == "O'Brien-Smith stays" and got["due_on"] == "2026-11-18"


def test_a_bad_sort_or_page_gets_a_page_that_says_what_is_wrong(dashboard):
    for query, message in (("sort=password", "cannot sort by"), ("sort=due&dir=sideways", "dir is asc or desc"),
                           ("page=0", "page is a whole number"), ("size=100000", "size is a whole number"),
                           ("q=" + "x" * 101, "at most 100 characters")):
        for path in ("/exceptions", "/exceptions.csv"):
            answer = httpx.get(f"{dashboard}{path}?{query}", timeout=10)
            assert answer.status_code == 400 and "<h1>Not available</h1>" in answer.text, (path, query)
            assert message in answer.text, (path, query)


# --- notes and assignees, on a copy of the run ------------------------------------------

@pytest.fixture
def writable_copy(pipeline_run, tmp_path):
    """A copy of the run's output (the session's run is shared and must not change), and a
    settings file naming the proxy's user header."""
    out = tmp_path / "out"
    shutil.copytree(pipeline_run.out, out, ignore=shutil.ignore_patterns("airflow", "logs"))
    settings = tmp_path / "provider.toml"
    default = Path(__file__).resolve().parents[1] / "config" / "provider.toml"
    text = default.read_text()
    assert 'queue_author_header = ""' in text
    settings.write_text(text.replace('queue_author_header = ""', 'queue_author_header = "X-Forwarded-User"'))
    return out, settings


def _post_note(page, assignee: str, note: str) -> None:
    page.fill("#note-form input[name=assignee]", assignee)
    page.fill("#note-form textarea[name=note]", note)
    with page.expect_navigation():
        page.click("#note-form button[type=submit]")


def _history(page) -> list[list[str]]:
    return [[c.strip() for c in row] for row in page.locator("#note-history tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText))")]


def test_notes_and_assignee_are_kept_in_the_warehouse_as_history(writable_copy, browser, pipeline_run):
    from cme import pipeline
    from cme.pipeline import RunContext

    out, settings = writable_copy
    rows = _queue_rows(out / "warehouse.duckdb")
    target = next(r for r in _most_urgent_first(rows) if r["person_id"] and r["status"] == "open")
    exception_id = target["exception_id"]
    with serve_dashboard(out, "--settings", str(settings)) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      extra_http_headers={"X-Forwarded-User": "dana@example.org"})
        page = context.new_page()
        page.goto(f"{url}/exceptions/{exception_id}")
        expect(page.locator("#assignee")).to_have_text("nobody")
        _post_note(page, "alice", "Asked the LMS team <b>to fix</b> the date")
        _post_note(page, "bob", "Reassigned: alice is away\nuntil Monday")
        history = _history(page)
        assert [h[1:3] for h in history] == [["alice", "dana@example.org"], ["bob", "dana@example.org"]]
        assert history[0][3] == "Asked the LMS team <b>to fix</b> the date"  # shown as typed, not run
        assert page.locator("#note-history b").count() == 0
        assert history[1][3] == "Reassigned: alice is away\nuntil Monday"
        expect(page.locator("#assignee")).to_have_text("bob")
        assert page.locator("#note-form input[name=assignee]").input_value() == "bob"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_exception_notes.png"), full_page=True)

        # the list shows the latest assignee, and filters by it
        page.goto(f"{url}/exceptions?person={target['person_id']}")
        expect(page.locator(f"#queue tr[data-id='{exception_id}'] td[data-col='assignee']")).to_have_text("bob")
        page.select_option("select[name=assignee]", "bob")
        page.click("#filters button[type=submit]")
        assert _shown(page) == [exception_id]
        page.goto(f"{url}/exceptions?assignee=alice")
        assert _shown(page) == []  # alice is no longer the assignee
        page.goto(f"{url}/exceptions?assignee=-")
        expect(page.locator("#match-count strong")).to_have_text(
            str(sum(r["status"] == "open" for r in rows) - 1))

        # another site cannot post through a staff browser; limits hold
        page.goto(f"{url}/exceptions/{exception_id}")
        token = page.locator("#note-form input[name=token]").input_value()
        post = f"{url}/exceptions/{exception_id}/notes"
        form = {"token": token, "assignee": "mallory", "note": "moved"}
        assert httpx.post(post, data=form, headers={"Origin": "http://evil.example"}).status_code == 403
        assert httpx.post(post, data=form).status_code == 403  # no Origin or Referer at all
        assert httpx.post(post, data={**form, "token": "0" * 64}, headers={"Origin": url}).status_code == 403
        too_long = httpx.post(post, data={**form, "note": "x" * 2001}, headers={"Origin": url})
        assert too_long.status_code == 400 and "at most 2000 characters" in too_long.text
        other = httpx.post(f"{url}/exceptions/{exception_id}x/notes", data=form, headers={"Origin": url})
        assert other.status_code == 403  # the token is for one exception only

        # while a run holds the warehouse, a note is refused, not lost silently
        writer = duckdb.connect(str(out / "warehouse.duckdb"))
        try:
            busy = httpx.post(post, data=form, headers={"Origin": url}, timeout=30)
        finally:
            writer.close()
        assert busy.status_code == 503 and "not saved" in busy.text
        assert busy.headers["retry-after"] == "60"
        page.goto(f"{url}/exceptions/{exception_id}")
        assert [h[1] for h in _history(page)] == ["alice", "bob"]

        # notes are not a dbt model: a full refresh keeps them
        pipeline.build(RunContext(date.fromisoformat(DAYS[-1]), pipeline_run.landing, out, None),
                       full_refresh=True)
        page.goto(f"{url}/exceptions/{exception_id}")
        assert [h[1] for h in _history(page)] == ["alice", "bob"]
        expect(page.locator("#assignee")).to_have_text("bob")
        context.close()
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select exception_id, assignee, author from workqueue.exception_notes "
                           "order by note_id").fetchall() == [
            (exception_id, "alice", "dana@example.org"), (exception_id, "bob", "dana@example.org")]


def test_queue_settings_are_checked(tmp_path):
    from cme.settings import SettingsError, load_settings

    for line, setting in (("queue_page_size = 0", "queue_page_size"),
                          ('queue_author_header = "X-User: admin"', "queue_author_header")):
        path = tmp_path / "provider.toml"
        path.write_text(line + "\n")
        with pytest.raises(SettingsError, match=setting):
            load_settings(path)
    path.write_text('queue_page_size = 25\nqueue_author_header = "X-Forwarded-User"\n')
    loaded = load_settings(path)
    assert (loaded.queue_page_size, loaded.queue_author_header) == (25, "X-Forwarded-User")
