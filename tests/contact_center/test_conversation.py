"""Conversations on the real sample knowledge base: follow-ups, clarify, handoff, privacy, bad input.

The shared ``sample_cc`` provides retrieval; each test keeps its conversations in its own SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from contact_center import ContactCenter, InvalidQuestionError, NotFoundError, Settings
from contact_center.assistant import Assistant
from contact_center.conversation import Conversation, is_complaint, wants_person
from contact_center.models import Answer, Hit
from contact_center.storage import Store
from knowledge_base.generation import ExtractiveGenerator, Generated

MakeConv = Callable[..., Conversation]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'conversations.sqlite3'}")


@pytest.fixture
def make_conv(sample_cc: ContactCenter, store: Store, tmp_path: Path) -> MakeConv:
    def make(
        *, store_pii: bool = False, assistant: Assistant | None = None, channel: str = "webchat"
    ) -> Conversation:
        settings = Settings(data_dir=tmp_path, store_pii=store_pii)
        record = store.create_conversation(channel=channel, citizen_ref="pseudonymous-id")
        return Conversation(assistant or sample_cc.assistant, store, record, settings)

    return make


def _procedures(answer: Answer) -> set[str]:
    return {c.doc_id.rsplit("-", 1)[0] for c in answer.citations}


async def test_the_issue_walkthrough(make_conv: MakeConv) -> None:
    conv = make_conv()
    a1 = conv.ask("Je veux me marier à Bruxelles, je dois faire quoi ?")
    assert a1.decision == "answer" and _procedures(a1) == {"marriage-declaration"}

    a2 = conv.ask("et ça coûte combien ?")
    assert a2.decision == "answer"
    assert [c.doc_id for c in a2.citations] == ["marriage-declaration-fr"]
    assert "25" in a2.text

    parts = [part async for part in conv.astream("Wat moet ik meebrengen?")]
    final = parts[-1]
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in parts[:-1])
    assert "".join(p for p in parts[:-1] if isinstance(p, str)) == final.text
    assert final.language == "nl" and {c.doc_id for c in final.citations} == {"marriage-declaration-nl"}

    a3 = conv.ask("je veux parler à quelqu'un")
    assert a3.decision == "handoff" and a3.language == "fr"
    packet = conv.handoff_packet
    assert packet is not None and conv.paused
    assert packet.reason == "asked_for_person" and packet.language == "fr"
    assert "Déclaration de mariage" in packet.procedures
    assert {s.doc_id for s in packet.sources} >= {"marriage-declaration-fr", "marriage-declaration-nl"}
    assert [role for role, _ in packet.transcript] == ["citizen", "assistant"] * 4
    assert "Déclaration de mariage" in packet.summary and "parler à quelqu'un" in packet.summary

    # paused: the message is kept for the agent, the bot does not answer it
    waiting = conv.ask("Combien coûte un passeport ?")
    assert waiting.decision == "handoff" and not waiting.citations
    assert conv.transcript()[-2].text == "Combien coûte un passeport ?"

    conv.resume_bot()
    assert not conv.paused and conv.handoff_packet is None
    again = conv.ask("Combien coûte un passeport ?")
    assert again.decision == "answer" and _procedures(again) == {"passport"}


@pytest.mark.parametrize(
    ("first", "follow_up", "procedure", "language"),
    [
        (
            "Ik wil trouwen in Brussel, wat moet ik doen?",
            "en hoeveel kost dat?",
            "marriage-declaration",
            "nl",
        ),
        ("How do I get a resident parking card?", "and how much is that?", "resident-parking-card", "en"),
        ("Comment faire enregistrer mon chien ?", "et où dois-je aller ?", "dog-registration", "fr"),
        ("Hoe vraag ik een paspoort aan?", "hoe lang duurt dat?", "passport", "nl"),
    ],
)
def test_follow_ups_carry_the_procedure_and_language(
    make_conv: MakeConv, first: str, follow_up: str, procedure: str, language: str
) -> None:
    conv = make_conv()
    conv.ask(first)
    answer = conv.ask(follow_up)
    assert answer.decision == "answer", answer.text
    assert _procedures(answer) == {procedure}
    assert answer.language == language
    stored = conv.answers()[-1]
    assert stored.standalone_question != follow_up and follow_up in stored.standalone_question


def test_a_message_naming_another_procedure_switches_topic(make_conv: MakeConv) -> None:
    conv = make_conv()
    conv.ask("Comment déclarer mon changement d'adresse ?")
    answer = conv.ask("et pour un passeport ?")
    assert _procedures(answer) == {"passport"}
    assert conv.record.active_procedure == "passport"


def test_an_off_topic_follow_up_is_not_answered_from_the_active_procedure(make_conv: MakeConv) -> None:
    conv = make_conv()
    conv.ask("Je veux me marier à Bruxelles, je dois faire quoi ?")
    assert conv.ask("et la météo demain ?").decision == "abstain"


def test_a_vague_message_gets_a_clarify_and_the_reply_may_be_a_number(make_conv: MakeConv) -> None:
    conv = make_conv()
    clarify = conv.ask("permis")
    assert clarify.decision == "clarify"
    titles = [o.title for o in clarify.options]
    assert titles == ["Permis d'urbanisme", "Permis de conduire (définitif et provisoire)"]
    assert all(t in clarify.text for t in titles)
    chosen = conv.ask("2")
    assert chosen.decision == "answer" and _procedures(chosen) == {"driving-licence"}


def test_a_precise_question_is_answered_not_clarified(make_conv: MakeConv) -> None:
    conv = make_conv()
    assert conv.ask("Combien coûte un permis de conduire ?").decision == "answer"


def test_two_abstains_in_a_row_hand_over_but_an_answer_in_between_resets(make_conv: MakeConv) -> None:
    conv = make_conv()
    assert conv.ask("Quel temps fera-t-il demain à Bruxelles ?").decision == "abstain"
    assert conv.ask("Combien coûte une carte d'identité ?").decision == "answer"
    assert conv.ask("Tu connais un bon restaurant près de la Grand-Place ?").decision == "abstain"
    assert not conv.paused
    second = conv.ask("Hoe vraag ik een werkloosheidsuitkering aan bij de RVA?")
    assert second.decision == "handoff"
    assert conv.handoff_packet is not None and conv.handoff_packet.reason == "repeated_abstain"


def test_thanks_are_not_counted_as_abstains(make_conv: MakeConv) -> None:
    conv = make_conv()
    conv.ask("Quel temps fera-t-il demain à Bruxelles ?")
    assert conv.ask("merci !").decision == "abstain"
    assert not conv.paused


def test_a_complaint_hands_over(make_conv: MakeConv) -> None:
    conv = make_conv()
    answer = conv.ask("C'est inadmissible, j'attends une réponse depuis trois semaines !")
    assert answer.decision == "handoff"
    assert conv.handoff_packet is not None and conv.handoff_packet.reason == "complaint"


@pytest.mark.parametrize(
    "message",
    [
        "je veux parler à quelqu'un",
        "Je voudrais parler à un conseiller, s'il vous plaît",
        "Kan ik met een medewerker spreken?",
        "Ik wil graag met iemand spreken",
        "I want to speak to a human",
        "Can I talk to someone please?",
        "agent",
        "Ich möchte mit einem Mitarbeiter sprechen",
        "Quiero hablar con una persona",
    ],
)
def test_requests_for_a_person_are_recognised(message: str) -> None:
    assert wants_person(message)


@pytest.mark.parametrize(
    "message",
    [
        "Combien coûte une carte d'identité ?",
        "Mijn identiteitskaart is gestolen, moet ik aangifte doen?",
        "Who can apply for a resident parking card?",
        "Je dois porter plainte pour le vol de ma carte ?",
        "Is het gratis?",
    ],
)
def test_ordinary_questions_are_neither_person_requests_nor_complaints(message: str) -> None:
    assert not wants_person(message)
    assert not is_complaint(message)


@pytest.mark.parametrize(
    "message",
    [
        "Je veux faire une réclamation",
        "Ik wil een klacht indienen over jullie dienst",
        "This is unacceptable",
    ],
)
def test_complaints_are_recognised(message: str) -> None:
    assert is_complaint(message)


PII_MESSAGE = (
    "Je m'appelle Jan, NN 85.07.30-033.28, IBAN BE71 0961 2345 6769, tél 0470 12 34 56, "
    "jan@example.com : combien coûte une carte d'identité ?"
)
PII = ("85.07.30-033.28", "BE71 0961 2345 6769", "0470 12 34 56", "jan@example.com")


def test_transcripts_and_packets_are_redacted_by_default(make_conv: MakeConv) -> None:
    conv = make_conv()
    answer = conv.ask(PII_MESSAGE)
    assert answer.decision == "answer"
    conv.ask("je veux parler à un agent")
    stored = conv.transcript()[0]
    assert stored.redacted and set(stored.pii_kinds) == {"national_number", "iban", "phone", "email"}
    assert "[NATIONAL_NUMBER]" in stored.text and "[EMAIL]" in stored.text
    everything = " ".join(m.text for m in conv.transcript()) + " ".join(a.question for a in conv.answers())
    packet = conv.handoff_packet
    assert packet is not None
    everything += packet.model_dump_json()
    for value in PII:
        assert value not in everything


def test_store_pii_keeps_originals_in_the_transcript_but_never_in_the_packet(make_conv: MakeConv) -> None:
    conv = make_conv(store_pii=True)
    conv.ask(PII_MESSAGE)
    conv.ask("I want to speak to a human")
    assert conv.transcript()[0].text == PII_MESSAGE and not conv.transcript()[0].redacted
    packet = conv.handoff_packet
    assert packet is not None
    for value in PII:
        assert value not in packet.model_dump_json()


@pytest.mark.parametrize(
    ("message", "error"),
    [("", "empty"), ("   \t ", "empty"), ("x" * 2001, "limit is 2000"), (None, "must be text")],
)
def test_bad_messages_are_refused_clearly_and_nothing_is_stored(
    make_conv: MakeConv, message: object, error: str
) -> None:
    conv = make_conv()
    with pytest.raises(InvalidQuestionError, match=error):
        conv.ask(message)  # type: ignore[arg-type]
    assert conv.transcript() == []


def test_control_characters_are_stripped(make_conv: MakeConv) -> None:
    conv = make_conv()
    answer = conv.ask("Combien coûte\x00 une carte\x1b d'identité ?")
    assert answer.decision == "answer"
    assert "\x00" not in conv.transcript()[0].text


def test_a_failing_generator_never_loses_the_citizens_message(
    sample_cc: ContactCenter, make_conv: MakeConv
) -> None:
    class Broken:
        name = "broken"

        def generate(self, question: str, language: str, passages: list[Hit]) -> Generated:
            raise RuntimeError("model exploded")

    assistant = Assistant(
        sample_cc.kb, Broken(), sample_cc.detector, abstain_threshold=sample_cc.settings.abstain_threshold
    )
    conv = make_conv(assistant=assistant)
    with pytest.raises(RuntimeError):
        conv.ask("Combien coûte une carte d'identité ?")
    assert [m.text for m in conv.transcript()] == ["Combien coûte une carte d'identité ?"]


def test_feedback_is_stored_redacted_and_checked(make_conv: MakeConv, store: Store) -> None:
    conv = make_conv()
    answer = conv.ask("Combien coûte une carte d'identité ?")
    conv.feedback(answer.answer_id, helpful=True, comment="merci, appelez-moi au 0470 12 34 56")
    assert [(f.helpful, f.comment) for f in store.feedback(conv.id)] == [
        (True, "merci, appelez-moi au [PHONE]")
    ]
    with pytest.raises(NotFoundError):
        conv.feedback("not-an-answer", helpful=False)


def test_a_conversation_continues_by_id_after_a_restart(
    sample_cc: ContactCenter, make_conv: MakeConv, tmp_path: Path
) -> None:
    conv = make_conv()
    conv.ask("How do I declare my marriage in Brussels?")
    reopened_store = Store(f"sqlite:///{tmp_path / 'conversations.sqlite3'}")
    again = Conversation(
        sample_cc.assistant, reopened_store, reopened_store.conversation(conv.id), Settings(data_dir=tmp_path)
    )
    answer = again.ask("and how much is it?")
    assert _procedures(answer) == {"marriage-declaration"}


def test_the_facade_starts_and_continues_conversations(sample_cc: ContactCenter) -> None:
    conv = sample_cc.conversation(channel="webchat", citizen_ref="pseudonymous-id")
    conv.ask("Combien coûte une carte d'identité ?")
    same = sample_cc.conversation(conv.id)
    assert same.record.citizen_ref == "pseudonymous-id"
    assert [m.role for m in same.transcript()] == ["citizen", "assistant"]
    with pytest.raises(NotFoundError, match="no conversation with id"):
        sample_cc.conversation("does-not-exist")
    with pytest.raises(InvalidQuestionError, match="channel"):
        sample_cc.conversation(channel="  ")


def test_the_one_shot_ask_is_unchanged(sample_cc: ContactCenter) -> None:
    # no clarify, no handoff on the one-shot path: it answers or abstains as before
    assert sample_cc.ask("permis").decision == "answer"
    assert isinstance(sample_cc.assistant.generator, ExtractiveGenerator)
