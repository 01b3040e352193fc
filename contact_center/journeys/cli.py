"""``contact-center journeys ...``: procedures, ingestion, funnels, abandonment, nudges, uplift, server.

Only typer is imported at module level; everything else is imported inside the command that needs it,
so ``contact-center --help`` stays fast. Exit codes: 0 done, 1 done but some input was rejected (or,
for ``nudge``, some nudges failed to send), 2 nothing done (bad input or configuration; the message
says what to fix).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from contact_center.journeys.help import KnowledgeSearch
    from contact_center.journeys.nudges import NudgeReport
    from contact_center.journeys.store import JourneyStore
    from contact_center.settings import Settings

__all__ = ["app", "configure_search"]

app = typer.Typer(
    name="journeys",
    help="Abandoned online procedures: funnels, abandoned journeys, nudges and their uplift.",
    no_args_is_help=True,
)

_search_factory: Callable[[Settings], KnowledgeSearch | None] | None = None


def configure_search(factory: Callable[[Settings], KnowledgeSearch | None]) -> None:
    """Set how commands get the knowledge-base search (e.g. ``lambda s: ContactCenter(s)``).

    Without it, the commands try ``contact_center.ContactCenter(settings)`` and go without help when
    that is not available.
    """
    global _search_factory
    _search_factory = factory


def _search(settings: Settings) -> KnowledgeSearch | None:
    if _search_factory is not None:
        return _search_factory(settings)
    import importlib

    try:
        facade = getattr(importlib.import_module("contact_center"), "ContactCenter", None)
        if facade is None:
            typer.secho("note: no knowledge base wired in; help lists stay empty", err=True, fg="yellow")
            return None
        search: KnowledgeSearch = facade(settings)
        return search
    except Exception as exc:  # the knowledge base is optional for these commands
        typer.secho(f"note: no knowledge-base help ({exc.__class__.__name__}: {exc})", err=True, fg="yellow")
        return None


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(2)


def _context() -> tuple[Settings, JourneyStore]:
    from contact_center.errors import ContactCenterError
    from contact_center.journeys.store import JourneyStore
    from contact_center.settings import Settings

    try:
        settings = Settings()
        return settings, JourneyStore(settings.journeys_url)
    except ContactCenterError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"invalid configuration: {exc}")


def _when(value: str | None, option: str) -> datetime | None:
    """ISO date or time; without an offset it is Brussels local time, as service owners mean it."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not an ISO date or time (like 2026-11-01 or 2026-11-22T12:00)")
    if parsed.tzinfo is None:
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/Brussels"))
    return parsed


def _window(seconds: int) -> str:
    """An idle window as the procedures file would write it: 48h, 1h30m, 30m, 45s."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _guard(fn: Callable[[], None]) -> None:
    from contact_center.errors import ContactCenterError

    try:
        fn()
    except ContactCenterError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc))


@app.command()
def procedures(
    file: Annotated[
        Path, typer.Argument(help="YAML file: procedures, their ordered steps, idle window, resume URL.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Register (or update) the procedures from a YAML file."""

    def run() -> None:
        from contact_center.journeys.procedures import load_procedures

        catalog = load_procedures(file)
        _, store = _context()
        update = store.register_procedures(catalog)
        if as_json:
            _print_json(update.model_dump())
            return
        for slug, proc in catalog.items():
            state = "added" if slug in update.added else "updated" if slug in update.updated else "unchanged"
            typer.echo(f"{slug}: {len(proc.steps)} steps, idle window {_window(proc.idle_seconds)} ({state})")
        flagged = store.flagged()
        if flagged:
            typer.secho(
                f"{sum(f.events for f in flagged)} stored events still name unknown procedures or steps",
                fg="yellow",
            )

    _guard(run)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Events as JSON Lines (.jsonl) or CSV (.csv).")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file's suffix).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Store journey events; replaying a file adds nothing. Exit code 1 when some lines were rejected."""
    if fmt not in (None, "jsonl", "csv"):
        _fail(f"--format {fmt!r}: use jsonl or csv")

    def run() -> None:
        _, store = _context()
        result = store.ingest_file(file, fmt)  # type: ignore[arg-type]
        if as_json:
            _print_json(result.model_dump())
        else:
            typer.echo(
                f"read {result.read} events: {result.added} added, {result.duplicates} already stored, "
                f"{result.rejected_count} rejected"
            )
            for rejection in result.rejected[:20]:
                typer.secho(f"  line {rejection['line']}: {rejection['reason']}", fg="red", err=True)
            if result.rejected_count > 20:
                typer.secho(
                    f"  ... {result.rejected_count - 20} more (use --json for all)", fg="red", err=True
                )
            for flag in result.flagged:
                what = (
                    f"step {flag.step!r} of {flag.procedure}"
                    if flag.step
                    else f"procedure {flag.procedure!r}"
                )
                typer.secho(f"  stored but flagged: {flag.events} events name unknown {what}", fg="yellow")
        if result.rejected_count:
            raise typer.Exit(1)

    _guard(run)


