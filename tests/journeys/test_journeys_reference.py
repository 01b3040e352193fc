"""The SQL funnel and abandonment against a plain-Python reading of the documented rules, on random
journeys: both the summary-table path (report time after every event) and the as-of path (report time
in the middle of the data, which aggregates the raw events)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contact_center.journeys import JourneyStore, compute_funnel, find_abandoned, parse_event
from contact_center.journeys.procedures import parse_procedures
from tests.journeys.journeys_helpers import PROCEDURES_YAML, T0

STEPS = ["business", "location", "plan", "payment"]
IDLE = 24 * 3600
KINDS = [
    "started",
    "step_viewed",
    "step_completed",
    "submitted",
    "paid",
    "completed",
    "ineligible",
    "cancelled",
]

event_strategy = st.tuples(
    st.integers(0, 5),  # journey
    st.sampled_from(KINDS),
    st.sampled_from([*STEPS, None]),
    st.integers(0, 72 * 60),  # minute
)


def reference(
    events: list[tuple[int, str, str | None, int]], as_of_min: int
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    n = len(STEPS)
    per: dict[int, list[tuple[str, str | None, int]]] = {}
    for j, kind, step, minute in events:
        if minute <= as_of_min:
            per.setdefault(j, []).append((kind, step, minute))
    rows = {s: [0, 0, 0, 0] for s in STEPS}  # reached, completed, dropped, in_progress
    done = 0
    abandoned: list[tuple[int, str, str]] = []
    for j, evs in per.items():
        kinds = {k for k, _, _ in evs}
        positions = [STEPS.index(s) + 1 for _, s, _ in evs if s]
        furthest = max(positions, default=1)
        last_done = max(
            (STEPS.index(s) + 1 for k, s, _ in evs if s and k in ("step_completed", "submitted", "paid")),
            default=0,
        )
        completed, ineligible, cancelled = "completed" in kinds, "ineligible" in kinds, "cancelled" in kinds
        done_through = n if completed else last_done
        if completed:
            at = n
        elif furthest > last_done:
            at = furthest
        else:
            at = min(last_done + 1, n)
        idle = (as_of_min - max(m for _, _, m in evs)) * 60
        done += completed or ineligible
        for i, s in enumerate(STEPS, start=1):
            rows[s][0] += at >= i
            rows[s][1] += done_through >= i
            if at == i and not completed and not ineligible:
                if cancelled or idle > IDLE:
                    rows[s][2] += 1
                else:
                    rows[s][3] += 1
        if not (completed or ineligible or cancelled) and idle > IDLE:
            abandoned.append((max(m for _, _, m in evs), f"j{j}", STEPS[at - 1]))
    funnel = {"journeys": len(per), "completed": done, "rows": rows}
    return funnel, [(jid, step) for _, jid, step in sorted(abandoned)]


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event_strategy, min_size=1, max_size=40), cut=st.integers(0, 100))
def test_sql_matches_the_rules(engine: str, events: list[tuple[int, str, str | None, int]], cut: int) -> None:
    newest = max(m for *_, m in events)
    with tempfile.TemporaryDirectory() as tmp:
        store = JourneyStore(f"{engine}:///{Path(tmp) / 'j.db'}")
        try:
            import yaml

            store.register_procedures(parse_procedures(yaml.safe_load(PROCEDURES_YAML)))
            parsed = []
            for i, (j, kind, step, minute) in enumerate(events):
                if kind in ("step_viewed", "step_completed") and step is None:
                    step = STEPS[0]
                raw = {
                    "event_id": f"e{i}",
                    "journey_id": f"j{j}",
                    "procedure": "horeca-terrace-permit",
                    "type": kind,
                    "ts": (T0 + timedelta(minutes=minute)).isoformat(),
                }
                if step:
                    raw["step"] = step
                events[i] = (j, kind, step, minute)
                parsed.append(parse_event(raw))
            store.ingest(parsed)
            # After every event (summary path) and part-way through (as-of path over the events).
            for as_of_min in (newest + 25 * 60, newest * cut // 100):
                expected_funnel, expected_abandoned = reference(events, as_of_min)
                as_of = T0 + timedelta(minutes=as_of_min)
                funnel = compute_funnel(store, "horeca-terrace-permit", as_of=as_of)
                got = {s.step: [s.reached, s.completed, s.dropped, s.in_progress] for s in funnel.steps}
                assert (funnel.journeys, funnel.completed) == (
                    expected_funnel["journeys"],
                    expected_funnel["completed"],
                )
                if funnel.journeys:
                    assert got == expected_funnel["rows"]
                found = find_abandoned(store, as_of=as_of)
                assert sorted((a.journey_id, a.step) for a in found) == sorted(expected_abandoned)
        finally:
            store.engine.dispose()
