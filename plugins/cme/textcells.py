"""Text that goes into the files the project writes: what a format cannot carry, and
cells a spreadsheet must not run.

One rule for every workbook and CSV (PARS xlsx, CPE Monitor batch CSV, transcript
CSV), after OWASP's CSV injection guidance: a text value that starts with `=`,
`+`, `-`, `@`, tab or carriage return gets a leading single quote, so a
spreadsheet shows it as text and never evaluates it. Other text (O'Brien,
José Núñez, Smith-Jones) is left exactly as it is; numbers and dates are not
text and keep their type.

Characters no body format can carry (C0 and C1 control characters, and what
XML 1.0 forbids) make a record unwritable. The dbt marts hold such records
with UNSUPPORTED_CHARACTER (macro `unsupported_character`); `unwritable_fields`
is the same rule in Python, so an export never lets one record's value fail a
whole batch. Error messages name the record key and field, never the value.
"""
from __future__ import annotations

import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Same class as the dbt macro `unsupported_character` (macros/reporting.sql):
# C0 controls (tab, CR and LF included: ingest already trims them at either end),
# DEL and C1 controls, UTF-16 surrogates and the non-characters U+FFFE, U+FFFF.
UNSUPPORTED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class UnwritableValue(ValueError):
    """A record's field could not be written. Carries the record key and field only."""

    def __init__(self, record_key: str, field: str, cause: str):
        super().__init__(f"record {record_key}: field {field} cannot be written ({cause})")
        self.record_key, self.field = record_key, field


def neutralise(value):
    """A text value a spreadsheet will not evaluate; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def has_unsupported(value) -> bool:
    return isinstance(value, str) and UNSUPPORTED.search(value) is not None


def unwritable_fields(record: dict, sources) -> list[str]:
    """The names of `sources` whose value in `record` a body's format cannot carry."""
    return [s for s in sources if has_unsupported(record.get(s))]