@app.command()
def funnel(
    procedure: Annotated[
        str | None,
        typer.Argument(
            help="Procedure slug, e.g. marriage-declaration; without it, every registered procedure."
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Journeys started on or after (ISO date/time).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Journeys started before (ISO date/time).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Break down by channel or language.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Report time (default now): later events are ignored.")
    ] = None,
    within: Annotated[
        str | None,
        typer.Option(
            "--within",
            help="Conversion window, e.g. 7d or 48h: only events that long after a journey's start count.",
        ),
    ] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also write the chart to this .png or .svg file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the funnel as JSON (a list of funnels without a procedure).")
    ] = False,
) -> None:
    """Where citizens drop off: reached, completed and dropped per step, time per step, completion rate."""
    if by not in (None, "channel", "language"):
        _fail(f"--by {by!r}: use channel or language")
    window = None
    if within is not None:
        from datetime import timedelta

        from contact_center.journeys.procedures import parse_duration

        try:
            window = timedelta(seconds=parse_duration(within))
        except ValueError as exc:
            _fail(f"--within: {exc}")
    if chart is not None and procedure is None:
        _fail(
            "--chart draws one procedure's funnel: name the procedure, e.g. journeys funnel marriage-declaration"
        )

    def run() -> None:
        from contact_center.journeys.funnel import compute_funnels

        _, store = _context()
        results = compute_funnels(
            store,
            None if procedure is None else [procedure],
            start=_when(start, "--from"),
            end=_when(end, "--to"),
            by=by,  # type: ignore[arg-type]
            as_of=_when(as_of, "--as-of"),
            within=window,
        )
        if chart is not None and procedure is not None:
            from contact_center.journeys.charts import save_funnel_chart

            save_funnel_chart(results[procedure], chart)
        if as_json:
            data = [json.loads(result.model_dump_json()) for result in results.values()]
            _print_json(data[0] if procedure is not None else data)
            return
        if not results:
            typer.echo(
                "no procedures registered yet: load them with `contact-center journeys procedures FILE`"
            )
            return
        from rich.console import Console

        from contact_center.journeys.charts import funnel_table

        console = Console()
        for result in results.values():
            console.print(funnel_table(result))
        if chart is not None:
            typer.echo(f"chart written to {chart}")

    _guard(run)


