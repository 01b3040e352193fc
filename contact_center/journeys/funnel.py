"""Funnels per procedure, computed in SQL: reached, completed and dropped per step, and time spent.

Counting rules (documented in docs/journeys.md):

- every journey reaches the first step; a journey reaches step *i* when any of its events names step
  *i* or a later one, or it completed step *i*;
- a step is completed by ``step_completed``, ``submitted`` or ``paid`` on that step; a ``completed``
  event completes every step;
- a journey stands at the furthest step it reached, or at the next one once that step is completed;
  it *dropped* there when it ended there: cancelled, or idle longer than the procedure's window as of
  the report time. A journey still within its window is ``in_progress``, not dropped;
- completion rate as GOV.UK counts it: (completed + ineligible) / journeys; cancelled is not a
  completion. ``completed`` in the report is that GOV.UK numerator; ``ineligible`` is also shown apart;
- with a conversion window (``within``, as PostHog and Matomo funnels have), only each journey's events
  up to that long after its first event count, and a journey whose window has closed without completing
  dropped where it stood.

Everything is aggregated by the database (GROUP BY, window functions); Python only shapes the rows.
:func:`compute_funnels` computes several procedures' funnels in the same few queries (a dashboard of
every procedure costs about what one funnel does); :func:`compute_funnel` is the one-procedure case.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, text

from contact_center.journeys.store import JourneyStore

__all__ = ["Breakdown", "Funnel", "FunnelGroup", "FunnelStep", "compute_funnel", "compute_funnels"]

Breakdown = Literal["channel", "language"]

# Per journey of the chosen procedures, up to the report time. The group column is the journey's channel or
# language as its `started` event gives it (the citizen may switch device later; the funnel is about
# where they began). {journeys} is the summary table or the same aggregate over events up to --as-of.
# Created, then filled by INSERT ... SELECT: PostgreSQL does not take bound parameters in CREATE TABLE AS.
_TMP_TABLE_SQL = """
CREATE TEMPORARY TABLE {tmp} (
    procedure TEXT, journey_id TEXT, grp TEXT, started_at DOUBLE PRECISION, last_ts DOUBLE PRECISION, is_completed INTEGER,
    is_ineligible INTEGER, is_cancelled INTEGER, completed_at DOUBLE PRECISION, done_through INTEGER,
    at_step INTEGER
)
"""

_JOURNEYS_SQL = """
INSERT INTO {tmp} (procedure, journey_id, grp, started_at, last_ts, is_completed, is_ineligible,
    is_cancelled, completed_at, done_through, at_step)
SELECT j.procedure, j.journey_id, {group_expr} AS grp, j.started_at, j.last_ts, j.is_completed,
    j.is_ineligible, j.is_cancelled, j.completed_at,
    CASE WHEN j.is_completed = 1 THEN p.step_count ELSE j.last_done END AS done_through,
    CASE
        WHEN j.is_completed = 1 THEN p.step_count
        WHEN j.furthest > j.last_done THEN j.furthest
        WHEN j.last_done < p.step_count THEN j.last_done + 1
        ELSE p.step_count
    END AS at_step
FROM {journeys} j
JOIN journey_procedures p ON p.slug = j.procedure
WHERE j.procedure IN :procedures AND {window}
"""

# A histogram of journeys by (group, step they stand at, steps done, state) first: a few dozen rows,
# which are then spread over the steps. Cheaper than crossing every journey with every step.
_STEPS_SQL = """
WITH h AS (
    SELECT t.procedure AS procedure, t.grp AS grp, t.at_step AS at_step, t.done_through AS done_through,
        CASE
            WHEN t.is_completed = 1 THEN 'completed'
            WHEN t.is_ineligible = 1 THEN 'ineligible'
            WHEN t.is_cancelled = 1 OR :as_of - t.last_ts > p.idle_seconds{window_closed} THEN 'dropped'
            ELSE 'open'
        END AS state,
        COUNT(*) AS n
    FROM {tmp} t
    JOIN journey_procedures p ON p.slug = t.procedure
    GROUP BY 1, 2, 3, 4, 5
)
SELECT h.procedure AS procedure, h.grp AS grp, s.position AS position, s.step AS step,
    SUM(CASE WHEN h.at_step >= s.position THEN h.n ELSE 0 END) AS reached,
    SUM(CASE WHEN h.done_through >= s.position THEN h.n ELSE 0 END) AS completed,
    SUM(CASE WHEN h.at_step = s.position AND h.state = 'dropped' THEN h.n ELSE 0 END) AS dropped,
    SUM(CASE WHEN h.at_step = s.position AND h.state = 'open' THEN h.n ELSE 0 END) AS in_progress,
    SUM(CASE WHEN h.at_step = s.position AND h.state = 'ineligible' THEN h.n ELSE 0 END) AS ineligible
