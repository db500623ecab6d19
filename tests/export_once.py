"""Export every body once, as the export task would: `python -m tests.export_once OUT SETTINGS DATE`.

Run in a subprocess by the ledger fault test, so CME_CRASH_AT can kill a real process
between any two ledger writes or file steps of the export."""
import sys
from datetime import date
from pathlib import Path

from cme.bodies import active_bodies
from cme.export import export_body
from cme.settings import load_settings

out, settings_path, day = Path(sys.argv[1]), Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
settings = load_settings(settings_path)
for body in active_bodies(settings):
    export_body(out / "warehouse.duckdb", body, day, out, settings)
