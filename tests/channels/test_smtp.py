"""The SMTP relay adapter against a real aiosmtpd peer on loopback, and the Mailer contract for both adapters."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from channels import MaildirMailer, Mailer, WireMailer, WireMessage
from channels.smtp import SMTPMailer
from contact_center.settings import SMTPSettings
from tests.channels import smtp_peer as peer_module


def _message(n: int, to: str = "resident@example.org") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Bureau <etrangers@example.brussels>"
    message["To"] = to
    message["Subject"] = f"message {n}"
    message["Message-ID"] = f"<m{n}@example.brussels>"
    message.set_content(f"body {n}\n")
    return message


class MailerContract:
    """Every Mailer adapter: accepts a message with 250 and the message's own Message-ID, closes cleanly."""

    def make(self, tmp_path: Path, request: Any) -> Mailer:
        raise NotImplementedError

    async def test_accepts_and_reports_message_id(self, tmp_path: Path, request: Any) -> None:
        mailer = self.make(tmp_path, request)
        assert isinstance(mailer, Mailer)
        result = await mailer.send(_message(1))
        await mailer.aclose()
        assert result.accepted and result.code == 250
        assert result.message_id == "<m1@example.brussels>"

    async def test_many_messages_concurrently(self, tmp_path: Path, request: Any) -> None:
        mailer = self.make(tmp_path, request)
        results = await asyncio.gather(*(mailer.send(_message(i)) for i in range(20)))
        await mailer.aclose()
        assert sorted(r.message_id for r in results) == sorted(f"<m{i}@example.brussels>" for i in range(20))
        assert all(r.code == 250 for r in results)

    async def test_takes_the_wire_form_as_it_is(self, tmp_path: Path, request: Any) -> None:
        mailer = self.make(tmp_path, request)
        assert isinstance(mailer, WireMailer)
        data = _message(3).as_bytes(policy=_message(3).policy.clone(linesep="\r\n"))
        result = await mailer.send_wire(
            WireMessage(
                "etrangers@example.brussels", ("resident@example.org",), data, "<m3@example.brussels>"
            )
        )
        await mailer.aclose()
        assert (result.code, result.message_id) == (250, "<m3@example.brussels>")


class TestMaildirContract(MailerContract):
    def make(self, tmp_path: Path, request: Any) -> Mailer:
        return MaildirMailer(tmp_path / "outbox")


class TestSMTPContract(MailerContract):
    def make(self, tmp_path: Path, request: Any) -> Mailer:
        peer = request.getfixturevalue("smtp_peer")
        return SMTPMailer("127.0.0.1", peer.port, tls="none", pool_size=3)


async def test_pool_reuses_connections(smtp_peer: Any) -> None:
    connections = 0
    original = SMTPMailer._open

    async def counting(self: SMTPMailer) -> Any:
        nonlocal connections
        connections += 1
        return await original(self)

    mailer = SMTPMailer("127.0.0.1", smtp_peer.port, tls="none", pool_size=2)
    mailer._open = counting.__get__(mailer)  # type: ignore[method-assign]
    await asyncio.gather(*(mailer.send(_message(i)) for i in range(30)))
    await mailer.aclose()
    assert smtp_peer.handler.count() == 30
    assert connections <= 2


async def test_refusals_keep_the_relay_code(smtp_peer: Any) -> None:
    smtp_peer.handler.rcpt_reply = lambda addr: "550 5.1.1 no such user" if addr.startswith("ghost") else None
    smtp_peer.handler.data_reply = lambda msg: (
        "452 4.3.1 insufficient storage" if "7" in str(msg["Subject"]) else None
    )
    mailer = SMTPMailer("127.0.0.1", smtp_peer.port, tls="none", pool_size=1)
    unknown = await mailer.send(_message(1, to="ghost@example.org"))
    throttled = await mailer.send(_message(7))
    fine = await mailer.send(_message(2))
    await mailer.aclose()
    assert (unknown.code, unknown.permanent) == (550, True)
    assert "no such user" in unknown.reply
    assert (throttled.code, throttled.temporary) == (452, True)
    assert fine.code == 250
    assert smtp_peer.handler.message_ids == ["<m2@example.brussels>"]


