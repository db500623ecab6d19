"""Deliver every body once, as the export task would: `python -m tests.deliver_once OUT SETTINGS DATE`.

Run in a subprocess by the fault test, so CME_CRASH_AT can kill a real process."""
import sys
from datetime import date
from pathlib import Path

from cme.bodies import active_bodies
from cme.delivery import deliver_body
from cme.settings import load_settings

out, settings_path, day = Path(sys.argv[1]), Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
settings = load_settings(settings_path)
for body in active_bodies(settings):
    deliver_body(out / "warehouse.duckdb", body, day, settings, timeout=settings.http_timeout_seconds)
