"""Compliance gates (rules section 7) with Great Expectations.

For each body: the records due to go are read from DuckDB (read-only) into a
frame and validated against `expectations/<suite>_records.json`; rows that
fail a record-level expectation are held back, the rest go. A one-row frame of
totals is validated against `expectations/<suite>_batch.json`; any failure
there, or a batch-scope expectation failing on the records, stops that body's
export for the run and says why. Every validation lands in Data Docs.

The rules themselves are computed in dbt, in the body's mart (`error_codes`, rule columns
such as `credits_on_step`) and in fct_gate_batch_totals: the gate reads them as they are
and recomputes nothing (docs/decisions.md, "where a gate rule lives"). It names no body:
what it needs comes from the body (`ReportingBody`).

GX's SQL path is broken on DuckDB (stack notes), hence frames.
"""
from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from cme import PROJECT_DIR
from cme.bodies.base import ReportingBody
from cme.settings import ProviderSettings
from cme.warehouse import connect, make_private, private_dir, read_frame

log = logging.getLogger(__name__)
SUITES_DIR = PROJECT_DIR / "expectations"


@dataclass
class GateResult:
    body: str
    run_date: str
    records_due: int = 0
    held: dict[str, list[str]] = field(default_factory=dict)  # record_key -> reasons
    stopped: list[str] = field(default_factory=list)  # batch-level reasons
    data_docs: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def gate_path(out: Path, body: str, run_date: date) -> Path:
    return Path(out) / "gates" / body / f"{run_date.isoformat()}.json"


def _suite(context, name: str):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    spec = json.loads((SUITES_DIR / f"{name}.json").read_text())
    suite = gx.ExpectationSuite(name=name)
    for e in spec["expectations"]:
        config = ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e.get("meta", {}))
        suite.add_expectation_configuration(config)
    # the repository's JSON is the source of truth: replace whatever the context held
    try:
        context.suites.delete(name)
    except Exception:  # noqa: BLE001 - absent on the first run
        pass
    return context.suites.add(suite)


def _validate(context, name: str, frame, run_date: date):
    """Validate `frame` against suite `name`; store a copy without the failing values
    in the context's results store (what Data Docs publishes) and return its key and
    the full result (which decides what is held).

    The batch is validated directly, not through a Checkpoint: a Checkpoint's validation
    definition stores the full result, failing values and all, before this function could
    redact it, so a kill between the two writes left learner values on disk. Validating the
    batch stores nothing; only the redacted copy is written. It also spares each gate the
    checkpoint's and validation definition's config writes and freshness checks."""
    import datetime as dt

    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier, ValidationResultIdentifier)

    suite = _suite(context, name)
    try:  # created once: adding it again rewrites the context's YAML config each time
        source = context.data_sources.get("cme_gates")
    except LookupError:
        source = context.data_sources.add_pandas("cme_gates")
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        definition = asset.get_batch_definition("pending")
    except (KeyError, LookupError, ValueError):
        definition = asset.add_batch_definition_whole_dataframe("pending")
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    outcome = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    # named by the run date, so Data Docs list each day's validations under its date
    run_id = RunIdentifier(run_name=f"run {run_date.isoformat()}",
                           run_time=dt.datetime.now(dt.timezone.utc))
    outcome.meta.update(run_id=run_id, validation_time=run_id.run_time,
                        batch_parameters={"dataframe": DATAFRAME_REPLACEMENT_STR})
    key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
                                     run_id=run_id, batch_identifier=batch.id)
    # The full result (failing rows) decides what is held; what is stored and
    # published in Data Docs keeps counts and row numbers but no values, since a
    # failing value may be a birth date, a name or a license number.
    context.validation_results_store.set(key, without_values(outcome))
    return key, outcome


# Result keys that carry the failing values themselves (or rows made of them).
VALUE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list",
              "partial_unexpected_index_list", "unexpected_index_list", "unexpected_rows")


def without_values(outcome):
    """A copy of a suite validation result with every failing value removed. Only what
    changes is copied: a deep copy of a result listing a hundred thousand failing rows
    took seconds per gate."""
    redacted = copy.copy(outcome)
    redacted.results = []
    for check in outcome.results:
        kept = copy.copy(check)
        kept.result = {k: v for k, v in check.result.items() if k not in VALUE_KEYS}
        redacted.results.append(kept)
    return redacted


def retire_checkpoints(context, gx_dir: Path) -> int:
    """Once per output folder gated before the gates stopped using a Checkpoint: a run
    killed between a Checkpoint's write of the full result and the redacted copy left
    failing values on disk. Rewrites every stored result without them, then deletes the
    Checkpoint and validation-definition configs, which mark the folder as not yet done
    (a kill before the end means it runs again). Returns the results rewritten."""
    old = [*(gx_dir / "gx" / "checkpoints").glob("*.json"), *(gx_dir / "gx" / "validation_definitions").glob("*.json")]
    if not old:
        return 0
    store = context.validation_results_store
    keys = store.list_keys()
    for key in keys:
        store.set(key, without_values(store.get(key)))
    for path in old:
        path.unlink()
    log.info("gates: %d stored validation results rewritten without values, %d old configs removed",
             len(keys), len(old))
    return len(keys)


def run_gate(warehouse: Path, body: ReportingBody, run_date: date, out: Path,
             settings: ProviderSettings) -> GateResult:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no network here, and no telemetry
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # the rules are computed in the marts (rule columns, error_codes): read them as they are
    params = {"body": body.name}
    with connect(Path(warehouse), read_only=True) as con:
        records = read_frame(con, body.gate_sql, params)
        totals = read_frame(con, body.batch_sql, params)
    gx_dir = private_dir(Path(out) / "gx")
    context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    retire_checkpoints(context, gx_dir)
    result = GateResult(body.name, run_date.isoformat(), records_due=len(records))
    keys = []
    for validation, frame in ((f"{body.suite}_records", records), (f"{body.suite}_batch", totals)):
        key, outcome = _validate(context, validation, frame, run_date)
        keys.append(key)
        for check in outcome.results:
            if check.success:
                continue
            meta = check.expectation_config.meta or {}
            why = meta.get("why", check.expectation_config.type)
            if meta.get("scope") == "batch":
                observed = check.result.get("observed_value")
                result.stopped.append(why + (f" (observed {observed})" if observed is not None else ""))
                continue
            for index in check.result.get("unexpected_index_list") or []:
                key = frame.iloc[index]["record_key"] if isinstance(index, int) else index["record_key"]
                result.held.setdefault(key, []).append(why)
    # one Data Docs build for the gate's two validations: each build recompiles GX's page
    # templates (about 0.8 s), and only these two pages and the index change
    context.build_data_docs(resource_identifiers=keys)
    site = gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    result.data_docs = str(site)
    path = gate_path(out, body.name, run_date)
    private_dir(path.parent)
    path.write_text(json.dumps(result.to_dict(), indent=2))
    make_private(path)
    log.info("gate %s %s: %d due, %d held, batch %s", body.name, run_date, result.records_due,
             len(result.held), "stopped: " + "; ".join(result.stopped) if result.stopped else "ok")
    return result
