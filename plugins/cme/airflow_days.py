"""Run the real DAG for several dates in ONE Airflow process: `python -m cme.airflow_days CONF DATE...`.

The same call `airflow dags test` makes (`dag.test()`: every task of one DagRun, in
process, recorded in the metadata database), once per date, in order, stopping at
the first failed run. Starting Airflow once for a range instead of once per date
saves its start-up (imports, DAG parsing, bundle sync) on every date but the first.
After each date one line `CME_DAY_RESULT {"date": ..., "state": ...}` is printed,
so the caller can report that date while the next one runs.
"""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone

RESULT_MARK = "CME_DAY_RESULT "


def main(argv: list[str]) -> int:
    from airflow.utils.cli import get_bagged_dag

    from cme.airflow_runner import DAG_ID

    conf, days = json.loads(argv[0]), [date.fromisoformat(d) for d in argv[1:]]
    dag = get_bagged_dag(None, DAG_ID)
    for i, day in enumerate(days):
        run_conf = {**conf, "run_date": day.isoformat(),
                    "full_refresh": bool(conf.get("full_refresh")) and i == 0,
                    "recompute": bool(conf.get("recompute")) and i == 0}
        run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=timezone.utc),
                       run_conf=run_conf)
        state = str(getattr(run, "state", "failed") or "failed")
        print(RESULT_MARK + json.dumps({"date": day.isoformat(), "state": state}), flush=True)
        if state != "success":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
