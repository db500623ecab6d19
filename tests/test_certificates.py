"""Certificates over the session's real 3-day run: `cme certificates` on a copy of its
warehouse (the shared run is not changed), the PDFs read back with pypdf, and the
dashboard's /verify over real HTTP, before and after an award changes."""
from __future__ import annotations

import re
import shutil
import stat

import duckdb
import httpx
import pytest
from pypdf import PdfReader

from cme.certificate_layout import ACCREDITATION_STATEMENTS, designation
from cme.certificates import FORMATS, certificate_pdf, certificates_for_person, printable
from cme.settings import SettingsError, load_settings
from tests.conftest import run_cme
from tests.servers import serve

pytestmark = pytest.mark.e2e

KEY = {"CME_CERTIFICATE_KEY": "test-key-not-a-secret-0123456789"}
PROVIDER = "Example CME Provider"  # config/provider.toml
CODE = re.compile(r"Verification code: ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})")


def flat(text: str) -> str:
    """Text with line breaks and runs of spaces folded, so wrapped statements compare."""
    return " ".join(text.split())


def pdf_text(path) -> str:
    return flat("\n".join(page.extract_text() for page in PdfReader(str(path)).pages))


def copy_out(pipeline_run, tmp_path_factory, name: str):
    out = tmp_path_factory.mktemp(name) / "out"
    out.mkdir(mode=0o700)
    shutil.copy2(pipeline_run.warehouse, out / "warehouse.duckdb")
    return out


def issue(out, *args, env=KEY):
    proc = run_cme("certificates", "--out", out, *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def codes(out) -> dict[tuple[str, str], str]:
    """The latest code per person and activity, as recorded."""
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return {(p, a): c for p, a, c in con.execute(
            "select person_id, activity_id, arg_max(verification_code, issued_at) "
            "from certificates.issued group by 1, 2").fetchall()}


def expected_certificates(out) -> dict[tuple[str, str], dict]:
    """Per person and activity: name, title, format and each credit type's awarded sum and
    designated maximum, from the marts."""
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("""
            select a.person_id, a.activity_id, p.first_name || ' ' || p.last_name, act.title,
                   act.activity_format, a.credit_type, ct.report_label, a.unit,
                   sum(a.credits_awarded), max(a.max_credits), ct.designation_statement
            from fct_credit_awards a join dim_people p using (person_id)
            join dim_activities act using (activity_id) join reference.credit_types ct using (credit_type)
            group by all""").fetchall()
    found: dict[tuple[str, str], dict] = {}
    for pid, aid, name, title, fmt, ctype, label, unit, amount, designated, statement in rows:
        c = found.setdefault((pid, aid), {"name": name, "title": title, "format": fmt, "credits": {}})
        c["credits"][ctype] = (label, unit, float(amount), float(designated or amount), statement)
    return found


@pytest.fixture(scope="module")
def issued(pipeline_run, tmp_path_factory):
    out = copy_out(pipeline_run, tmp_path_factory, "certificates")
    issue(out, "--all")
    return out


def person_of(out, learner_id: str) -> str:
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select person_id from dim_people where list_contains(learner_ids, ?)",
                           [learner_id]).fetchone()[0]


