from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from channels.mailer import MaildirMailer
from contact_center.journeys import (
    Contact,
    JourneyStore,
    MappingContactLookup,
    compute_uplift,
    newcombe_interval,
    run_nudges,
)
from contact_center.settings import JourneySettings, Settings
from tests.journeys.journeys_helpers import Journeys


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_matches_the_published_values(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    low, high = newcombe_interval(*counts)
    assert (round(low, 4), round(high, 4)) == expected


NOON = 3 * 24 * 60 + 2 * 60  # minutes after the journeys' start: the nudge run's decision time


async def _nudge_half(
    store: JourneyStore, journeys: Journeys, tmp_path: Path, at: Callable[[float], datetime], count: int
) -> tuple[list[str], list[str]]:
    """``count`` journeys stalled at identity, nudged at NOON with a 50 % holdout: (nudged, holdout) ids."""
    ids = [f"j{n:03d}" for n in range(count)]
    for jid in ids:
        journeys.through(jid, ["identity"], citizen_ref=f"c-{jid}")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({f"c-{j}": Contact(f"{j}@example.org", "fr", True) for j in ids})
    cfg = Settings(
        data_dir=tmp_path,
        secret_key="test-key",  # type: ignore[arg-type]
        journeys=JourneySettings(holdout_share=0.5, weekly_cap=5),
    )
    report = await run_nudges(
        store, cfg, contacts=contacts, mailer=MaildirMailer(tmp_path / "outbox"), as_of=at(NOON)
    )
    nudged = [o.journey_id for o in report.outcomes if o.outcome == "sent"]
    holdout = [o.journey_id for o in report.outcomes if o.outcome == "holdout"]
    return nudged, holdout


async def test_uplift_compares_nudged_and_holdout_journeys(
    store: JourneyStore, journeys: Journeys, tmp_path: Path, at: Callable[[float], datetime]
) -> None:
    nudged, holdout = await _nudge_half(store, journeys, tmp_path, at, 60)
    assert len(nudged) + len(holdout) == 60

    early = compute_uplift(store, "marriage-declaration", min_group_size=30)
    assert early.verdict == "insufficient_data"
    assert "too few journeys" in early.message

    # Every nudged journey comes back and completes; no holdout journey does.
    for jid in nudged:
        journeys.add(jid, "completed", minutes=NOON + 60)
    store.ingest(journeys.parsed())
    result = compute_uplift(store, "marriage-declaration", min_group_size=10)
    assert (result.nudged.journeys, result.nudged.completed) == (len(nudged), len(nudged))
    assert (result.holdout.journeys, result.holdout.completed) == (len(holdout), 0)
    assert result.difference == 1.0
    assert result.verdict == "nudges_help"
    assert result.ci_low is not None and result.ci_low > 0.5


def test_uplift_without_any_nudge_says_so(store: JourneyStore) -> None:
    result = compute_uplift(store, "horeca-terrace-permit")
    assert result.verdict == "insufficient_data"
    assert result.difference is None
    assert "no nudged journeys yet" in result.message


async def test_uplift_without_a_holdout_says_how_to_get_one(
    store: JourneyStore, journeys: Journeys, tmp_path: Path, at: Callable[[float], datetime]
) -> None:
    journeys.through("j1", ["identity"], citizen_ref="c1")
    store.ingest(journeys.parsed())
    cfg = Settings(
        data_dir=tmp_path,
        secret_key="test-key",  # type: ignore[arg-type]
        journeys=JourneySettings(holdout_share=0.0),
    )
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    await run_nudges(
        store, cfg, contacts=contacts, mailer=MaildirMailer(tmp_path / "outbox"), as_of=at(3 * 24 * 60 + 120)
    )
    result = compute_uplift(store, "marriage-declaration")
    assert result.verdict == "insufficient_data"
    # Running `journeys nudge` again cannot help while no journey is held out.
    assert "CC_JOURNEYS__HOLDOUT_SHARE" in result.message


async def test_only_completions_after_the_decision_count_in_either_group(
    store: JourneyStore, journeys: Journeys, tmp_path: Path, at: Callable[[float], datetime]
) -> None:
    """A `completed` event that arrived late, dated before the nudge, counted as a conversion."""
    nudged, holdout = await _nudge_half(store, journeys, tmp_path, at, 40)
    assert len(nudged) >= 4 and len(holdout) >= 5

    # Events dated before the decision arrive after it: they are not what the nudge (or its absence) did.
    for jid in nudged[:3] + holdout[:3]:
        journeys.add(jid, "completed", minutes=NOON - 30)
    journeys.add(holdout[3], "ineligible", minutes=NOON - 1, step="civil-status")
    # After the decision: these count, ineligible included (GOV.UK).
    journeys.add(nudged[3], "completed", minutes=NOON + 60)
    journeys.add(holdout[4], "ineligible", minutes=NOON + 1, step="civil-status")
    # A completion before the decision followed by another one after it: converted after the nudge.
    journeys.add(nudged[0], "completed", minutes=NOON + 90)
    store.ingest(journeys.parsed())

    result = compute_uplift(store, "marriage-declaration", min_group_size=10)
    assert (result.nudged.journeys, result.nudged.completed) == (len(nudged), 2)
    assert (result.holdout.journeys, result.holdout.completed) == (len(holdout), 1)
