"""Baseline comparison: paired items, improved/regressed lists, bootstrap intervals."""

from __future__ import annotations

import numpy as np

from evals.compare import compare_runs
from evals.results import ItemResult


def _item(
    i: int, hit: float, decision: str = "answer", status: str = "ok", latency: float = 100.0
) -> ItemResult:
    return ItemResult(
        id=f"q{i}",
        language="fr",
        kind="factual",
        expected_decision="answer",
        status=status,  # type: ignore[arg-type]
        decision=decision,
        metrics={"hit@5": hit, "decision_accuracy": float(decision == "answer")},
        latency_ms=latency,
    )


def test_identical_runs_change_nothing() -> None:
    run = [_item(i, float(i % 2)) for i in range(20)]
    c = compare_runs(run, run)
    assert c["metrics"]["hit@5"]["delta"] == 0.0
    assert c["metrics"]["hit@5"]["ci95"] == [0.0, 0.0]
    assert c["improved"] == [] and c["regressed"] == []


def test_items_improved_and_regressed_with_a_confidence_interval() -> None:
    rng = np.random.default_rng(1)
    base_hits = rng.integers(0, 2, size=200).astype(float)
    a = [_item(i, h) for i, h in enumerate(base_hits)]
    # B fixes items 0..39 that missed and breaks item 199 if it hit.
    b_hits = base_hits.copy()
    b_hits[:40] = 1.0
    b_hits[199] = 0.0
    b = [_item(i, h) for i, h in enumerate(b_hits)]
    c = compare_runs(a, b)
    m = c["metrics"]["hit@5"]
    true_delta = float(b_hits.mean() - base_hits.mean())
    assert abs(m["delta"] - true_delta) < 1e-12
    lo, hi = m["ci95"]
    assert lo <= true_delta <= hi and lo > 0  # the improvement is significant
    improved = {r["id"] for r in c["improved"]}
    assert improved == {f"q{i}" for i in range(40) if base_hits[i] == 0}
    assert [r["id"] for r in c["regressed"]] == (["q199"] if base_hits[199] == 1 else [])
    assert compare_runs(a, b) == c  # fixed seed: the same runs give the same interval


def test_only_paired_ok_items_are_compared_and_status_changes_listed() -> None:
    a = [_item(0, 1.0), _item(1, 1.0), _item(2, 0.0)]
    b = [_item(0, 1.0), _item(1, 0.0, status="error"), _item(3, 1.0)]
    c = compare_runs(a, b)
    assert (c["common"], c["paired"], c["only_a"], c["only_b"]) == (2, 1, ["q2"], ["q3"])
    assert c["status_changes"] == [{"id": "q1", "a": "ok", "b": "error"}]
    assert c["regressed"] == [{"id": "q1", "changes": {}, "status": "ok -> error"}]


def test_set_level_metrics_are_compared() -> None:
    a = [_item(i, 1.0, decision="abstain" if i < 10 else "answer", latency=100.0) for i in range(50)]
    b = [_item(i, 1.0, decision="abstain" if i < 5 else "answer", latency=200.0) for i in range(50)]
    c = compare_runs(a, b)
    assert c["metrics"]["false_abstain_rate"]["a"] == 0.2
    assert c["metrics"]["false_abstain_rate"]["delta"] == -0.1
    assert c["metrics"]["latency_p95_ms"]["delta"] == 100.0
    assert c["metrics"]["abstain_recall"]["n"] == 50 and c["metrics"]["abstain_recall"]["a"] is None