def test_a_physicians_certificate_states_everything_it_must(issued):
    pid = person_of(issued, "GL-PHYS-1")
    cert = expected_certificates(issued)[(pid, "GA-ENDURING")]
    path = issued / "certificates" / pid / "GA-ENDURING.pdf"
    text = pdf_text(path)
    assert PROVIDER in text and "ACCME provider ID 0000000" in text
    assert flat(ACCREDITATION_STATEMENTS["ACCME"].format(provider=PROVIDER)) in text
    assert "Ada Known" in text and flat(cert["title"]) in text
    assert f"Format: {FORMATS[cert['format']][0]}" in text
    # the golden case's awards (docs/golden-scenarios.md), with every statement filled in
    assert "AMA PRA Category 1: 1.50 credits awarded" in text
    assert "ABIM Medical Knowledge: 1.00 point awarded" in text
    assert set(cert["credits"]) == {"AMA_PRA_1", "ABIM_MK"}
    for _label, _unit, _amount, designated, statement in cert["credits"].values():
        filled = designation(statement, f"{designated:.2f}", PROVIDER, FORMATS[cert["format"]][1])
        assert flat(filled) in text
        assert "{" not in filled
    assert "AMA PRA Category 1 Credit(s)™" in text  # the vendored font prints the ™
    assert CODE.search(text).group(1) == codes(issued)[(pid, "GA-ENDURING")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_everyone_gets_one_certificate_per_activity_with_all_its_credit(issued):
    expected = expected_certificates(issued)
    written = {(p.parent.name, p.stem): p for p in (issued / "certificates").glob("*/*.pdf")}
    assert set(written) == set(expected) and len(expected) > 20
    recorded = codes(issued)
    assert set(recorded) == set(expected)
    assert len(set(recorded.values())) == len(recorded)  # different people, different codes
    for key in sorted(expected)[:15]:
        text, cert = pdf_text(written[key]), expected[key]
        assert printable(cert["name"]) in text
        for label, unit, amount, _designated, _statement in cert["credits"].values():
            assert f"{flat(label)}: {amount:.2f} {unit}" in text
        assert CODE.search(text).group(1) == recorded[key]


def test_codes_are_stable_and_issuing_again_adds_nothing(issued):
    before = codes(issued)
    with duckdb.connect(str(issued / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select count(*) from certificates.issued").fetchone()[0]
    issue(issued, "--all")
    assert codes(issued) == before
    with duckdb.connect(str(issued / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from certificates.issued").fetchone()[0] == rows


def test_without_the_environment_key_one_is_made_once_in_the_output_folder(pipeline_run, issued,
                                                                           tmp_path_factory):
    out = copy_out(pipeline_run, tmp_path_factory, "certificates-keyfile")
    pid = person_of(out, "GL-PHYS-1")
    issue(out, "GL-PHYS-1", "--activity", "GA-ENDURING", env={})
    key_file = out / "certificate.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = codes(out)
    assert list(first) == [(pid, "GA-ENDURING")]
    assert first[(pid, "GA-ENDURING")] != codes(issued)[(pid, "GA-ENDURING")]  # another key
    key = key_file.read_bytes()
    issue(out, "GL-PHYS-1", env={})
    assert key_file.read_bytes() == key and codes(out)[(pid, "GA-ENDURING")] == first[(pid, "GA-ENDURING")]


def test_the_interface_the_portal_uses_gives_the_recorded_codes(issued, monkeypatch):
    monkeypatch.setenv("CME_CERTIFICATE_KEY", KEY["CME_CERTIFICATE_KEY"])
    pid = person_of(issued, "GL-PHYS-1")
    with duckdb.connect(str(issued / "warehouse.duckdb"), read_only=True) as con:
        listed = certificates_for_person(con, pid)
        pdf = certificate_pdf(con, load_settings(), pid, "GA-ENDURING")
        with pytest.raises(KeyError):
            certificate_pdf(con, load_settings(), pid, "NO-SUCH-ACTIVITY")
    recorded = codes(issued)
    assert {c["activity_id"]: c["verification_code"] for c in listed} == \
        {a: code for (p, a), code in recorded.items() if p == pid}
    [enduring] = [c for c in listed if c["activity_id"] == "GA-ENDURING"]
    assert {(x["credit_type"], x["amount"]) for x in enduring["credits"]} == {("AMA_PRA_1", 1.5),
                                                                              ("ABIM_MK", 1.0)}
    path = issued / "portal.pdf"
    path.write_bytes(pdf)
    assert CODE.search(pdf_text(path)).group(1) == recorded[(pid, "GA-ENDURING")]


def test_the_command_refuses_what_it_cannot_do(issued):
    assert run_cme("certificates", "--out", issued, env=KEY).returncode == 2
    proc = run_cme("certificates", "NOBODY", "--out", issued, env=KEY)
    assert proc.returncode == 1 and "no person or learner account 'NOBODY'" in proc.stderr


def test_certificate_settings_are_checked(tmp_path):
    bad = tmp_path / "provider.toml"
    bad.write_text('certificate_accreditation_statement = "{provider} is {status}"\n')
    with pytest.raises(SettingsError, match="certificate_accreditation_statement"):
        load_settings(bad)
    bad.write_text(f'certificate_signature_image = "{tmp_path / "sig.png"}"\n')
    with pytest.raises(SettingsError, match="certificate_signature_image"):
        load_settings(bad)
    (tmp_path / "sig.png").write_text("not a png")
    with pytest.raises(SettingsError, match="not a PNG"):
        load_settings(bad)


# --- /verify on the dashboard ---------------------------------------------------------

@pytest.fixture
def verifier(pipeline_run, tmp_path_factory):
    """A copy with two people's certificates issued, and `cme dashboard` serving it."""
    out = copy_out(pipeline_run, tmp_path_factory, "verify")
    issue(out, "GL-PHYS-1", "GL-NURSE-1B")
    with serve("dashboard", out, probe="/static/style.css") as url:
        yield out, url


def _verdict(answer: httpx.Response) -> str:
    return re.search(r'<h1 id="verdict"[^>]*>([^<]+)<', answer.text).group(1)


def test_verify_says_genuine_superseded_withdrawn_or_not_found(verifier):
    out, url = verifier
    physician, nurse = person_of(out, "GL-PHYS-1"), person_of(out, "GL-NURSE-1B")
    recorded = codes(out)
    old = recorded[(physician, "GA-ENDURING")]

    genuine = httpx.get(f"{url}/verify/{old}")
    assert genuine.status_code == 200 and _verdict(genuine) == "Genuine"
    assert "Ada Known" in genuine.text and "AMA PRA Category 1: 1.50 credits" in genuine.text
    assert genuine.headers["cache-control"] == "no-store"
    # the page reached from a certificate leads nowhere else: no staff pages linked
    assert re.findall(r'href="(/[^"]*)"', genuine.text) == ["/static/style.css"]
    # typed in the form, in lower case without dashes, it lands on the same page
    typed = httpx.get(f"{url}/verify", params={"code": old.replace("-", "").lower()},
                      follow_redirects=True)
    assert _verdict(typed) == "Genuine" and typed.url.path == f"/verify/{old}"

    unknown = httpx.get(f"{url}/verify/AAAA-BBBB-CCCC")
    malformed = httpx.get(f"{url}/verify/{quote_safe('<script>x')}")
    for answer in (unknown, malformed):
        assert answer.status_code == 404 and _verdict(answer) == "Not found"
        assert "Ada Known" not in answer.text and "script>x" not in answer.text
    assert unknown.text == malformed.text  # nothing tells a malformed code from an unknown one

    # the award changes: the old code is superseded at once, before any new certificate
    with duckdb.connect(str(out / "warehouse.duckdb")) as con:
        con.execute("update fct_credit_awards set credits_awarded = credits_awarded - 0.25 "
                    "where person_id = ? and activity_id = 'GA-ENDURING' and credit_type = 'AMA_PRA_1'",
                    [physician])
        nurse_activity = con.execute("select min(activity_id) from fct_credit_awards where person_id = ?",
                                     [nurse]).fetchone()[0]
        con.execute("delete from fct_credit_awards where person_id = ? and activity_id = ?",
                    [nurse, nurse_activity])
    changed = httpx.get(f"{url}/verify/{old}")
    assert changed.status_code == 200 and _verdict(changed) == "Superseded"
    assert "Ada Known" not in changed.text
    withdrawn = httpx.get(f"{url}/verify/{recorded[(nurse, nurse_activity)]}")
    assert _verdict(withdrawn) == "Withdrawn" and 'id="detail"' not in withdrawn.text

    # a new certificate gets a new code; the old one stays superseded
    issue(out, "GL-PHYS-1")
    new = codes(out)[(physician, "GA-ENDURING")]
    assert new != old
    text = pdf_text(out / "certificates" / physician / "GA-ENDURING.pdf")
    assert "AMA PRA Category 1: 1.25 credits awarded" in text and new in text
    assert _verdict(httpx.get(f"{url}/verify/{new}")) == "Genuine"
    assert _verdict(httpx.get(f"{url}/verify/{old}")) == "Superseded"
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from certificates.issued where person_id = ? "
                           "and activity_id = 'GA-ENDURING'", [physician]).fetchone()[0] == 2

    # the staff pages still show the person's id, never the name
    staff = httpx.get(f"{url}/exceptions", params={"person": physician, "status": "all"})
    assert staff.status_code == 200 and "Known" not in staff.text


def quote_safe(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_every_catalog_credit_type_prints_on_a_certificate_with_its_amount(tmp_path):
    """Each seed row's designation statement is filled (no placeholder left) and printed,
    with its awarded amount, on one certificate holding every type: a new row certifies."""
    import csv
    from dataclasses import replace
    from datetime import date

    from cme.certificate_layout import render
    from cme.certificates import _build
    from cme.settings import ProviderSettings

    with open(_seed_path(), newline="") as handle:
        seed = list(csv.DictReader(handle))
    row = {"person_id": "P-x", "activity_id": "A-x", "first_name": "Zoë", "last_name": "Ünal",
           "title": "Every credit type", "activity_format": "C", "start_date": date(2026, 11, 16),
           "end_date": date(2026, 11, 16), "delivery_method": "in_person", "location_city": "Chicago",
           "location_state": "IL", "location_country": "US", "completed_on": date(2026, 11, 16),
           "credits": [{"credit_type": r["credit_type"], "report_label": r["report_label"],
                        "accrediting_body": r["accrediting_body"], "unit": r["unit"],
                        "amount": 0.75, "designated": 1.25, "statement": r["designation_statement"]}
                       for r in seed]}
    settings = ProviderSettings(provider_name="Provider Ω")
    cert = replace(_build(row, b"k" * 16), issued_on=date(2026, 11, 27))
    path = tmp_path / "every.pdf"
    path.write_bytes(render(cert, settings))
    text = pdf_text(path)
    assert "Zoë Ünal" in text and cert.verification_code in text
    for r in seed:
        filled = designation(r["designation_statement"], "1.25", "Provider Ω", FORMATS["C"][1])
        assert r["designation_statement"] and "{" not in filled, r["credit_type"]
        assert flat(filled) in text, r["credit_type"]
        if "particip" not in r["unit"].lower():  # non-credit types print no amount
            assert f"{flat(r['report_label'])}: 0.75 {r['unit']}s awarded" in text, r["credit_type"]
        else:
            assert flat(r["report_label"]) in text, r["credit_type"]


def _seed_path():
    from cme import PROJECT_DIR

    return PROJECT_DIR / "dbt_project" / "seeds" / "credit_types.csv"