FROM h JOIN journey_steps s ON s.procedure = h.procedure
GROUP BY h.procedure, h.grp, s.position, s.step
"""

_TOTALS_SQL = """
SELECT procedure, grp, COUNT(*) AS journeys,
    SUM(is_completed) AS completed,
    SUM(CASE WHEN is_completed = 0 THEN is_ineligible ELSE 0 END) AS ineligible,
    SUM(CASE WHEN is_completed = 0 AND is_ineligible = 0 THEN is_cancelled ELSE 0 END) AS cancelled
FROM {tmp} GROUP BY procedure, grp
"""

# Time on a step: from entering it (its first event, or the previous step's completion if earlier,
# or the journey's start for the first step) to its first completion. Percentiles by nearest rank:
# built in on PostgreSQL and DuckDB (percentile_disc); on SQLite with ROW_NUMBER, the rank being the
# smallest rn with rn >= n * p / 100.
_STEP_TIMES_SQL = """
WITH durs AS (
    SELECT js.procedure AS procedure, js.grp AS grp, st2.pos AS pos,
        st2.left_at - CASE
            WHEN st2.pos = 1 AND js.started_at < st2.first_at THEN js.started_at
            WHEN st2.prev_left IS NOT NULL AND st2.prev_left < st2.first_at THEN st2.prev_left
            ELSE st2.first_at
        END AS dur
    FROM {steps} st2 JOIN {tmp} js ON js.journey_id = st2.journey_id AND js.procedure = st2.procedure
    WHERE st2.procedure IN :procedures AND st2.left_at IS NOT NULL
    UNION ALL
    SELECT procedure, grp, 0 AS pos, completed_at - started_at AS dur FROM {tmp} WHERE completed_at IS NOT NULL
){percentiles}
"""
_PERCENTILES_BY_RANK = """,
ranked AS (
    SELECT procedure, grp, pos, dur,
        ROW_NUMBER() OVER (PARTITION BY procedure, grp, pos ORDER BY dur) AS rn,
        COUNT(*) OVER (PARTITION BY procedure, grp, pos) AS n
    FROM durs
)
SELECT procedure, grp, pos,
    MAX(CASE WHEN rn * 100 >= n * 50 AND (rn - 1) * 100 < n * 50 THEN dur END) AS median,
    MAX(CASE WHEN rn * 100 >= n * 90 AND (rn - 1) * 100 < n * 90 THEN dur END) AS p90
FROM ranked GROUP BY procedure, grp, pos"""
# PostgreSQL and DuckDB compute it without numbering every row; tests check both forms agree.
_PERCENTILES_BUILT_IN = """
SELECT procedure, grp, pos,
    percentile_disc(0.5) WITHIN GROUP (ORDER BY dur) AS median,
    percentile_disc(0.9) WITHIN GROUP (ORDER BY dur) AS p90
FROM durs GROUP BY procedure, grp, pos"""

_GROUP_EXPR = {
    None: "'all'",
    "channel": "COALESCE(j.channel, 'unknown')",
    "language": "COALESCE(j.language, 'unknown')",
}


class FunnelStep(BaseModel):
    """One step of a funnel."""

    step: str
    reached: int
    completed: int
    dropped: int
    median_seconds: float | None = None
    p90_seconds: float | None = None
    in_progress: int = 0
    ineligible: int = 0


class FunnelGroup(BaseModel):
    """A funnel over some journeys (all of them, or one channel or language)."""

    journeys: int
    completed: int = Field(description="GOV.UK completions: completed plus ineligible journeys.")
    completion_rate: float | None = Field(
        description="completed / journeys; None when there are no journeys."
    )
    ineligible: int = 0
    cancelled: int = 0
    median_seconds_to_complete: float | None = None
    p90_seconds_to_complete: float | None = None
    steps: list[FunnelStep] = Field(default_factory=list)


class Funnel(FunnelGroup):
    """A procedure's funnel, optionally broken down by channel or language (``groups``)."""

    procedure: str
    start: datetime | None = None
    end: datetime | None = None
    as_of: datetime
    by: Breakdown | None = None
    within_seconds: float | None = Field(
        default=None,
        description="The conversion window, when one was given: events later than this after a journey's start do not count.",
    )
    groups: dict[str, FunnelGroup] = Field(default_factory=dict)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no timezone; give an offset such as +01:00")
    return value.timestamp()


