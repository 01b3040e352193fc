"""The ``contact-center`` command.

Kept light at import time (typer and rich only): ``contact-center --help`` answers at once, and each
command imports what it needs. Errors of the library are printed as one clear line and exit with 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from contact_center.facade import ContactCenter
    from contact_center.models import Answer, Hit, IngestReport

__all__ = ["app", "main"]

app = typer.Typer(
    name="contact-center",
    help="AI-assisted contact centre for the City of Brussels: grounded, cited answers over City procedures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, Any] = {}

F = TypeVar("F", bound=Callable[..., Any])

DEMO_QUESTIONS = (
    "Combien coûte une carte d'identité ?",
    "Wat moet ik meebrengen voor een huwelijksaangifte?",
    "How do I apply for a terrace permit for my café?",
    "¿Cómo puedo registrarme como ciudadano europeo en Bruselas?",
    "Quel temps fera-t-il à Bruxelles ce week-end ?",
)


def _errors(func: F) -> F:
    """Print library errors as one line on stderr and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from contact_center.errors import ContactCenterError

        try:
            return func(*args, **kwargs)
        except ContactCenterError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _root(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="CC_DATA_DIR", help="Where indexes and the database live."),
    ] = None,
) -> None:
    _state["data_dir"] = data_dir


def _center() -> ContactCenter:
    from contact_center.facade import ContactCenter
    from contact_center.settings import Settings

    data_dir = _state.get("data_dir")
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    return ContactCenter(settings)


def _ingest_with_progress(cc: ContactCenter, paths: list[Path], prune: bool) -> IngestReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            label = {"scan": "Reading documents", "embed": "Embedding chunks"}.get(stage, stage)
            if stage not in tasks:
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return cc.ingest(paths, prune=prune, progress=progress)


def _print_report(report: IngestReport) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    console.print(
        f"[green]{len(report.added)} added[/], {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/] "
        f"({report.chunks_embedded} chunks embedded)"
    )
    for failure in report.failed:
        console.print(f"  [red]skipped[/] {failure.path}: {failure.reason}", highlight=False)


def _print_answer(answer: Answer) -> None:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.panel import Panel

    console = Console()
    colour = {"answer": "green", "abstain": "yellow", "clarify": "cyan", "handoff": "magenta"}[
        answer.decision
    ]
    title = f"[{colour}]{answer.decision}[/] · {answer.language} · confidence {answer.confidence:.2f}"
    panel = Panel(Markdown(answer.text), title=title, title_align="left")
    console.print(panel)
    for citation in answer.citations:
        section = f" › {citation.section}" if citation.section else ""
        console.print(f"  [dim]source:[/] {citation.title}{section} {citation.source_url}", highlight=False)


@app.command()
@_errors
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders of .md (YAML front matter), .html, .pdf")
    ],
    prune: Annotated[bool, typer.Option(help="Remove documents gone from the given folders.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit with 1 when any document failed.")] = False,
) -> None:
    """Ingest procedure pages; unchanged ones are skipped, broken ones listed with the reason."""
    with _center() as cc:
        report = _ingest_with_progress(cc, paths, prune)
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _print_report(report)
    if strict and report.failed:
        raise typer.Exit(1)


@app.command()
@_errors
def search(
    question: Annotated[str, typer.Argument(help="The citizen's question.")],
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many passages.")] = 5,
    language: Annotated[
        str | None, typer.Option(help="Only documents in this language (fr, nl, en...).")
    ] = None,
    topic: Annotated[
        str | None, typer.Option(help="Only documents of this topic (etat-civil, horeca...).")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="dense, lexical or hybrid (default: CC_RETRIEVAL_MODE).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the hits as a JSON list.")] = False,
) -> None:
    """Show the passages that best match a question."""
    from contact_center.errors import ConfigurationError

    if mode not in (None, "dense", "lexical", "hybrid"):
        raise ConfigurationError(f"--mode must be dense, lexical or hybrid, not {mode!r}")
    with _center() as cc:
        hits: list[Hit] = cc.search(question, k, language=language, topic=topic, mode=mode)  # type: ignore[arg-type]
    if json_output:
        typer.echo(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "score", "document", "section", "lang", "passage", show_lines=True)
    for n, hit in enumerate(hits, 1):
        snippet = hit.text.partition("\n\n")[2][:160].replace("\n", " ")
        table.add_row(str(n), f"{hit.score:.3f}", hit.doc_id, hit.section, hit.language, snippet)
    Console().print(table)
    if not hits:
        typer.echo("no passage found: is the knowledge base ingested? (contact-center ingest PATH)", err=True)


