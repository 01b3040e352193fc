"""``contact-center campaigns ...``: the command-line face of :mod:`campaigns` (mounted by contact_center.cli).

Only typer is imported at module load; everything else inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Segmented e-mail campaigns: contacts, segments, templates, schedules, the send ledger.",
    no_args_is_help=True,
)
contacts_app = typer.Typer(help="Import residents and manage the suppression list.", no_args_is_help=True)
segment_app = typer.Typer(help="Try segment expressions.", no_args_is_help=True)
bounces_app = typer.Typer(help="Process delivery status notifications.", no_args_is_help=True)
unsubscribe_mail_app = typer.Typer(
    help="Act on unsubscribe requests sent by e-mail (the mailto: link).", no_args_is_help=True
)
app.add_typer(contacts_app, name="contacts")
app.add_typer(segment_app, name="segment")
app.add_typer(bounces_app, name="bounces")
app.add_typer(unsubscribe_mail_app, name="unsubscribe-mail")

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn library errors into a one-line message and exit code 1 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from contact_center.errors import ContactCenterError

        try:
            return func(*args, **kwargs)
        except ContactCenterError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        except ValueError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _service() -> Any:
    from campaigns.service import Campaigns

    return Campaigns()


@contacts_app.command("import")
@_friendly
def contacts_import(
    path: Annotated[Path, typer.Argument(help="CSV with email, first_name, ..., consent + extra columns")],
) -> None:
    """Import residents; bad rows are listed with their line number, good rows are imported."""
    report = _service().import_contacts(path)
    typer.echo(f"{report.inserted} new, {report.updated} updated, {len(report.errors)} rejected")
    for error in report.errors:
        typer.secho(f"  {error}", fg="yellow")
    if report.errors:
        raise typer.Exit(3)


@contacts_app.command("suppress")
@_friendly
def contacts_suppress(
    email: str, reason: str = typer.Option("manual", help="manual, unsubscribed or hard-bounce")
) -> None:
    """Block an address from every campaign."""
    from campaigns.contacts import suppress

    if reason not in ("manual", "unsubscribed", "hard-bounce"):
        raise ValueError(f"reason {reason!r} must be manual, unsubscribed or hard-bounce")
    added = suppress(_service().engine, email, reason, "added from the command line")  # type: ignore[arg-type]
    typer.echo("suppressed" if added else "already suppressed")


@contacts_app.command("unsuppress")
@_friendly
def contacts_unsuppress(email: str) -> None:
    """Lift a suppression (a resident who asked to receive mail again)."""
    from campaigns.contacts import unsuppress

    typer.echo("removed" if unsuppress(_service().engine, email) else "was not suppressed")


@contacts_app.command("suppressions")
@_friendly
def contacts_suppressions() -> None:
    """List suppressed addresses with their reason."""
    from campaigns.contacts import list_suppressions

    for email, reason, detail in list_suppressions(_service().engine):
        typer.echo(f"{email}\t{reason}\t{detail}")


@segment_app.command("count")
@_friendly
def segment_count(expression: str) -> None:
    """How many contacts match EXPRESSION, e.g. 'permit_expires within 60 days and language in ("nl", "fr")'."""
    typer.echo(str(_service().segment_count(expression)))


@app.command("create")
@_friendly
def create(
    name: str,
    segment: Annotated[str, typer.Option(help="segment expression")],
    templates: Annotated[Path, typer.Option(help="folder with fr.subject.txt, fr.txt, fr.html, nl....")],
    from_addr: Annotated[
        str, typer.Option("--from", help='"Bureau des étrangers <etrangers@example.brussels>"')
    ],
    language_policy: Annotated[
        str | None, typer.Option(help="administrative (default) or contact-language")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="store the templates, segment and sender again over a draft")
    ] = False,
) -> None:
    """Create a draft campaign (or, with --replace, update a draft after editing its templates)."""
    if language_policy not in (None, "administrative", "contact-language"):
        raise ValueError("--language-policy must be administrative or contact-language")
    service = _service()
    replaced = service.create(
        name,
        segment=segment,
        templates=templates,
        from_addr=from_addr,
        language_policy=language_policy,
        replace=replace,
    )
    verb = "replaced the draft" if replaced else "created"
    typer.echo(f"{verb} {name!r}: {service.segment_count(segment)} contacts in the segment now")


@app.command("list")
@_friendly
def list_campaigns() -> None:
    """Every campaign with its status."""
    for name, status, recipients in _service().list_campaigns():
        typer.echo(f"{name}\t{status}\t{recipients}")


@app.command("check")
@_friendly
def check(name: str) -> None:
    """Render every template for every recipient and list the failures with the contacts affected."""
    problems = _service().check(name)
    for problem in problems:
        typer.secho(str(problem), fg="red")
    if problems:
        raise typer.Exit(1)
    typer.echo("every message renders")


@app.command("preview")
@_friendly
def preview(
    name: str, contact: str = typer.Option(..., help="contact e-mail"), language: str = typer.Option(None)
) -> None:
    """Print the message CONTACT would receive."""
    message = _service().preview(name, contact, language=language)
    typer.echo(message.as_string())


@app.command("test-send")
@_friendly
def test_send(name: str, to: str = typer.Option(..., help="staff address")) -> None:
    """Send one test message per language to a staff address."""
    import asyncio

    for result in asyncio.run(_service().test_send(name, to)):
        typer.echo(f"{result.code} {result.message_id} {result.reply}")


@app.command("schedule")
@_friendly
def schedule(
    name: str,
    at: str = typer.Option(None, help='"YYYY-MM-DD HH:MM" Brussels time (default: now)'),
    window: str = typer.Option(None, help='"mon-fri 09:00-17:00"'),
    rate: str = typer.Option(None, help="50/s, 3000/min..."),
    deadline: str = typer.Option(None, help="warn when the estimated finish falls after this time"),
    confirm_late: bool = typer.Option(False, help="accept a start time past the grace period"),
) -> None:
    """Check every message renders, fill the ledger and set the start."""
    from campaigns.schedule import format_local

    report = _service().schedule(
        name, at=at, window=window, rate=rate, deadline=deadline, confirm_late=confirm_late
    )
    typer.echo(
        f"scheduled {name!r} for {format_local(report.starts_at)}: {report.recipients} recipients "
        f"({report.suppressed} suppressed) by language {report.by_language}"
    )


@app.command("confirm")
@_friendly
def confirm(name: str) -> None:
    """Send a campaign whose start is past by more than the grace period."""
    _service().confirm(name)
    typer.echo(f"{name!r} confirmed; the next 'run' sends it")


@app.command("pause")
@_friendly
def pause(name: str) -> None:
    """Stop sending after the messages in flight."""
    _service().pause(name)
    typer.echo(f"{name!r} paused")


@app.command("resume")
@_friendly
def resume(name: str) -> None:
    """Continue a paused campaign from the ledger."""
    _service().resume(name)
    typer.echo(f"{name!r} resumed")


@app.command("run")
@_friendly
def run(
    once: bool = typer.Option(False, help="exit when nothing is due"),
    campaign: str = typer.Option(None, help="only this campaign"),
    worker_id: str = typer.Option(None, help="stable id: a restart recovers its own rows at once"),
) -> None:
    """The worker: sends what is due and resumes what was interrupted (Ctrl-C stops cleanly)."""
    import asyncio
    import signal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from campaigns.worker import Worker, run_async

    service = _service()
    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as bar:

        def on_progress(name: str, state: str) -> None:
            if name not in tasks:
                total = service.status(name)
                tasks[name] = bar.add_task(
                    name,
                    total=total.total,
                    completed=total.total
                    - total.counts["pending"]
                    - total.counts["deferred"]
                    - total.counts["claimed"],
                )
            if state != "deferred":
                bar.advance(tasks[name])

        async def go() -> Any:
            mailer = service.mailer()
            worker = Worker(
                service.engine, service.settings, mailer, worker_id=worker_id, on_progress=on_progress
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.stop)
            try:
                return await worker.run(once=once, campaign=campaign)
            finally:
                await mailer.aclose()

        report = run_async(go())
    typer.echo(
        f"sent {report.sent}, deferred {report.deferred}, failed {report.failed}, suppressed {report.suppressed}; "
        f"recovered {report.recovered} interrupted rows ({report.uncertain} uncertain)"
    )
    for name in report.needs_confirmation:
        typer.secho(
            f"{name!r}: start is past the grace period; run 'contact-center campaigns confirm {name}'",
            fg="yellow",
        )


@app.command("status")
@_friendly
def status(name: str, as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Counts per state and language, errors by SMTP reply, rate and estimated finish."""
    import json

    from campaigns.schedule import format_local

    st = _service().status(name)
    if as_json:
        typer.echo(json.dumps(st.to_json(), indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{st.campaign}[/bold]  {st.status}  {st.total} recipients")
    table = Table("language", *st.counts.keys())
    for language, counts in sorted(st.by_language.items()):
        table.add_row(language, *(str(counts.get(s, 0)) for s in st.counts))
    table.add_row("[bold]all[/bold]", *(str(n) for n in st.counts.values()))
    console.print(table)
    console.print(
        f"uncertain: {st.uncertain}   rate: {st.rate or 'unlimited'}/s   sent in the last minute: {st.sent_last_minute}"
    )
    if st.estimated_finish is not None:
        console.print(f"estimated finish: {format_local(st.estimated_finish)}")
    for code, reply, n in st.errors:
        console.print(f"  {n:6d} × {code if code is not None else '---'} {reply}")
    for warning in st.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@app.command("export")
@_friendly
def export(
    name: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file (default: stdout)")] = None,
) -> None:
    """Write the ledger as CSV."""
    import sys

    service = _service()
    if output is None:
        service.export(name, sys.stdout)
        return
    try:
        fh = output.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        typer.secho(f"error: cannot write {output}: {exc.strerror}", fg="red", err=True)
        raise typer.Exit(1) from None
    with fh:
        n = service.export(name, fh)
    typer.echo(f"{n} rows written to {output}", err=True)


@app.command("unsubscribe-server")
@_friendly
def unsubscribe_server(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8025)) -> None:
    """Serve the one-click unsubscribe endpoint (RFC 8058) at /unsubscribe."""
    import uvicorn

    from campaigns.unsubscribe import unsubscribe_app

    service = _service()
    uvicorn.run(
        unsubscribe_app(service.engine, service.settings.secret_key.get_secret_value()), host=host, port=port
    )


@bounces_app.command("process")
@_friendly
def bounces_process(maildir: Path) -> None:
    """Suppress hard-bounced addresses and count soft bounces from RFC 3464 reports in MAILDIR."""
    report = _service().process_bounces(maildir)
    typer.echo(
        f"{report.messages} messages: {len(report.hard)} hard bounces (suppressed), {len(report.soft)} soft, "
        f"{report.not_reports} not delivery reports (left unread)"
    )


@unsubscribe_mail_app.command("process")
@_friendly
def unsubscribe_mail_process(maildir: Path) -> None:
    """Suppress the addresses whose unsubscribe request (subject 'unsubscribe TOKEN') arrived in MAILDIR."""
    from campaigns.unsubscribe import process_unsubscribe_mail

    service = _service()
    report = process_unsubscribe_mail(service.engine, service.settings.secret_key.get_secret_value(), maildir)
    typer.echo(
        f"{report.messages} messages: {report.unsubscribed} unsubscribed; left unread for a person: "
        f"{report.invalid} with an invalid token, {report.other} other"
    )
