"""Deterministic metrics: retrieval by document id, decisions, facts, citations, numbers, latency.

Per item, a metric that does not apply (recall for a question with no gold document, number grounding
for an answer without numbers) is left out rather than set to zero or NaN, and the averages are taken
over the items where it applies; ``support`` tells how many those were. Items whose status is not
``ok`` never enter an average: they are counted apart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from contact_center.models import Answer, Hit
from evals.golden import GoldenItem
from evals.results import ItemResult
from evals.textnorm import contains_fact, extract_numbers

__all__ = [
    "CUTOFFS",
    "LOWER_IS_BETTER",
    "RETRIEVAL_METRICS",
    "SUMMARY_METRICS",
    "dedupe_doc_ids",
    "percentile",
    "retrieval_metrics",
    "score_item",
    "summarize",
    "summarize_group",
]

CUTOFFS: tuple[int, ...] = (1, 3, 5, 10)
RETRIEVAL_METRICS: tuple[str, ...] = tuple(
    f"{name}@{k}" for name in ("hit", "recall", "mrr", "ndcg") for k in CUTOFFS
)
_ITEM_MEANS: tuple[str, ...] = (
    *RETRIEVAL_METRICS,
    "decision_accuracy",
    "fact_recall",
    "citation_precision",
    "citation_recall",
    "number_grounding",
    "language_match",
)
SUMMARY_METRICS: tuple[str, ...] = (
    *_ITEM_MEANS,
    "abstain_precision",
    "abstain_recall",
    "false_abstain_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
"""Every figure of a summary group, in display order (judge metrics are added when judged)."""

LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"false_abstain_rate", "latency_p50_ms", "latency_p95_ms", "latency_ms"}
)


def retrieval_metrics(
    ranked: Sequence[str], relevant: Collection[str], cutoffs: Iterable[int] = CUTOFFS
) -> dict[str, float]:
    """hit@k, recall@k, MRR@k and nDCG@k (binary relevance) of a ranked list of document ids.

    ``ranked`` must hold each id once (see :func:`dedupe_doc_ids`). Equal to ranx's ``hit_rate``,
    ``recall``, ``mrr`` and ``ndcg`` (tests/evals prove it to 1e-9).

    >>> retrieval_metrics(["a", "b", "c"], {"b"}, cutoffs=[1, 3])["mrr@3"]
    0.5
    """
    rel = set(relevant)
    if not rel:
        raise ValueError("retrieval metrics need at least one relevant document id")
    out: dict[str, float] = {}
    for k in cutoffs:
        top = ranked[:k]
        flags = [doc in rel for doc in top]
        found = sum(flags)
        out[f"hit@{k}"] = 1.0 if found else 0.0
        out[f"recall@{k}"] = found / len(rel)
        first = next((i for i, f in enumerate(flags) if f), None)
        out[f"mrr@{k}"] = 0.0 if first is None else 1.0 / (first + 1)
        dcg = sum(1.0 / math.log2(i + 2) for i, f in enumerate(flags) if f)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
        out[f"ndcg@{k}"] = dcg / idcg
    return out


def dedupe_doc_ids(hits: Iterable[Hit]) -> list[str]:
    """Document ids of passage hits, best first, each once (a document ranks at its best passage)."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.doc_id, None)
    return list(seen)


def score_item(
    item: GoldenItem,
    retrieved: Sequence[str],
    answer: Answer,
    result: ItemResult,
    cited_sources: Sequence[str] = (),
) -> None:
    """Fill ``result.metrics`` (and the missing facts, ungrounded numbers, failure reasons) for one item.

    Numbers are grounded against the answer's passages of cited documents plus ``cited_sources``
    (other text of the cited documents the generator may quote, such as their procedure cards).
    """
    m = result.metrics
    if item.gold_doc_ids:
        m.update(retrieval_metrics(retrieved, item.gold_doc_ids))
    m["decision_accuracy"] = 1.0 if answer.decision == item.expected_decision else 0.0
    if item.answer_facts:
        missing = [f for f in item.answer_facts if not contains_fact(answer.text, f)]
        result.missing_facts = missing
        m["fact_recall"] = 1.0 - len(missing) / len(item.answer_facts)
    cited = list(dict.fromkeys(c.doc_id for c in answer.citations))
    if cited:
        pool = set(dedupe_doc_ids(answer.hits)) or set(retrieved)
        m["citation_precision"] = sum(c in pool for c in cited) / len(cited)
    if item.gold_doc_ids and item.expected_decision == "answer":
        m["citation_recall"] = sum(g in cited for g in item.gold_doc_ids) / len(item.gold_doc_ids)
    if answer.decision == "answer":
        numbers = extract_numbers(answer.text)
        if numbers:
            cited_set = set(cited)
            grounded: set[str] = set()
            for source in cited_sources:
                grounded |= extract_numbers(source)
            for hit in answer.hits:
                if hit.doc_id in cited_set:
                    grounded |= extract_numbers(hit.text)
            ungrounded = sorted(numbers - grounded)
            result.ungrounded_numbers = ungrounded
            m["number_grounding"] = 0.0 if ungrounded else 1.0
    m["language_match"] = 1.0 if answer.language.lower() == item.language else 0.0
    result.failures = _failures(item, answer, result)


