"""Cutting a procedure page into sections, chunks and a procedure card.

A chunk is one section of the page (the text under a heading), prefixed with the page title and the
heading so that it can be understood alone. A section longer than ``max_chars`` is split at paragraph
boundaries; a Markdown table is never split and always stays with its heading.

The card keeps the key facts of a procedure (who, conditions, documents to bring, cost, delay, how to
apply, where / contact), each taken from the section whose heading names it, in French, Dutch or
English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contact_center.models import CardField, Chunk, Document, ProcedureCard
from knowledge_base.text import fold

__all__ = ["Section", "build_card", "card_field_for", "chunk_document", "split_sections"]

_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")

# Keywords (accent-free, lower case) of the headings that name each card field, in the order tried:
# "Wie kan het aanvragen?" must be read as 'who' before 'aanvragen' makes it 'how_to_apply'.
_CARD_KEYWORDS: tuple[tuple[CardField, tuple[str, ...]], ...] = (
    (
        "who",
        ("qui peut", "pour qui", "beneficiaire", "wie kan", "voor wie", "who can", "who is it for", "eligib"),
    ),
    (
        "documents",
        ("document", "pieces a", "justificatif", "mee te brengen", "benodigd", "to bring", "what to bring"),
    ),
    ("cost", ("cout", "prix", "tarif", "redevance", "kost", "prijs", "retributie", "cost", "fee", "price")),
    ("delay", ("delai", "duree", "termijn", "wachttijd", "processing time", "how long", "delay")),
    ("where_contact", ("contact", "ou s'adresser", "ou et", "waar", "where", "adresse", "address")),
    ("conditions", ("condition", "voorwaarde", "requirement")),
    ("how_to_apply", ("comment", "demarche", "procedure", "hoe ", "aanvra", "how to", "apply", "steps")),
)


@dataclass(frozen=True, slots=True)
class Section:
    """The text under one heading of a page (the introduction has an empty heading)."""

    heading: str
    text: str


def card_field_for(heading: str) -> CardField | None:
    """The card field a section heading names, if any.

    >>> card_field_for("Documents à fournir")
    'documents'
    >>> card_field_for("Wie kan het aanvragen?")
    'who'
    """
    folded = fold(heading)
    for field, keywords in _CARD_KEYWORDS:
        # keywords match at the start of a word: 'waar' must not find 'voorwaarden'
        if any(re.search(r"\b" + re.escape(k), folded) for k in keywords):
            return field
    return None


def split_sections(body: str) -> tuple[str | None, list[Section]]:
    """Split a Markdown body into its title (first level-1 heading) and sections."""
    title: str | None = None
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING_RE.match(line)
        if match is None:
            lines.append(line)
            continue
        level, text = len(match.group(1)), match.group(2).strip()
        if level == 1 and title is None and not "".join(lines).strip() and not sections:
            title = text
            lines = []
            continue
        if "".join(lines).strip() or heading:
            sections.append(Section(heading, "\n".join(lines).strip()))
        heading, lines = text, []
    if "".join(lines).strip() or heading:
        sections.append(Section(heading, "\n".join(lines).strip()))
    return title, [s for s in sections if s.text or s.heading]


def _blocks(text: str) -> list[str]:
    """Paragraph-level blocks; a table (consecutive '|' lines) is one block."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        is_table = line.lstrip().startswith("|")
        if current and is_table != current[-1].lstrip().startswith("|"):
            blocks.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _split_long(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    parts: list[str] = []
    current = ""
    for block in _blocks(text):
        if current and len(current) + len(block) + 2 > max_chars:
            parts.append(current)
            current = block
        else:
            current = f"{current}\n\n{block}" if current else block
    if current:
        parts.append(current)
    return parts


def chunk_document(doc: Document, *, max_chars: int = 1500) -> list[Chunk]:
    """Cut a document into chunks along its sections.

    Each chunk's text starts with ``"<title> — <section>"`` so that it stands alone in an index.
    """
    _, sections = split_sections(doc.body)
    chunks: list[Chunk] = []
    for section in sections:
        if not section.text:
            continue
        field = card_field_for(section.heading) if section.heading else None
        for part in _split_long(section.text, max_chars):
            header = f"{doc.title} — {section.heading}" if section.heading else doc.title
            position = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{doc.id}#{position}",
                    doc_id=doc.id,
                    title=doc.title,
                    language=doc.language,
                    topic=doc.topic,
                    procedure=doc.procedure or doc.id,
                    source_url=doc.source_url,
                    section=section.heading,
                    card_field=field,
                    position=position,
                    text=f"{header}\n\n{part}",
                )
            )
    return chunks


def build_card(doc: Document) -> ProcedureCard:
    """The procedure card of a document: each field from the first section whose heading names it."""
    _, sections = split_sections(doc.body)
    values: dict[str, str] = {}
    for section in sections:
        field = card_field_for(section.heading) if section.heading else None
        if field and field not in values and section.text:
            values[field] = section.text
    return ProcedureCard(
        doc_id=doc.id, title=doc.title, language=doc.language, source_url=doc.source_url, **values
    )
