"""Gate files: clear errors for bad ones, absolute and regression gates checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.gates import GateFileError, check_gates, load_gates, parse_gates

SUMMARY = {
    "overall": {"hit@5": 0.8, "decision_accuracy": 0.9, "latency_p95_ms": 300.0, "fact_recall": None},
    "by_language": {"fr": {"hit@5": 0.7}},
    "by_kind": {},
    "by_pair": {},
}


def test_absolute_gates_pass_and_fail() -> None:
    gates = parse_gates(
        """
max_errors = 2
[overall]
"hit@5" = 0.75
decision_accuracy = 0.95
latency_p95_ms = 250
[by_language.fr]
"hit@5" = 0.7
[by_language.de]
"hit@5" = 0.5
"""
    )
    assert gates.max_errors == 2
    results = {(g.scope, g.metric): g for g in check_gates(gates, SUMMARY)}
    assert results[("overall", "hit@5")].passed
    assert not results[("overall", "decision_accuracy")].passed
    assert "needs >= 0.95" in results[("overall", "decision_accuracy")].message
    assert not results[("overall", "latency_p95_ms")].passed  # lower is better: 300 > 250
    assert results[("by_language.fr", "hit@5")].passed
    assert "no item in this group" in results[("by_language.de", "hit@5")].message


def test_a_gated_metric_without_value_fails() -> None:
    [result] = check_gates(parse_gates("[overall]\nfact_recall = 0.5\n"), SUMMARY)
    assert not result.passed and "no value" in result.message


def test_regression_gates() -> None:
    gates = parse_gates('[regression]\n"hit@5" = 0.02\nlatency_p95_ms = 50\n')
    comparison = {"metrics": {"hit@5": {"delta": -0.05}, "latency_p95_ms": {"delta": 20.0}}}
    results = {g.metric: g for g in check_gates(gates, SUMMARY, comparison)}
    assert not results["hit@5"].passed and "-0.05" in results["hit@5"].message
    assert results["latency_p95_ms"].passed
    unchecked = check_gates(gates, SUMMARY, None)
    assert all(g.passed and "not checked" in g.message for g in unchecked)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[overall]\n"hit@6" = 0.5\n', "unknown metric 'hit@6' (did you mean 'hit@5'?)"),
        ("[overal]\n", "unknown section 'overal' (did you mean 'overall'?)"),
        ('[overall]\ndecision_accuracy = "high"\n', "must be a number"),
        ("[overall\n", "not valid TOML"),
        ("max_errors = -1\n", "max_errors must be a whole number"),
        ("[by_language]\nfr = 0.5\n", "expected a table"),
    ],
)
def test_bad_gate_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(GateFileError) as info:
        parse_gates(text, path="gates.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("gates.toml")


def test_missing_gate_file(tmp_path: Path) -> None:
    with pytest.raises(GateFileError, match="cannot be read"):
        load_gates(tmp_path / "nope.toml")


def test_project_gates_file_is_valid() -> None:
    path = Path(__file__).parents[2] / "evals" / "gates.toml"
    gates = load_gates(path)
    assert gates.absolute
