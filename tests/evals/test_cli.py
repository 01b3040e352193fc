"""``contact-center eval``: exit codes 0/1/2, run directory, compare and report commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import evals.cli as cli
from evals.cli import app

from .toy_system import GOLDEN_LINES, ToySystem, toy_system

runner = CliRunner()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[ToySystem]:
    """Replace the ContactCenter the CLI would build with the toy system; records each one built."""
    systems: list[ToySystem] = []

    def build(kb: list[Path], data_dir: Path | None) -> tuple[ToySystem, dict[str, Any]]:
        systems.append(toy_system())
        return systems[-1], {"description": "toy", "kb": [str(p) for p in kb]}

    monkeypatch.setattr(cli, "_build_system", build)
    return systems


def _golden(tmp_path: Path, lines: list[dict[str, Any]] | None = None, extra: str = "") -> Path:
    path = tmp_path / "golden.jsonl"
    objs = GOLDEN_LINES if lines is None else lines
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n" + extra, encoding="utf-8")
    return path


def _ok_lines() -> list[dict[str, Any]]:
    return [o for o in GOLDEN_LINES if o["id"] != "en-boom"]


def test_malformed_golden_set_exits_2_before_asking_anything(tmp_path: Path, built: list[ToySystem]) -> None:
    golden = _golden(tmp_path, extra='{"id": "x", "question": "?"}\n')
    result = runner.invoke(app, ["run", str(golden), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert f"{golden}:8: 'language' is missing" in result.output
    assert built == [] and not (tmp_path / "run").exists()


def test_clean_run_exits_0_and_writes_the_run_directory(tmp_path: Path, built: list[ToySystem]) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(_golden(tmp_path, _ok_lines())), "--out", str(out), "--kb", "kb"])
    assert result.exit_code == 0, result.output
    assert "exit 0: no gate file given" in result.output
    assert (out / "report.html").is_file() and (out / "junit.xml").is_file()
    assert json.loads((out / "manifest.json").read_text())["system"]["kb"] == ["kb"]


def test_item_errors_exit_2_unless_the_gate_file_allows_them(tmp_path: Path, built: list[ToySystem]) -> None:
    golden = _golden(tmp_path)
    result = runner.invoke(app, ["run", str(golden), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "1 item(s) in error (at most 0 allowed)" in result.output
    assert "en-boom: RuntimeError: index unavailable" in result.output
    gate = tmp_path / "gates.toml"
    gate.write_text("max_errors = 1\n[overall]\ndecision_accuracy = 0.8\n")
    assert (
        runner.invoke(app, ["run", str(golden), "--out", str(tmp_path / "b"), "--gate", str(gate)]).exit_code
        == 0
    )


def test_failed_gate_exits_1(tmp_path: Path, built: list[ToySystem]) -> None:
    gate = tmp_path / "gates.toml"
    gate.write_text('[overall]\n"hit@5" = 0.99\n')
    result = runner.invoke(
        app, ["run", str(_golden(tmp_path, _ok_lines())), "--out", str(tmp_path / "r"), "--gate", str(gate)]
    )
    assert result.exit_code == 1
    assert "FAIL  overall hit@5 = 0.8 (needs >= 0.99)" in result.output


def test_bad_gate_file_or_baseline_exits_2(tmp_path: Path, built: list[ToySystem]) -> None:
    gate = tmp_path / "gates.toml"
    gate.write_text("[overall]\nhit_at_5 = 0.5\n")
    golden = _golden(tmp_path, _ok_lines())
    result = runner.invoke(app, ["run", str(golden), "--gate", str(gate)])
    assert result.exit_code == 2 and "unknown metric 'hit_at_5'" in result.output
    result = runner.invoke(app, ["run", str(golden), "--baseline", str(tmp_path)])
    assert result.exit_code == 2 and "is not a run directory" in result.output
    assert built == []


def test_judge_without_an_endpoint_exits_2(tmp_path: Path, built: list[ToySystem]) -> None:
    result = runner.invoke(
        app, ["run", str(_golden(tmp_path, _ok_lines())), "--judge", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "CC_LLM__BASE_URL" in result.output


def test_baseline_regression_gate_compare_and_report(
    tmp_path: Path, built: list[ToySystem], monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = _golden(tmp_path, _ok_lines())
    base = tmp_path / "base"
    assert runner.invoke(app, ["run", str(golden), "--out", str(base)]).exit_code == 0

    # The new system loses the French item's retrieval.
    def worse(kb: list[Path], data_dir: Path | None) -> tuple[ToySystem, dict[str, Any]]:
        system = toy_system()
        system.rankings["Combien coûte une carte d'identité ?"] = ["mariage"]
        return system, {"description": "worse"}

    monkeypatch.setattr(cli, "_build_system", worse)
    gate = tmp_path / "gates.toml"
    gate.write_text('[regression]\n"hit@5" = 0.05\n')
    new = tmp_path / "new"
    result = runner.invoke(
        app, ["run", str(golden), "--out", str(new), "--baseline", str(base), "--gate", str(gate)]
    )
    assert result.exit_code == 1, result.output
    assert "FAIL  regression hit@5: change -0.2" in result.output
    comparison = json.loads((new / "comparison.json").read_text())
    assert [r["id"] for r in comparison["regressed"]] == ["fr-cost"]
    assert "Regressed items: `fr-cost`" in (new / "summary.md").read_text()

    result = runner.invoke(app, ["compare", str(base), str(new), "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert "regressed fr-cost: hit@1 -1.00" in result.output
    assert json.loads((tmp_path / "c.json").read_text())["paired"] == 6

    (new / "report.html").unlink()
    result = runner.invoke(app, ["report", str(new), "--html"])
    assert result.exit_code == 0 and (new / "report.html").is_file()
    assert "Against the baseline" in (new / "report.html").read_text()

    assert runner.invoke(app, ["report", str(tmp_path / "nothing")]).exit_code == 2
    assert runner.invoke(app, ["compare", str(base), str(tmp_path)]).exit_code == 2


def test_the_summary_stays_readable_in_an_80_column_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals.cli import _CONSOLE_COLUMNS, _print_summary

    group = {"n": 12, "errors": 1, **{metric: 0.123 for metric, _ in _CONSOLE_COLUMNS}}
    monkeypatch.setenv("COLUMNS", "80")
    _print_summary({"overall": group, "by_language": {"fr": group}, "by_kind": {"factual": group}})
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    for _, label in _CONSOLE_COLUMNS:
        assert label in out  # every column keeps its header instead of collapsing to nothing
    assert "kind factual" in out and "0.123" in out