async def test_wire_path_reports_refusals_and_keeps_the_connection(smtp_peer: Any) -> None:
    """MAIL/RCPT/DATA written one by one: each refusal keeps its code and the connection serves the next."""
    smtp_peer.handler.rcpt_reply = lambda addr: "550 5.1.1 no such user" if addr.startswith("ghost") else None
    smtp_peer.handler.data_reply = lambda msg: "451 4.7.1 slow down" if "7" in str(msg["Subject"]) else None
    mailer = SMTPMailer("127.0.0.1", smtp_peer.port, tls="none", pool_size=1)

    def wire(n: int, *recipients: str) -> WireMessage:
        message = _message(n, to=", ".join(recipients))
        return WireMessage(
            "etrangers@example.brussels",
            recipients,
            message.as_bytes(policy=message.policy.clone(linesep="\r\n")),
            str(message["Message-ID"]),
        )

    unknown = await mailer.send_wire(wire(1, "ghost@example.org"))
    throttled = await mailer.send_wire(wire(7, "resident@example.org"))
    partly = await mailer.send_wire(wire(2, "ghost@example.org", "resident@example.org"))
    fine = await mailer.send_wire(wire(4, "resident@example.org"))
    await mailer.aclose()
    assert (unknown.code, unknown.message_id) == (550, "<m1@example.brussels>")
    assert (throttled.code, throttled.reply) == (451, "4.7.1 slow down")
    # Delivered to the recipient the relay accepted; the refusal of the other is what is reported.
    assert partly.code == 550
    assert fine.code == 250
    assert smtp_peer.handler.message_ids == ["<m2@example.brussels>", "<m4@example.brussels>"]


async def test_unreachable_relay_is_a_temporary_421() -> None:
    port = peer_module.free_port()
    mailer = SMTPMailer("127.0.0.1", port, tls="none", timeout=2)
    result = await mailer.send(_message(1))
    await mailer.aclose()
    assert result.code == 421 and result.temporary
    assert f"127.0.0.1:{port}" in result.reply