def _rate(done: int, total: int) -> float | None:
    return round(done / total, 4) if total else None


def _query(sql: str) -> Any:
    return text(sql).bindparams(bindparam("procedures", expanding=True))


def _groups(
    conn: Connection, tmp: str, steps_rel: str, params: dict[str, Any], steps: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, FunnelGroup]]:
    """Per procedure, per group: the funnel of the journeys in ``tmp``."""
    totals = conn.execute(text(_TOTALS_SQL.format(tmp=tmp))).all()
    closed = " OR :as_of > t.started_at + :within" if params.get("within") is not None else ""
    step_rows = conn.execute(text(_STEPS_SQL.format(tmp=tmp, window_closed=closed)), params).all()
    percentiles = _PERCENTILES_BY_RANK if conn.dialect.name == "sqlite" else _PERCENTILES_BUILT_IN
    time_rows = conn.execute(
        _query(_STEP_TIMES_SQL.format(tmp=tmp, steps=steps_rel, percentiles=percentiles)), params
    ).all()
    times = {(r.procedure, r.grp, int(r.pos)): (r.median, r.p90) for r in time_rows}
    by_group: dict[tuple[str, str], dict[int, Any]] = {}
    for r in step_rows:
        by_group.setdefault((r.procedure, r.grp), {})[int(r.position)] = r
    out: dict[str, dict[str, FunnelGroup]] = {slug: {} for slug in steps}
    for t in sorted(totals, key=lambda r: (str(r.procedure), str(r.grp))):
        rows = by_group.get((t.procedure, t.grp), {})
        completions = int(t.completed or 0) + int(t.ineligible or 0)
        to_complete = times.get((t.procedure, t.grp, 0), (None, None))
        out[t.procedure][str(t.grp)] = FunnelGroup(
            journeys=int(t.journeys),
            completed=completions,
            completion_rate=_rate(completions, int(t.journeys)),
            ineligible=int(t.ineligible or 0),
            cancelled=int(t.cancelled or 0),
            median_seconds_to_complete=to_complete[0],
            p90_seconds_to_complete=to_complete[1],
            steps=[
                FunnelStep(
                    step=step,
                    reached=int(rows[i].reached),
                    completed=int(rows[i].completed),
                    dropped=int(rows[i].dropped),
                    in_progress=int(rows[i].in_progress),
                    ineligible=int(rows[i].ineligible),
                    median_seconds=times.get((t.procedure, t.grp, i), (None, None))[0],
                    p90_seconds=times.get((t.procedure, t.grp, i), (None, None))[1],
                )
                for i, step in enumerate(steps[t.procedure], start=1)
                if i in rows
            ],
        )
    return out


def compute_funnel(
    store: JourneyStore,
    procedure: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    by: Breakdown | None = None,
    as_of: datetime | None = None,
    within: timedelta | None = None,
) -> Funnel:
    """The funnel of ``procedure`` for journeys started in ``[start, end)``, as of ``as_of`` (default now).

    ``within`` is a conversion window: only each journey's events up to that long after its first event
    count. Raises ProceduresFileError for a procedure that is not registered, ValueError for a naive
    datetime, a breakdown other than channel or language, or a window that is not positive.

    Example::

        funnel = compute_funnel(store, "marriage-declaration", by="channel")
        funnel.completion_rate, funnel.groups["web"].steps[0].dropped
    """
    return compute_funnels(store, [procedure], start=start, end=end, by=by, as_of=as_of, within=within)[
        procedure
    ]


