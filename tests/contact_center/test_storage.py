"""The conversation Store on a real SQLite file (and PostgreSQL when CC_TEST_POSTGRES_URL names one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from contact_center.errors import ConfigurationError, NotFoundError
from contact_center.models import Answer, Citation
from contact_center.storage import HandoffPacket, Store


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        url = os.environ.get("CC_TEST_POSTGRES_URL")
        if not url:
            pytest.skip(
                "set CC_TEST_POSTGRES_URL=postgresql+psycopg://... to run the store contract on PostgreSQL"
            )
        s = Store(url)
    else:
        s = Store(_sqlite(tmp_path))
    yield s
    s.close()


def _answer(decision: str = "answer", **extra: object) -> Answer:
    return Answer(
        decision=decision,
        text="La déclaration coûte 25 EUR.",
        language="fr",
        citations=[
            Citation(doc_id="marriage-declaration-fr", title="Déclaration de mariage", section="Coût")
        ],
        answer_id=os.urandom(8).hex(),
        **extra,
    )


def test_a_conversation_keeps_its_messages_answers_and_state_in_order(store: Store) -> None:
    conv = store.create_conversation(channel="webchat", citizen_ref="p-1")
    store.add_message(conv.id, "citizen", "Je veux me marier", redacted=False)
    stored = store.record_answer(
        conv.id,
        _answer(),
        question="Je veux me marier",
        standalone_question="Je veux me marier",
        text="La déclaration coûte 25 EUR.",
        redacted=False,
        state={"active_procedure": "marriage-declaration", "language": "fr"},
    )
    assert [(m.role, m.text) for m in store.messages(conv.id)] == [
        ("citizen", "Je veux me marier"),
        ("assistant", "La déclaration coûte 25 EUR."),
    ]
    answers = store.answers(conv.id)
    assert [a.id for a in answers] == [stored.id]
    assert answers[0].citations[0].section == "Coût"
    record = store.conversation(conv.id)
    assert (record.active_procedure, record.language, record.channel) == (
        "marriage-declaration",
        "fr",
        "webchat",
    )


def test_feedback_is_kept_and_only_for_the_conversations_own_answers(store: Store) -> None:
    conv = store.create_conversation(channel="webchat")
    other = store.create_conversation(channel="webchat")
    stored = store.record_answer(
        conv.id, _answer(), question="q", standalone_question="q", text="t", redacted=False, state={}
    )
    store.add_feedback(conv.id, stored.id, helpful=False, comment="pas clair")
    assert [(f.helpful, f.comment) for f in store.feedback(conv.id)] == [(False, "pas clair")]
    with pytest.raises(NotFoundError, match="not part of conversation"):
        store.add_feedback(other.id, stored.id, helpful=True)
    with pytest.raises(NotFoundError):
        store.add_feedback(conv.id, "no-such-answer", helpful=True)


def test_unknown_conversation_ids_are_a_clear_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no conversation with id 'nope'"):
        store.conversation("nope")
    with pytest.raises(NotFoundError):
        store.add_message("nope", "citizen", "hello", redacted=False)


def test_a_handoff_pauses_until_resumed(store: Store) -> None:
    conv = store.create_conversation(channel="phone")
    packet = HandoffPacket(
        id="h1",
        conversation_id=conv.id,
        channel="phone",
        reason="asked_for_person",
        language="nl",
        summary="Reden: de burger vraagt een medewerker.",
        last_question="Mag ik een medewerker?",
        transcript=[("citizen", "Mag ik een medewerker?")],
        created_at=conv.created_at,
    )
    store.add_handoff(packet)
    assert store.conversation(conv.id).status == "paused"
    assert store.handoffs(conv.id, open_only=True) == [packet]
    store.resume_bot(conv.id)
    assert store.conversation(conv.id).status == "bot"
    assert store.handoffs(conv.id, open_only=True) == []
    assert store.handoffs(conv.id) == [packet]


def test_the_sqlite_file_survives_a_restart(tmp_path: Path) -> None:
    first = Store(_sqlite(tmp_path))
    conv = first.create_conversation(channel="webchat")
    first.add_message(conv.id, "citizen", "Bonjour", redacted=False)
    first.close()
    again = Store(_sqlite(tmp_path))
    assert [m.text for m in again.messages(conv.id)] == ["Bonjour"]
    assert again.conversations()[0].id == conv.id
    again.close()


def test_a_bad_database_url_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CC_DATABASE_URL"):
        Store("nosuchdialect://x/y")
    with pytest.raises(ConfigurationError, match="CC_DATABASE_URL"):
        Store(f"sqlite:///{tmp_path}/missing-dir/deeper/db.sqlite3")
