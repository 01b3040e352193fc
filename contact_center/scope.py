"""Is a question about the City's procedures at all? The out-of-scope guard behind ``abstain``.

Retrieval similarity alone does not tell "how do I file my income tax?" (a federal matter) from "how much
is a terrace permit?": multilingual-e5 scores both around 0.85 against City pages. The guard compares the
question with two sides. Out of scope: a small set of topics the City does not handle (federal taxes,
pensions, unemployment, health insurance, weather, leisure tips, chit-chat, transport), listed in
``out_of_scope.yaml``. In scope: the best procedure passage, and each procedure's title put in the form of
a citizen's question in its own language ("Je voudrais savoir comment faire pour : Déclaration de mariage").
The second kind matters because informal questions resemble informal questions: without it, "ik ben
verhuisd, hoeveel tijd heb ik om het te melden?" sits closer to a question-shaped topic of the other side
than to the formal change-of-address page. A question at least ``margin`` closer to an out-of-scope topic than to the in-scope
side is out of scope. Two cheap rules come first: a question naming another commune, and an attempt
to override the assistant's instructions, are out of scope whatever they resemble.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from knowledge_base.text import fold

if TYPE_CHECKING:
    from knowledge_base.embeddings import Embedder, Vectors

__all__ = ["ScopeGuard", "ScopeVerdict"]

Reason = Literal["in_scope", "other_commune", "injection", "off_topic", "low_similarity"]

# The 18 other communes of the Brussels-Capital Region (both names), and the large Belgian cities.
_OTHER_COMMUNES = (
    "anderlecht",
    "auderghem",
    "oudergem",
    "berchem-sainte-agathe",
    "sint-agatha-berchem",
    "etterbeek",
    "evere",
    "forest",
    "vorst",
    "ganshoren",
    "ixelles",
    "elsene",
    "jette",
    "koekelberg",
    "molenbeek",
    "saint-gilles",
    "sint-gillis",
    "saint-josse",
    "sint-joost",
    "schaerbeek",
    "schaarbeek",
    "uccle",
    "ukkel",
    "watermael",
    "watermaal",
    "woluwe",
    "liege",
    "luik",
    "antwerpen",
    "anvers",
    "antwerp",
    "gent",
    "gand",
    "ghent",
    "namur",
    "namen",
    "charleroi",
    "leuven",
    "louvain",
    "mons",
    "brugge",
    "bruges",
)
_COMMUNE_RE = re.compile(r"\b(" + "|".join(re.escape(c) for c in _OTHER_COMMUNES) + r")\b")

# Attempts to make the assistant drop its instructions: never followed, never answered.
_INJECTION_RE = re.compile(
    r"\b(ignore[rsz]?|oublie[rsz]?|negeer|vergeet|disregard|forget)\b.{0,40}\b"
    r"(instructions?|instructies|consignes|regles|regels|rules|prompt)"
    r"|system prompt|prompt systeme|systeemprompt|jailbreak|tu es maintenant|you are now|je bent nu",
)

_ANCHORS_FILE = Path(__file__).with_name("out_of_scope.yaml")
_anchor_cache: dict[str, tuple[list[str], Vectors]] = {}
_anchor_lock = threading.Lock()

# A procedure title in the shape of a citizen's question, per language of the page.
# Generic words only: words such as "quel délai" would pull "quel temps fera-t-il" into scope.
_TITLE_QUESTIONS = {
    "fr": "Je voudrais savoir comment faire pour : {title}",
    "nl": "Ik wil graag weten hoe het zit met: {title}",
    "en": "I would like to know about: {title}",
}


@dataclass(frozen=True, slots=True)
class ScopeVerdict:
    """Why a question is in or out of scope; ``detail`` names the commune or topic."""

    reason: Reason
    detail: str = ""

    @property
    def in_scope(self) -> bool:
        """True when the assistant may answer."""
        return self.reason == "in_scope"


def _anchors(embedder: Embedder) -> tuple[list[str], Vectors]:
    """The out-of-scope topics and their vectors, embedded once per process and embedder."""
    with _anchor_lock:
        if embedder.name not in _anchor_cache:
            import yaml

            topics: dict[str, list[str]] = yaml.safe_load(_ANCHORS_FILE.read_text(encoding="utf-8"))
            labels = [topic for topic, texts in topics.items() for _ in texts]
            texts = [text for group in topics.values() for text in group]
            _anchor_cache[embedder.name] = (labels, embedder.embed_passages(texts))
        return _anchor_cache[embedder.name]


class ScopeGuard:
    """Decides whether a question is about the City's procedures.

    Args:
        embedder: the knowledge base's embedder (anchors must live in the same space).
        floor: below this top procedure similarity, nothing is close enough to answer from.
        margin: a question this much closer to an out-of-scope topic than to a procedure is abstained.
        procedures: gives the (title, language) of every document in the knowledge base, sorted; their
            question-shaped titles join the in-scope side. Asked on each check, re-embedded on change.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        floor: float,
        margin: float,
        procedures: Callable[[], Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self.embedder = embedder
        self.floor = floor
        self.margin = margin
        self._procedures = procedures
        self._titles_key: tuple[tuple[str, str], ...] = ()
        self._titles: Vectors | None = None
        self._lock = threading.Lock()

    @staticmethod
    def rules(question: str) -> ScopeVerdict:
        """The cheap checks: another commune named, or an instruction override attempted."""
        folded = fold(question)
        if _INJECTION_RE.search(folded):
            return ScopeVerdict("injection")
        commune = _COMMUNE_RE.search(folded)
        if commune:
            return ScopeVerdict("other_commune", commune.group(1))
        return ScopeVerdict("in_scope")

    def check(self, question: str, top_similarity: float) -> ScopeVerdict:
        """The verdict for a question whose best procedure passage scored ``top_similarity``."""
        verdict = self.rules(question)
        if not verdict.in_scope:
            return verdict
        if top_similarity < self.floor:
            return ScopeVerdict("low_similarity")
        topic, similarity = self.nearest_off_topic(question)
        if similarity >= self.in_scope_similarity(question, top_similarity) + self.margin:
            return ScopeVerdict("off_topic", topic)
        return ScopeVerdict("in_scope")

    def in_scope_similarity(self, question: str, top_similarity: float) -> float:
        """The best of the top passage's similarity and the question-shaped procedure titles'."""
        titles = self._title_vectors()
        if titles is None or not len(titles):
            return top_similarity
        return max(top_similarity, float((titles @ self.embedder.embed_query(question)).max()))

    def _title_vectors(self) -> Vectors | None:
        if self._procedures is None:
            return None
        key = tuple(self._procedures())
        with self._lock:
            # the knowledge base hands back the same tuple until it changes: the identity test is the
            # common case, the comparison only runs after an ingestion
            if self._titles is None or (key is not self._titles_key and key != self._titles_key):
                texts = [
                    _TITLE_QUESTIONS.get(language, _TITLE_QUESTIONS["en"]).format(title=title)
                    for title, language in key
                ]
                self._titles = self.embedder.embed_passages(texts)
                self._titles_key = key
            return self._titles

    def nearest_off_topic(self, question: str) -> tuple[str, float]:
        """The out-of-scope topic closest to the question, and its similarity."""
        labels, vectors = _anchors(self.embedder)
        similarities = vectors @ self.embedder.embed_query(question)
        best = int(similarities.argmax())
        return labels[best], float(similarities[best])