@app.command()
def abandoned(
    procedure: Annotated[str | None, typer.Option("--procedure", help="Only this procedure.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Detection time (default now).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many journeys.")] = None,
    with_help: Annotated[
        bool, typer.Option("--help-text/--no-help-text", help="Look up help in the knowledge base.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Journeys idle past their procedure's window, the step they stalled at, and the help a nudge would carry."""

    def run() -> None:
        from contact_center.journeys.abandonment import find_abandoned
        from contact_center.journeys.help import HelpFinder

        settings, store = _context()
        finder = None
        if with_help:
            finder = HelpFinder(
                _search(settings), store.catalog(), fallback_languages=settings.journeys.fallback_languages
            )
        found = find_abandoned(
            store, procedure=procedure, as_of=_when(as_of, "--as-of"), help_finder=finder, limit=limit
        )
        if as_json:
            _print_json([j.to_dict(with_citizen_ref=False) for j in found])
            return
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from contact_center.journeys.charts import _duration

        table = Table(title=f"{len(found)} abandoned journeys")
        for column in ("journey", "procedure", "stalled at", "idle", "language", "help"):
            table.add_column(column)
        for j in found:
            help_text = "; ".join(f"{c.title} › {c.section}" if c.section else c.title for c in j.help) or "-"
            # Escaped: rich reads "[...]" in a journey id or a help title as markup.
            table.add_row(
                *map(escape, (j.journey_id, j.procedure, j.step)),
                _duration(j.idle_seconds),
                escape(j.language or "-"),
                escape(help_text),
            )
        Console().print(table)

    _guard(run)


@app.command()
def nudge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; send and record nothing.")
    ] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Decision time (default now).")] = None,
    procedure: Annotated[str | None, typer.Option("--procedure", help="Only this procedure.")] = None,
    contacts_file: Annotated[
        Path | None,
        typer.Option(
            "--contacts",
            help="citizen_ref -> email, language, consent (CSV or YAML); default CC_JOURNEYS__CONTACTS_FILE.",
        ),
    ] = None,
    campaign_contacts: Annotated[
        bool,
        typer.Option(
            "--campaign-contacts",
            help="Use the campaign contacts that have a citizen_ref attribute (and their suppression list).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Send the nudges the policy allows (consent, quiet hours, caps, holdout) and show what was held back.

    Exit code 1 when some nudges failed to send (a permanent refusal); deferred ones are retried next run.
    """

    def run() -> None:
        import asyncio

        from contact_center.journeys.contacts import CampaignContactLookup, ContactLookup, FileContactLookup
        from contact_center.journeys.nudges import run_nudges

        settings, store = _context()
        path = contacts_file or settings.journeys.contacts_file
        contacts: ContactLookup
        if campaign_contacts:
            if contacts_file is not None:
                _fail("give either --contacts FILE or --campaign-contacts, not both")
            from campaigns.tables import open_engine

            lookup = CampaignContactLookup(open_engine(settings.sqlalchemy_url))
            if lookup.ambiguous:
                typer.secho(
                    f"warning: {len(lookup.ambiguous)} citizen_ref shared by several campaign contacts, "
                    f"not nudged: {', '.join(sorted(lookup.ambiguous)[:5])}",
                    err=True,
                    fg="yellow",
                )
            contacts = lookup
        elif path is None:
            _fail("no contacts: pass --contacts FILE, --campaign-contacts, or set CC_JOURNEYS__CONTACTS_FILE")
        else:
            contacts = FileContactLookup(path)
        mailer = None if dry_run else _mailer(settings)

        async def go() -> Any:
            try:
                return await run_nudges(
                    store,
                    settings,
                    contacts=contacts,
                    mailer=mailer,
                    search=_search(settings),
                    as_of=_when(as_of, "--as-of"),
                    procedure=procedure,
                    dry_run=dry_run,
                )
            finally:
                if mailer is not None:
                    await mailer.aclose()

        report = asyncio.run(go())
        if as_json:
            _print_json(json.loads(report.model_dump_json()))
        else:
            _print_nudge_summary(report)
        if report.counts().get("failed"):
            # After the report, so it is still printed; a cron job sees the refusals by the exit code.
            raise typer.Exit(1)

    _guard(run)


def _print_nudge_summary(report: NudgeReport) -> None:
    verb = "would send" if report.dry_run else "sent"
    counts = report.counts()
    typer.echo(
        f"{len(report.outcomes)} abandoned journeys: {counts.get('would_send' if report.dry_run else 'sent', 0)} {verb}, "
        f"{counts.get('held', 0)} held back, {counts.get('holdout', 0)} in the holdout group, "
        f"{counts.get('skipped', 0)} skipped, {counts.get('deferred', 0)} deferred, {counts.get('failed', 0)} failed"
    )
    for reason, n in sorted(report.reasons().items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {n:6d}  {reason}")
    for o in report.outcomes:
        if o.outcome in ("sent", "would_send", "failed", "deferred"):
            typer.echo(f"  {o.outcome:10s} {o.journey_id} {o.procedure}/{o.step} [{o.language}] {o.reason}")


def _mailer(settings: Settings) -> Any:
    from channels.mailer import mailer_from_settings

    return mailer_from_settings(settings)


@app.command()
def uplift(
    procedure: Annotated[
        str | None, typer.Argument(help="Procedure slug (default: every registered procedure).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Completion of nudged against holdout abandoned journeys, with a 95% confidence interval."""

    def run() -> None:
        from contact_center.journeys.uplift import GroupRate, compute_uplift

        def rate(g: GroupRate) -> str:
            return "-" if g.rate is None else f"{g.rate:.1%}"

        settings, store = _context()
        slugs = [procedure] if procedure else sorted(store.catalog())
        results = [compute_uplift(store, s, min_group_size=settings.journeys.min_group_size) for s in slugs]
        if as_json:
            data = [r.model_dump() for r in results]
            _print_json(data[0] if procedure else data)
            return
        if not results:
            typer.echo(
                "no procedures registered yet: load them with `contact-center journeys procedures FILE`"
            )
        for r in results:
            typer.echo(
                f"{r.procedure}: nudged {r.nudged.completed}/{r.nudged.journeys} ({rate(r.nudged)}), "
                f"holdout {r.holdout.completed}/{r.holdout.journeys} ({rate(r.holdout)}): {r.message}"
            )

    _guard(run)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8030,
) -> None:
    """Serve POST /events (batches of up to 5,000 events) and GET /funnel/{procedure}."""
    import uvicorn

    from contact_center.journeys.server import create_app

    _, store = _context()
    typer.echo(f"journeys endpoint on http://{host}:{port} (POST /events, GET /funnel/{{procedure}})")
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
