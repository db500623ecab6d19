"""Is an extract date's landing folder ready to be read?

A folder is ready when `landing/<date>/` exists and, where the provider's
extract job writes one (setting `landing_ready_marker`), carries its completion
marker:

- `none`: the folder existing is enough (the extract job writes the folder in
  one move, e.g. copies to a temporary name and renames it);
- `_SUCCESS`: an (empty) `_SUCCESS` file in the folder, written last;
- `_manifest.json`: a manifest written last, `{"files": [{"name": "learners.csv",
  "sha256": "<64 hex>"}, ...]}` (a plain `{"learners.csv": "<sha256>"}` object is
  read too); every listed file must exist with that SHA-256 (a mismatch means the
  copy is still running or the file is corrupt).

The reason is one line naming the folder and what is missing. It never quotes a
file's contents (the extracts hold learner data), only names and hashes' status.

The DAG's sensor (after check_settings) waits on `readiness` until the day's deadline; `cme run`
checks it once per date before starting Airflow.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cme.rawstore import sha256_of
from cme.settings import ProviderSettings

MARKERS = ("none", "_SUCCESS", "_manifest.json")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str  # one line: why the folder is (not) ready

    def __bool__(self) -> bool:
        return self.ready


def readiness(landing: Path, day: date, settings: ProviderSettings) -> Readiness:
    """Whether `landing/<day>/` is complete, with a one-line reason."""
    landing = Path(landing)
    folder = landing / day.isoformat()
    if not folder.is_dir():
        reason = f"landing folder {folder} does not exist"
        near = near_misses(landing, day)
        if near:
            reason += f" (found {', '.join(near)} in {landing}: rename it to {day.isoformat()}?)"
        return Readiness(False, reason)
    marker = settings.landing_ready_marker
    if marker == "none":
        return Readiness(True, f"landing folder {folder} exists")
    if not (folder / marker).is_file():
        return Readiness(False, f"landing folder {folder} has no {marker} yet "
                                f"(the extract job writes it when the folder is complete)")
    if marker == "_SUCCESS":
        return Readiness(True, f"landing folder {folder} has _SUCCESS")
    return _check_manifest(folder)


def _check_manifest(folder: Path) -> Readiness:
    path = folder / "_manifest.json"
    try:
        entries = _manifest_entries(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # ValueError covers JSON errors; the message names the position, not the content
        return Readiness(False, f"{path} is not a readable manifest "
                                f"({type(exc).__name__}; expected {{\"files\": [{{\"name\", \"sha256\"}}]}})")
    for name, expected in entries:
        target = folder / name
        if not _inside(folder, target):
            return Readiness(False, f"{path} lists {name!r}, which is outside the folder")
        if not target.is_file():
            return Readiness(False, f"{path} lists {name}, which is missing from {folder}")
        if sha256_of(target) != expected.lower():
            return Readiness(False, f"{target} does not match its SHA-256 in {path.name} "
                                    f"(still being copied, or corrupt)")
    return Readiness(True, f"landing folder {folder} matches its manifest ({len(entries)} files)")


def _manifest_entries(data: object) -> list[tuple[str, str]]:
    if isinstance(data, dict) and isinstance(data.get("files"), list):
        items = [(e.get("name"), e.get("sha256")) if isinstance(e, dict) else (None, None)
                 for e in data["files"]]
    elif isinstance(data, dict) and "files" not in data:
        items = list(data.items())
    else:
        raise ValueError("no file list")
    entries = []
    for name, sha in items:
        if not (isinstance(name, str) and name and isinstance(sha, str) and len(sha) == 64
                and all(c in "0123456789abcdefABCDEF" for c in sha)):
            raise ValueError("an entry lacks a name or a 64-hex sha256")
        entries.append((name, sha))
    return entries


def _inside(folder: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def near_misses(landing: Path, day: date) -> list[str]:
    """Entries of `landing` that look meant for `day` but are not named exactly
    `YYYY-MM-DD` (e.g. `2026-11-16_extract`, `20261116`, `2026-11-16.tmp`)."""
    if not Path(landing).is_dir():
        return []
    keys = (day.isoformat(), day.strftime("%Y%m%d"), day.strftime("%Y_%m_%d"))
    return sorted(p.name for p in Path(landing).iterdir()
                  if p.name != day.isoformat() and any(k in p.name for k in keys))


def deadline(day: date, settings: ProviderSettings) -> datetime:
    """When the wait for `day`'s folder ends: `landing_deadline_hours` after the day ended
    (midnight after it) in the provider's time zone."""
    tz = ZoneInfo(settings.timezone)
    end = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)
    # local midnight may be ambiguous/non-existent on DST days; fold=0 picks the first
    return end + timedelta(hours=settings.landing_deadline_hours)


def missing_folders(landing: Path, days: list[date], settings: ProviderSettings) -> str | None:
    """For `cme run`: None when every date's folder is ready, else one line for the first
    that is not (no waiting: `cme run` processes folders that already landed)."""
    for day in days:
        state = readiness(landing, day, settings)
        if not state.ready:
            return f"{day.isoformat()} is not ready: {state.reason}"
    return None


class LandingNotReady(RuntimeError):
    """The run stops: the folder is not ready and the run does not (or no longer) wait."""


def poke(ctx, wait: bool = True, now: datetime | None = None,
         schedule_timezone: str | None = None) -> Readiness:
    """One look for the DAG's sensor (`ctx`: a cme.pipeline.RunContext). Returns the
    readiness when the folder is ready or the run may keep waiting; raises LandingNotReady,
    with one line naming the folder and what is missing, when the run does not wait
    (`cme run`) or the deadline passed. `schedule_timezone` (scheduled runs) must equal
    the setting `timezone`, or the run would start before the day ended there."""
    from cme.settings import SettingsError

    try:
        settings = ctx.settings()
    except SettingsError as exc:
        raise LandingNotReady(str(exc)) from None
    if schedule_timezone and schedule_timezone != settings.timezone:
        raise LandingNotReady(
            f"the schedule's time zone {schedule_timezone} (CME_SCHEDULE_TIMEZONE) is not the "
            f"provider's time zone {settings.timezone} (setting timezone): runs would not start "
            f"when the provider's day ends. Set CME_SCHEDULE_TIMEZONE={settings.timezone}")
    state = readiness(ctx.landing, ctx.run_date, settings)
    if state.ready:
        return state
    if not wait:
        raise LandingNotReady(f"{ctx.run_date.isoformat()} is not ready: {state.reason}")
    until = deadline(ctx.run_date, settings)
    now = now or datetime.now(ZoneInfo(settings.timezone))
    if now >= until:
        raise LandingNotReady(
            f"{ctx.run_date.isoformat()} not ready by its deadline {until.isoformat(timespec='minutes')} "
            f"(landing_deadline_hours={settings.landing_deadline_hours:g} after the day ended): "
            f"{state.reason}")
    return state
