"""What the credit decisions were decided under, fingerprinted on every run (issue 9).

`fct_credit_decisions` keeps its history through `--full-refresh` (decided_on,
and the exceptions' first-seen dates downstream of it). A later run only
re-decides what its extract touched, so a change to a setting or seed that the
decisions read would leave past decisions on the old rules. The first run, and
every run that re-decided under new rules (`--recompute`), records a fingerprint
of exactly those inputs in `meta.rule_fingerprints` (a re-run under the same
rules writes nothing, so re-running a day leaves every table as it was). A run
whose inputs differ from the last recorded ones stops (`pipeline.check_settings`)
unless it was asked to re-decide everything.

Only hashes are stored: per setting name and per seed file, never a value.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cme.settings import ProviderSettings

DECISIONS_MODEL = "fct_credit_decisions"
TABLE = "meta.rule_fingerprints"

_REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")
_VAR = re.compile(r"""\bvar\(\s*['"](\w+)['"]""")
_MACRO = re.compile(r"""\{%-?\s*macro\s+(\w+)\s*\(""")
_CALL = re.compile(r"""\b(\w+)\s*\(""")  # any name called: one scan a file, not one per macro


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decision_inputs(project_dir: Path, model: str = DECISIONS_MODEL) -> tuple[set[str], set[str]]:
    """(var names, seed names) that `model` reads, following ref() and macro calls
    through the dbt project's SQL. Read from the files, so a new var or seed used
    upstream of the decisions is fingerprinted without anyone listing it."""
    models = {p.stem: p for p in (project_dir / "models").rglob("*.sql")}
    seeds = {p.stem for p in (project_dir / "seeds").glob("*.csv")}
    macros: dict[str, str] = {}
    for path in (project_dir / "macros").rglob("*.sql"):
        text = path.read_text()
        for name in _MACRO.findall(text):
            macros[name] = text  # the file: macros that share one are followed together
    var_names: set[str] = set()
    seed_names: set[str] = set()
    seen_models: set[str] = set()
    seen_files: set[str] = set()  # macro files' texts already followed
    todo = [models[model].read_text()]
    seen_models.add(model)
    while todo:
        text = todo.pop()
        var_names.update(_VAR.findall(text))
        for ref in _REF.findall(text):
            if ref in seeds:
                seed_names.add(ref)
            elif ref in models and ref not in seen_models:
                seen_models.add(ref)
                todo.append(models[ref].read_text())
        # one file holds many macros: follow each file once, whichever of its macros is called
        called = {macros[name] for name in _CALL.findall(text) if name in macros} - seen_files
        seen_files |= called
        todo.extend(called)
    return var_names, seed_names


@dataclass(frozen=True)
class Fingerprint:
    settings: dict[str, str]  # setting name -> sha256 of its value
    seeds: dict[str, str]  # seed file name -> sha256 of its bytes

    @property
    def settings_hash(self) -> str:
        return _sha(json.dumps(self.settings, sort_keys=True).encode())

    @property
    def seeds_hash(self) -> str:
        return _sha(json.dumps(self.seeds, sort_keys=True).encode())

    def changes_since(self, previous: "Fingerprint") -> tuple[list[str], list[str]]:
        """(setting names, seed files) whose hash differs, added or dropped included."""
        def diff(a: dict, b: dict) -> list[str]:
            return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        return diff(self.settings, previous.settings), diff(self.seeds, previous.seeds)


def current(settings: ProviderSettings, project_dir: Path) -> Fingerprint:
    var_names, seed_names = decision_inputs(project_dir)
    values = settings.dbt_vars()
    return Fingerprint(
        settings={n: _sha(json.dumps(values[n], sort_keys=True).encode())
                  for n in sorted(var_names & values.keys())},
        seeds={f"{n}.csv": _sha((project_dir / "seeds" / f"{n}.csv").read_bytes())
               for n in sorted(seed_names)},
    )


def last_recorded(con) -> tuple[date, Fingerprint] | None:
    """The latest fingerprint recorded in the warehouse, with its run date; None before any."""
    exists = con.execute("select count(*) from information_schema.tables "
                         "where table_schema = 'meta' and table_name = 'rule_fingerprints'").fetchone()[0]
    if not exists:
        return None
    row = con.execute(f"select run_date, settings_detail, seeds_detail from {TABLE} "
                      "order by recorded_at desc limit 1").fetchone()
    if row is None:
        return None
    return row[0], Fingerprint(json.loads(row[1]), json.loads(row[2]))


def record(con, run_date: date, fingerprint: Fingerprint, recomputed: bool) -> None:
    con.execute("create schema if not exists meta")
    con.execute(f"""create table if not exists {TABLE} (
        run_date date not null, settings_hash text not null, seeds_hash text not null,
        settings_detail text not null, seeds_detail text not null,
        recomputed boolean not null, recorded_at timestamptz not null)""")
    con.execute(f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, current_timestamp)",
                [run_date, fingerprint.settings_hash, fingerprint.seeds_hash,
                 json.dumps(fingerprint.settings, sort_keys=True),
                 json.dumps(fingerprint.seeds, sort_keys=True), recomputed])
