"""The ledger-state view for tests that write a ledger without a daily run's dbt build.

The ledger writers read main.fct_submission_versions_current (cme.ledger.STATE), which
the daily build creates; a test that hand-builds its warehouse builds just that view and
what it reads (the ledger's staging and intermediate views) with the real dbt project."""
from __future__ import annotations

from pathlib import Path

from cme.dbt_runner import dbt_build
from cme.ledger import ensure_ledger
from cme.settings import ProviderSettings
from cme.warehouse import connect


def build_ledger_state(warehouse: Path) -> None:
    warehouse = Path(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with connect(warehouse) as con:
        ensure_ledger(con)  # the view's source
    dbt_build(warehouse, "2026-06-10", ProviderSettings(), warehouse.parent / "dbt-ledger-state",
              select="+fct_submission_versions_current", label="ledger_state")
