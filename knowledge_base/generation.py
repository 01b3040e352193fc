"""The ``Generator`` port and the offline extractive generator.

A generator turns a question and the passages chosen to answer it into answer text with citations. The
offline :class:`ExtractiveGenerator` composes the answer from the passages themselves, in the procedure's
own words, so every amount, date, phone number and address in it is in a cited passage by construction.
When the passages are in another language than the citizen's, it says so in the citizen's language.
The OpenAI-compatible generator (langchain-openai) plugs into the same port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from contact_center.models import Citation, Hit
from knowledge_base.phrases import phrase

__all__ = ["ExtractiveGenerator", "Generated", "Generator", "passage_body"]


@dataclass(frozen=True, slots=True)
class Generated:
    """A generator's output: the answer text and the passages it rests on."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    generator: str = "extractive"


class Generator(Protocol):
    """Writes an answer from chosen passages."""

    name: str

    def generate(self, question: str, language: str, passages: list[Hit]) -> Generated:
        """Answer ``question`` for a citizen writing in ``language`` from ``passages`` (best first)."""
        ...


def passage_body(hit: Hit) -> str:
    """A passage's text without the ``title — section`` line the chunker puts first."""
    head, sep, rest = hit.text.partition("\n\n")
    return rest.strip() if sep and hit.title in head else hit.text.strip()


def cite(hits: list[Hit]) -> list[Citation]:
    """One citation per (document, section), in order."""
    seen: set[tuple[str, str]] = set()
    out: list[Citation] = []
    for hit in hits:
        key = (hit.doc_id, hit.section)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Citation(doc_id=hit.doc_id, title=hit.title, section=hit.section, source_url=hit.source_url)
        )
    return out


class ExtractiveGenerator:
    """Answers with the cited passages themselves (at most ``max_chars`` of them)."""

    name = "extractive"

    def __init__(self, *, max_chars: int = 1200) -> None:
        self.max_chars = max_chars

    def generate(self, question: str, language: str, passages: list[Hit]) -> Generated:
        """Compose the answer: an optional other-language notice, then each passage under its heading."""
        if not passages:
            return Generated(text="", citations=[])
        first = passages[0]
        parts: list[str] = []
        if first.language != language:
            parts.append(phrase("other_language", language, doc_language=first.language, title=first.title))
        else:
            parts.append(f"**{first.title}**")
        used: list[Hit] = []
        budget = self.max_chars
        for hit in passages:
            body = passage_body(hit)
            if used and len(body) > budget:
                continue
            if not used and len(body) > budget:
                body = body[:budget].rsplit("\n", 1)[0].rstrip() + " …"
            # a blank line after the heading: Markdown would otherwise run it into the first sentence
            heading = f"*{hit.section}*\n\n" if hit.section else ""
            parts.append(f"{heading}{body}")
            used.append(hit)
            budget -= len(body)
            if budget <= 0:
                break
        return Generated(text="\n\n".join(parts), citations=cite(used))
