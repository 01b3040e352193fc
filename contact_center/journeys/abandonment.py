"""Abandoned journeys: idle longer than their procedure's window with no terminal event.

Terminal events are ``completed``, ``ineligible`` and ``cancelled``. The stalled step (the reason) is
the step the journey stands at, with the same rule as the funnel: the furthest step reached, or the
next one once that step is completed. Detection is one SQL query over all procedures, on the per-journey summary the store keeps.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from contact_center.journeys.help import HelpFinder
from contact_center.journeys.store import JourneyStore
from contact_center.models import Citation

__all__ = ["AbandonedJourney", "find_abandoned", "journey_state"]

# {journeys} is the summary table, or the same aggregate over the events up to --as-of.
_ABANDONED_SQL = """
SELECT j.procedure, j.journey_id, j.citizen_ref, j.language, j.channel, j.last_ts, s.step
FROM {journeys} j
JOIN journey_procedures p ON p.slug = j.procedure
JOIN journey_steps s ON s.procedure = j.procedure AND s.position = CASE
    WHEN j.furthest > j.last_done THEN j.furthest
    WHEN j.last_done < p.step_count THEN j.last_done + 1
    ELSE p.step_count
END
WHERE j.is_completed = 0 AND j.is_ineligible = 0 AND j.is_cancelled = 0
    AND :as_of - j.last_ts > p.idle_seconds {where}
ORDER BY j.last_ts, j.journey_id
"""


@dataclass(slots=True)
class AbandonedJourney:
    """A journey idle past its window; ``step`` is where it stalled and ``help`` what would help there.

    A dataclass rather than a pydantic model: a large store lists tens of thousands of them, and the
    values come typed from the store. ``to_dict()`` gives the JSON-ready form.
    """

    journey_id: str
    procedure: str
    step: str
    idle_seconds: float
    last_event_at: datetime
    language: str | None = None
    channel: str | None = None
    citizen_ref: str | None = None
    """Pseudonymous; resolved only to send a nudge."""
    help: list[Citation] = field(default_factory=list)

    def to_dict(self, *, with_citizen_ref: bool = True) -> dict[str, Any]:
        """JSON-ready: ``last_event_at`` in ISO 8601, each citation as a dict."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["last_event_at"] = self.last_event_at.isoformat()
        data["help"] = [c.model_dump(mode="json") for c in self.help]
        if not with_citizen_ref:
            del data["citizen_ref"]
        return data


def _to_journeys(rows: Sequence[Any], as_of: float) -> list[AbandonedJourney]:
    """The rows of ``_ABANDONED_SQL`` as journeys.

    Positional arguments, and the cyclic garbage collector paused while the list grows: a store lists
    tens of thousands of abandoned journeys, and the collector would walk the growing list again and
    again (measured: three times the cost of building 40,000 journeys). Nothing here makes a cycle.
    """
    stamp = datetime.fromtimestamp
    paused = gc.isenabled()
    gc.disable()
    try:
        return [
            AbandonedJourney(
                journey_id, procedure, step, round(as_of - last_ts, 3), stamp(last_ts, UTC), lang, ch, ref
            )
            for procedure, journey_id, ref, lang, ch, last_ts, step in rows
        ]
    finally:
        if paused:
            gc.enable()


def find_abandoned(
    store: JourneyStore,
    *,
    procedure: str | None = None,
    as_of: datetime | None = None,
    help_finder: HelpFinder | None = None,
    limit: int | None = None,
) -> list[AbandonedJourney]:
    """Abandoned journeys as of ``as_of`` (default now), longest idle first, with help when a finder is given.

    Raises ProceduresFileError for an unregistered ``procedure`` and ValueError for a naive ``as_of``.
    """
    with store.session():
        return _find_abandoned(store, procedure=procedure, as_of=as_of, help_finder=help_finder, limit=limit)


def _find_abandoned(
    store: JourneyStore,
    *,
    procedure: str | None,
    as_of: datetime | None,
    help_finder: HelpFinder | None,
    limit: int | None,
) -> list[AbandonedJourney]:
    if procedure is not None:
        store.procedure(procedure)
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError(f"{as_of.isoformat()} has no timezone; give an offset such as +01:00")
    now = as_of.timestamp() if as_of is not None else time.time()
    params: dict[str, Any] = {"as_of": now, "procedure": procedure}
    journeys_rel, _ = store.relations(now, procedure)
    where = "AND j.procedure = :procedure" if procedure is not None else ""
    sql = _ABANDONED_SQL.format(journeys=journeys_rel, where=where)
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = int(limit)
    with store.begin() as conn:
        result = conn.execute(text(sql), params)
        # The driver's plain tuples: tens of thousands of rows, and SQLAlchemy's Row objects around them
        # cost as much as the query (text() columns carry no type processing to lose).
        rows = result.cursor.fetchall() if result.cursor is not None else []
        result.close()
    out = _to_journeys(rows, now)
    if help_finder is not None and help_finder.available:
        for journey in out:
            journey.help = help_finder.citations(journey.procedure, journey.step, journey.language)
    return out


def journey_state(store: JourneyStore, procedure: str, journey_id: str) -> tuple[bool, float] | None:
    """``(terminal, last_event_ts)`` over every stored event of one journey, or None if it has none.

    Used to re-check a journey right before a nudge: events that arrived after detection count.
    """
    sql = (
        "SELECT MAX(CASE WHEN type IN ('completed', 'ineligible', 'cancelled') THEN 1 ELSE 0 END) AS terminal, "
        "MAX(ts) AS last_ts FROM journey_events WHERE procedure = :procedure AND journey_id = :journey_id"
    )
    with store.begin() as conn:
        row = conn.execute(text(sql), {"procedure": procedure, "journey_id": journey_id}).one()
    if row.last_ts is None:
        return None
    return bool(row.terminal), float(row.last_ts)