def compute_funnels(
    store: JourneyStore,
    procedures: list[str] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    by: Breakdown | None = None,
    as_of: datetime | None = None,
    within: timedelta | None = None,
) -> dict[str, Funnel]:
    """The funnels of ``procedures`` (default: every registered one, in slug order), computed together.

    The same funnels as :func:`compute_funnel` gives one by one, in the same few queries. Raises
    ProceduresFileError for a procedure that is not registered, ValueError as :func:`compute_funnel`.

    Example::

        for slug, funnel in compute_funnels(store).items():
            print(slug, funnel.completion_rate)
    """
    with store.session():
        return _compute_funnels(store, procedures, start=start, end=end, by=by, as_of=as_of, within=within)


def _compute_funnels(
    store: JourneyStore,
    procedures: list[str] | None,
    *,
    start: datetime | None,
    end: datetime | None,
    by: Breakdown | None,
    as_of: datetime | None,
    within: timedelta | None,
) -> dict[str, Funnel]:
    catalog = store.catalog()
    slugs = sorted(catalog) if procedures is None else list(dict.fromkeys(procedures))
    steps = {slug: catalog.require(slug).steps for slug in slugs}
    if by not in _GROUP_EXPR:
        raise ValueError(f"cannot break a funnel down by {by!r}; use channel or language")
    as_of_epoch = time.time() if as_of is None else _epoch(as_of)
    assert as_of_epoch is not None
    t0, t1 = _epoch(start), _epoch(end)
    if t0 is not None and t1 is not None and t1 <= t0:
        raise ValueError("the end of the period must come after its start")
    within_seconds = None if within is None else within.total_seconds()
    if within_seconds is not None and within_seconds <= 0:
        raise ValueError(f"a conversion window must be longer than zero, not {within}")
    clauses = ["1 = 1"]
    window: dict[str, float] = {}
    if t0 is not None:
        clauses.append("j.started_at >= :t0")
        window["t0"] = t0
    if t1 is not None:
        clauses.append("j.started_at < :t1")
        window["t1"] = t1
    if not slugs:
        return {}
    # One procedure: the as-of relations (when they aggregate events) filter on it, as :procedure.
    single = slugs[0] if len(slugs) == 1 else None
    params: dict[str, Any] = {"procedures": slugs, "procedure": single, "as_of": as_of_epoch}
    if within_seconds is not None:
        params["within"] = within_seconds
    tmp = "tmp_journey_funnel"
    journeys_rel, steps_rel = store.relations(as_of_epoch, single, within=within_seconds is not None)
    with store.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {tmp}"))
        conn.execute(text(_TMP_TABLE_SQL.format(tmp=tmp)))
        conn.execute(
            _query(
                _JOURNEYS_SQL.format(
                    tmp=tmp, group_expr=_GROUP_EXPR[by], journeys=journeys_rel, window=" AND ".join(clauses)
                )
            ),
            {**params, **window},
        )
        if conn.dialect.name != "duckdb":
            # Without it the step-times join is a nested loop over journeys x step rows (DuckDB hashes).
            conn.execute(text(f"CREATE INDEX ix_{tmp} ON {tmp} (journey_id)"))
        groups = _groups(conn, tmp, steps_rel, params, steps) if by is not None else {}
        if by is not None:
            conn.execute(text(f"UPDATE {tmp} SET grp = 'all'"))
        overall = _groups(conn, tmp, steps_rel, params, steps)
        conn.execute(text(f"DROP TABLE {tmp}"))
    out: dict[str, Funnel] = {}
    for slug in slugs:
        base = overall[slug].get("all") or FunnelGroup(journeys=0, completed=0, completion_rate=None)
        if not base.steps:
            base.steps = [FunnelStep(step=s, reached=0, completed=0, dropped=0) for s in steps[slug]]
        out[slug] = Funnel(
            procedure=slug,
            start=start,
            end=end,
            # As given: a late offset (9999-12-31 at -05:00) is a valid instant with no local-time form.
            as_of=as_of if as_of is not None else datetime.fromtimestamp(as_of_epoch).astimezone(),
            by=by,
            within_seconds=within_seconds,
            groups=groups.get(slug, {}),
            **base.model_dump(),
        )
    return out
