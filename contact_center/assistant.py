"""The assistant: question -> language -> retrieval -> decision -> generation.

The decision is typed (:data:`~contact_center.models.Decision`): the assistant answers only when the
question is about the City of Brussels' procedures (:mod:`contact_center.scope`); otherwise it abstains
with the City's contact channels. An answer always cites the procedure passages it was built from.

The steps are public so that the conversation layer (:mod:`contact_center.conversation`) can run them
on a rewritten follow-up, ask which procedure is meant (``clarify``) and stream generation:
:meth:`Assistant.retrieve`, then :meth:`Assistant.plan` (a finished abstain/clarify ``Answer``, or the
passages to answer from), then the generator, then :meth:`Assistant.finish`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from contact_center.errors import InvalidQuestionError
from contact_center.models import Answer, Citation, Hit, RetrievalMode
from contact_center.scope import ScopeGuard, ScopeVerdict
from knowledge_base.generation import Generated, Generator
from knowledge_base.index import KnowledgeBase, hit_from_chunk
from knowledge_base.intent import asked_fields
from knowledge_base.language import LanguageDetector
from knowledge_base.phrases import phrase

__all__ = ["Assistant", "Retrieval", "clean_question"]

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_question(question: str, *, max_chars: int) -> str:
    """Strip control characters and surrounding space; refuse empty or oversized questions.

    Raises:
        InvalidQuestionError: the question is empty or longer than ``max_chars``.
    """
    if not isinstance(question, str):
        raise InvalidQuestionError(f"a question must be text, got {type(question).__name__}")
    text = _CONTROL_RE.sub(" ", question).strip()
    if not text:
        raise InvalidQuestionError("the question is empty: type what you want to know")
    if len(text) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(text)} characters long; the limit is {max_chars}. Shorten it to the "
            "essential question (CC_MAX_QUESTION_CHARS sets the limit)."
        )
    return text


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What the knowledge base returned for a question, and the scope guard's verdict on it."""

    question: str
    hits: list[Hit]
    confidence: float
    verdict: ScopeVerdict

    def procedures(self) -> list[tuple[str, float]]:
        """Each procedure among the hits with its best score, best first."""
        best: dict[str, float] = {}
        for hit in self.hits:
            key = hit.procedure or hit.doc_id
            best[key] = max(best.get(key, hit.score), hit.score)
        return sorted(best.items(), key=lambda item: item[1], reverse=True)

    @property
    def top_procedure(self) -> str | None:
        """The best hit's procedure slug (its document id when it has none)."""
        return (self.hits[0].procedure or self.hits[0].doc_id) if self.hits else None


