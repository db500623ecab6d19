"""The provider settings file (rules section 1): one provider per deployment.

Credentials are deliberately absent: they come from Airflow connections or
environment variables, never from this file.
"""
from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cme import PROJECT_DIR

DEFAULT_SETTINGS_PATH = PROJECT_DIR / "config" / "provider.toml"
BODIES = ("ACCME_PARS", "JA_PARS", "CE_BROKER", "CPE_MONITOR", "ACCME_PARS_ACTIVITIES", "JA_PARS_ACTIVITIES")


class SettingsError(ValueError):
    """An invalid settings file; the message names the setting."""


# What a retention rule can name (cme.retention): "ACCME" covers completions of activities
# that designate credit reported to PARS (ACCME or JA-PARS); a body covers completions
# that have a record for that body (CE Broker: in `state`, when given).
RETENTION_AUTHORITIES = ("ACCME", *BODIES)


class RetentionRule(BaseModel):
    """Keep `records` that `authority` governs for `years` from `counts_from`."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    authority: str
    state: str | None = None
    # learner attendance and completion records: LMS completions, live check-ins and the
    # quarantined rows of those two extracts
    records: Literal["attendance"] = "attendance"
    years: int = Field(ge=1, le=100)
    counts_from: Literal["activity_end", "completion"]

    @field_validator("authority")
    @classmethod
    def _known_authority(cls, value: str) -> str:
        if value not in RETENTION_AUTHORITIES:
            raise ValueError(f"unknown authority {value!r}; expected one of {list(RETENTION_AUTHORITIES)}")
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 2 or not value.isalpha() or not value.isupper()):
            raise ValueError(f"state must be 2 capital letters, got {value!r}")
        return value


def _default_retention() -> tuple[RetentionRule, ...]:
    return (RetentionRule(name="ACCME attendance", authority="ACCME", years=6,
                          counts_from="activity_end"),
            RetentionRule(name="CE Broker FL", authority="CE_BROKER", state="FL", years=4,
                          counts_from="completion"))


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The longest applicable rule wins per record; a record no rule applies to is kept.
    rules: tuple[RetentionRule, ...] = Field(default_factory=_default_retention)

    @field_validator("rules")
    @classmethod
    def _distinct_names(cls, value: tuple[RetentionRule, ...]) -> tuple[RetentionRule, ...]:
        names = [r.name for r in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be distinct, repeated: {twice}")
        bad = [r.name for r in value if r.state and r.authority != "CE_BROKER"]
        if bad:
            raise ValueError(f"only CE_BROKER rules take a state; remove it from {bad}")
        return value


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider_name: str = "Example CME Provider"
    accme_provider_id: str = ""
    accreditor: Literal["ACCME", "JA"] = "ACCME"
    acpe_provider_number: str = ""
    cebroker_provider_tracking_number: str = ""
    cebroker_states: tuple[str, ...] = ("FL",)
    timezone: str = "America/Chicago"
    pars_moc_window_days: int = Field(30, ge=1, le=366)
    # month-day the PARS learner year closes, in the following year
    pars_learner_year_close: str = "03-31"
    # month-day by which a year's activities must be entered and closed in PARS, next year
    pars_activity_year_close: str = "03-31"
    cebroker_window_days: int = Field(30, ge=1, le=366)
    cpe_monitor_window_days: int = Field(60, ge=1, le=366)
    disclosure_freshness_months: int = Field(12, ge=1, le=60)
    # ABP reports whole points unless this says otherwise (reference: [X]).
    abp_point_step: float = Field(1.0, gt=0, le=1)
    # upcoming activities within this many days with open disclosure problems are listed
    disclosure_upcoming_days: int = Field(30, ge=1, le=365)
    # where signed disclosure forms are kept, as <disclosure_id>.<any extension>; relative
    # paths are read from the landing directory
    document_store: str = "documents"
    # records due within this many days and not yet accepted are listed in the run summary
    deadline_alert_days: int = Field(7, ge=0, le=90)
    http_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # When an extract date's landing folder counts as complete (cme.landing): "none" = the
    # folder exists; "_SUCCESS" = it holds that file; "_manifest.json" = every file the
    # manifest lists is there with its SHA-256.
    landing_ready_marker: Literal["none", "_SUCCESS", "_manifest.json"] = "none"
    # The scheduled run waits for the folder until this many hours after the extract date
    # ended (midnight in `timezone`), then fails naming what is missing.
    landing_deadline_hours: float = Field(12.0, ge=0, le=168)
    transport: dict[str, Literal["file", "http"]] = Field(
        default_factory=lambda: {body: "file" for body in BODIES}
    )
    # the dashboard's exception queue: rows per page (a `size` parameter overrides it)
    queue_page_size: int = Field(50, ge=5, le=500)
    # the request header the sign-on proxy puts the signed-in user in (e.g.
    # "X-Forwarded-User"), recorded as a note's author; blank: notes have no author
    queue_author_header: str = Field("", pattern=r"^[A-Za-z0-9-]*$", max_length=64)
    # how long learner attendance records are kept (`cme retention`)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    # Certificates (`cme certificates`, cme.certificates). The accreditation statement every
    # certificate prints; empty = the ACCME or JA wording for `accreditor`. `{provider}`
    # stands for provider_name.
    certificate_accreditation_statement: str = ""
    # PNG printed above the signer's name; a relative path is read from the project root;
    # empty = the placeholder flourish in plugins/cme/certificate_assets/signature.png
    certificate_signature_image: str = ""
    certificate_signer_name: str = ""
    certificate_signer_title: str = "Director, Continuing Medical Education"
    # where a reader checks a certificate's code: the dashboard's /verify page
    certificate_verify_url: str = "http://127.0.0.1:8050/verify"
    # The learner portal (`cme portal`). Links in the mail point at portal_public_url
    # (never at the Host header a request names); empty = http://HOST:PORT it listens on.
    portal_public_url: str = ""
    portal_link_minutes: int = Field(30, ge=1, le=24 * 60)      # a mailed link expires
    portal_session_minutes: int = Field(15, ge=1, le=12 * 60)   # downloads after opening it
    portal_requests_per_address_per_hour: int = Field(5, ge=1, le=1000)
    portal_requests_per_ip_per_hour: int = Field(20, ge=1, le=10000)
    # SMTP relay for the portal's mail; a password, when needed, comes from CME_SMTP_PASSWORD
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = "cme-noreply@example.org"
    smtp_starttls: bool = False
    smtp_user: str = ""

    @field_validator("portal_public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// address, got {value!r}")
        return value.rstrip("/")

    @field_validator("smtp_sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if value.count("@") != 1 or any(c.isspace() for c in value):
            raise ValueError(f"expected one e-mail address, got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("cebroker_states")
    @classmethod
    def _two_letter_states(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if len(s) != 2 or not s.isalpha() or not s.isupper()]
        if bad:
            raise ValueError(f"states must be 2 capital letters, got {bad}")
        return value

    @field_validator("pars_learner_year_close", "pars_activity_year_close")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            date.fromisoformat(f"2001-{value}")
        except ValueError:
            raise ValueError(f"expected MM-DD, got {value!r}") from None
        return value

    @field_validator("certificate_accreditation_statement")
    @classmethod
    def _statement_template(cls, value: str) -> str:
        try:
            value.format(provider="")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {provider} may stand in braces (write {{ for a brace)") from None
        return value

    @field_validator("certificate_signature_image")
    @classmethod
    def _signature_png(cls, value: str) -> str:
        if value:
            path = signature_path(value)
            if not path.is_file():
                raise ValueError(f"no file {path}")
            if path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
                raise ValueError(f"{path} is not a PNG image")
        return value

    @field_validator("transport")
    @classmethod
    def _known_bodies(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(BODIES))
        if unknown:
            # a body added as a module in cme.bodies (imported here only then: the body
            # modules import these settings, and their file libraries cost an import)
            from cme.bodies import all_bodies

            known = [*BODIES, *sorted(set(all_bodies()) - set(BODIES))]
            unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown body {unknown}; expected some of {known}")
        return {**{body: "file" for body in BODIES}, **value}

    def dbt_vars(self) -> dict[str, object]:
        """The settings dbt models read, as `--vars`."""
        return {
            "timezone": self.timezone,
            "accreditor": self.accreditor,
            "abp_point_step": self.abp_point_step,
            "cebroker_states": list(self.cebroker_states),
            "pars_moc_window_days": self.pars_moc_window_days,
            "pars_learner_year_close": self.pars_learner_year_close,
            "pars_activity_year_close": self.pars_activity_year_close,
            "cebroker_window_days": self.cebroker_window_days,
            "cpe_monitor_window_days": self.cpe_monitor_window_days,
            "acpe_provider_number": self.acpe_provider_number,
            "cebroker_provider_tracking_number": self.cebroker_provider_tracking_number,
            "disclosure_freshness_months": self.disclosure_freshness_months,
            "disclosure_upcoming_days": self.disclosure_upcoming_days,
        }


DEFAULT_SIGNATURE = Path(__file__).resolve().parent / "certificate_assets" / "signature.png"


def signature_path(setting: str) -> Path:
    """The signature image a certificate prints (setting certificate_signature_image)."""
    if not setting:
        return DEFAULT_SIGNATURE
    path = Path(setting).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


def settings_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get("CME_SETTINGS") or DEFAULT_SETTINGS_PATH)


def load_settings(path: str | os.PathLike | None = None) -> ProviderSettings:
    """Read and validate the settings file; raise SettingsError naming each bad setting."""
    path = settings_path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    try:
        return ProviderSettings(**raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '?'}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid setting in {path}: {problems}") from None
