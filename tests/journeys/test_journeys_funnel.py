from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contact_center.errors import ProceduresFileError
from contact_center.journeys import JourneyStore, compute_funnel, compute_funnels, load_procedures
from contact_center.journeys.funnel import Breakdown
from tests.journeys.journeys_helpers import T0, Journeys, random_journeys

STEPS = ["identity", "civil-status", "documents", "appointment", "payment"]


@pytest.fixture
def funnel_store(store: JourneyStore, journeys: Journeys) -> JourneyStore:
    # j1 completes everything; j2 is ineligible at civil-status; j3 cancels at documents;
    # j4 idles at documents (viewed, not completed) for days; j5 is still busy at identity.
    end = journeys.through("j1", STEPS, per_step=10)
    journeys.add("j1", "completed", minutes=end + 1)
    journeys.through("j2", ["identity"], channel="mobile", language="nl")
    journeys.add("j2", "ineligible", minutes=6, step="civil-status", channel="mobile", language="nl")
    journeys.through("j3", ["identity", "civil-status"], per_step=2)
    journeys.add("j3", "step_viewed", minutes=4, step="documents")
    journeys.add("j3", "cancelled", minutes=5, step="documents")
    journeys.through("j4", ["identity", "civil-status"], per_step=20)
    journeys.add("j4", "step_viewed", minutes=41, step="documents")
    journeys.add("j5", "started", minutes=3000, step="identity", channel="mobile")
    # Out of order on purpose: the store does not care in which order events arrive.
    store.ingest(reversed(journeys.parsed()))
    return store


def test_counts_per_step(funnel_store: JourneyStore, at: Callable[[float], datetime]) -> None:
    funnel = compute_funnel(funnel_store, "marriage-declaration", as_of=at(3010))
    assert funnel.journeys == 5
    # GOV.UK: completed + ineligible, cancelled is not a completion.
    assert (funnel.completed, funnel.ineligible, funnel.cancelled) == (2, 1, 1)
    assert funnel.completion_rate == 0.4
    rows = {s.step: (s.reached, s.completed, s.dropped, s.in_progress) for s in funnel.steps}
    assert rows == {
        "identity": (5, 4, 0, 1),
        "civil-status": (4, 3, 0, 0),
        "documents": (3, 1, 2, 0),
        "appointment": (1, 1, 0, 0),
        "payment": (1, 1, 0, 0),
    }
    assert funnel.steps[1].ineligible == 1


def test_an_idle_journey_is_in_progress_until_its_window_passes(
    funnel_store: JourneyStore, at: Callable[[float], datetime]
) -> None:
    early = compute_funnel(funnel_store, "marriage-declaration", as_of=at(60))
    docs = next(s for s in early.steps if s.step == "documents")
    # At minute 60 j4 has idled 19 minutes of its 48 hours; j5 has not started yet.
    assert (docs.dropped, docs.in_progress) == (1, 1)
    assert early.journeys == 4


def test_times_per_step_and_to_completion(
    funnel_store: JourneyStore, at: Callable[[float], datetime]
) -> None:
    funnel = compute_funnel(funnel_store, "marriage-declaration", as_of=at(4000))
    identity = funnel.steps[0]
    # identity took 10 min (j1), 5 (j2), 2 (j3), 20 (j4): nearest-rank median is 5 min, p90 20 min.
    assert identity.median_seconds == 300
    assert identity.p90_seconds == 1200
    assert funnel.median_seconds_to_complete == 51 * 60
    assert funnel.steps[4].median_seconds == 600


def test_breakdown_by_channel(funnel_store: JourneyStore, at: Callable[[float], datetime]) -> None:
    funnel = compute_funnel(funnel_store, "marriage-declaration", as_of=at(4000), by="channel")
    assert set(funnel.groups) == {"web", "mobile"}
    assert funnel.groups["mobile"].journeys == 2
    assert funnel.groups["mobile"].completed == 1  # j2, ineligible
    assert funnel.groups["web"].journeys == 3
    assert funnel.journeys == 5  # the overall funnel is still there


def test_period_filters_on_the_journey_start(
    funnel_store: JourneyStore, at: Callable[[float], datetime]
) -> None:
    funnel = compute_funnel(
        funnel_store,
        "marriage-declaration",
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=3),
        as_of=at(5000),
    )
    assert funnel.journeys == 1  # only j5 started on day 2
    with pytest.raises(ValueError, match="end of the period"):
        compute_funnel(funnel_store, "marriage-declaration", start=at(10), end=at(5))


def test_json_shape_matches_the_issue(funnel_store: JourneyStore) -> None:
    data = compute_funnel(funnel_store, "marriage-declaration").model_dump()
    assert {"procedure", "journeys", "completed", "completion_rate", "steps"} <= set(data)
    assert {"step", "reached", "completed", "dropped", "median_seconds"} <= set(data["steps"][0])


def test_unknown_procedure(store: JourneyStore) -> None:
    with pytest.raises(
        ProceduresFileError, match=r"unknown procedure 'marriage-declarations' .*did you mean"
    ):
        compute_funnel(store, "marriage-declarations")


def test_empty_procedure_has_zero_rows(store: JourneyStore) -> None:
    funnel = compute_funnel(store, "horeca-terrace-permit")
    assert funnel.journeys == 0 and funnel.completion_rate is None
    assert [s.reached for s in funnel.steps] == [0, 0, 0, 0]


