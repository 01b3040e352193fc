"""Metric correctness: hand-worked values, equality with ranx on random runs, and the summary's rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.golden import parse_golden
from evals.metrics import CUTOFFS, percentile, retrieval_metrics, summarize
from evals.results import ItemResult
from evals.runner import run_items

from .toy_system import GOLDEN_LINES, toy_system


def test_retrieval_metrics_by_hand() -> None:
    m = retrieval_metrics(["x", "a", "y", "b"], {"a", "b", "z"})
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0
    assert m["recall@10"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == 0.5 and m["mrr@1"] == 0.0
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@10"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / idcg)
    with pytest.raises(ValueError, match="at least one relevant"):
        retrieval_metrics(["a"], set())


@st.composite
def _runs(draw: st.DrawFn) -> tuple[list[list[str]], list[set[str]]]:
    pool = [f"d{i}" for i in range(25)]
    rankings, relevants = [], []
    for _ in range(draw(st.integers(1, 6))):
        ranking = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=15, unique=True))
        relevant = draw(st.sets(st.sampled_from(pool), min_size=1, max_size=6))
        rankings.append(ranking)
        relevants.append(relevant)
    return rankings, relevants


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_runs())
def test_retrieval_metrics_equal_ranx(data: tuple[list[list[str]], list[set[str]]]) -> None:
    from ranx import Qrels, Run, evaluate

    rankings, relevants = data
    qrels = Qrels.from_dict({f"q{i}": {d: 1 for d in rel} for i, rel in enumerate(relevants)})
    # Strictly decreasing scores, so that ranx's order is exactly the ranked list.
    run = Run.from_dict({f"q{i}": {d: 100.0 - j for j, d in enumerate(r)} for i, r in enumerate(rankings)})
    names = {
        f"{ours}@{k}": f"{theirs}@{k}"
        for k in CUTOFFS
        for ours, theirs in (("hit", "hit_rate"), ("recall", "recall"), ("mrr", "mrr"), ("ndcg", "ndcg"))
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = evaluate(qrels, run, list(names.values()), return_mean=False)
    # ranx sorts query ids; ours are q0..q5, which sort the same way.
    for i, (ranking, relevant) in enumerate(zip(rankings, relevants, strict=True)):
        ours = retrieval_metrics(ranking, relevant)
        for mine, theirs in names.items():
            assert abs(ours[mine] - float(np.atleast_1d(expected[theirs])[i])) <= 1e-9, (
                mine,
                ranking,
                relevant,
            )


@given(st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=50), st.sampled_from([50.0, 95.0]))
def test_percentile_equals_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def results() -> list[ItemResult]:
    import json

    golden = parse_golden("\n".join(json.dumps(o) for o in GOLDEN_LINES))
    return run_items(toy_system(), golden.items)


def test_item_metrics_by_hand(results: list[ItemResult]) -> None:
    by_id = {r.id: r for r in results}
    fr, nl, terrace, cross = by_id["fr-cost"], by_id["nl-cost"], by_id["en-terrace"], by_id["en-cross"]
    assert fr.metrics["fact_recall"] == 1.0 and fr.metrics["number_grounding"] == 1.0
    assert (
        nl.metrics["mrr@10"] == 0.5
        and nl.ungrounded_numbers == ["30"]
        and nl.metrics["number_grounding"] == 0.0
    )
    assert terrace.metrics["decision_accuracy"] == 0.0 and terrace.missing_facts == ["120 EUR"]
    assert "citation_precision" not in terrace.metrics and terrace.metrics["citation_recall"] == 0.0
    assert cross.metrics["citation_precision"] == 0.5 and cross.metrics["language_match"] == 0.0
    assert "hit@5" not in by_id["fr-weather"].metrics  # no gold document: retrieval does not apply
    assert any("expected answer, got abstain" in f for f in terrace.failures)


def test_summary_by_hand(results: list[ItemResult]) -> None:
    s = summarize(results)
    o = s["overall"]
    assert (s["items"], s["errors"], s["skipped"], o["ok"]) == (7, 1, 0, 6)
    assert o["hit@1"] == pytest.approx(3 / 5)
    assert o["decision_accuracy"] == pytest.approx(5 / 6)
    assert o["fact_recall"] == pytest.approx(0.5)
    assert o["citation_precision"] == pytest.approx(0.875)
    assert o["citation_recall"] == pytest.approx(0.8)
    assert o["number_grounding"] == pytest.approx(0.75)
    assert o["language_match"] == pytest.approx(5 / 6)
    assert (o["abstain_precision"], o["abstain_recall"], o["false_abstain_rate"]) == (0.5, 1.0, 0.2)
    assert o["confusion_matrix"] == {"answer": {"answer": 4, "abstain": 1}, "abstain": {"abstain": 1}}
    assert o["support"]["hit@1"] == 5
    assert set(s["by_language"]) == {"en", "fr", "nl"}
    assert s["by_language"]["en"]["errors"] == 1 and s["by_language"]["en"]["ok"] == 2
    assert s["by_kind"]["out_of_scope"]["hit@5"] is None
    assert s["by_kind"]["out_of_scope"]["abstain_recall"] == 1.0
    assert set(s["by_pair"]) == {"fr->fr", "nl->nl", "en->?", "en->fr", "en->en"}
    assert s["by_pair"]["en->fr"]["language_match"] == 0.0


def test_errors_are_never_averaged_in() -> None:
    ok = ItemResult(
        id="a",
        language="fr",
        kind="factual",
        expected_decision="answer",
        decision="answer",
        metrics={"fact_recall": 1.0, "decision_accuracy": 1.0},
        latency_ms=10.0,
    )
    bad = ItemResult(
        id="b",
        language="fr",
        kind="factual",
        expected_decision="answer",
        status="error",
        error="RuntimeError: boom",
        metrics={"fact_recall": 0.0},
    )
    s = summarize([ok, bad])
    assert s["overall"]["fact_recall"] == 1.0
    assert s["errors"] == 1
    assert s["overall"]["latency_p95_ms"] == 10.0
    empty = summarize([bad])["overall"]
    assert (
        empty["fact_recall"] is None and empty["latency_p50_ms"] is None and empty["abstain_recall"] is None
    )
