"""docs/data_contract.md is generated from the contract: this keeps them from drifting apart."""

from pathlib import Path

from orchestration.ingest.contract_doc import render


def test_data_contract_doc_is_in_sync_with_the_contract():
    doc = Path(__file__).resolve().parent.parent / "docs" / "data_contract.md"
    assert doc.read_text() == render(), (
        "docs/data_contract.md is stale: python -m orchestration.ingest.contract_doc > docs/data_contract.md")
