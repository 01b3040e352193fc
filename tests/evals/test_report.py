"""The run directory: every file written, JUnit and Markdown readable, HTML self-contained and opening in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from evals.gates import parse_gates
from evals.golden import parse_golden
from evals.suite import evaluate

from .toy_system import GOLDEN_LINES, toy_system


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    golden = parse_golden("\n".join(json.dumps(o) for o in GOLDEN_LINES), path="toy.jsonl")
    out = tmp_path_factory.mktemp("run")
    gates = parse_gates('max_errors = 1\n[overall]\n"hit@5" = 0.5\nfact_recall = 0.9\n')
    outcome = evaluate(toy_system(), golden, out, gates=gates, system_info={"description": "toy <system>"})
    assert outcome.exit_code == 1 and outcome.reason == "1 gate(s) failed"
    return out


def test_every_file_is_written(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "manifest.json",
        "items.jsonl",
        "summary.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "gates.json",
    } <= names
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert len(manifest["golden"]["sha256"]) == 64 and manifest["golden"]["items"] == 7
    assert manifest["versions"]["python"].startswith("3.")
    assert manifest["config"]["follow_up"] == "auto"
    items = [json.loads(line) for line in (run_dir / "items.jsonl").read_text().splitlines()]
    assert [i["id"] for i in items] == [o["id"] for o in GOLDEN_LINES]
    first = items[0]
    assert {"id", "status", "retrieved_doc_ids", "decision", "answer", "citations", "metrics"} <= set(first)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["errors"] == 1
    assert {"hit@5", "mrr@10", "decision_accuracy", "fact_recall"} <= set(summary["overall"])
    assert set(summary["by_language"]) == {"en", "fr", "nl"}


def test_junit_lists_items_and_gates(run_dir: Path) -> None:
    root = ET.parse(run_dir / "junit.xml").getroot()
    items, gates = root.findall("testsuite")
    assert (items.get("tests"), items.get("errors"), items.get("failures")) == ("7", "1", "3")
    assert items.find("testcase[@name='en-boom']/error").get("message") == "RuntimeError: index unavailable"  # type: ignore[union-attr]
    assert gates.get("failures") == "1"


def test_markdown_summary(run_dir: Path) -> None:
    md = (run_dir / "summary.md").read_text()
    assert "**Gates: FAILED** (1/2)" in md
    assert "overall fact_recall = 0.5 (needs >= 0.9)" in md
    assert "| nl | 1 | 0 |" in md


def test_html_is_self_contained_and_escaped(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert "url(" not in html and "@import" not in html
    assert "toy &lt;system&gt;" in html
    assert 'id="by-language"' in html and 'id="confusion"' in html
    assert "RuntimeError: index unavailable" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
def test_html_opens_in_headless_chromium_without_network(run_dir: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--virtual-time-budget=2000",
            "--dump-dom",
            (run_dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<table" in dom and 'id="by-language"' in dom
    for language in ("fr", "nl", "en"):
        assert f"<td>{language}</td>" in dom
    assert 'id="confusion"' in dom and "en-terrace" in dom