def _failures(item: GoldenItem, answer: Answer, result: ItemResult) -> list[str]:
    m = result.metrics
    out: list[str] = []
    if m["decision_accuracy"] < 1.0:
        out.append(f"decision: expected {item.expected_decision}, got {answer.decision}")
    if item.gold_doc_ids and m.get("hit@5", 1.0) < 1.0:
        out.append(f"retrieval: no gold document ({', '.join(item.gold_doc_ids)}) in the top 5")
    if result.missing_facts:
        out.append("facts missing: " + "; ".join(result.missing_facts))
    if result.ungrounded_numbers:
        out.append("numbers not in a cited passage: " + ", ".join(result.ungrounded_numbers))
    if m["language_match"] < 1.0:
        out.append(f"language: expected {item.language}, answered in {answer.language}")
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        raise ValueError("percentile of no value")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize_group(results: Sequence[ItemResult]) -> dict[str, Any]:
    """Every figure for a group of items: means over ``ok`` items where each metric applies.

    Returns ``{"n", "ok", "errors", "skipped", <metric>: value or None, "support": {...},
    "confusion_matrix": {expected: {decided: count}}}``; a metric no item supports is ``None``.
    """
    ok = [r for r in results if r.status == "ok"]
    status = Counter(r.status for r in results)
    out: dict[str, Any] = {
        "n": len(results),
        "ok": status["ok"],
        "errors": status["error"],
        "skipped": status["skipped"],
    }
    support: dict[str, int] = {}
    names = list(_ITEM_MEANS) + sorted({k for r in ok for k in r.metrics if k.startswith("judge_")})
    for name in names:
        values = [r.metrics[name] for r in ok if name in r.metrics]
        support[name] = len(values)
        out[name] = sum(values) / len(values) if values else None
    pairs = [(r.expected_decision, r.decision or "") for r in ok]
    predicted_abstain = [e for e, d in pairs if d == "abstain"]
    expected_abstain = [d for e, d in pairs if e == "abstain"]
    expected_other = [d for e, d in pairs if e != "abstain"]
    true_abstain = sum(1 for e in predicted_abstain if e == "abstain")
    out["abstain_precision"] = true_abstain / len(predicted_abstain) if predicted_abstain else None
    out["abstain_recall"] = true_abstain / len(expected_abstain) if expected_abstain else None
    out["false_abstain_rate"] = (
        sum(1 for d in expected_other if d == "abstain") / len(expected_other) if expected_other else None
    )
    support["abstain_precision"] = len(predicted_abstain)
    support["abstain_recall"] = len(expected_abstain)
    support["false_abstain_rate"] = len(expected_other)
    latencies = [r.latency_ms for r in ok if r.latency_ms is not None]
    out["latency_p50_ms"] = percentile(latencies, 50) if latencies else None
    out["latency_p95_ms"] = percentile(latencies, 95) if latencies else None
    support["latency_p50_ms"] = support["latency_p95_ms"] = len(latencies)
    confusion: dict[str, dict[str, int]] = {}
    for expected, decided in pairs:
        row = confusion.setdefault(expected, {})
        row[decided] = row.get(decided, 0) + 1
    out["confusion_matrix"] = confusion
    out["unstable"] = sum(1 for r in ok if r.judge.get("unstable"))
    out["support"] = support
    return out


def _by(results: Sequence[ItemResult], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        value = getattr(r, key)
        if value is not None:
            groups.setdefault(value, []).append(r)
    return {name: summarize_group(groups[name]) for name in sorted(groups)}


def summarize(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The run's summary: overall, per language, per kind and per (question -> document) language pair.

    ``errors`` and ``skipped`` count items that were not scored; they are never averaged in.
    """
    overall = summarize_group(results)
    return {
        "overall": overall,
        "by_language": _by(results, "language"),
        "by_kind": _by(results, "kind"),
        "by_pair": _by(results, "pair"),
        "items": len(results),
        "errors": overall["errors"],
        "skipped": overall["skipped"],
        "unstable": overall["unstable"],
    }
