"""The answer-quality evaluation suite: golden sets, metrics, runner, comparison, gates and reports.

Typical use, as the CLI does it::

    from evals import RunConfig, evaluate, load_gates, load_golden
    outcome = evaluate(cc, load_golden("evals/golden/sample.jsonl"), Path("eval-runs/now"),
                       gates=load_gates("evals/gates.toml"))
    outcome.exit_code   # 0 pass, 1 a gate failed, 2 evaluation error

Names are imported on first use so that ``import evals`` stays cheap (numpy and Jinja2 load only when a
comparison or report is made).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evals.compare import compare_runs
    from evals.gates import GateFileError, GateResult, Gates, check_gates, load_gates, parse_gates
    from evals.golden import DEFAULT_GOLDEN, GoldenItem, GoldenSet, GoldenSetError, load_golden, parse_golden
    from evals.judge import Judge, JudgeConfig, OpenAIChatClient, VerdictCache
    from evals.metrics import retrieval_metrics, summarize
    from evals.report import load_run, write_html, write_run
    from evals.results import ItemResult, read_items
    from evals.runner import EvalSystem, RunConfig, run_items
    from evals.suite import RunOutcome, evaluate

__all__ = [
    "DEFAULT_GOLDEN",
    "EvalSystem",
    "GateFileError",
    "GateResult",
    "Gates",
    "GoldenItem",
    "GoldenSet",
    "GoldenSetError",
    "ItemResult",
    "Judge",
    "JudgeConfig",
    "OpenAIChatClient",
    "RunConfig",
    "RunOutcome",
    "VerdictCache",
    "check_gates",
    "compare_runs",
    "evaluate",
    "load_gates",
    "load_golden",
    "load_run",
    "parse_gates",
    "parse_golden",
    "read_items",
    "retrieval_metrics",
    "run_items",
    "summarize",
    "write_html",
    "write_run",
]

_HOME = {
    "compare_runs": "compare",
    "GateFileError": "gates",
    "GateResult": "gates",
    "Gates": "gates",
    "check_gates": "gates",
    "load_gates": "gates",
    "parse_gates": "gates",
    "DEFAULT_GOLDEN": "golden",
    "GoldenItem": "golden",
    "GoldenSet": "golden",
    "GoldenSetError": "golden",
    "load_golden": "golden",
    "parse_golden": "golden",
    "Judge": "judge",
    "JudgeConfig": "judge",
    "OpenAIChatClient": "judge",
    "VerdictCache": "judge",
    "retrieval_metrics": "metrics",
    "summarize": "metrics",
    "load_run": "report",
    "write_html": "report",
    "write_run": "report",
    "ItemResult": "results",
    "read_items": "results",
    "EvalSystem": "runner",
    "RunConfig": "runner",
    "run_items": "runner",
    "RunOutcome": "suite",
    "evaluate": "suite",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'evals' has no attribute {name!r}")
    return getattr(importlib.import_module(f"evals.{module}"), name)
