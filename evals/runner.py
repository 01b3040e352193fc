"""Run a golden set through a question-answering system and score every item.

The system is anything with ``search`` and ``ask`` (:class:`EvalSystem`), which is what
``contact_center.ContactCenter`` offers; the runner never imports the facade, so it can be tested with a
small deterministic system and run against a remote one.

Follow-up items (``turns``) are asked, by default, in a new conversation of the system (``conversation()``,
as ``ContactCenter`` offers): the earlier turns first, then the item's question, which alone is timed and
scored; retrieval is ranked on the question as the conversation resolved it (``Answer.question``). A system
without conversations gets the interim behaviour: the turns and the question joined with a space, asked as
one question (also forced by ``follow_up="concat"``). ``follow_up="skip"`` marks them ``skipped``. The item's
``note`` says which was done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from contact_center.models import Answer, Hit
from evals.golden import GoldenItem
from evals.metrics import CUTOFFS, dedupe_doc_ids, score_item
from evals.results import ItemResult

__all__ = ["EvalSystem", "FollowUpMode", "ItemJudge", "RunConfig", "run_items"]

FollowUpMode = Literal["auto", "conversation", "concat", "skip"]
"""Follow-up items: ``auto`` asks them in a conversation when the system has ``conversation()``, else as
one concatenated question; ``conversation`` requires it (skipped otherwise); ``concat`` and ``skip`` force."""


@runtime_checkable
class EvalSystem(Protocol):
    """What the runner needs of the system under test (``ContactCenter`` satisfies it)."""

    def search(
        self, question: str, k: int = 5, *, language: str | None = None, topic: str | None = None
    ) -> list[Hit]:
        """Passages for ``question``, best first."""
        ...

    def ask(self, question: str) -> Answer:
        """The typed answer to ``question``."""
        ...


ItemJudge = Callable[[GoldenItem, Answer, ItemResult], None]
"""Adds ``judge_*`` metrics and ``result.judge`` details to a scored item (see :mod:`evals.judge`)."""


@dataclass(frozen=True)
class RunConfig:
    """How the golden set is run."""

    search_k: int = 30
    """Passages asked of ``search``; deduplicated to documents, the top ``max(CUTOFFS)`` are scored."""
    follow_up: FollowUpMode = "auto"
    """What to do with items that have ``turns`` (see :data:`FollowUpMode`)."""
    passages_kept: int = 5
    """Retrieved passages stored per item for the report (text cut to 600 characters)."""


def _question_for(item: GoldenItem, config: RunConfig, system: EvalSystem) -> tuple[str | None, str | None]:
    """The question to ask and a note, or ``None`` and the reason to skip."""
    if not item.turns:
        return item.question, None
    if config.follow_up == "skip":
        return None, "follow-up item: skipped on request (follow_up=skip)"
    if config.follow_up != "concat" and callable(getattr(system, "conversation", None)):
        return item.question, "follow-up asked in a conversation, after its earlier turns"
    if config.follow_up == "conversation":
        return None, "follow-up item: the system has no conversation() to ask it in"
    asked = " ".join([*item.turns, item.question])
    return asked, "follow-up asked as one question: earlier turns joined with the last (interim behaviour)"


def run_items(
    system: EvalSystem,
    items: Sequence[GoldenItem],
    *,
    config: RunConfig | None = None,
    judge: ItemJudge | None = None,
    on_item: Callable[[ItemResult], None] | None = None,
) -> list[ItemResult]:
    """Ask every item, score it, and return the results in golden-set order.

    An exception raised by the system on one item marks that item ``error`` (with the message) and the
    run goes on; a judge failure is recorded in ``result.judge`` and leaves the item ``ok``.
    """
    config = config or RunConfig()
    doc_language: dict[str, str] = {}
    results: list[ItemResult] = []
    for item in items:
        result = ItemResult(
            id=item.id,
            language=item.language,
            kind=item.kind,
            expected_decision=item.expected_decision,
            question=item.question,
            gold_doc_ids=list(item.gold_doc_ids),
            answer_facts=list(item.answer_facts),
            tags=list(item.tags),
        )
        asked, note = _question_for(item, config, system)
        if asked is None:
            result.status = "skipped"
            result.skip_reason = note
        else:
            result.asked = asked
            result.note = note
            _run_one(system, item, asked, config, result, doc_language, judge)
        results.append(result)
        if on_item is not None:
            on_item(result)
    for item, result in zip(items, results, strict=True):
        result.pair = _pair(item, doc_language)
    return results


def _run_one(
    system: EvalSystem,
    item: GoldenItem,
    asked: str,
    config: RunConfig,
    result: ItemResult,
    doc_language: dict[str, str],
    judge: ItemJudge | None,
) -> None:
    in_conversation = bool(item.turns) and result.note is not None and "conversation" in result.note
    try:
        if in_conversation:
            answer = _ask_in_conversation(system, item, result)
            # Rank with the question as the conversation resolved it, so that retrieval is measured on
            # what the assistant searched for.
            asked = answer.question or " ".join([*item.turns, item.question])
            result.asked = asked
        start = time.perf_counter()
        hits = system.search(asked, k=config.search_k)
        result.search_ms = (time.perf_counter() - start) * 1000.0
        if not in_conversation:
            start = time.perf_counter()
            answer = system.ask(asked)
            result.latency_ms = (time.perf_counter() - start) * 1000.0
    except Exception as exc:  # the system under test may fail in any way: that is what we record
        result.status = "error"
        result.error = f"{type(exc).__name__}: {exc}"
        return
    for hit in [*hits, *answer.hits]:
        doc_language.setdefault(hit.doc_id, hit.language)
    retrieved = dedupe_doc_ids(hits)[: max(CUTOFFS)]
    result.retrieved_doc_ids = retrieved
    result.decision = answer.decision
    result.answer = answer.text
    result.answer_language = answer.language
    result.citations = list(dict.fromkeys(c.doc_id for c in answer.citations))
    result.passages = [
        {
            "doc_id": h.doc_id,
            "section": h.section,
            "score": h.score,
            "language": h.language,
            "text": h.text[:600],
        }
        for h in hits[: config.passages_kept]
    ]
    score_item(item, retrieved, answer, result, _card_texts(system, result.citations))
    if judge is not None:
        judge(item, answer, result)


def _ask_in_conversation(system: EvalSystem, item: GoldenItem, result: ItemResult) -> Answer:
    """Ask the earlier turns then the item's question in one new conversation; time the last answer only."""
    conversation = system.conversation()  # type: ignore[attr-defined]  # checked by _question_for
    start = time.perf_counter()
    for turn in item.turns:
        conversation.ask(turn)
    result.turns_ms = (time.perf_counter() - start) * 1000.0
    start = time.perf_counter()
    answer: Answer = conversation.ask(item.question)
    result.latency_ms = (time.perf_counter() - start) * 1000.0
    return answer


def _card_texts(system: EvalSystem, doc_ids: Sequence[str]) -> list[str]:
    """The procedure cards of cited documents, when the system offers ``card(doc_id)`` (ContactCenter does).

    The extractive generator quotes card fields, which are sections of the cited document that need not be
    among the retrieved passages; a number taken from them is grounded.
    """
    card = getattr(system, "card", None)
    if not callable(card):
        return []
    texts: list[str] = []
    for doc_id in doc_ids:
        try:
            found = card(doc_id)
        except Exception:  # an optional capability: without it, grounding uses the passages alone
            continue
        fields = getattr(found, "fields", None)
        if callable(fields):
            texts.extend(str(v) for v in fields().values())
    return texts


def _pair(item: GoldenItem, doc_language: dict[str, str]) -> str | None:
    """``question language -> document language``; an item field ``doc_language`` takes precedence."""
    if not item.gold_doc_ids:
        return None
    given = item.extra.get("doc_language")
    if isinstance(given, str) and given:
        return f"{item.language}->{given.lower()}"
    languages = sorted({doc_language.get(d, "?") for d in item.gold_doc_ids})
    return f"{item.language}->{'+'.join(languages)}"