HORECA_STEPS = ["business", "location", "plan", "payment"]


def _two_procedures(seed: int) -> Journeys:
    """Random marriage journeys, then horeca journeys reusing the same journey ids (a portal may)."""
    journeys = random_journeys(seed)
    rng = random.Random(seed + 1)
    for n in range(0, 150, 2):
        kw: dict[str, Any] = {
            "procedure": "horeca-terrace-permit",
            "channel": rng.choice(["web", "kiosk"]),
            "language": rng.choice(["fr", "nl"]),
        }
        reached = rng.randrange(0, len(HORECA_STEPS) + 1)
        end = journeys.through(f"j{n}", HORECA_STEPS[:reached], start=rng.randrange(0, 6000), **kw)
        if reached == len(HORECA_STEPS) and rng.random() < 0.7:
            journeys.add(f"j{n}", "completed", minutes=end + 1, **kw)
    return journeys


@pytest.mark.parametrize("by", [None, "channel"])
@pytest.mark.parametrize("minutes", [3000, 20000])  # an --as-of among the events, then after all of them
def test_funnels_together_equal_each_procedure_alone(
    tmp_path: Path,
    store: JourneyStore,
    procedures_file: Path,
    by: Breakdown | None,
    minutes: int,
    at: Callable[[float], datetime],
) -> None:
    events = _two_procedures(seed=minutes)
    store.ingest(events.parsed())
    together = compute_funnels(store, by=by, as_of=at(minutes))
    assert list(together) == ["horeca-terrace-permit", "marriage-declaration"]
    for slug in together:
        alone = JourneyStore(str(store.engine.url).replace("journeys.", f"{slug}."))
        alone.register_procedures(load_procedures(procedures_file))
        alone.ingest(e for e in events.parsed() if e.procedure == slug)
        expected = compute_funnel(alone, slug, by=by, as_of=at(minutes))
        assert together[slug] == expected
        assert expected.journeys > 0 and expected.steps[0].median_seconds is not None
        alone.engine.dispose()
    assert compute_funnels(store, ["marriage-declaration"], by=by, as_of=at(minutes)) == {
        "marriage-declaration": together["marriage-declaration"]
    }


def test_funnels_of_an_unknown_procedure_name_it(store: JourneyStore) -> None:
    with pytest.raises(ProceduresFileError, match="unknown procedure 'dog-licence'"):
        compute_funnels(store, ["marriage-declaration", "dog-licence"])
    assert compute_funnels(store, []) == {}


def test_a_conversion_window_counts_only_what_happens_within_it(
    store: JourneyStore, journeys: Journeys, at: Callable[[float], datetime]
) -> None:
    day = 24 * 60
    end = journeys.through("quick", STEPS, per_step=10)
    journeys.add("quick", "completed", minutes=end + 1)
    # Two steps on day 0, then the rest and completion three days later.
    journeys.through("slow", STEPS[:2])
    end = journeys.through("slow", STEPS[2:], start=3 * day)
    journeys.add("slow", "completed", minutes=end + 1)
    # Started late on day 9: its window is still open on day 10.
    journeys.through("late", STEPS[:1], start=9 * day + 600, channel="mobile")
    store.ingest(journeys.parsed())
    as_of = at(10 * day)

    plain = compute_funnel(store, "marriage-declaration", as_of=as_of)
    assert (plain.journeys, plain.completed) == (3, 2)

    windowed = compute_funnel(store, "marriage-declaration", as_of=as_of, within=timedelta(days=1))
    assert windowed.within_seconds == 86400
    assert (windowed.journeys, windowed.completed, windowed.completion_rate) == (3, 1, 0.3333)
    rows = {s.step: (s.reached, s.completed, s.dropped, s.in_progress) for s in windowed.steps}
    # "slow" completed two steps within its day and stood at documents when its window closed.
    assert rows["documents"] == (2, 1, 1, 0)
    assert rows["civil-status"] == (3, 2, 0, 1)  # "late" is still within its window
    assert windowed.median_seconds_to_complete == 51 * 60  # "quick" alone
    by_channel = compute_funnel(
        store, "marriage-declaration", as_of=as_of, within=timedelta(days=1), by="channel"
    )
    assert {g: (f.journeys, f.completed) for g, f in by_channel.groups.items()} == {
        "mobile": (1, 0),
        "web": (2, 1),
    }
    with pytest.raises(ValueError, match="longer than zero"):
        compute_funnel(store, "marriage-declaration", within=timedelta(0))


def test_a_report_time_at_the_edges_of_the_calendar(store: JourneyStore, journeys: Journeys) -> None:
    """An --as-of of 9999-12-31 at -05:00 (year 10000 in UTC) failed with "year 10000 is out of range",
    and one at the epoch itself (0 seconds) was taken as "now"."""
    from datetime import UTC, timezone

    journeys.through("j1", ["identity"])
    store.ingest(journeys.parsed())
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    funnel = compute_funnel(store, "marriage-declaration", as_of=late)
    assert funnel.as_of == late and funnel.journeys == 1
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    funnel = compute_funnel(store, "marriage-declaration", as_of=epoch)
    assert funnel.as_of == epoch and funnel.journeys == 0
