"""The compliance dashboard: a small FastAPI app with server-rendered pages.

It opens the warehouse read-only for each request and closes it, so it never changes
a run's data and holds the file only for a query (a run waits that out); while a run
holds the write lock it answers 503 with a page asking to retry. The one write is a
staff note on an exception (`notes`, `access`), appended to its own schema.
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cme.dashboard import activities as activity_pages, charts, notes, queries, queue
from cme.dashboard.access import Busy, Warehouse

HERE = Path(__file__).parent
GX_ROOT = Path("gx/gx")  # the GX file context the gates keep under OUT
DATA_DOCS = GX_ROOT / "uncommitted/data_docs/local_site"
BUSY = "a run is writing the warehouse right now; reload in a minute"
MAX_FORM_BYTES = 16_384


def _same_origin(request: Request) -> bool:
    """A browser names the page a POST came from (Origin, else Referer): it must be this
    host, as the browser reached it (directly, or the proxy's Host or X-Forwarded-Host)."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    if not source or source == "null":
        return False
    ours = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")} - {""}
    return urlsplit(source).netloc in ours


def create_app(out_dir: Path, upcoming_days: int = 30, page_size: int = 50,
               author_header: str = "") -> FastAPI:
    """The app over one output directory (OUT of `cme run --out OUT`). `author_header`
    names the request header the sign-on proxy puts the user in (blank: notes have no
    author)."""
    out_dir = Path(out_dir).resolve()
    warehouse, reports = out_dir / "warehouse.duckdb", out_dir / "reports"
    store = Warehouse(warehouse)
    form_secret = secrets.token_bytes(32)  # per process: a page from before a restart is reloaded
    app = FastAPI(title="CME compliance dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    docs_dir = out_dir / DATA_DOCS
    # GX publishes Data Docs at each run's gates: the folder may not exist yet.
    app.mount("/data-docs", StaticFiles(directory=docs_dir, html=True, check_dir=False),
              name="data-docs")

    def page(request: Request, name: str, **context) -> HTMLResponse:
        context.setdefault("as_of", queries.as_of(reports))
        return templates.TemplateResponse(request, name, context)

    def require_warehouse():
        if not store.exists():  # (a PostgreSQL warehouse always is)
            raise HTTPException(404, f"no warehouse at {warehouse}: run `cme run --out {out_dir}` first")

    @contextmanager
    def open_warehouse():
        require_warehouse()
        try:
            with store.read() as con:
                yield con
        except Busy:  # raised on opening only
            raise HTTPException(503, BUSY)

    # Starlette's class also covers unknown paths, which would otherwise answer JSON
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        response = templates.TemplateResponse(
            request, "error.html", {"message": exc.detail, "as_of": queries.as_of(reports)},
            status_code=exc.status_code)
        if exc.status_code == 503:
            response.headers["Retry-After"] = "60"
        return response

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request):
        as_of = queries.as_of(reports)
        today = as_of or date.today()
        with open_warehouse() as con:
            bodies = queries.body_status(con, today)
            counts = queries.exception_counts(con)
            disclosures = queries.disclosures_due(con, today, upcoming_days)
            activities = activity_pages.summary(con, today)
        summaries = queries.run_summaries(reports)
        return page(request, "overview.html", as_of=as_of, bodies=bodies, counts=counts,
                    disclosure_problems=sum(d["status"] != "compliant" for d in disclosures),
                    disclosures=len(disclosures), upcoming_days=upcoming_days, activities=activities,
                    charts=charts.trend_charts(summaries), runs=summaries[::-1])

    def queue_query(request: Request) -> queue.QueueQuery:
        try:
            return queue.parse_query(request.query_params, page_size)
        except ValueError as problem:
            raise HTTPException(400, str(problem))

    @app.get("/exceptions", response_class=HTMLResponse)
    def exception_queue(request: Request):
        query = queue_query(request)
        with open_warehouse() as con:
            found, query = queue.page_of(con, query)
            choices = queue.choices(con)
        return page(request, "exceptions.html", filters=query, found=found, total=found.total,
                    rows=found.rows, sorts=queue.SORTS, unassigned=queue.UNASSIGNED, **choices)

    @app.get("/exceptions.csv")
    def exception_export(request: Request):
        """The filtered and sorted view, every matching row (not only one page)."""
        query = queue_query(request)
        with open_warehouse() as con:
            rows = queue.all_rows(con, query)
        as_of = queries.as_of(reports)
        return Response(queue.to_csv(rows).encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="exceptions_{as_of or date.today()}.csv"'})

    @app.get("/activities", response_class=HTMLResponse)
    def activity_status(request: Request, status: str = "any", year: str = "",
                        open_exceptions: str = "", incomplete: str = "", q: str = ""):
        try:
            filters = activity_pages.parse_filter(status, year, open_exceptions, incomplete, q)
        except ValueError as problem:
            raise HTTPException(400, str(problem))
        as_of = queries.as_of(reports)
        with open_warehouse() as con:
            total, rows = activity_pages.activities(con, as_of or date.today(), filters)
            years = activity_pages.years(con)
        return page(request, "activities.html", as_of=as_of, filters=filters, total=total, rows=rows,
                    years=years, statuses=activity_pages.STATUSES)

    @app.get("/exceptions/{exception_id}", response_class=HTMLResponse)
    def exception_detail(request: Request, exception_id: str):
        with open_warehouse() as con:
            exc = queries.exception_detail(con, exception_id)
            history = notes.history(con, exception_id) if exc else []
        if exc is None:
            raise HTTPException(404, "no such exception")
        return page(request, "exception.html", exc=exc, notes=history,
                    assignee=history[-1]["assignee"] if history else "",
                    token=notes.form_token(form_secret, exception_id), max_note=notes.MAX_NOTE,
                    max_assignee=notes.MAX_ASSIGNEE)

    @app.post("/exceptions/{exception_id}/notes")
    async def add_note(request: Request, exception_id: str):
        """Append a note (and the assignee from now on) to an exception's history."""
        if not _same_origin(request):
            raise HTTPException(403, "a note is posted from this dashboard's own page")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}
        if not notes.token_ok(form_secret, exception_id, form.get("token", "")):
            raise HTTPException(403, "the page is out of date or not this dashboard's: reload it "
                                     "and post the note again")
        try:
            note = notes.checked(form.get("assignee", ""), form.get("note", ""),
                                 request.headers.get(author_header, "") if author_header else "")
        except ValueError as problem:
            raise HTTPException(400, str(problem))
        require_warehouse()

        def save():  # in a worker thread: it may wait for readers and for a run
            with store.write() as con:
                if queries.exception_detail(con, exception_id) is None:
                    raise HTTPException(404, "no such exception")
                notes.append(con, exception_id, note)
        try:
            await run_in_threadpool(save)
        except Busy:
            raise HTTPException(503, BUSY + " (the note was not saved)")
        return RedirectResponse(f"/exceptions/{quote(exception_id, safe='')}#notes", status_code=303)

    @app.get("/records/{record_key:path}", response_class=HTMLResponse)
    def record_detail(request: Request, record_key: str):
        """A record's audit trail (cme.audit, as `cme audit` prints it)."""
        from cme.audit import trace

        with open_warehouse() as con:
            found = trace(con, out_dir, record_key)
        if found is None:
            raise HTTPException(404, "no such record in the body marts or the ledger")
        return page(request, "record.html", t=found.to_dict())

    @app.get("/disclosures", response_class=HTMLResponse)
    def disclosures(request: Request):
        as_of = queries.as_of(reports)
        with open_warehouse() as con:
            rows = queries.disclosures_due(con, as_of or date.today(), upcoming_days)
        return page(request, "disclosures.html", as_of=as_of, rows=rows, upcoming_days=upcoming_days)

    # Certificate verification (cme.certificates): the one page that shows a learner's
    # name, and only what the certificate itself prints; no staff navigation on it, and an
    # unknown code and a malformed one get the same 404 (docs/decisions.md, "Certificates").
    def verify_page(request: Request, result, asked: bool) -> HTMLResponse:
        response = templates.TemplateResponse(request, "verify.html", {"result": result, "asked": asked},
                                              status_code=404 if asked and result is None else 200)
        response.headers.update({"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                                 "Referrer-Policy": "no-referrer"})
        return response

    @app.get("/verify", response_class=HTMLResponse)
    def verify_form(request: Request, code: str = ""):
        from urllib.parse import quote

        from cme.certificates import normalize_code

        if code.strip():
            typed = normalize_code(code) or code.strip()[:40]
            return RedirectResponse(f"/verify/{quote(typed, safe='')}", status_code=303)
        return verify_page(request, None, asked=False)

    @app.get("/verify/{code}", response_class=HTMLResponse)
    def verify_code(request: Request, code: str):
        from cme.certificates import verify

        with open_warehouse() as con:
            result = verify(con, code)
        return verify_page(request, result, asked=True)

    @app.get("/validations", response_class=HTMLResponse)
    def validations(request: Request):
        return page(request, "validations.html", runs=queries.validation_runs(out_dir / GX_ROOT))

    return app
