"""Which part of a procedure a question asks about (cost, documents, delay, where, how, who).

Keyword cues in French, Dutch and English (and a few common words of other languages), matched on the
accent-folded question. Used to pick the sections of a procedure that answer a question, so that
"combien ça coûte ?" gets the cost section, not the introduction.
"""

from __future__ import annotations

import re

from contact_center.models import CardField
from knowledge_base.text import fold

__all__ = ["asked_fields"]

_CUES: dict[CardField, tuple[str, ...]] = {
    "cost": (
        "combien",
        "cout",
        "coute",
        "prix",
        "tarif",
        "payer",
        "gratuit",
        # whole words only: "europeo", "demandeur " and "chauffeur " say nothing of money
        " euro ",
        " euros ",
        " eur ",
        "€",
        "hoeveel",
        "kost",
        "prijs",
        "betalen",
        "gratis",
        "tarief",
        "how much",
        "cost",
        "price",
        "fee",
        "pay",
        "free of charge",
        "cuanto",
        "cuesta",
        "precio",
        "kostet",
        "preis",
        "quanto",
        "costa",
        "ucret",
        "kosztuje",
    ),
    "documents": (
        "document",
        "papier",
        "apporter",
        "fournir",
        "pieces",
        "justificatif",
        "besoin de quoi",
        "meebrengen",
        "mee te brengen",
        "meenemen",
        "nodig",
        "bewijs",
        "papieren",
        "bring",
        "need to provide",
        "what do i need",
        "paperwork",
        "proof",
        "documentos",
        "unterlagen",
        "documenti",
        "belge",
    ),
    "delay": (
        "delai",
        "combien de temps",
        "quand",
        "duree",
        "attendre",
        "jours",
        "semaines",
        "avant le",
        "hoe lang",
        "termijn",
        "wanneer",
        "wachten",
        "dagen",
        "weken",
        "how long",
        "when",
        "processing time",
        "days",
        "weeks",
        "in advance",
        "deadline",
        "cuanto tiempo",
        "wie lange",
        "quanto tempo",
    ),
    "where_contact": (
        "ou ",
        "adresse",
        "guichet",
        "horaire",
        "ouvert",
        "telephone",
        "contacter",
        "joindre",
        "waar",
        "adres",
        "loket",
        "openingsuren",
        "bellen",
        "telefoon",
        "where",
        "address",
        "counter",
        "opening hours",
        "phone",
        "contact",
        "call",
        "donde",
        "direccion",
        "wo ",
        "dove",
    ),
    "how_to_apply": (
        "comment",
        "demande",
        "demander",
        "en ligne",
        "rendez-vous",
        "inscrire",
        "procedure",
        "demarche",
        "hoe ",
        "aanvragen",
        "aanvraag",
        "online",
        "afspraak",
        "inschrijven",
        "how do",
        "how can",
        "how to",
        "apply",
        "appointment",
        "online",
        "register",
        "book",
        "como",
        "wie kann",
        "come ",
    ),
    "who": (
        "qui peut",
        "ai-je le droit",
        "ai je droit",
        "wie mag",
        "wie kan",
        "who can",
        "am i allowed",
        "eligible",
    ),
    "conditions": ("condition", "voorwaarde", "requirement", "obligatoire", "verplicht", "mandatory"),
}


_ORDER: tuple[CardField, ...] = (
    "cost",
    "documents",
    "delay",
    "where_contact",
    "who",
    "conditions",
    "how_to_apply",
)


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", fold(text)) + " "


def asked_fields(question: str) -> list[CardField]:
    """Card fields the question asks about, most specific first (may be empty).

    >>> asked_fields("Combien coûte une carte d'identité ?")
    ['cost']
    """
    folded = " " + _fold(question)
    found: list[CardField] = []
    for field in _ORDER:
        if any(cue in folded for cue in _CUES[field]):
            found.append(field)
    # "how much" / "combien de temps" are about cost or delay, not about how to apply
    if len(found) > 1 and "how_to_apply" in found:
        found.remove("how_to_apply")
    if (
        "delay" in found
        and "cost" in found
        and any(c in folded for c in ("combien de temps", "how long", "hoe lang", "cuanto tiempo"))
    ):
        found.remove("cost")
    return found
