"""The runner: statuses, follow-up items, what it asks the system, and the EvalSystem protocol."""

from __future__ import annotations

import json

from contact_center.models import Answer
from evals.golden import parse_golden
from evals.runner import EvalSystem, RunConfig, run_items

from .toy_system import GOLDEN_LINES, ToySystem, answer, toy_system


def _golden() -> list:  # type: ignore[type-arg]
    return list(parse_golden("\n".join(json.dumps(o) for o in GOLDEN_LINES)).items)


def test_an_item_that_raises_is_an_error_and_the_run_goes_on() -> None:
    system = toy_system()
    results = run_items(system, _golden())
    boom = next(r for r in results if r.id == "en-boom")
    assert boom.status == "error"
    assert boom.error == "RuntimeError: index unavailable"
    assert boom.metrics == {}
    assert [r.id for r in results] == [o["id"] for o in GOLDEN_LINES]
    assert results[-1].status == "ok"  # the item after the failing one was still asked


def test_follow_up_items_are_concatenated_without_a_conversation_api() -> None:
    system = toy_system()
    follow = next(r for r in run_items(system, _golden()) if r.id == "fr-follow")
    assert follow.status == "ok"
    assert follow.asked == "Combien coûte une carte d'identité ? Et pour un enfant ?"
    assert follow.note is not None and "interim" in follow.note
    assert follow.asked in system.asked


def test_follow_up_items_can_be_skipped_with_a_reason() -> None:
    system = toy_system()
    results = run_items(system, _golden(), config=RunConfig(follow_up="skip"))
    follow = next(r for r in results if r.id == "fr-follow")
    assert follow.status == "skipped"
    assert follow.skip_reason and "follow_up=skip" in follow.skip_reason
    assert "Et pour un enfant ?" not in " ".join(system.asked)


def test_retrieved_ids_are_documents_in_order_and_passages_are_kept() -> None:
    result = run_items(toy_system(), _golden()[:2])[1]
    assert result.retrieved_doc_ids == ["carte-identite", "identiteitskaart", "mariage"]
    assert result.passages[0]["doc_id"] == "carte-identite" and result.passages[0]["text"]
    assert result.latency_ms is not None and result.latency_ms >= 0
    assert result.pair == "nl->nl"


def test_progress_callback_sees_every_item() -> None:
    seen: list[str] = []
    run_items(toy_system(), _golden(), on_item=lambda r: seen.append(f"{r.id}:{r.status}"))
    assert seen[5] == "en-boom:error" and len(seen) == len(GOLDEN_LINES)


def test_toy_and_facade_satisfy_the_protocol() -> None:
    assert isinstance(toy_system(), EvalSystem)
    from contact_center.facade import ContactCenter

    assert hasattr(ContactCenter, "search") and hasattr(ContactCenter, "ask")


class _Conversation:
    def __init__(self, system: ConversationalToy) -> None:
        self.system = system
        self.turns: list[str] = []
        system.conversations.append(self)

    def ask(self, message: str) -> Answer:
        self.turns.append(message)
        if len(self.turns) == 1:
            return answer("answer", "Premier tour.", "fr", ["carte-identite"])
        # The conversation resolves the follow-up into a standalone question, as the real one does.
        base = self.system.answers["Combien coûte une carte d'identité ? Et pour un enfant ?"]
        return base.model_copy(update={"question": "Combien coûte une carte d'identité pour un enfant ?"})


class ConversationalToy(ToySystem):
    def __init__(self) -> None:
        toy = toy_system()
        super().__init__(rankings=toy.rankings, answers=toy.answers, failures=toy.failures)
        self.rankings["Combien coûte une carte d'identité pour un enfant ?"] = [
            "identiteitskaart",
            "carte-identite",
        ]
        self.conversations: list[_Conversation] = []

    def conversation(self) -> _Conversation:
        return _Conversation(self)


def test_follow_up_items_are_asked_in_a_conversation_when_the_system_has_one() -> None:
    system = ConversationalToy()
    results = run_items(system, _golden())
    follow = next(r for r in results if r.id == "fr-follow")
    [conversation] = system.conversations
    assert conversation.turns == ["Combien coûte une carte d'identité ?", "Et pour un enfant ?"]
    assert follow.status == "ok" and follow.note and "conversation" in follow.note
    assert follow.asked == "Combien coûte une carte d'identité pour un enfant ?"
    assert follow.retrieved_doc_ids == ["identiteitskaart", "carte-identite"]
    assert follow.metrics["mrr@10"] == 0.5 and follow.metrics["decision_accuracy"] == 1.0
    concat = next(
        r
        for r in run_items(ConversationalToy(), _golden(), config=RunConfig(follow_up="concat"))
        if r.id == "fr-follow"
    )
    assert concat.asked == "Combien coûte une carte d'identité ? Et pour un enfant ?"


def test_conversation_mode_skips_when_the_system_has_none() -> None:
    results = run_items(toy_system(), _golden(), config=RunConfig(follow_up="conversation"))
    follow = next(r for r in results if r.id == "fr-follow")
    assert follow.status == "skipped" and "no conversation()" in (follow.skip_reason or "")
