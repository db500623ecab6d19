"""`python -m tests.run_days LANDING OUT SETTINGS FIRST LAST`: `cme run --from --to` without
Airflow (tests.scenario.run_days), in a process of its own so CME_CRASH_AT can kill it as
kill -9 would. Prints each day's run summary; on a failed day prints the error's class and
exits 1. Python logging (the steps' own, and each day's results as Airflow would log the
tasks' return values) goes to OUT/logs/pipeline_runs.log, which tests read for leaks."""
import logging
import sys
from datetime import date, timedelta
from pathlib import Path

from cme.warehouse import private_dir
from tests.scenario import run_days

landing, out, settings = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] or None
first, last = date.fromisoformat(sys.argv[4]), date.fromisoformat(sys.argv[5])
log_file = private_dir(out / "logs") / "pipeline_runs.log"
logging.basicConfig(filename=log_file, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s - %(message)s")
days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
try:
    sys.stdout.write(run_days(landing, out, days, settings))
except Exception as exc:  # noqa: BLE001 - one line, as `cme run` reports a failed run
    logging.getLogger("tests.run_days").exception("run failed")
    print(f"run failed: {type(exc).__name__}", file=sys.stderr)
    sys.exit(1)
