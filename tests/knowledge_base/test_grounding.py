"""The grounding check: facts in a generated answer must be in the passages it cites."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge_base.grounding import check_grounding

PASSAGE = (
    "Coût : 25 EUR (gratuit pour les moins de 12 ans). Délai : 3 à 4 semaines. "
    "Contact : 02 279 22 11, etatcivil@brucity.be, Brucity, rue des Halles 4, 1000 Bruxelles. "
    "Le mariage peut avoir lieu à partir du 14e jour. https://www.bruxelles.be/mariage"
)


@pytest.mark.parametrize(
    "answer",
    [
        "Cela coûte 25 EUR.",
        "Cela coûte 25,00 €, gratuit avant 12 ans [1].",
        "Comptez 3 à 4 semaines.",
        "Appelez le 02/279.22.11 ou le +32 2 279 22 11.",
        "Écrivez à etatcivil@brucity.be.",
        "Rendez-vous à Brucity, Rue des Halles 4, 1000 Bruxelles.",
        "Dès le 14e jour, voir https://www.bruxelles.be/mariage.",
        "Prenez rendez-vous en ligne.",
    ],
)
def test_facts_restated_from_the_passage_pass(answer: str) -> None:
    report = check_grounding(answer, [PASSAGE])
    assert report.ok, report.unsupported


@pytest.mark.parametrize(
    ("answer", "unsupported"),
    [
        ("Cela coûte 30 EUR.", "30"),
        ("Comptez 6 semaines.", "6"),
        ("Appelez le 02 279 22 12.", "02 279 22 12"),
        ("Écrivez à mariage@brucity.be.", "mariage@brucity.be"),
        ("Allez boulevard Anspach.", "boulevard anspach"),
        ("Payez sur https://pay.example.com.", "https://pay.example.com."),
    ],
)
def test_invented_facts_fail_and_are_named(answer: str, unsupported: str) -> None:
    report = check_grounding(answer, [PASSAGE])
    assert not report.ok
    assert unsupported.rstrip(".") in [u.rstrip(".") for u in report.unsupported]


@given(st.integers(min_value=1, max_value=99_999), st.integers(min_value=1, max_value=99_999))
def test_an_amount_passes_exactly_when_the_passage_states_it(stated: int, written: int) -> None:
    report = check_grounding(f"Le tarif est de {written} EUR.", [f"Tarif : {stated} EUR."])
    assert report.ok == (stated == written)