class Assistant:
    """Answers questions from a knowledge base with a generator; abstains when it should."""

    def __init__(
        self,
        kb: KnowledgeBase,
        generator: Generator,
        detector: LanguageDetector,
        *,
        abstain_threshold: float,
        out_of_scope_margin: float = 0.0,
        mode: RetrievalMode = "dense",
        max_question_chars: int = 2000,
        depth: int = 10,
    ) -> None:
        self.kb = kb
        self.generator = generator
        self.detector = detector
        self.scope = ScopeGuard(
            kb.embedder,
            floor=abstain_threshold,
            margin=out_of_scope_margin,
            procedures=kb.titles,
        )
        self.mode = mode
        self.max_question_chars = max_question_chars
        self.depth = depth

    def ask(self, question: str) -> Answer:
        """Answer one standalone question."""
        text = clean_question(question, max_chars=self.max_question_chars)
        language = self.detector.detect(text)
        retrieval = self.retrieve(text)
        planned = self.plan(text, language, retrieval)
        if isinstance(planned, Answer):
            return planned
        generated = self.generator.generate(text, language, planned)
        return self.finish(text, language, retrieval, generated)

    def retrieve(self, text: str) -> Retrieval:
        """Search the knowledge base for a (clean) question and judge whether it is in scope."""
        hits = self.kb.search(text, self.depth, mode=self.mode)
        confidence = self._confidence(text, hits)
        return Retrieval(text, hits, confidence, self.scope.check(text, confidence))

    def plan(
        self,
        text: str,
        language: str,
        retrieval: Retrieval,
        *,
        clarify_margin: float = 0.0,
        clarify_max_words: int = 0,
        intent: str | None = None,
    ) -> Answer | list[Hit]:
        """An abstain (or, when asked for, clarify) ``Answer``, or the passages to answer from.

        Clarify is considered only with a positive ``clarify_margin``: when the question has at most
        ``clarify_max_words`` words and the two best procedures score within the margin of each other.
        ``intent`` is the text whose wording says which part of the procedure is asked (cost, documents...):
        by default the question itself; for a rewritten follow-up, the citizen's own words.
        """
        answer_id = uuid.uuid4().hex
        verdict = retrieval.verdict
        if not verdict.in_scope or not retrieval.hits:
            message = phrase("abstain", language)
            if verdict.reason == "other_commune":
                message = phrase("other_commune", language, commune=verdict.detail.title()) + " " + message
            return Answer(
                decision="abstain",
                text=message,
                language=language,
                confidence=retrieval.confidence,
                question=text,
                hits=retrieval.hits,
                answer_id=answer_id,
            )
        if clarify_margin > 0 and len((intent or text).split()) <= clarify_max_words:
            ranked = retrieval.procedures()
            close = [p for p, score in ranked[:3] if ranked[0][1] - score < clarify_margin]
            if len(close) >= 2:
                options = [self._option(p, language, retrieval.hits) for p in close]
                lines = "\n".join(f"- {o.title}" for o in options)
                return Answer(
                    decision="clarify",
                    text=f"{phrase('clarify', language)}\n{lines}",
                    language=language,
                    confidence=retrieval.confidence,
                    question=text,
                    hits=retrieval.hits,
                    answer_id=answer_id,
                    options=options,
                )
        return self._passages(intent or text, language, retrieval.hits)

    def finish(self, text: str, language: str, retrieval: Retrieval, generated: Generated) -> Answer:
        """The ``answer`` built from what the generator wrote."""
        return Answer(
            decision="answer",
            text=generated.text,
            language=language,
            citations=generated.citations,
            confidence=retrieval.confidence,
            generator=generated.generator,
            question=text,
            hits=retrieval.hits,
            answer_id=uuid.uuid4().hex,
        )

    def _option(self, procedure: str, language: str, hits: list[Hit]) -> Citation:
        """A procedure offered in a clarify answer, in the citizen's language version when it exists."""
        best = next(h for h in hits if h.procedure == procedure)
        doc_id = self.kb.versions(procedure).get(language) or best.doc_id
        chunks = self.kb.chunks_of(doc_id) if doc_id != best.doc_id else []
        title, url = (chunks[0].title, chunks[0].source_url) if chunks else (best.title, best.source_url)
        return Citation(doc_id=doc_id, title=title, source_url=url)

    def _confidence(self, question: str, hits: list[Hit]) -> float:
        """The top dense similarity: calibrated, unlike fused ranks."""
        if self.mode == "dense":
            return hits[0].score if hits else 0.0
        dense = self.kb.search(question, 1, mode="dense")
        return dense[0].score if dense else 0.0

    def _passages(self, question: str, language: str, hits: list[Hit]) -> list[Hit]:
        """The passages that answer: the best procedure, in the citizen's language when it exists."""
        best = hits[0]
        versions = self.kb.versions(best.procedure)
        doc_id = versions.get(language) or best.doc_id
        chunks = self.kb.chunks_of(doc_id)
        if not chunks:
            return [best]
        fields = asked_fields(question)
        chosen = [c for f in fields for c in chunks if c.card_field == f][:2]
        if not chosen:
            # the best-matching section, found in the chosen language version by section role or position
            same_doc = [h for h in hits if h.doc_id == doc_id]
            if same_doc:
                chosen_ids = [same_doc[0].chunk_id]
            else:
                match = next((c for c in chunks if best.card_field and c.card_field == best.card_field), None)
                chosen_ids = [match.id if match else chunks[0].id]
            chosen = [c for c in chunks if c.id in chosen_ids]
            if chunks[0].id not in chosen_ids and not chunks[0].card_field:
                chosen.insert(0, chunks[0])  # the introduction says what the procedure is
        score = {h.chunk_id: h.score for h in hits}
        return [hit_from_chunk(c, score.get(c.id, 0.0)) for c in chosen]
