"""One-click unsubscribe (RFC 8058) through a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import uvicorn

from campaigns import Campaigns, InvalidTokenError, make_token, unsubscribe_app, verify_token
from campaigns.contacts import is_suppressed, list_suppressions
from channels import MaildirMailer
from tests.campaigns.helpers import resident


def test_token_round_trip_and_tampering() -> None:
    token = make_token("k", "a@example.org", "renewal")
    assert verify_token("k", token) == ("a@example.org", "renewal")
    with pytest.raises(InvalidTokenError, match="signature does not match"):
        verify_token("other-key", token)
    forged = make_token("k", "b@example.org", "renewal").split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvalidTokenError):
        verify_token("k", forged)
    with pytest.raises(InvalidTokenError, match="malformed"):
        verify_token("k", "garbage")


@pytest.fixture
async def server(service: Campaigns) -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = unsubscribe_app(service.engine, service.settings.secret_key.get_secret_value())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task


async def _sent_to_resident1(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> EmailMessage:
    """Campaign "c" sent to two residents through a Maildir outbox; the message resident 1 received."""
    populated([resident(1), resident(2)])
    service.create("c", segment="consent = true", templates=templates_dir, from_addr="B <b@example.brussels>")
    service.schedule("c")
    outbox = MaildirMailer(tmp_path / "outbox")
    await service.run(mailer=outbox)
    return next(m for m in outbox.messages() if "resident1@" in str(m["To"]))


async def test_one_click_post_from_the_message_header_suppresses_once(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path, server: str
) -> None:
    message = await _sent_to_resident1(service, templates_dir, populated, tmp_path)
    https = str(message["List-Unsubscribe"]).split(",")[0].strip("<> ")
    token = https.split("?t=")[1]
    url = f"{server}/unsubscribe?t={token}"
    async with httpx.AsyncClient() as client:
        page = await client.get(url)
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert not is_suppressed(
            service.engine, "resident1@example.org"
        )  # a GET (link scanner) changes nothing
        first = await client.post(
            url,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        second = await client.post(
            url,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        form = await client.post(
            f"{server}/unsubscribe", data={"t": make_token("test-secret", "resident2@example.org", "c")}
        )
        bad = await client.post(f"{server}/unsubscribe?t={token[:-2]}xx")
        missing = await client.post(f"{server}/unsubscribe")
        # A public endpoint: a body far larger than any form is refused before it is held in memory.
        huge = await client.post(f"{server}/unsubscribe", content=b"t=" + b"x" * (1024 * 1024))
    assert first.status_code == second.status_code == form.status_code == 200
    assert bad.status_code == 400 and "signature" in bad.text
    assert missing.status_code == 400
    assert huge.status_code == 413
    assert list_suppressions(service.engine) == [
        ("resident1@example.org", "unsubscribed", "one-click from campaign c"),
        ("resident2@example.org", "unsubscribed", "one-click from campaign c"),
    ]


def test_cli_server_command_is_registered() -> None:
    from typer.testing import CliRunner

    from campaigns.cli import app

    result = CliRunner().invoke(app, ["unsubscribe-server", "--help"])
    assert result.exit_code == 0 and "--port" in result.output


async def test_an_unsubscribe_request_by_mail_suppresses_the_address(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # Every message offers <mailto:unsubscribe@...?subject=unsubscribe%20TOKEN>; mail clients without
    # one-click send that message. The requests land in a Maildir that must be acted on.
    import mailbox
    from urllib.parse import unquote

    from typer.testing import CliRunner

    from campaigns.cli import app

    message = await _sent_to_resident1(service, templates_dir, populated, tmp_path)
    mailto = str(message["List-Unsubscribe"]).split(",")[1].strip("<> ")
    subject = unquote(mailto.split("?subject=")[1])
    box = mailbox.Maildir(tmp_path / "unsubscribe", create=True)
    box.add(f"From: Resident1@Example.org\r\nSubject: {subject}\r\n\r\n\r\n".encode())
    box.add(b"From: mallory@example.org\r\nSubject: unsubscribe abc.def\r\n\r\n\r\n")
    question = box.add(b"From: resident2@example.org\r\nSubject: Question\r\n\r\nHow do I renew?\r\n")
    env = {"CC_DATA_DIR": str(service.settings.data_dir), "CC_SECRET_KEY": "test-secret"}
    runner = CliRunner()
    result = runner.invoke(app, ["unsubscribe-mail", "process", str(tmp_path / "unsubscribe")], env=env)
    assert result.exit_code == 0, result.output
    assert "3 messages: 1 unsubscribed; left unread for a person: 1 with an invalid token, 1 other" in (
        result.output
    )
    assert list_suppressions(service.engine) == [
        ("resident1@example.org", "unsubscribed", "by e-mail from campaign c")
    ]
    assert not is_suppressed(service.engine, "resident2@example.org")
    box = mailbox.Maildir(tmp_path / "unsubscribe", create=False)
    assert box[question].get_flags() == ""
    result = runner.invoke(app, ["unsubscribe-mail", "process", str(tmp_path / "unsubscribe")], env=env)
    assert "2 messages: 0 unsubscribed; left unread for a person: 1 with an invalid token, 1 other" in (
        result.output
    )


def test_an_unsubscribe_request_whose_client_left_the_subject_encoded_is_understood(
    service: Campaigns, tmp_path: Path
) -> None:
    # Some mail clients copy the mailto subject as it is in the link: "unsubscribe%20TOKEN".
    import mailbox

    from campaigns.unsubscribe import process_unsubscribe_mail

    token = make_token("k", "resident1@example.org", "c")
    box = mailbox.Maildir(tmp_path / "unsubscribe", create=True)
    box.add(f"From: resident1@example.org\r\nSubject: unsubscribe%20{token}\r\n\r\n".encode())
    report = process_unsubscribe_mail(service.engine, "k", tmp_path / "unsubscribe")
    assert (report.unsubscribed, report.other) == (1, 0)
    assert is_suppressed(service.engine, "resident1@example.org")
