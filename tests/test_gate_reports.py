"""What the gates publish: Data Docs give counts and row numbers, never the failing
values, which can be birth dates, names or license numbers. Real GX, in a temp dir."""
from __future__ import annotations

import json
from datetime import date

import pandas as pd

from cme.gates import _validate

SECRET_LICENSE = "lic 4242 of Zelda"  # fails ^[A-Z0-9-]+$


def _row(record_key: str, license_number: str) -> dict:
    return dict(open_errors="", course_number="20123", license_number=license_number, state="FL",
                completion_date="11/16/2026", first_name="Zelda", last_name="Quist",
                credit_hours=1.0, credits_on_step=True, due_on=date(2026, 12, 16),
                record_key=record_key)


def _files_holding_the_license(root) -> list:
    return [p for p in root.rglob("*") if p.is_file() and SECRET_LICENSE in p.read_text(errors="ignore")]


def test_data_docs_publish_no_failing_value_but_the_gate_still_holds_its_record(tmp_path):
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    frame = pd.DataFrame([_row("CE_BROKER|P-1|FL", "ME12345"), _row("CE_BROKER|P-2|FL", SECRET_LICENSE)])
    key, outcome = _validate(context, "cebroker_records", frame, date(2026, 11, 16))
    context.build_data_docs(resource_identifiers=[key])  # as run_gate does for its validations

    failed = [c for c in outcome.results if not c.success]
    assert [c.expectation_config.kwargs["column"] for c in failed] == ["license_number"]
    assert failed[0].result["unexpected_index_list"] in ([1], [{"record_key": "CE_BROKER|P-2|FL"}])

    pages = list((tmp_path / "gx" / "uncommitted" / "data_docs").rglob("*.html"))
    assert any("run 2026-11-16" in p.read_text() for p in pages)
    assert _files_holding_the_license(tmp_path) == []


def test_a_gate_killed_right_after_validating_left_no_failing_value_on_disk(tmp_path, monkeypatch):
    """The redacted copy is the only result ever written: a run killed between validating
    and storing (here: the redaction raises) leaves nothing with a learner's value behind.
    Through a Checkpoint, GX stored the full result first, and this found the license."""
    import great_expectations as gx

    from cme import gates

    class Killed(BaseException):
        pass

    def killed(outcome):
        # the full result holds the value (else this test would check nothing)
        assert SECRET_LICENSE in json.dumps(outcome.to_json_dict(), default=str)
        raise Killed

    context = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    frame = pd.DataFrame([_row("CE_BROKER|P-1|FL", "ME12345"), _row("CE_BROKER|P-2|FL", SECRET_LICENSE)])
    monkeypatch.setattr(gates, "without_values", killed)
    try:
        _validate(context, "cebroker_records", frame, date(2026, 11, 16))
    except Killed:
        pass
    else:
        raise AssertionError("the stand-in kill did not happen")
    assert _files_holding_the_license(tmp_path) == []


def test_a_folder_gated_through_a_checkpoint_is_scrubbed_once(tmp_path):
    """An output folder from before: a Checkpoint stored the full result (a run killed
    before the redacted copy replaced it leaves it so). The next gate rewrites every stored
    result without values and removes the Checkpoint's configs; later gates find none."""
    import great_expectations as gx

    from cme.gates import _suite, retire_checkpoints

    context = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    frame = pd.DataFrame([_row("CE_BROKER|P-1|FL", "ME12345"), _row("CE_BROKER|P-2|FL", SECRET_LICENSE)])
    asset = context.data_sources.add_pandas("cme_gates").add_dataframe_asset("cebroker_records")
    definition = context.validation_definitions.add(gx.ValidationDefinition(
        name="cebroker_records", data=asset.add_batch_definition_whole_dataframe("pending"),
        suite=_suite(context, "cebroker_records")))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name="cebroker_records_gate", validation_definitions=[definition], actions=[],
        result_format={"result_format": "COMPLETE"}))
    checkpoint.run(batch_parameters={"dataframe": frame})  # the old gate, killed right after

    assert _files_holding_the_license(tmp_path), "the old way stored the value: the scrub has something to do"
    assert retire_checkpoints(context, tmp_path) == 1
    assert _files_holding_the_license(tmp_path) == []
    assert not list((tmp_path / "gx" / "checkpoints").glob("*.json"))
    assert not list((tmp_path / "gx" / "validation_definitions").glob("*.json"))
    assert retire_checkpoints(context, tmp_path) == 0  # done once
    [key] = context.validation_results_store.list_keys()
    assert context.validation_results_store.get(key).statistics["unsuccessful_expectations"] == 1
