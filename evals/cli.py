"""``contact-center eval``: run the golden set, compare two runs, render a run's report.

Only typer is imported at module level; everything else inside the commands, so that
``contact-center --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from evals.runner import EvalSystem

__all__ = ["app"]

app = typer.Typer(
    name="eval",
    help="Answer-quality evaluation: run a golden set, compare runs, gate CI (exit 0 pass, 1 gate failed, 2 error).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _build_system(kb: list[Path], data_dir: Path | None) -> tuple[EvalSystem, dict[str, Any]]:
    """A ContactCenter from the environment's settings; with ``--kb``, a fresh one with those paths ingested."""
    import tempfile

    from contact_center import ContactCenter
    from contact_center.settings import Settings

    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    elif kb:
        # A fresh index, so that the run measures exactly the given knowledge base, not what was there before.
        settings = settings.model_copy(update={"data_dir": Path(tempfile.mkdtemp(prefix="cc-eval-"))})
    cc = ContactCenter(settings)
    info: dict[str, Any] = {
        "description": "contact_center.ContactCenter",
        "data_dir": str(settings.data_dir),
        "embedder": settings.embedder,
        "retrieval_mode": settings.retrieval_mode,
        "abstain_threshold": settings.abstain_threshold,
        "chroma_url": settings.chroma_url,
        "generator": "llm" if settings.llm.base_url else "extractive",
        "kb": [str(p) for p in kb],
    }
    if kb:
        report = cc.ingest(kb)
        info["ingest"] = {
            "added": len(report.added),
            "updated": len(report.updated),
            "unchanged": len(report.unchanged),
            "failed": [f.path for f in report.failed],
        }
        for failed in report.failed:
            typer.secho(
                f"warning: {failed.path} not ingested: {failed.reason}", fg=typer.colors.YELLOW, err=True
            )
    # Identity is informative only: a facade without stats() must not stop the run.
    with contextlib.suppress(Exception):
        info["stats"] = cc.stats()
    with contextlib.suppress(Exception):
        info["embedder_identity"] = {"name": str(cc.embedder.name), "dim": int(cc.embedder.dim)}
    return cc, info


_CONSOLE_COLUMNS = (
    ("hit@5", "hit@5"),
    ("mrr@10", "mrr@10"),
    ("decision_accuracy", "decision"),
    ("fact_recall", "facts"),
    ("number_grounding", "numbers"),
    ("language_match", "lang"),
    ("latency_p95_ms", "p95 ms"),
)


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from evals.report import _fmt

    console = Console()
    rows = [("overall", summary["overall"])] + [(f"lang {k}", v) for k, v in summary["by_language"].items()]
    rows += [(f"kind {k}", v) for k, v in summary["by_kind"].items()]
    # Every column needs about 8 characters; on a narrow terminal (or an 80-column CI log) the metrics
    # are split over two tables rather than squeezed until their figures vanish.
    width_needed = 22 + 9 * (len(_CONSOLE_COLUMNS) + 2)
    parts = (
        [_CONSOLE_COLUMNS] if console.width >= width_needed else [_CONSOLE_COLUMNS[:3], _CONSOLE_COLUMNS[3:]]
    )
    for n, columns in enumerate(parts):
        title = "Answer quality (every figure: summary.json, report.html)" if n == 0 else None
        table = Table(title=title)
        table.add_column("group", no_wrap=True, min_width=10)
        table.add_column("n", justify="right", min_width=3)
        table.add_column("err", justify="right", min_width=3)
        for _, label in columns:
            table.add_column(label, justify="right", no_wrap=True, min_width=len(label))
        for name, g in rows:
            cells = (_fmt(g.get(m), m) for m, _ in columns)
            table.add_row(name, str(g["n"]), str(g["errors"]), *cells)
        console.print(table)


