"""Quality gates read from a TOML file, checked against a run's summary (and its baseline comparison).

Example ``gates.toml``::

    max_errors = 0            # items whose status is 'error' that are tolerated (default 0)

    [overall]                 # absolute thresholds: a minimum, or a maximum for lower-is-better metrics
    "hit@5" = 0.80
    decision_accuracy = 0.85
    latency_p95_ms = 2000

    [by_language.nl]
    "hit@5" = 0.75

    [by_kind.out_of_scope]
    abstain_recall = 0.80

    [regression]              # largest drop tolerated against --baseline (same items, metric units)
    "hit@5" = 0.02
    fact_recall = 0.03

Exit codes of ``eval run``: 0 every gate passes, 1 a gate failed, 2 the evaluation could not be trusted
(bad golden set or gate file, or more erroring items than ``max_errors``).
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contact_center.errors import EvaluationError
from evals.metrics import LOWER_IS_BETTER, SUMMARY_METRICS

__all__ = ["GateFileError", "GateResult", "Gates", "check_gates", "load_gates", "parse_gates"]

_GROUPS = {"by_language", "by_kind", "by_pair"}
_JUDGE_METRICS = ("judge_faithfulness", "judge_correctness", "judge_abstain")


class GateFileError(EvaluationError):
    """A gate file that cannot be used (syntax, unknown metric, a value that is not a number)."""


@dataclass(frozen=True)
class Gates:
    """Thresholds: ``absolute[(scope, metric)]`` where scope is ``overall`` or ``by_language.fr``..."""

    absolute: dict[tuple[str, str], float] = field(default_factory=dict)
    regression: dict[str, float] = field(default_factory=dict)
    max_errors: int = 0


@dataclass(frozen=True)
class GateResult:
    """One gate and how the run fared against it."""

    scope: str
    metric: str
    kind: str
    threshold: float
    value: float | None
    passed: bool
    message: str


def _known(metric: str, where: str) -> None:
    known = (*SUMMARY_METRICS, *_JUDGE_METRICS)
    if metric not in known:
        close = difflib.get_close_matches(metric, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known metrics: {', '.join(known)}"
        raise GateFileError(f"{where}: unknown metric '{metric}'{hint}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GateFileError(f"{where}: the threshold must be a number, got {value!r}")
    return float(value)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GateFileError(f"{where}: expected a table of metric = threshold, got {value!r}")
    return value


def parse_gates(text: str, *, path: str = "<gates>") -> Gates:
    """Validate gate TOML; raise :class:`GateFileError` naming the file and the bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GateFileError(f"{path}: not valid TOML ({exc}); see docs/evals.md for the format") from None
    absolute: dict[tuple[str, str], float] = {}
    regression: dict[str, float] = {}
    max_errors = 0
    for key, value in data.items():
        where = f"{path}: [{key}]"
        if key == "max_errors":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GateFileError(f"{path}: max_errors must be a whole number >= 0, got {value!r}")
            max_errors = value
        elif key in ("overall", "regression"):
            for metric, threshold in _table(value, where).items():
                _known(metric, f"{where} {metric}")
                number = _number(threshold, f"{where} {metric}")
                if key == "overall":
                    absolute[("overall", metric)] = number
                else:
                    regression[metric] = number
        elif key in _GROUPS:
            for group, metrics in _table(value, where).items():
                for metric, threshold in _table(metrics, f"{path}: [{key}.{group}]").items():
                    _known(metric, f"{path}: [{key}.{group}] {metric}")
                    absolute[(f"{key}.{group}", metric)] = _number(
                        threshold, f"{path}: [{key}.{group}] {metric}"
                    )
        else:
            allowed = ["max_errors", "overall", "regression", *sorted(_GROUPS)]
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; use one of {', '.join(allowed)}"
            raise GateFileError(f"{path}: unknown section '{key}'{hint}")
    return Gates(absolute=absolute, regression=regression, max_errors=max_errors)


def load_gates(path: str | Path) -> Gates:
    """Read and validate a gate file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise GateFileError(f"gate file {p} cannot be read ({exc.strerror}); check the --gate path") from None
    return parse_gates(text, path=str(p))


def _scope_summary(summary: dict[str, Any], scope: str) -> dict[str, Any] | None:
    if scope == "overall":
        overall: dict[str, Any] = summary["overall"]
        return overall
    group, _, name = scope.partition(".")
    found: dict[str, Any] | None = summary.get(group, {}).get(name)
    return found


def check_gates(
    gates: Gates, summary: dict[str, Any], comparison: dict[str, Any] | None = None
) -> list[GateResult]:
    """Every gate's outcome. A gated metric with no value (no item supports it) fails, saying so.

    Regression gates need ``comparison`` (from :func:`evals.compare.compare_runs`); without a baseline
    they are reported as passed with the note 'not checked'.
    """
    out: list[GateResult] = []
    for (scope, metric), threshold in sorted(gates.absolute.items()):
        group = _scope_summary(summary, scope)
        value = None if group is None else group.get(metric)
        lower = metric in LOWER_IS_BETTER
        if group is None:
            out.append(
                GateResult(
                    scope, metric, "absolute", threshold, None, False, f"{scope}: no item in this group"
                )
            )
            continue
        if value is None:
            msg = f"{scope} {metric}: no value (no item to measure it on)"
            out.append(GateResult(scope, metric, "absolute", threshold, None, False, msg))
            continue
        passed = value <= threshold if lower else value >= threshold
        op = "<=" if lower else ">="
        msg = f"{scope} {metric} = {value:.4g} (needs {op} {threshold:.4g})"
        out.append(GateResult(scope, metric, "absolute", threshold, float(value), passed, msg))
    for metric, max_drop in sorted(gates.regression.items()):
        if comparison is None:
            msg = f"regression {metric}: not checked (no --baseline given)"
            out.append(GateResult("regression", metric, "regression", max_drop, None, True, msg))
            continue
        entry = comparison.get("metrics", {}).get(metric)
        if entry is None or entry.get("delta") is None:
            msg = f"regression {metric}: no item has it in both runs, cannot compare"
            out.append(GateResult("regression", metric, "regression", max_drop, None, False, msg))
            continue
        delta = float(entry["delta"])
        drop = delta if metric in LOWER_IS_BETTER else -delta
        passed = drop <= max_drop
        msg = f"regression {metric}: change {delta:+.4g} vs baseline (largest drop allowed {max_drop:.4g})"
        out.append(GateResult("regression", metric, "regression", max_drop, delta, passed, msg))
    return out
