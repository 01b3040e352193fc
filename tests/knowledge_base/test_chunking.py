from __future__ import annotations

from contact_center.models import Document
from knowledge_base.chunking import build_card, card_field_for, chunk_document, split_sections


def _doc(body: str, language: str = "fr") -> Document:
    return Document(id="d", title="Déclaration de mariage", language=language, body=body, procedure="d")


BODY = """# Déclaration de mariage

Introduction courte.

## Qui peut demander ?
Les futurs époux.

## Documents à fournir
- carte d'identité

## Coût
| Acte | Prix |
|---|---|
| Déclaration | 25 EUR |

## Délai
Six mois avant.

## Comment faire la demande ?
Sur rendez-vous.

## Où et contact
Boulevard Anspach 6, 1000 Bruxelles.
"""


def test_sections_follow_the_headings_and_the_title_is_not_a_section() -> None:
    title, sections = split_sections(BODY)
    assert title == "Déclaration de mariage"
    assert [s.heading for s in sections] == [
        "",
        "Qui peut demander ?",
        "Documents à fournir",
        "Coût",
        "Délai",
        "Comment faire la demande ?",
        "Où et contact",
    ]


def test_every_chunk_stands_alone_with_title_and_section() -> None:
    chunks = chunk_document(_doc(BODY))
    cost = next(c for c in chunks if c.section == "Coût")
    assert cost.text.startswith("Déclaration de mariage — Coût\n\n")
    assert "| Déclaration | 25 EUR |" in cost.text
    assert cost.card_field == "cost"
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)


def test_card_fields_are_read_from_french_dutch_and_english_headings() -> None:
    expectations = {
        "Qui peut demander ?": "who",
        "Conditions": "conditions",
        "Documents à fournir": "documents",
        "Coût": "cost",
        "Délai": "delay",
        "Comment faire la demande ?": "how_to_apply",
        "Où et contact": "where_contact",
        "Wie kan het aanvragen?": "who",
        "Voorwaarden": "conditions",
        "Mee te brengen documenten": "documents",
        "Kostprijs": "cost",
        "Termijn": "delay",
        "Hoe aanvragen?": "how_to_apply",
        "Waar en contact": "where_contact",
        "Who can apply?": "who",
        "Documents to bring": "documents",
        "Cost": "cost",
        "Processing time": "delay",
        "How to apply": "how_to_apply",
        "Where and contact": "where_contact",
        "Bon à savoir": None,
    }
    assert {h: card_field_for(h) for h in expectations} == expectations


def test_procedure_card_holds_each_section_once() -> None:
    card = build_card(_doc(BODY))
    assert card.who == "Les futurs époux."
    assert card.documents == "- carte d'identité"
    assert card.cost is not None and "25 EUR" in card.cost
    assert card.delay == "Six mois avant."
    assert card.how_to_apply == "Sur rendez-vous."
    assert card.where_contact == "Boulevard Anspach 6, 1000 Bruxelles."
    assert card.conditions is None
    assert list(card.fields()) == ["who", "documents", "cost", "delay", "how_to_apply", "where_contact"]


def test_a_long_section_is_split_but_a_table_stays_whole_and_with_its_heading() -> None:
    rows = "\n".join(f"| Tarif {i} | {i} EUR |" for i in range(40))
    paragraphs = "\n\n".join(f"Paragraphe {i} " + "mot " * 60 for i in range(6))
    body = f"# T\n\n## Coût\n{paragraphs}\n\n| Tarif | Prix |\n|---|---|\n{rows}\n\nFin.\n"
    chunks = chunk_document(_doc(body), max_chars=800)
    assert len(chunks) > 2
    assert all(c.section == "Coût" and c.text.startswith("Déclaration de mariage — Coût") for c in chunks)
    with_table = [c for c in chunks if "| Tarif | Prix |" in c.text]
    assert len(with_table) == 1
    assert all(f"| Tarif {i} | {i} EUR |" in with_table[0].text for i in range(40))


def test_headings_inside_code_fences_are_not_sections() -> None:
    body = "# T\n\n## Coût\n```\n# not a heading\n```\n10 EUR\n"
    _, sections = split_sections(body)
    assert [s.heading for s in sections] == ["Coût"]