@app.command("run")
def run(
    golden: Annotated[
        Path | None, typer.Argument(help="Golden set (.jsonl); default: the sample knowledge base's set.")
    ] = None,
    kb: Annotated[
        list[Path] | None, typer.Option("--kb", help="Ingest these files/folders into a fresh index first.")
    ] = None,
    sample_kb: Annotated[
        bool, typer.Option("--sample-kb", help="Ingest the bundled sample knowledge base into a fresh index.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default: eval-runs/<time>).")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Run directory to compare with, item by item.")
    ] = None,
    gate: Annotated[
        Path | None, typer.Option("--gate", help="Gates TOML file (thresholds, max regression).")
    ] = None,
    judge: Annotated[
        bool, typer.Option("--judge", help="Add LLM-judge metrics (needs CC_LLM__BASE_URL/MODEL).")
    ] = False,
    repeats: Annotated[int, typer.Option("--repeats", min=1, max=10, help="Judge repeats per metric.")] = 3,
    judge_cache: Annotated[
        Path | None,
        typer.Option("--judge-cache", help="Verdict cache (default: <data_dir>/eval-judge-cache.jsonl)."),
    ] = None,
    follow_up: Annotated[
        str,
        typer.Option(
            "--follow-up",
            help="Follow-up items: auto, conversation, concat (turns joined into one question) or skip.",
        ),
    ] = "auto",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Use this data directory's index.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print summary.json instead of tables.")] = False,
) -> None:
    """Evaluate a golden set; write manifest, items, summary, JUnit, Markdown and HTML to the run directory."""
    from contact_center.errors import ContactCenterError, EvaluationError
    from evals.gates import load_gates
    from evals.golden import DEFAULT_GOLDEN, load_golden
    from evals.runner import RunConfig
    from evals.suite import evaluate

    if follow_up not in ("auto", "conversation", "concat", "skip"):
        raise _fail(f"--follow-up must be auto, conversation, concat or skip, not '{follow_up}'")
    try:
        golden_set = load_golden(golden or DEFAULT_GOLDEN)
        gates = load_gates(gate) if gate is not None else None
        if baseline is not None and not (baseline / "items.jsonl").is_file():
            raise EvaluationError(f"--baseline {baseline} is not a run directory (no items.jsonl in it)")
        kb_paths = list(kb or [])
        if sample_kb:
            from contact_center import sample_knowledge_base

            kb_paths.append(Path(sample_knowledge_base()))
        system, info = _build_system(kb_paths, data_dir)
        item_judge = None
        if judge:
            from contact_center.settings import Settings
            from evals.judge import Judge, JudgeConfig, OpenAIChatClient, VerdictCache

            settings = Settings()
            cache_path = judge_cache or Path(data_dir or settings.data_dir) / "eval-judge-cache.jsonl"
            item_judge = Judge(
                OpenAIChatClient(settings.llm), JudgeConfig(repeats=repeats), VerdictCache(cache_path)
            )
    except ContactCenterError as exc:
        raise _fail(str(exc)) from None
    except ImportError as exc:
        raise _fail(
            f"the system under test cannot be loaded ({exc}); is the package fully installed?"
        ) from None

    out_dir = out or Path("eval-runs") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        transient=True,
    ) as progress:
        task = progress.add_task("items", total=len(golden_set), last="")
        outcome = evaluate(
            system,
            golden_set,
            out_dir,
            config=RunConfig(follow_up=follow_up),  # type: ignore[arg-type]  # checked above
            gates=gates,
            baseline=baseline,
            judge=item_judge,
            system_info=info,
            on_item=lambda r: progress.update(task, advance=1, last=f"{r.id} {r.status}"),
        )
    if json_out:
        typer.echo(json.dumps(outcome.summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(outcome.summary)
        gate_results = outcome.gates or []
        for g in gate_results:
            if not g.passed:
                typer.secho("FAIL  " + g.message, fg=typer.colors.RED)
        if gate_results:
            passed = sum(g.passed for g in gate_results)
            typer.echo(f"gates: {passed}/{len(gate_results)} passed (details: gates.json, summary.md)")
        errors = [r for r in outcome.results if r.status == "error"]
        for r in errors[:10]:
            typer.secho(f"error  {r.id}: {r.error}", fg=typer.colors.RED, err=True)
        typer.echo(f"run directory: {out_dir}  (report: {out_dir / 'report.html'})")
    colour = typer.colors.GREEN if outcome.exit_code == 0 else typer.colors.RED
    typer.secho(f"exit {outcome.exit_code}: {outcome.reason}", fg=colour, err=True)
    raise typer.Exit(outcome.exit_code)


@app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run directory.")],
    run_b: Annotated[Path, typer.Argument(help="New run directory.")],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the comparison as JSON here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare run B with baseline A item by item: changes with 95% bootstrap CIs, improved and regressed items."""
    from contact_center.errors import ContactCenterError
    from evals.compare import compare_runs
    from evals.report import HEADLINE_METRICS, _fmt
    from evals.results import read_items

    try:
        comparison = compare_runs(read_items(run_a / "items.jsonl"), read_items(run_b / "items.jsonl"))
    except ContactCenterError as exc:
        raise _fail(str(exc)) from None
    if out is not None:
        out.write_text(json.dumps(comparison, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if json_out:
        typer.echo(json.dumps(comparison, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{run_b} vs baseline {run_a} ({comparison['paired']} items paired)")
    for col in ("metric", "n", "baseline", "new", "change", "95% CI"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name in HEADLINE_METRICS:
        c = comparison["metrics"][name]
        if c["delta"] is None:
            continue
        ci = c["ci95"]
        table.add_row(
            name,
            str(c["n"]),
            _fmt(c["a"], name),
            _fmt(c["b"], name),
            f"{c['delta']:+.3f}",
            f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–",
        )
    Console().print(table)
    typer.echo(f"improved: {len(comparison['improved'])}  regressed: {len(comparison['regressed'])}")
    for r in comparison["regressed"][:20]:
        what = r.get("status") or ", ".join(f"{k} {v:+.2f}" for k, v in r["changes"].items())
        typer.echo(f"  regressed {r['id']}: {what}")
    if comparison["only_a"] or comparison["only_b"]:
        typer.echo(
            f"only in baseline: {len(comparison['only_a'])}, only in new run: {len(comparison['only_b'])}"
        )


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by 'eval run'.")],
    html: Annotated[bool, typer.Option("--html", help="(Re)write report.html.")] = False,
    markdown: Annotated[bool, typer.Option("--md", help="Print summary.md.")] = False,
) -> None:
    """Render a run directory's report: ``--html`` rewrites report.html, ``--md`` prints the Markdown summary."""
    from contact_center.errors import ContactCenterError
    from evals.report import load_run, render_markdown, write_html

    try:
        run = load_run(run_dir)
        if html:
            typer.echo(str(write_html(run_dir)))
        if markdown or not html:
            typer.echo(render_markdown(run["summary"], run["manifest"], run["comparison"]))
    except ContactCenterError as exc:
        raise _fail(str(exc)) from None
