from __future__ import annotations

import pytest

from knowledge_base.intent import asked_fields


@pytest.mark.parametrize(
    ("question", "fields"),
    [
        ("Combien coûte une carte d'identité ?", ["cost"]),
        ("Hoeveel kost een paspoort?", ["cost"]),
        ("ça coûte 25 euros ?", ["cost"]),
        ("How long does it take to get a passport?", ["delay"]),
        ("Combien de temps faut-il attendre ?", ["delay"]),
        ("Wat moet ik meebrengen?", ["documents"]),
        ("Where is the counter?", ["where_contact"]),
        ("How do I apply for a parking card?", ["how_to_apply"]),
        # "europeo" and "demandeur" are not about money
        ("¿Cómo puedo registrarme como ciudadano europeo en Bruselas?", ["how_to_apply"]),
        ("Bonjour", []),
    ],
)
def test_the_part_of_a_procedure_a_question_asks_about(question: str, fields: list[str]) -> None:
    assert asked_fields(question) == fields
