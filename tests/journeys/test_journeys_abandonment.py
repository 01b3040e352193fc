from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contact_center.journeys import HelpFinder, JourneyStore, find_abandoned
from contact_center.journeys.abandonment import journey_state
from tests.journeys.journeys_helpers import Journeys, TinyKnowledgeBase


def test_idle_journeys_past_their_window_are_abandoned_at_their_stalled_step(
    store: JourneyStore, journeys: Journeys, at: Callable[[float], datetime]
) -> None:
    journeys.through("j-docs", ["identity", "civil-status"])  # completed civil-status: stalls at documents
    journeys.through("j-done", ["identity"])
    journeys.add("j-done", "completed", minutes=30)
    journeys.through("j-cancel", ["identity"])
    journeys.add("j-cancel", "cancelled", minutes=30)
    journeys.add("j-recent", "started", minutes=47 * 60, step="identity")
    journeys.add("t-1", "step_viewed", minutes=0, step="plan", procedure="horeca-terrace-permit")
    store.ingest(journeys.parsed())

    found = find_abandoned(store, as_of=at(49 * 60))
    assert [(j.journey_id, j.step) for j in found] == [("t-1", "plan"), ("j-docs", "documents")]
    assert found[1].idle_seconds == (49 * 60 - 10) * 60

    only_marriage = find_abandoned(store, procedure="marriage-declaration", as_of=at(49 * 60))
    assert [j.journey_id for j in only_marriage] == ["j-docs"]
    # Before the 48 h window has passed nothing is abandoned for the marriage declaration.
    assert find_abandoned(store, procedure="marriage-declaration", as_of=at(47 * 60)) == []


def test_help_comes_from_the_knowledge_base_for_that_step_and_language(
    store: JourneyStore, journeys: Journeys, kb: TinyKnowledgeBase, at: Callable[[float], datetime]
) -> None:
    journeys.through("j1", ["identity", "civil-status"], language="fr")
    journeys.through("j2", ["identity", "civil-status"], language="de")
    store.ingest(journeys.parsed())
    finder = HelpFinder(kb, store.catalog())
    found = {j.journey_id: j for j in find_abandoned(store, as_of=at(3 * 24 * 60), help_finder=finder)}
    assert [c.section for c in found["j1"].help] == ["Documents à fournir"]
    assert found["j1"].help[0].source_url == "https://www.brussels.be/mariage"
    # German has no passages: the fallback chain (fr, nl, en) finds French ones.
    assert found["j2"].help[0].doc_id == "marriage-declaration-fr"
    assert ("Déclaration de mariage documents à fournir", "fr", "etat-civil") in kb.queries


def test_journey_state_sees_events_after_detection(
    store: JourneyStore, journeys: Journeys, at: Callable[[float], datetime]
) -> None:
    journeys.through("j1", ["identity"])
    store.ingest(journeys.parsed())
    assert journey_state(store, "marriage-declaration", "j1") == (False, at(5).timestamp())
    journeys.add("j1", "completed", minutes=4000)
    store.ingest(journeys.parsed())
    assert journey_state(store, "marriage-declaration", "j1") == (True, at(4000).timestamp())
    assert journey_state(store, "marriage-declaration", "nope") is None


def test_help_for_a_language_with_a_region_is_in_that_language(
    store: JourneyStore, journeys: Journeys, kb: TinyKnowledgeBase, at: Callable[[float], datetime]
) -> None:
    """A journey in en-GB got the French help of the fallback chain in the abandoned list, while its
    nudge (which drops the region) carried the English one."""
    journeys.through("j1", ["identity", "civil-status"], language="en-GB")
    store.ingest(journeys.parsed())
    finder = HelpFinder(kb, store.catalog())
    [found] = find_abandoned(store, as_of=at(3 * 24 * 60), help_finder=finder)
    assert [c.doc_id for c in found.help] == ["marriage-declaration-en"]
    assert ("Marriage declaration documents to bring", "en", "etat-civil") in kb.queries
