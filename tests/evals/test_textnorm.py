"""Fact matching after normalising case, accents, spaces, numbers and currency."""

from __future__ import annotations

import pytest

from evals.textnorm import contains_fact, extract_numbers, normalize_tokens


@pytest.mark.parametrize(
    "written", ["25 €", "25€", "25 euros", "25 EUR", "€ 25", "EUR 25,00", "25,00 €", "25 Euro"]
)
def test_every_way_of_writing_an_amount_matches(written: str) -> None:
    assert contains_fact(f"Le prix est de {written}.", "25 €")
    assert contains_fact("Le prix est de 25 €.", written)


@pytest.mark.parametrize(
    ("answer", "fact"),
    [
        ("La carte coûte 125 €.", "25 €"),
        ("La carte coûte 2,5 €.", "25 €"),
        ("La carte coûte 25 dollars.", "25 €"),
        ("Délai : 3 semaines.", "30 semaines"),
        ("", "25 €"),
    ],
)
def test_near_misses_do_not_match(answer: str, fact: str) -> None:
    assert not contains_fact(answer, fact)


def test_case_accents_spaces_and_thousands() -> None:
    assert contains_fact("Présentez-vous à l'ÉTAT  CIVIL\u00a0avant le mariage", "etat civil")
    assert contains_fact("Amende de 1.000 €", "1 000 euros")
    assert contains_fact("Fine of 1,000 EUR", "1000 €")
    assert contains_fact("Coût : 2,50 €", "2.5 EUR")
    assert not contains_fact("anything", "   ")


def test_numbers_are_canonical_and_citation_marks_ignored() -> None:
    assert extract_numbers("Comptez 3 semaines et 25,00 € [1][2]") == {"3", "25"}
    assert normalize_tokens("€12,50") == ["12.5", "eur"]
