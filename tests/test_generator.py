"""Synthetic extracts: deterministic, and they exercise every quarantine kind."""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cme.contract import BY_FILE
from cme.ingest import parse_file
from cme.synthetic import generate
from cme.synthetic.generator import DEFECTS


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.csv")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(tmp_path / "a", days=2, learners=60, seed=11)
    generate(tmp_path / "b", days=2, learners=60, seed=11)
    generate(tmp_path / "c", days=2, learners=60, seed=12)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_day_one_carries_every_defect_kind_and_clean_data_has_none(tmp_path):
    generate(tmp_path / "dirty", days=1, learners=80, seed=3)
    generate(tmp_path / "clean", days=1, learners=80, seed=3, defect_rate=0)

    def reasons(root: Path) -> set[str]:
        found = set()
        for path in (root / "2026-11-16").glob("*.csv"):
            parsed = parse_file(BY_FILE[path.name], path.read_bytes(), ZoneInfo("America/Chicago"))
            found |= {f"{path.stem}:{q['reason']}" for q in parsed.quarantined}
        return found

    dirty = reasons(tmp_path / "dirty")
    # one distinct quarantine reason per defect kind, plus the golden US-style birth date
    files_hit = {r.split(":")[0] for r in dirty}
    assert {d.split(".")[0].split(":")[0] for d in DEFECTS} <= files_hit
    assert len(dirty) >= len({d.split(":")[0] for d in DEFECTS}) - 1
    assert reasons(tmp_path / "clean") == {"learners:not an ISO date (YYYY-MM-DD)"}  # golden row only


def test_a_day_folder_holds_the_contract_files_with_a_header(tmp_path):
    folders = generate(tmp_path, days=2, learners=30, seed=1, start=date(2026, 3, 1))
    assert [f.name for f in folders] == ["2026-03-01", "2026-03-02"]
    assert {p.name for p in folders[0].glob("*.csv")} == set(BY_FILE)


def _is_golden(raw_values: str) -> bool:
    row = json.loads(raw_values)
    ids = [row.get(k, "") for k in ("activity_id", "learner_id", "completion_id", "attendance_id")]
    # GL-BAD-DOB's day-1 row is quarantined on purpose: it is a golden scenario itself
    return row.get("learner_id") != "GL-BAD-DOB" and any(
        v.startswith(("GA-", "GL-", "GC-", "GT-")) for v in ids)


@pytest.mark.slow  # five generated landings with defects
def test_defects_never_touch_the_golden_rows(tmp_path):
    """Tests assert the golden rows' hand-worked outcomes, so a defect there would be a lie."""
    tz = ZoneInfo("America/Chicago")
    for seed in range(1, 6):
        root = tmp_path / str(seed)
        generate(root, days=2, learners=60, seed=seed, defect_rate=0.3)
        for path in root.rglob("*.csv"):
            parsed = parse_file(BY_FILE[path.name], path.read_bytes(), tz)
            golden = [q["_line"] for q in parsed.quarantined if _is_golden(q["raw_values"])]
            assert golden == [], (seed, path.name, golden)


def test_sample_disclosures_have_signed_forms_one_missing_and_one_altered(tmp_path):
    generate(tmp_path / "with", days=1, learners=60, seed=5)
    rows = parse_file(BY_FILE["faculty_disclosures.csv"],
                      (tmp_path / "with" / "2026-11-16" / "faculty_disclosures.csv").read_bytes(),
                      ZoneInfo("America/Chicago"))
    assert rows.quarantined == [] and len(rows.loaded) > 10
    recorded = {r["disclosure_id"]: r["document_sha256"] for r in rows.loaded if r["signed_date"]}
    store = tmp_path / "with" / "documents"
    stored = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in store.iterdir()}
    assert len(set(recorded) - set(stored)) == 1                                   # missing
    assert sum(stored[d] != recorded[d] for d in set(recorded) & set(stored)) == 1  # altered
    # some roles start after the first extract date: upcoming, not yet findings
    assert any(r["role_start_date"] > "2026-11-16" for r in rows.loaded)

