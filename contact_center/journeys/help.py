"""Help for a stalled step, from the knowledge base, through a search port.

The journeys package does not import the assistant facade: anything with ``ContactCenter.search``'s
signature will do (the facade itself, or a small in-memory index in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from contact_center.errors import ContactCenterError
from contact_center.journeys.messages import primary_language
from contact_center.journeys.procedures import ProcedureCatalog
from contact_center.models import Citation, Hit

__all__ = ["HelpFinder", "KnowledgeSearch", "citations"]

log = logging.getLogger(__name__)


@runtime_checkable
class KnowledgeSearch(Protocol):
    """Search over the knowledge base, as ``ContactCenter.search`` offers it."""

    def search(
        self, question: str, k: int = 5, *, language: str | None = None, topic: str | None = None
    ) -> list[Hit]:
        """The ``k`` passages that best answer ``question``, best first, optionally filtered."""
        ...


def citations(hits: Sequence[Hit]) -> list[Citation]:
    """One citation per distinct (document, section), in hit order."""
    seen: set[tuple[str, str]] = set()
    out: list[Citation] = []
    for hit in hits:
        key = (hit.doc_id, hit.section)
        if key not in seen:
            seen.add(key)
            out.append(
                Citation(doc_id=hit.doc_id, title=hit.title, section=hit.section, source_url=hit.source_url)
            )
    return out


class HelpFinder:
    """Finds, and caches per (procedure, step, language), the passages a nudge for that step carries.

    The query is "<procedure title> <step label>" in the citizen's language, filtered by the
    procedure's topic; when that language has nothing, the fallback languages are tried in order.
    """

    def __init__(
        self,
        search: KnowledgeSearch | None,
        catalog: ProcedureCatalog,
        *,
        k: int = 3,
        fallback_languages: Sequence[str] = ("fr", "nl", "en"),
    ) -> None:
        self._search = search
        self._catalog = catalog
        self._k = k
        self._fallback = tuple(fallback_languages)
        self._cache: dict[tuple[str, str, str | None], tuple[str | None, list[Hit]]] = {}
        self.failures: list[str] = []

    @property
    def available(self) -> bool:
        """False when no knowledge base was given: help lists stay empty."""
        return self._search is not None

    def hits(self, procedure: str, step: str, language: str | None) -> tuple[str | None, list[Hit]]:
        """The language the help was found in, and its passages (empty when none or no search)."""
        key = (procedure, step, language)
        if key in self._cache:
            return self._cache[key]
        # The knowledge base and the titles know languages, not regions: nl-BE (or nl_BE) is nl, as in
        # the nudge's own choice of language.
        primary = primary_language(language) or None
        found: tuple[str | None, list[Hit]] = (primary, [])
        proc = self._catalog.get(procedure)
        if self._search is not None and proc is not None:
            for lang in dict.fromkeys([primary, *self._fallback]):
                query = f"{proc.title(lang)} {proc.step_title(step, lang)}"
                try:
                    hits = self._search.search(query, k=self._k, language=lang, topic=proc.topic)
                except ContactCenterError as exc:
                    # Help is an extra: a failing knowledge base must not hide the abandoned list.
                    self.failures.append(f"{procedure}/{step}: {exc}")
                    log.warning("help search failed for %s/%s: %s", procedure, step, exc)
                    break
                if hits:
                    found = (lang, list(hits))
                    break
        self._cache[key] = found
        return found

    def citations(self, procedure: str, step: str, language: str | None) -> list[Citation]:
        """The citations of :meth:`hits`."""
        return citations(self.hits(procedure, step, language)[1])
