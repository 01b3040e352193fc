"""The suite on the real sample knowledge base: the CLI, the real ContactCenter, the project's gates.

Uses the session fixture ``sample_cc`` (tests/conftest.py): a ContactCenter with the sample knowledge
base ingested once per test session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import evals.cli as cli
from evals.golden import DEFAULT_GOLDEN, load_golden

pytestmark = pytest.mark.slow

GATES = Path(__file__).parents[2] / "evals" / "gates.toml"


def test_golden_set_names_only_documents_of_the_sample_kb(sample_cc: Any) -> None:
    golden = load_golden(DEFAULT_GOLDEN)
    unknown = sorted({d for item in golden.items for d in item.gold_doc_ids if sample_cc.card(d) is None})
    assert unknown == [], f"gold_doc_ids not in the sample knowledge base: {unknown}"


def test_sample_golden_set_passes_the_project_gates(
    sample_cc: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_build_system", lambda kb, data_dir: (sample_cc, {"description": "sample_cc"}))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli.app, ["run", str(DEFAULT_GOLDEN), "--gate", str(GATES), "--out", str(out)]
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 0, [
        json.loads(line)["error"]
        for line in (out / "items.jsonl").read_text().splitlines()
        if '"status": "error"' in line
    ]
    assert result.exit_code == 0, result.output
    assert summary["items"] == len(load_golden(DEFAULT_GOLDEN))
    assert {"fr", "nl", "en"} <= set(summary["by_language"])
    assert {"factual", "out_of_scope", "cross_lingual"} <= set(summary["by_kind"])
    assert any(pair.startswith("en->") and "en" not in pair.split("->")[1] for pair in summary["by_pair"])
    assert summary["overall"]["decision_accuracy"] is not None
