"""dbt's unit tests (rounding, caps, MOC split, check order, live minutes, merging, stable
person ids) run here once, against an empty warehouse built from the project's schema,
rather than in every daily build: they test the models' logic, not the day's data."""
from __future__ import annotations

import re

from cme.dbt_runner import dbt_unit_tests


def test_every_dbt_unit_test_passes(tmp_path):
    proc = dbt_unit_tests(tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    passed = re.search(r"PASS=(\d+)", proc.stdout)
    assert passed and int(passed.group(1)) >= 8, proc.stdout[-2000:]  # every unit test ran
