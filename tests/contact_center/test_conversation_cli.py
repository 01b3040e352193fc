"""`contact-center chat` and `contact-center ask --conversation` on the sample knowledge base."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from contact_center import ContactCenter
from contact_center.cli import app

runner = CliRunner()


def test_ask_within_a_conversation_carries_the_follow_up(sample_cc: ContactCenter) -> None:
    base = ["--data-dir", str(sample_cc.data_dir), "ask"]
    first = runner.invoke(
        app, [*base, "How do I declare my marriage in Brussels?", "--conversation", "new", "--json"]
    )
    assert first.exit_code == 0, first.output
    conversation_id = first.stderr.strip().rsplit(" ", 1)[-1]
    second = runner.invoke(app, [*base, "and how much is it?", "--conversation", conversation_id, "--json"])
    assert second.exit_code == 0, second.output
    answer = json.loads(second.stdout)
    assert answer["decision"] == "answer"
    assert {c["doc_id"] for c in answer["citations"]} == {"marriage-declaration-en"}


def test_ask_with_an_unknown_conversation_is_one_clear_error(sample_cc: ContactCenter) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(sample_cc.data_dir), "ask", "hello", "--conversation", "nope"]
    )
    assert result.exit_code == 2
    assert "no conversation with id 'nope'" in result.stderr


def test_chat_is_a_repl_with_handoff_and_resume(sample_cc: ContactCenter) -> None:
    lines = "\n".join(
        [
            "Wat kost een paspoort?",
            "",
            "   ",
            "ik wil een medewerker spreken",
            "hallo?",
            "/resume",
            "hoe lang duurt dat?",
            "/quit",
        ]
    )
    result = runner.invoke(app, ["--data-dir", str(sample_cc.data_dir), "chat"], input=lines + "\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("answer ·") == 2 and out.count("handoff ·") == 2
    assert "Belgisch paspoort" in out
    assert "the bot is paused" in result.stderr and "the bot answers again" in result.stderr