async def test_reconnects_after_the_server_restarts() -> None:
    handler = peer_module.RecordingHandler()
    peer = peer_module.SMTPPeer(handler)
    peer.start()
    mailer = SMTPMailer("127.0.0.1", peer.port, tls="none", pool_size=1, timeout=5)
    assert (await mailer.send(_message(1))).code == 250
    peer.stop()
    down = await mailer.send(_message(2))
    peer.start()
    try:
        back = await mailer.send(_message(3))
    finally:
        await mailer.aclose()
        peer.stop()
    assert down.code == 421
    assert back.code == 250
    assert handler.message_ids == ["<m1@example.brussels>", "<m3@example.brussels>"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return peer_module.self_signed_cert(tmp_path_factory.mktemp("tls"))  # type: ignore[no-any-return]


def _client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    handler = peer_module.RecordingHandler()
    peer = peer_module.SMTPPeer(
        handler,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN"],
    )
    peer.start()
    try:
        good = SMTPMailer(
            "127.0.0.1",
            peer.port,
            tls="starttls",
            username="bxl",
            password="s3cret",
            tls_context=_client_context(cert),
        )
        ok = await good.send(_message(1))
        await good.aclose()
        bad = SMTPMailer(
            "127.0.0.1",
            peer.port,
            tls="starttls",
            username="bxl",
            password="wrong",
            tls_context=_client_context(cert),
            timeout=5,
        )
        refused = await bad.send(_message(2))
        await bad.aclose()
    finally:
        peer.stop()
    assert ok.code == 250
    assert refused.code == 535 and refused.permanent
    assert logins[0] == ("bxl", "s3cret")
    assert handler.message_ids == ["<m1@example.brussels>"]


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    handler = peer_module.RecordingHandler()
    peer = peer_module.SMTPPeer(handler, ssl_context=server_ctx)
    peer.start()
    try:
        mailer = SMTPMailer("127.0.0.1", peer.port, tls="tls", tls_context=_client_context(cert))
        result = await mailer.send(_message(1))
        plain = SMTPMailer("127.0.0.1", peer.port, tls="none", timeout=1)
        refused = await plain.send(_message(2))
        await mailer.aclose()
        await plain.aclose()
    finally:
        peer.stop()
    assert result.code == 250
    assert refused.temporary
    assert handler.message_ids == ["<m1@example.brussels>"]


def test_from_settings_needs_a_host() -> None:
    with pytest.raises(ValueError, match="CC_SMTP__HOST"):
        SMTPMailer.from_settings(SMTPSettings())
    mailer = SMTPMailer.from_settings(SMTPSettings(host="relay.example", port=2525, tls="tls", pool_size=7))
    assert (mailer.host, mailer.port, mailer.tls, mailer.pool_size) == ("relay.example", 2525, "tls", 7)


_ACCENTED = (
    "Votre titre de séjour expire à la fin du mois.\nUw verblijfsvergunning vervalt: maak één afspraak.\n"
)


def _accented() -> EmailMessage:
    message = _message(7)
    message.set_content(_ACCENTED)  # the default policy writes such text as 8bit
    return message


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8BITMIME", "7-bit relay"])
async def test_8bit_bodies_are_announced_or_re_encoded(eight_bit: bool) -> None:
    handler = peer_module.RecordingHandler()
    # aiosmtpd announces 8BITMIME only when it keeps the bytes; decoding them, it takes ASCII alone
    # (it answers "500 strict ASCII mode" to 8bit data and 555 to a BODY parameter).
    peer = peer_module.SMTPPeer(handler, decode_data=not eight_bit)
    peer.start()
    mailer = SMTPMailer("127.0.0.1", peer.port, tls="none", pool_size=1, timeout=5)
    try:
        result = await mailer.send(_accented())
    finally:
        await mailer.aclose()
        peer.stop()
    assert result.code == 250, result
    (raw,) = handler.raw
    if eight_bit:
        assert handler.mail_options == [["BODY=8BITMIME", f"SIZE={len(raw)}"]]
        assert "séjour".encode() in raw
    else:
        assert not any(o.startswith("BODY") for o in handler.mail_options[0])
        assert raw.isascii()
    (received,) = handler.messages
    assert isinstance(received, EmailMessage)
    assert received.get_content().replace("\r\n", "\n") == _ACCENTED
    assert received["Subject"] == "message 7" and received["Message-ID"] == "<m7@example.brussels>"


async def test_wire_path_doubles_leading_dots_and_mends_bare_line_feeds(smtp_peer: Any) -> None:
    """A line that starts with a dot (or is one) must not end DATA early; bare LF goes out as CRLF."""
    body = b".\r\n..two dots\r\n.one dot\nbare line feed\r\nend"
    head = b"From: etrangers@example.brussels\r\nTo: resident@example.org\r\nMessage-ID: <d@example.brussels>\r\n"
    mailer = SMTPMailer("127.0.0.1", smtp_peer.port, tls="none", pool_size=1)
    wire = WireMessage(
        "etrangers@example.brussels", ("resident@example.org",), head + b"\r\n" + body, "<d@example.brussels>"
    )
    first = await mailer.send_wire(wire)
    second = await mailer.send_wire(wire)  # the connection is still in step after the first
    await mailer.aclose()
    assert (first.code, second.code) == (250, 250)
    assert smtp_peer.handler.raw == [head + b"\r\n" + body.replace(b"\nbare", b"\r\nbare") + b"\r\n"] * 2
