"""A small deterministic question-answering system for testing the runner, metrics and reports.

Scripted per question: the ranking ``search`` returns and the ``Answer`` that ``ask`` returns, or an
exception to raise. The runner does not depend on embedding quality, so this is all it needs; the real
``ContactCenter`` is exercised in test_sample_kb.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contact_center.models import Answer, Citation, Decision, Hit

PASSAGES = {
    "carte-identite": ("fr", "La carte d'identité coûte 25 € et est délivrée en 3 semaines."),
    "identiteitskaart": ("nl", "De identiteitskaart kost 25 euro en wordt na 3 weken afgeleverd."),
    "terrace-permit": ("en", "A terrace permit costs 120 EUR per year. Apply at the City's Commerce office."),
    "mariage": ("fr", "La déclaration de mariage se fait au moins 14 jours avant le mariage."),
    "parking-card": ("en", "The resident parking card costs 10 € for the first car."),
}


def hit(doc_id: str, score: float, section: str = "Coût") -> Hit:
    """A passage of one of the toy documents."""
    language, text = PASSAGES[doc_id]
    return Hit(doc_id=doc_id, title=doc_id, section=section, language=language, score=score, text=text)


def answer(
    decision: Decision,
    text: str,
    language: str,
    cited: list[str] | None = None,
    hits: list[str] | None = None,
) -> Answer:
    """An ``Answer`` citing ``cited`` and carrying the passages of ``hits`` (default: the cited ones)."""
    cited = cited or []
    hit_ids = hits if hits is not None else cited
    return Answer(
        decision=decision,
        text=text,
        language=language,
        citations=[Citation(doc_id=d, title=d) for d in cited],
        hits=[hit(d, 1.0 - i / 10) for i, d in enumerate(hit_ids)],
    )


@dataclass
class ToySystem:
    """Scripted ``search``/``ask``; unknown questions get no hit and an abstention in English."""

    rankings: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    failures: dict[str, Exception] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def search(
        self, question: str, k: int = 5, *, language: str | None = None, topic: str | None = None
    ) -> list[Hit]:
        ids = self.rankings.get(question, [])
        return [hit(d, 1.0 - i / 100) for i, d in enumerate(ids)][:k]

    def ask(self, question: str) -> Answer:
        self.asked.append(question)
        if question in self.failures:
            raise self.failures[question]
        return self.answers.get(question) or answer("abstain", "Je ne sais pas.", "en")


# A golden set and a system scripted to fit it: every figure of the summary can be worked out by hand.
GOLDEN_LINES = [
    {
        "id": "fr-cost",
        "question": "Combien coûte une carte d'identité ?",
        "language": "fr",
        "gold_doc_ids": ["carte-identite"],
        "answer_facts": ["25 €", "3 semaines"],
        "kind": "factual",
    },
    {
        "id": "nl-cost",
        "question": "Hoeveel kost een identiteitskaart?",
        "language": "nl",
        "gold_doc_ids": ["identiteitskaart"],
        "answer_facts": ["25 euro"],
        "kind": "factual",
    },
    {
        "id": "en-terrace",
        "question": "How much is a terrace permit?",
        "language": "en",
        "gold_doc_ids": ["terrace-permit"],
        "answer_facts": ["120 EUR"],
        "kind": "procedural",
        "tags": ["horeca"],
    },
    {
        "id": "en-cross",
        "question": "How long before the wedding must I declare it?",
        "language": "en",
        "gold_doc_ids": ["mariage"],
        "answer_facts": ["14 days"],
        "kind": "cross_lingual",
        "doc_language": "fr",
    },
    {
        "id": "fr-weather",
        "question": "Quel temps fera-t-il demain ?",
        "language": "fr",
        "gold_doc_ids": [],
        "answer_facts": [],
        "kind": "out_of_scope",
    },
    {
        "id": "en-boom",
        "question": "This question crashes the system",
        "language": "en",
        "gold_doc_ids": ["parking-card"],
        "answer_facts": ["10 €"],
        "kind": "factual",
    },
    {
        "id": "fr-follow",
        "question": "Et pour un enfant ?",
        "language": "fr",
        "turns": ["Combien coûte une carte d'identité ?"],
        "gold_doc_ids": ["carte-identite"],
        "answer_facts": [],
        "kind": "follow_up",
    },
]


def toy_system() -> ToySystem:
    """The system scripted for :data:`GOLDEN_LINES`."""
    return ToySystem(
        rankings={
            "Combien coûte une carte d'identité ?": ["carte-identite", "identiteitskaart"],
            "Hoeveel kost een identiteitskaart?": ["carte-identite", "identiteitskaart", "mariage"],
            "How much is a terrace permit?": [
                "parking-card",
                "mariage",
                "identiteitskaart",
                "carte-identite",
            ],
            "How long before the wedding must I declare it?": ["mariage"],
            "Quel temps fera-t-il demain ?": ["mariage"],
            "Combien coûte une carte d'identité ? Et pour un enfant ?": ["carte-identite"],
        },
        answers={
            # Right decision, both facts, cited; "25" and "3" are in the cited passage.
            "Combien coûte une carte d'identité ?": answer(
                "answer",
                "Une carte d'identité coûte 25 euros ; comptez 3 semaines [1].",
                "fr",
                ["carte-identite"],
            ),
            # Right decision, fact found, but a number (30) the passage does not state.
            "Hoeveel kost een identiteitskaart?": answer(
                "answer", "De kaart kost 25 EUR, te betalen binnen 30 dagen.", "nl", ["identiteitskaart"]
            ),
            # A false abstention.
            "How much is a terrace permit?": answer("abstain", "I cannot help with that.", "en"),
            # Answered in French to an English question; cites a document it did not retrieve.
            "How long before the wedding must I declare it?": answer(
                "answer", "Au moins 14 jours avant.", "fr", ["mariage", "parking-card"], hits=["mariage"]
            ),
            "Quel temps fera-t-il demain ?": answer(
                "abstain", "Je ne peux pas répondre à cette question.", "fr"
            ),
            "Combien coûte une carte d'identité ? Et pour un enfant ?": answer(
                "answer", "25 € [1]", "fr", ["carte-identite"]
            ),
        },
        failures={"This question crashes the system": RuntimeError("index unavailable")},
    )