@app.command()
@_errors
def ask(
    question: Annotated[str, typer.Argument(help="The citizen's question.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    conversation: Annotated[
        str | None,
        typer.Option(
            "--conversation",
            help="Ask within this stored conversation (follow-ups, handoff); 'new' starts one and prints its id.",
        ),
    ] = None,
) -> None:
    """Answer a question with citations, or abstain and say where to turn."""
    with _center() as cc:
        if conversation is None:
            answer = cc.ask(question)
        else:
            conv = cc.conversation(None if conversation == "new" else conversation, channel="cli")
            answer = conv.ask(question)
            typer.echo(f"conversation: {conv.id}", err=True)
    if json_output:
        typer.echo(answer.model_dump_json(indent=2))
    else:
        _print_answer(answer)


@app.command()
@_errors
def demo(
    questions: Annotated[
        list[str] | None, typer.Argument(help="Questions to ask instead of the built-in FR/NL/EN ones.")
    ] = None,
) -> None:
    """Ingest the bundled sample knowledge base and answer a few FR/NL/EN questions, offline."""
    from contact_center import sample_knowledge_base

    with _center() as cc:
        typer.secho(
            f"Knowledge base: {sample_knowledge_base()}  →  {cc.data_dir}", fg=typer.colors.BLUE, err=True
        )
        _print_report(_ingest_with_progress(cc, [sample_knowledge_base()], prune=True))
        for question in questions or DEMO_QUESTIONS:
            typer.secho(f"\n? {question}", bold=True)
            _print_answer(cc.ask(question))


@app.command()
@_errors
def chat(
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue this stored conversation.")
    ] = None,
    channel: Annotated[str, typer.Option(help="Channel recorded with a new conversation.")] = "cli",
) -> None:
    """A plain chat in the terminal: follow-ups, clarify and handoff as on the portal (/quit to leave)."""
    from contact_center.errors import InvalidQuestionError

    with _center() as cc:
        conv = cc.conversation(conversation, channel=channel)
        typer.secho(
            f"conversation {conv.id} · /resume hands back to the bot after a handoff · /quit or Ctrl-D to leave",
            fg=typer.colors.BLUE,
            err=True,
        )
        while True:
            try:
                line = input("> ")
            except (EOFError, KeyboardInterrupt):
                typer.echo("", err=True)
                break
            command = line.strip().lower()
            if command in {"/quit", "/exit", "/q"}:
                break
            if command == "/resume":
                conv.resume_bot()
                typer.secho("the bot answers again", fg=typer.colors.BLUE, err=True)
                continue
            if not command:
                continue
            try:
                answer = conv.ask(line)
            except InvalidQuestionError as exc:
                typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
                continue
            _print_answer(answer)
            if answer.decision == "handoff" and conv.handoff_packet is not None:
                typer.secho("handed over to an agent: the bot is paused", fg=typer.colors.MAGENTA, err=True)
        typer.echo(f"conversation: {conv.id}", err=True)


def _mount(module: str, name: str, help_text: str) -> None:
    """Mount a package's command group when that package provides one."""
    import importlib

    try:
        sub = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return
    app.add_typer(sub.app, name=name, help=help_text)


_mount("campaigns.cli", "campaigns", "E-mail campaigns: contacts, segments, templates, schedules, sending.")
_mount("contact_center.journeys.cli", "journeys", "Online procedure journeys: funnels, abandonment, nudges.")
_mount("evals.cli", "eval", "Measure answer quality against a golden set, compare runs, gate CI.")


def main() -> None:
    """Entry point of the ``contact-center`` script."""
    app()
