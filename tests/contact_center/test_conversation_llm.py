"""Conversations answered through the OpenAI-compatible generator, against the loopback server."""

from __future__ import annotations

import json
from pathlib import Path

from contact_center import ContactCenter, Settings
from contact_center.assistant import Assistant
from contact_center.conversation import Conversation
from contact_center.models import Answer
from contact_center.settings import LLMSettings
from contact_center.storage import Store
from knowledge_base.llm import FALLBACK, OpenAIGenerator
from tests.fakes.openai_server import FakeOpenAIServer, Fault


def _conversation(sample_cc: ContactCenter, server: FakeOpenAIServer, tmp_path: Path) -> Conversation:
    generator = OpenAIGenerator(
        LLMSettings(base_url=server.base_url, model="fake", timeout_seconds=2.0, max_retries=0)
    )
    assistant = Assistant(
        sample_cc.kb,
        generator,
        sample_cc.detector,
        abstain_threshold=sample_cc.settings.abstain_threshold,
        out_of_scope_margin=sample_cc.settings.out_of_scope_margin,
    )
    store = Store(f"sqlite:///{tmp_path / 'conversations.sqlite3'}")
    return Conversation(
        assistant, store, store.create_conversation(channel="webchat"), Settings(data_dir=tmp_path)
    )


async def test_streamed_llm_answers_and_follow_ups(sample_cc: ContactCenter, tmp_path: Path) -> None:
    replies = [
        "Vous faites une déclaration de mariage à Brucity [1].",
        "La déclaration de mariage coûte 25 EUR [1].",
    ]
    with FakeOpenAIServer(replies) as server:
        conv = _conversation(sample_cc, server, tmp_path)
        conv.ask("Je veux me marier à Bruxelles, je dois faire quoi ?")
        parts = [p async for p in conv.astream("et ça coûte combien ?")]
    *texts, final = parts
    assert isinstance(final, Answer) and final.generator == "openai:fake"
    assert len(texts) > 3 and "".join(str(t) for t in texts) == final.text
    assert [c.doc_id for c in final.citations] == ["marriage-declaration-fr"]
    # the follow-up reached the model as a standalone question about the marriage declaration
    question = server.requests[1]["messages"][1]["content"]
    assert "Déclaration de mariage" in question and "et ça coûte combien ?" in question
    assert conv.answers()[-1].generator == "openai:fake"


def test_personal_data_never_reaches_the_model(sample_cc: ContactCenter, tmp_path: Path) -> None:
    with FakeOpenAIServer(["Une carte d'identité coûte le tarif indiqué [1]."]) as server:
        conv = _conversation(sample_cc, server, tmp_path)
        conv.ask(
            "Mon numéro national est 85.07.30-033.28 et mon mail jan@example.com, combien coûte une carte d'identité ?"
        )
    sent = json.dumps(server.requests, ensure_ascii=False)
    assert server.requests and "85.07.30-033.28" not in sent and "jan@example.com" not in sent
    assert "[NATIONAL_NUMBER]" in sent


def test_an_llm_outage_falls_back_and_is_recorded(sample_cc: ContactCenter, tmp_path: Path) -> None:
    with FakeOpenAIServer([Fault.status(500)]) as server:
        conv = _conversation(sample_cc, server, tmp_path)
        answer = conv.ask("Combien coûte un passeport ?")
    assert answer.decision == "answer" and answer.generator == FALLBACK and answer.citations
    assert conv.answers()[-1].generator == FALLBACK
    assert [m.role for m in conv.transcript()] == ["citizen", "assistant"]
