"""The landing contract the extract team reads is the one the code parses."""
from __future__ import annotations

from cme import PROJECT_DIR
from cme.contract import EXTRACTS
from cme.contract_doc import render

DOC = PROJECT_DIR / "docs" / "landing-contract.md"


def test_the_document_is_what_the_contract_writes():
    assert DOC.read_text() == render(), (
        "docs/landing-contract.md is out of date: run "
        "`.venv/bin/python -m cme.contract_doc > docs/landing-contract.md`")


def test_every_file_and_column_is_documented_with_its_type():
    text = DOC.read_text()
    for extract in EXTRACTS:
        assert f"## {extract.file}" in text
        for column in extract.columns:
            assert f"| `{column.name}` | {column.type} |" in text, (extract.file, column.name)
