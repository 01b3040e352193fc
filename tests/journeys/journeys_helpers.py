"""Helpers for the journeys tests (a unique module name, so it cannot clash with other test folders)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contact_center.journeys import parse_event
from contact_center.models import Hit

PROCEDURES_YAML = """\
procedures:
  marriage-declaration:
    title: {fr: "Déclaration de mariage", nl: "Huwelijksaangifte", en: "Marriage declaration"}
    topic: etat-civil
    steps: [identity, civil-status, documents, appointment, payment]
    step_titles:
      documents: {fr: "documents à fournir", nl: "mee te brengen documenten", en: "documents to bring"}
    idle_window: 48h
    resume_url: "https://example.brussels/procedures/marriage/{journey_id}/{step}"
  horeca-terrace-permit:
    title: {fr: "Permis de terrasse Horeca", en: "Horeca terrace permit"}
    topic: horeca
    steps: [business, location, plan, payment]
    idle_window: 24h
    resume_url: "https://example.brussels/procedures/terrace/{journey_id}/{step}?lang=auto"
"""

# One valid event with every field, for tests that change one field at a time.
GOOD_EVENT = {
    "event_id": "e1",
    "journey_id": "j1",
    "citizen_ref": "c1",
    "procedure": "marriage-declaration",
    "step": "identity",
    "type": "step_viewed",
    "ts": "2026-10-05T10:00:00+02:00",
    "channel": "web",
    "language": "fr",
}
MARRIAGE_STEPS = ["identity", "civil-status", "documents", "appointment", "payment"]
T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)  # a Monday, not a Belgian public holiday


class Journeys:
    """Builds events for journeys: ``j.add("j1", "started", minutes=0, step="identity")``."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(
        self,
        journey_id: str,
        kind: str,
        *,
        minutes: float,
        step: str | None = None,
        procedure: str = "marriage-declaration",
        channel: str = "web",
        language: str = "fr",
        citizen_ref: str | None = None,
    ) -> dict[str, Any]:
        event = {
            "event_id": f"{journey_id}-{len(self.events)}",
            "journey_id": journey_id,
            "citizen_ref": citizen_ref or f"c-{journey_id}",
            "procedure": procedure,
            "step": step,
            "type": kind,
            "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
            "channel": channel,
            "language": language,
        }
        self.events.append({k: v for k, v in event.items() if v is not None})
        return event

    def through(
        self, journey_id: str, steps: list[str], *, start: float = 0, per_step: float = 5, **kw: Any
    ) -> float:
        """started + viewed/completed for each step; returns the minute of the last event."""
        t = start
        self.add(journey_id, "started", minutes=t, step=steps[0] if steps else None, **kw)
        for step in steps:
            self.add(journey_id, "step_viewed", minutes=t, step=step, **kw)
            t += per_step
            self.add(journey_id, "step_completed", minutes=t, step=step, **kw)
        return t

    def parsed(self) -> list[Any]:
        return [parse_event(e) for e in self.events]

    def write_jsonl(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(e) + "\n" for e in self.events), encoding="utf-8")
        return path


class TinyKnowledgeBase:
    """A KnowledgeSearch over a handful of passages, scored by shared words (real Hit objects)."""

    def __init__(self, passages: list[Hit]) -> None:
        self.passages = passages
        self.queries: list[tuple[str, str | None, str | None]] = []

    def search(
        self, question: str, k: int = 5, *, language: str | None = None, topic: str | None = None
    ) -> list[Hit]:
        self.queries.append((question, language, topic))
        words = set(question.lower().split())
        scored = []
        for hit in self.passages:
            if language and hit.language != language:
                continue
            if topic and hit.topic != topic:
                continue
            overlap = len(words & set((hit.title + " " + hit.section + " " + hit.text).lower().split()))
            if overlap:
                scored.append(hit.model_copy(update={"score": float(overlap)}))
        return sorted(scored, key=lambda h: -h.score)[:k]


def random_journeys(seed: int) -> Journeys:
    """150 marriage-declaration journeys of every shape (completed, ineligible, cancelled, idle), shuffled."""
    rng = random.Random(seed)
    journeys = Journeys()
    steps = MARRIAGE_STEPS
    for n in range(150):
        jid = f"j{n}"
        kw = {"channel": rng.choice(["web", "mobile"]), "language": rng.choice(["fr", "nl", "en"])}
        start = rng.randrange(0, 5 * 24 * 60)
        reached = rng.randrange(0, len(steps) + 1)
        end = journeys.through(jid, steps[:reached], start=start, per_step=rng.randrange(1, 30), **kw)
        ending = rng.random()
        if reached == len(steps) and ending < 0.8:
            journeys.add(jid, "completed", minutes=end + 1, **kw)
        elif ending < 0.1:
            journeys.add(jid, "ineligible", minutes=end + 1, step=steps[max(reached - 1, 0)], **kw)
        elif ending < 0.2:
            journeys.add(jid, "cancelled", minutes=end + 1, **kw)
        elif ending < 0.4 and reached < len(steps):
            journeys.add(jid, "step_viewed", minutes=end + 2, step=steps[reached], **kw)
    rng.shuffle(journeys.events)
    return journeys
