"""The ``LexicalIndex``: BM25 (bm25s) with a Snowball stemmer (PyStemmer) per document language.

Each language has its own index and analyser, so French plurals and Dutch compounds' endings are stemmed
by the right rules. A query is analysed with each language's analyser and searched in that language's
index; the lists are merged by score. The index is rebuilt from the catalog's chunks when it is opened
(fast: tens of thousands of chunks a second), so every node of a deployment can rebuild its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from contact_center.models import Chunk
from knowledge_base.text import fold

__all__ = ["LexicalIndex", "analyse"]

_STEMMER_NAMES = {
    "fr": "french",
    "nl": "dutch",
    "en": "english",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "ro": "romanian",
    "tr": "turkish",
    "ar": "arabic",
}

# Small stop lists: the words that make every procedure page look alike.
_STOPWORDS: dict[str, frozenset[str]] = {
    "fr": frozenset(
        "le la les un une des du de d l et ou a au aux en pour par sur dans est sont je tu il elle nous vous "
        "ils elles que qui quoi quel quelle ce cette ces mon ma mes son sa ses se ne pas plus avec comment "
        "combien faut faire dois doit peut peux on y".split()
    ),
    "nl": frozenset(
        "de het een en of in op van voor met aan bij is zijn ik je jij u we wij ze zij hoe wat wie waar welke "
        "dat die dit deze er te om moet moeten kan kunnen mijn mij me niet ook als naar".split()
    ),
    "en": frozenset(
        "the a an and or of to in on for by with at is are be i you he she we they my your do does how what "
        "who where which can could should must need it this that there from as not".split()
    ),
}

_WORD_RE = re.compile(r"\w+", re.UNICODE)


_stemmers: dict[str, Any] = {}


def _stemmer(language: str) -> Any:
    if language not in _stemmers:
        import Stemmer

        name = _STEMMER_NAMES.get(language)
        _stemmers[language] = Stemmer.Stemmer(name) if name else None
    return _stemmers[language]


def analyse(text: str, language: str) -> list[str]:
    """Tokens of a text for BM25: lower-cased, accents folded, stop words dropped, stemmed.

    >>> analyse("Les documents à fournir", "fr")
    ['document', 'fourn']
    """
    stop = _STOPWORDS.get(language, frozenset())
    words = [w for w in _WORD_RE.findall(fold(text)) if w not in stop and (len(w) > 1 or w.isdigit())]
    stemmer = _stemmer(language)
    return list(stemmer.stemWords(words)) if stemmer is not None else words


class LexicalIndex:
    """One BM25 index per language over the chunks given."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        import bm25s

        self._by_language: dict[str, tuple[Any, list[Chunk]]] = {}
        groups: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            groups.setdefault(chunk.language, []).append(chunk)
        for language, group in groups.items():
            corpus = [analyse(c.text, language) for c in group]
            retriever = bm25s.BM25()
            retriever.index(corpus, show_progress=False)
            self._by_language[language] = (retriever, group)

    @property
    def languages(self) -> list[str]:
        """Languages that have an index."""
        return sorted(self._by_language)

    def search(
        self, query: str, k: int, *, language: str | None = None, topic: str | None = None
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` best chunks by BM25 score across languages (or in one), best first."""
        results: list[tuple[Chunk, float]] = []
        for lang, (retriever, group) in self._by_language.items():
            if language and lang != language:
                continue
            tokens = analyse(query, lang)
            if not tokens:
                continue
            scores = retriever.get_scores(tokens)
            order = scores.argsort()[::-1]
            taken = 0
            for idx in order:
                score = float(scores[idx])
                if score <= 0 or taken >= k:
                    break
                chunk = group[int(idx)]
                if topic and chunk.topic != topic:
                    continue
                results.append((chunk, score))
                taken += 1
        results.sort(key=lambda pair: pair[1], reverse=True)
        return results[:k]
