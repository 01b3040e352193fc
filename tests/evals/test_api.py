"""The public API of evals: pinned, resolvable, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import evals

EXPECTED = {
    "DEFAULT_GOLDEN", "EvalSystem", "GateFileError", "GateResult", "Gates", "GoldenItem", "GoldenSet",
    "GoldenSetError", "ItemResult", "Judge", "JudgeConfig", "OpenAIChatClient", "RunConfig", "RunOutcome",
    "VerdictCache", "check_gates", "compare_runs", "evaluate", "load_gates", "load_golden", "load_run",
    "parse_gates", "parse_golden", "read_items", "retrieval_metrics", "run_items", "summarize", "write_html",
    "write_run",
}  # fmt: skip


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert set(evals.__all__) == EXPECTED
    for name in evals.__all__:
        assert getattr(evals, name) is not None


def test_importing_evals_and_its_cli_stays_light() -> None:
    code = (
        "import sys, evals, evals.cli; "
        "heavy = [m for m in ('numpy', 'jinja2', 'openai', 'rich.progress', 'contact_center.facade', 'ranx') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
