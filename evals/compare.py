"""Compare two runs item by item: what changed, which items improved or regressed, and how sure we are.

Only items present and ``ok`` in both runs are paired. For every metric the change (B minus A, A being
the baseline) comes with a 95 % paired bootstrap confidence interval: items are resampled with
replacement, the metric recomputed on both runs for the same resample, 2,000 times, with a fixed seed so
that the same two runs always give the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evals.metrics import LOWER_IS_BETTER, SUMMARY_METRICS
from evals.results import ItemResult

__all__ = ["compare_runs"]


def _both_abstain(expected: str, decided: str | None) -> bool:
    return expected == "abstain" and decided == "abstain"


def _decided_abstain(expected: str, decided: str | None) -> bool:
    return decided == "abstain"


def _expected_abstain(expected: str, decided: str | None) -> bool:
    return expected == "abstain"


def _false_abstain(expected: str, decided: str | None) -> bool:
    return expected != "abstain" and decided == "abstain"


def _expected_other(expected: str, decided: str | None) -> bool:
    return expected != "abstain"


# Set-level metrics as sum(numerator) / sum(denominator) over items, so that a resample is one sum.
_RATIO: dict[str, tuple[Callable[[str, str | None], bool], Callable[[str, str | None], bool]]] = {
    "abstain_precision": (_both_abstain, _decided_abstain),
    "abstain_recall": (_both_abstain, _expected_abstain),
    "false_abstain_rate": (_false_abstain, _expected_other),
}
_PERCENTILE = {"latency_p50_ms": 50.0, "latency_p95_ms": 95.0}


def _stat(name: str, values: np.ndarray[Any, Any], idx: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The metric on each resample (rows of ``idx``); ``values`` is (n,) or (n, 2) for ratios."""
    if name in _PERCENTILE:
        return np.asarray(np.percentile(values[idx], _PERCENTILE[name], axis=1))
    if values.ndim == 2:
        num = values[:, 0][idx].sum(axis=1)
        den = values[:, 1][idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))
    return np.asarray(values[idx].mean(axis=1))


def _columns(name: str, a: Sequence[ItemResult], b: Sequence[ItemResult]) -> tuple[Any, Any] | None:
    """Per-item arrays for both runs over the items where the metric can be compared."""
    if name in _RATIO:
        num_f, den_f = _RATIO[name]
        cols = []
        for run in (a, b):
            cols.append(
                np.array(
                    [
                        [
                            float(num_f(r.expected_decision, r.decision)),
                            float(den_f(r.expected_decision, r.decision)),
                        ]
                        for r in run
                    ]
                )
            )
        return (cols[0], cols[1]) if len(a) else None
    if name in _PERCENTILE:
        keep = [i for i in range(len(a)) if a[i].latency_ms is not None and b[i].latency_ms is not None]
        if not keep:
            return None
        return (
            np.array([a[i].latency_ms for i in keep], dtype=float),
            np.array([b[i].latency_ms for i in keep], dtype=float),
        )
    keep = [i for i in range(len(a)) if name in a[i].metrics and name in b[i].metrics]
    if not keep:
        return None
    return (
        np.array([a[i].metrics[name] for i in keep], dtype=float),
        np.array([b[i].metrics[name] for i in keep], dtype=float),
    )


def compare_runs(
    items_a: Sequence[ItemResult],
    items_b: Sequence[ItemResult],
    *,
    resamples: int = 2000,
    seed: int = 0,
    eps: float = 1e-9,
) -> dict[str, Any]:
    """Item-by-item comparison of run B against baseline A.

    Returns ``{"common", "only_a", "only_b", "status_changes", "metrics": {name: {"n", "a", "b",
    "delta", "ci95"}}, "improved": [...], "regressed": [...]}``; ``improved`` and ``regressed`` list
    ``{"id", "changes": {metric: delta}}`` for each item whose metric moved in that direction.
    """
    by_a = {r.id: r for r in items_a}
    by_b = {r.id: r for r in items_b}
    common_ids = [i for i in by_a if i in by_b]
    status_changes = [
        {"id": i, "a": by_a[i].status, "b": by_b[i].status}
        for i in common_ids
        if by_a[i].status != by_b[i].status
    ]
    paired = [i for i in common_ids if by_a[i].status == "ok" and by_b[i].status == "ok"]
    a = [by_a[i] for i in paired]
    b = [by_b[i] for i in paired]
    names = list(SUMMARY_METRICS) + sorted({k for r in (*a, *b) for k in r.metrics if k.startswith("judge_")})
    rng = np.random.default_rng(seed)
    metrics: dict[str, Any] = {}
    idx_cache: dict[int, np.ndarray[Any, Any]] = {}
    for name in names:
        cols = _columns(name, a, b)
        if cols is None:
            metrics[name] = {"n": 0, "a": None, "b": None, "delta": None, "ci95": None}
            continue
        col_a, col_b = cols
        n = len(col_a)
        full = np.arange(n)[None, :]
        value_a = float(_stat(name, col_a, full)[0])
        value_b = float(_stat(name, col_b, full)[0])
        if n not in idx_cache:
            # One resample matrix per size so that every metric of the same items sees the same resamples.
            idx_cache[n] = rng.integers(0, n, size=(resamples, n))
        idx = idx_cache[n]
        diffs = _stat(name, col_b, idx) - _stat(name, col_a, idx)
        diffs = diffs[~np.isnan(diffs)]
        ci = [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))] if diffs.size else None
        nan_a, nan_b = np.isnan(value_a), np.isnan(value_b)
        metrics[name] = {
            "n": n,
            "a": None if nan_a else value_a,
            "b": None if nan_b else value_b,
            "delta": None if nan_a or nan_b else value_b - value_a,
            "ci95": ci,
            "lower_is_better": name in LOWER_IS_BETTER,
        }
    improved: list[dict[str, Any]] = []
    regressed: list[dict[str, Any]] = []
    for ra, rb in zip(a, b, strict=True):
        ups: dict[str, float] = {}
        downs: dict[str, float] = {}
        for name in sorted(set(ra.metrics) & set(rb.metrics)):
            if name == "latency_ms":
                continue  # wall time moves on every run; it is compared in aggregate only
            delta = rb.metrics[name] - ra.metrics[name]
            if delta > eps:
                ups[name] = delta
            elif delta < -eps:
                downs[name] = delta
        if ups:
            improved.append({"id": ra.id, "changes": ups})
        if downs:
            regressed.append({"id": ra.id, "changes": downs})
    for change in status_changes:
        entry = {"id": change["id"], "changes": {}, "status": f"{change['a']} -> {change['b']}"}
        worse = change["b"] == "error" or change["a"] == "ok"
        (regressed if worse else improved).append(entry)
    return {
        "common": len(common_ids),
        "paired": len(paired),
        "only_a": [i for i in by_a if i not in by_b],
        "only_b": [i for i in by_b if i not in by_a],
        "status_changes": status_changes,
        "metrics": metrics,
        "improved": improved,
        "regressed": regressed,
        "resamples": resamples,
        "seed": seed,
    }
