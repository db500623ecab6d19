"""The learner portal app: ask for a link by e-mail, open it once, download records.

- `POST /request` answers the same page, status and (about the) time for any
  address: the lookup and the mail happen in a background thread, after the answer.
  Rate limits count per client address and per e-mail address (429 beyond), known
  or not.
- `/l/<token>`: a signed link (cme.portal.tokens) for one person, expiring, one-time
  (its nonce is spent in cme.portal.store on first opening). Opening it starts a
  short signed session cookie, scoped to the link's path, for the downloads below it.
- The warehouse is opened read-only per request, never held (the daily run writes it).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from contextlib import asynccontextmanager
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from cme.portal import mailer, records, tokens
from cme.portal.store import PortalStore
from cme.warehouse import connect, duckdb_config, warehouse_url

log = logging.getLogger("cme.portal")
HERE = Path(__file__).parent
SESSION_COOKIE = "cme_portal_session"
# a run holds the warehouse for minutes at most; a mail may wait that long
WAREHOUSE_WAIT_SECONDS = 600
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def create_app(out_dir: Path, settings, key: bytes, public_url: str) -> FastAPI:
    out_dir = Path(out_dir).resolve()
    warehouse = out_dir / "warehouse.duckdb"
    store = PortalStore(out_dir / "portal")
    mail_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-mail")
    templates = Jinja2Templates(directory=HERE / "templates")

    @asynccontextmanager
    async def lifespan(_app):
        yield
        mail_worker.shutdown(wait=True)  # a mail being sent is finished, not cut
        store.close()

    app = FastAPI(title="Learner records", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.store, app.state.mail_worker = store, mail_worker
    provider = settings.provider_name

    @app.middleware("http")
    async def private_pages(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(NO_STORE)  # links carry tokens: no caching, no referrer
        return response

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"provider": provider, **context},
                                          status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return page(request, "message.html", exc.status_code, message=exc.detail)

    def open_warehouse():
        if warehouse_url():  # PostgreSQL: MVCC, a read never waits for the run
            return connect(warehouse, read_only=True)
        try:
            return duckdb.connect(str(warehouse), read_only=True, config=duckdb_config())
        except duckdb.IOException:
            raise HTTPException(503, "Records are being updated. Please try again in a few minutes.")

    def address_key(email: str) -> str:
        return hmac.new(key, b"address|" + email.encode(), hashlib.sha256).hexdigest()

    def send_links(email: str) -> None:
        """Background: look the address up and mail one link per person it belongs to."""
        try:
            deadline = time.monotonic() + WAREHOUSE_WAIT_SECONDS
            while True:
                try:
                    with (connect(warehouse, read_only=True) if warehouse_url() else
                          duckdb.connect(str(warehouse), read_only=True, config=duckdb_config())) as con:
                        people = records.people_for_email(con, email)
                    break
                except duckdb.IOException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(2)
            for person_id in people:
                link = f"{public_url}/l/{tokens.make_link(key, person_id, settings.portal_link_minutes)}"
                mailer.send(settings, mailer.link_message(settings, email, link))
        except Exception as exc:  # never the address or the link in the log
            log.error("portal: a link could not be sent: %s", type(exc).__name__)

    @app.get("/", response_class=HTMLResponse)
    def ask(request: Request):
        return page(request, "ask.html")

    @app.post("/request", response_class=HTMLResponse)
    def request_link(request: Request, email: str = Form("")):
        email = records.normalise_email(email)
        if not (3 <= len(email) <= 254 and email.count("@") == 1 and " " not in email):
            return page(request, "ask.html", 400, error="Please enter an e-mail address.")
        client = request.client.host if request.client else "?"
        limits = {"ip": (client, settings.portal_requests_per_ip_per_hour),
                  "address": (address_key(email), settings.portal_requests_per_address_per_hour)}
        if not store.allow(limits):
            raise HTTPException(429, "Too many requests. Please try again in an hour.")
        mail_worker.submit(send_links, email)
        return page(request, "requested.html", minutes=settings.portal_link_minutes)

    def link_claims(token: str, check_expiry: bool = True) -> tokens.Claims:
        try:
            return tokens.read(key, token, "link", check_expiry=check_expiry)
        except tokens.ExpiredToken:
            raise HTTPException(410, "This link has expired. Ask for a new one below.")
        except tokens.BadToken:
            raise HTTPException(404, "This is not a valid link. Ask for a new one below.")

    def session_for(request: Request, claims: tokens.Claims) -> bool:
        try:
            session = tokens.read(key, request.cookies.get(SESSION_COOKIE, ""), "session")
        except (tokens.BadToken, tokens.ExpiredToken):
            return False
        return session.nonce == claims.nonce and session.person_id == claims.person_id

    def require_session(request: Request, token: str) -> tokens.Claims:
        claims = link_claims(token, check_expiry=False)  # the session, not the link, times out
        if not session_for(request, claims):
            raise HTTPException(410, "This page has timed out. Ask for a new link below.")
        return claims

    @app.get("/l/{token}", response_class=HTMLResponse)
    def learner(request: Request, token: str):
        claims = link_claims(token)
        resumed = session_for(request, claims)  # a reload in the same browser
        if not resumed and not store.spend(claims.nonce, claims.person_id):
            raise HTTPException(410, "This link has already been used. Ask for a new one below.")
        with open_warehouse() as con:
            awards = records.awards(con, claims.person_id)
            years = records.award_years(con, claims.person_id)
            name = records.first_name(con, claims.person_id)
            certificates, certificates_note = _certificates(con, claims.person_id)
        response = page(request, "learner.html", token=token, first_name=name, awards=awards, years=years,
                        certificates=certificates, certificates_note=certificates_note,
                        session_minutes=settings.portal_session_minutes)
        if not resumed:
            session = tokens.make(key, "session", claims.person_id,
                                  int(time.time()) + settings.portal_session_minutes * 60, claims.nonce)
            response.set_cookie(SESSION_COOKIE, session, max_age=settings.portal_session_minutes * 60,
                                path=f"/l/{token}", httponly=True, samesite="lax",
                                secure=public_url.startswith("https://"))
        return response

    @app.get("/l/{token}/transcript.pdf")
    def transcript(request: Request, token: str, year: int | None = None):
        from cme.transcripts import reporting_year, to_pdf, transcript_for

        claims = require_session(request, token)
        with open_warehouse() as con:
            start, end = (date(year, 1, 1), date(year, 12, 31)) if year and 1900 < year < 3000 \
                else reporting_year(con, settings.timezone)
            found = transcript_for(con, claims.person_id, start, end)
        if found is None:
            raise HTTPException(404, "No records found.")
        return _pdf(to_pdf(found, provider), f"transcript_{start:%Y}.pdf")

    @app.get("/l/{token}/certificate/{activity_id}")
    def certificate(request: Request, token: str, activity_id: str):
        claims = require_session(request, token)
        try:
            from cme.certificates import certificate_pdf
        except ImportError:
            raise HTTPException(404, "Certificates are not available yet.")
        with open_warehouse() as con:
            try:
                body = certificate_pdf(con, settings, claims.person_id, activity_id)
            except KeyError:
                raise HTTPException(404, "No certificate for this activity.")
        return _pdf(body, f"certificate_{re.sub(r'[^A-Za-z0-9_-]', '_', activity_id)}.pdf")

    return app


def _certificates(con, person_id: str) -> tuple[list[dict], str]:
    """The learner's certificates (cme.certificates, part of the certificate feature),
    or none with a note when that module is not installed."""
    try:
        from cme.certificates import certificates_for_person
    except ImportError:
        return [], "Certificates are not available here yet."
    return certificates_for_person(con, person_id), ""


def _pdf(body: bytes, filename: str) -> Response:
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
