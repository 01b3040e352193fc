"""Funnel charts: a table with bars in the terminal (rich) and a PNG or SVG image for a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from contact_center.errors import JourneyError
from contact_center.journeys.funnel import Funnel, FunnelGroup

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["funnel_table", "save_funnel_chart"]

_BAR = 30


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _table(title: str, group: FunnelGroup) -> RenderableType:
    from rich.markup import escape
    from rich.table import Table

    rate = "-" if group.completion_rate is None else f"{group.completion_rate:.1%}"
    table = Table(
        # Rich reads "[...]" as markup; a channel or language comes from the events as written.
        title=escape(title),
        caption=(
            f"{group.journeys} journeys · completion rate {rate} (ineligible counts as done) · "
            f"{group.cancelled} cancelled · median to complete {_duration(group.median_seconds_to_complete)}, "
            f"p90 {_duration(group.p90_seconds_to_complete)}"
        ),
    )
    for name, justify in (
        ("step", "left"),
        ("reached", "right"),
        ("", "left"),
        ("completed", "right"),
        ("dropped", "right"),
        ("open", "right"),
        ("median", "right"),
        ("p90", "right"),
    ):
        # Step names must stay readable in a narrow terminal; the bar is what may shrink.
        table.add_column(name, justify=justify, no_wrap=name == "step", ratio=1 if name == "" else None)  # type: ignore[arg-type]
    top = max((s.reached for s in group.steps), default=0) or 1
    for s in group.steps:
        done = round(_BAR * s.completed / top)
        lost = round(_BAR * s.reached / top) - done
        bar = f"[green]{'█' * done}[/][red]{'░' * lost}[/]"
        table.add_row(
            escape(s.step),
            str(s.reached),
            bar,
            str(s.completed),
            f"[red]{s.dropped}[/]" if s.dropped else "0",
            str(s.in_progress),
            _duration(s.median_seconds),
            _duration(s.p90_seconds),
        )
    return table


def funnel_table(funnel: Funnel) -> RenderableType:
    """The funnel as rich tables: green is completed, red is lost at the step; one table per group."""
    from rich.console import Group

    period = ""
    if funnel.start or funnel.end:
        period = f" · started {funnel.start:%Y-%m-%d} " if funnel.start else " · started "
        period += f"to {funnel.end:%Y-%m-%d}" if funnel.end else "onwards"
    parts = [_table(f"{funnel.procedure}{period}", funnel)]
    for name, group in funnel.groups.items():
        parts.append(_table(f"{funnel.procedure} · {funnel.by} = {name}", group))
    return Group(*parts)


def save_funnel_chart(funnel: Funnel, path: str | Path) -> Path:
    """Write the funnel as a bar chart; the format follows the suffix (``.png`` or ``.svg``)."""
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise JourneyError(f"cannot write a chart to {out}: use a .png or .svg file name")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    steps = [s.step for s in funnel.steps]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(steps) + 1.6))
    try:
        y = list(range(len(steps)))[::-1]
        ax.barh(y, [s.reached for s in funnel.steps], color="#f4a6a6", label="reached")
        ax.barh(y, [s.completed for s in funnel.steps], color="#3a9d5d", label="completed")
        for yi, s in zip(y, funnel.steps, strict=True):
            ax.text(s.reached, yi, f"  {s.completed}/{s.reached}  (-{s.dropped})", va="center", fontsize=8)
        ax.set_yticks(y, steps)
        ax.set_xlabel("journeys")
        rate = "-" if funnel.completion_rate is None else f"{funnel.completion_rate:.1%}"
        ax.set_title(f"{funnel.procedure}: {funnel.journeys} journeys, completion rate {rate}")
        ax.legend(loc="lower right")
        ax.margins(x=0.25)
        fig.tight_layout()
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, format=fmt)
        except OSError as exc:
            raise JourneyError(
                f"cannot write the chart to {out}: {exc.strerror or exc}; give a .png or .svg file name "
                "in a directory you can write to"
            ) from exc
    finally:
        plt.close(fig)
    return out
