"""The files of a run directory: summary, items, manifest, JUnit XML, Markdown and the HTML report.

``report.html`` is one self-contained file (inline CSS, no script, font or image fetched) so that it
opens from a CI artefact or a mail attachment with no network.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from contact_center.errors import EvaluationError
from evals.gates import GateResult
from evals.metrics import LOWER_IS_BETTER, SUMMARY_METRICS
from evals.results import ItemResult, read_items, write_items

__all__ = [
    "HEADLINE_METRICS",
    "load_run",
    "render_html",
    "render_junit",
    "render_markdown",
    "write_html",
    "write_run",
]

HEADLINE_METRICS: tuple[str, ...] = (
    "hit@5",
    "mrr@10",
    "ndcg@10",
    "decision_accuracy",
    "fact_recall",
    "citation_precision",
    "citation_recall",
    "number_grounding",
    "language_match",
    "false_abstain_rate",
    "latency_p95_ms",
)
"""The columns of the per-language, per-kind and per-pair tables (every figure is in summary.json)."""


def _fmt(value: Any, metric: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if metric.endswith("_ms"):
        return f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{value:.3f}"


def _json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def write_run(
    out_dir: Path,
    *,
    manifest: dict[str, Any],
    results: list[ItemResult],
    summary: dict[str, Any],
    comparison: dict[str, Any] | None = None,
    gates: list[GateResult] | None = None,
) -> None:
    """Write every file of a run directory (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _json(out_dir / "manifest.json", manifest)
    write_items(out_dir / "items.jsonl", results)
    _json(out_dir / "summary.json", summary)
    if comparison is not None:
        _json(out_dir / "comparison.json", comparison)
    if gates is not None:
        _json(out_dir / "gates.json", [g.__dict__ for g in gates])
    (out_dir / "junit.xml").write_text(render_junit(results, gates), encoding="utf-8")
    (out_dir / "summary.md").write_text(
        render_markdown(summary, manifest, comparison, gates), encoding="utf-8"
    )
    write_html(out_dir)


def load_run(run_dir: Path) -> dict[str, Any]:
    """Read a run directory back: ``{"manifest", "summary", "items", "comparison", "gates"}``."""
    if not run_dir.is_dir():
        raise EvaluationError(
            f"{run_dir} is not a directory: give a directory written by 'contact-center eval run'"
        )
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvaluationError(
            f"{exc.filename} is missing: {run_dir} is not a complete run directory"
        ) from None
    except json.JSONDecodeError as exc:
        raise EvaluationError(
            f"{run_dir}: a JSON file is corrupt ({exc}); run the evaluation again"
        ) from None
    comparison_path = run_dir / "comparison.json"
    gates_path = run_dir / "gates.json"
    return {
        "manifest": manifest,
        "summary": summary,
        "items": read_items(run_dir / "items.jsonl"),
        "comparison": json.loads(comparison_path.read_text(encoding="utf-8"))
        if comparison_path.is_file()
        else None,
        "gates": json.loads(gates_path.read_text(encoding="utf-8")) if gates_path.is_file() else None,
    }


def render_junit(results: list[ItemResult], gates: list[GateResult] | None = None) -> str:
    """JUnit XML: one test case per item (failure: its failure reasons; error; skipped) and per gate."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="golden-set")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in results:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname=f"golden.{r.language}.{r.kind}", name=r.id)
        if r.latency_ms is not None:
            case.set("time", f"{r.latency_ms / 1000:.3f}")
        if r.status == "error":
            counts["errors"] += 1
            ET.SubElement(case, "error", message=r.error or "error").text = r.error
        elif r.status == "skipped":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=r.skip_reason or "skipped")
        elif r.failures:
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=r.failures[0]).text = "\n".join(r.failures)
        if r.judge.get("unstable"):
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="judge_unstable", value=",".join(r.judge["unstable"]))
    for key, value in counts.items():
        suite.set(key, str(value))
    if gates:
        gsuite = ET.SubElement(suites, "testsuite", name="gates", tests=str(len(gates)))
        failed = 0
        for g in gates:
            case = ET.SubElement(gsuite, "testcase", classname=f"gates.{g.scope}", name=g.metric)
            if not g.passed:
                failed += 1
                ET.SubElement(case, "failure", message=g.message)
        gsuite.set("failures", str(failed))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _md_table(groups: dict[str, dict[str, Any]], label: str) -> list[str]:
    head = [label, "n", "errors", *HEADLINE_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, g in groups.items():
        cells = [name, str(g["n"]), str(g["errors"]), *(_fmt(g.get(m), m) for m in HEADLINE_METRICS)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(
    summary: dict[str, Any],
    manifest: dict[str, Any],
    comparison: dict[str, Any] | None = None,
    gates: list[GateResult] | None = None,
) -> str:
    """A Markdown summary for a pull request comment."""
    o = summary["overall"]
    golden = manifest.get("golden", {})
    lines = [
        "# Answer-quality evaluation",
        "",
        f"Golden set `{golden.get('path', '?')}` ({summary['items']} items, sha256 `{str(golden.get('sha256', ''))[:12]}`): "
        f"**{o['ok']} ok, {summary['errors']} errors, {summary['skipped']} skipped**"
        + (f", {summary.get('unstable', 0)} judge-unstable" if summary.get("unstable") else "")
        + ".",
        "",
    ]
    if gates is not None:
        failed = [g for g in gates if not g.passed]
        lines.append(
            f"**Gates: {'FAILED' if failed else 'passed'}** ({len(gates) - len(failed)}/{len(gates)})"
        )
        lines.extend(f"- ❌ {g.message}" for g in failed)
        lines.append("")
    lines += ["## Overall", "", "| metric | value | support |", "|---|---|---|"]
    for m in SUMMARY_METRICS:
        lines.append(f"| {m} | {_fmt(o.get(m), m)} | {o['support'].get(m, 0)} |")
    for key in sorted(k for k in o if k.startswith("judge_") and k in o["support"]):
        lines.append(f"| {key} | {_fmt(o.get(key), key)} | {o['support'][key]} |")
    for title, key, label in (
        ("By language", "by_language", "language"),
        ("By kind", "by_kind", "kind"),
        ("By language pair (question -> documents)", "by_pair", "pair"),
    ):
        lines += ["", f"## {title}", "", *_md_table(summary[key], label)]
    if comparison is not None:
        lines += [
            "",
            "## Against the baseline",
            "",
            f"{comparison['paired']} items paired; {len(comparison['improved'])} improved, "
            f"{len(comparison['regressed'])} regressed.",
            "",
            "| metric | baseline | this run | change | 95% CI |",
            "|---|---|---|---|---|",
        ]
        for m in HEADLINE_METRICS:
            c = comparison["metrics"].get(m)
            if not c or c["delta"] is None:
                continue
            ci = c["ci95"]
            ci_s = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–"
            lines.append(f"| {m} | {_fmt(c['a'], m)} | {_fmt(c['b'], m)} | {c['delta']:+.3f} | {ci_s} |")
        if comparison["regressed"]:
            lines += [
                "",
                "Regressed items: " + ", ".join(f"`{r['id']}`" for r in comparison["regressed"][:30]),
            ]
    return "\n".join(lines) + "\n"


def _group_rows(groups: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "n": g["n"],
            "errors": g["errors"],
            "cells": [_fmt(g.get(m), m) for m in HEADLINE_METRICS],
        }
        for name, g in groups.items()
    ]


def render_html(run: dict[str, Any]) -> str:
    """The self-contained HTML report of a run loaded with :func:`load_run`."""
    from jinja2 import Environment, select_autoescape

    template_text = resources.files("evals").joinpath("templates/report.html").read_text(encoding="utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    summary = run["summary"]
    items: list[ItemResult] = run["items"]
    overall = summary["overall"]
    decisions = sorted(
        {d for row in overall["confusion_matrix"].values() for d in row} | set(overall["confusion_matrix"])
    )
    ok = [r for r in items if r.status == "ok"]
    slowest = sorted((r for r in ok if r.latency_ms is not None), key=lambda r: -(r.latency_ms or 0.0))[:10]
    judge_names = sorted(k for k in overall["support"] if k.startswith("judge_"))
    return env.from_string(template_text).render(
        manifest=run["manifest"],
        summary=summary,
        overall_rows=[
            {
                "name": m,
                "value": _fmt(overall.get(m), m),
                "support": overall["support"].get(m, 0),
                "lower": m in LOWER_IS_BETTER,
            }
            for m in (*SUMMARY_METRICS, *judge_names)
        ],
        headline=HEADLINE_METRICS,
        tables=[
            ("By language", "language", _group_rows(summary["by_language"])),
            ("By kind of question", "kind", _group_rows(summary["by_kind"])),
            ("By language pair (question → documents)", "pair", _group_rows(summary["by_pair"])),
        ],
        decisions=decisions,
        confusion=overall["confusion_matrix"],
        slowest=slowest,
        failed=[r for r in ok if r.failures],
        errors=[r for r in items if r.status == "error"],
        skipped=[r for r in items if r.status == "skipped"],
        unstable=[r for r in ok if r.judge.get("unstable")],
        comparison=run.get("comparison"),
        gates=run.get("gates"),
        fmt=_fmt,
    )


def write_html(run_dir: Path) -> Path:
    """(Re)write ``report.html`` of a run directory from its files; returns its path."""
    html = render_html(load_run(run_dir))
    path = run_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
