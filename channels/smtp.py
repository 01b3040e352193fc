"""The SMTP relay adapter of the :class:`~channels.mailer.Mailer` port (aiosmtplib, pooled).

Selected when ``CC_SMTP__HOST`` is set. A pool of ``pool_size`` connections is opened lazily and reused;
a connection that drops is reopened on the next message. Every reply, including a refused connection,
comes back as a :class:`~channels.mailer.SendResult` with an SMTP code, never as an exception, so the
caller can tell a temporary refusal from a permanent one:

- a connection that cannot be opened or drops mid-transaction answers 421 (service not available);
- a timeout answers 451 (local error, try again);
- refusals keep the relay's own code and text (450, 452, 550, 553...);
- an address with a non-ASCII local part, to a relay that does not offer SMTPUTF8, is never sent: the
  adapter answers 554 5.6.7 itself. Not 553, which callers take as the relay's verdict on the mailbox
  (a campaign suppresses the address); the mailbox may exist, only this relay cannot carry it.

The transaction is written with aiosmtplib's command API (``MAIL``, ``RCPT``, ``DATA``) rather than its
``sendmail``: ``sendmail`` parses the sender and each recipient with ``email.utils.parseaddr`` four times
per message and arms a timer per reply, which made up a third of a campaign's CPU per message against a
fast relay. Here the envelope comes ready (:class:`~channels.mailer.WireMessage`) and one deadline covers
the whole transaction.

Example::

    mailer = SMTPMailer.from_settings(settings.smtp)
    result = await mailer.send(message)      # SendResult(message_id=..., code=250, reply="2.0.0 Ok")
    await mailer.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email
import email.policy
import io
import re
import ssl
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Literal

import aiosmtplib

from channels.mailer import SendResult, WireMessage

if TYPE_CHECKING:
    from contact_center.settings import SMTPSettings

__all__ = ["SMTPMailer"]

TLSMode = Literal["none", "starttls", "tls"]


def _envelope(message: EmailMessage) -> tuple[str, list[str], bytes]:
    """Envelope sender, recipients and wire bytes, serialised with the message's own policy.

    aiosmtplib's ``send_message`` re-serialises every ``EmailMessage`` with ``policy.SMTP``, which
    re-parses and re-folds each header (milliseconds per message) and ignores the policy the message
    was built with; the message's policy with CRLF line endings keeps both the speed and the headers.
    """
    sender = parseaddr(str(message.get("Sender") or message.get("From") or ""))[1]
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    recipients = [address for _, address in getaddresses(fields) if address]
    if "Bcc" in message:
        message = copy.copy(message)
        del message["Bcc"]
    return sender, recipients, message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


# Re-encodes 8bit bodies (base64 for UTF-8 text) and keeps every header line within RFC 5322's 998.
_SEVEN_BIT = email.policy.compat32.clone(linesep="\r\n", cte_type="7bit", max_line_length=998)


def _seven_bit(data: bytes) -> bytes:
    """The message with its 8bit parts re-encoded for a relay that lacks 8BITMIME (RFC 6152).

    Rare (relays have announced 8BITMIME for decades), so it goes through the stdlib's parser and
    generator, which also handle structures this library never writes itself.
    """
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_SEVEN_BIT).flatten(parsed)
    return out.getvalue()


_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _data_lines(data: bytes) -> bytes:
    """The message as DATA carries it: CRLF line endings, leading dots doubled (RFC 5321 4.5.2), and the end mark.

    aiosmtplib's ``data`` runs two regular expressions over every message (18 µs for a campaign's
    1.4 KB); a message that already has CRLF endings and no line starting with a dot (every
    message :func:`campaigns.templates.wire_message` writes) needs neither, and checking costs a
    quarter of that.
    """
    crlf = data.count(b"\r\n")
    if not (crlf == data.count(b"\n") == data.count(b"\r") and data.endswith(b"\r\n")):
        data = _LINE_ENDING.sub(b"\r\n", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    return data + b".\r\n"


def _address(address: str, utf8: bool) -> bytes | None:
    """``<address>`` for MAIL/RCPT; None when it cannot go on the wire (non-ASCII without SMTPUTF8)."""
    if address.isascii():
        return b"<" + address.encode("ascii") + b">"
    return b"<" + address.encode("utf-8") + b">" if utf8 else None


class _Refused(Exception):
    """A reply that ends the transaction (MAIL, every RCPT, or DATA refused)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class SMTPMailer:
    """Sends through an SMTP relay with a pool of connections, TLS (none/starttls/tls) and optional login."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        tls: TLSMode = "starttls",
        username: str | None = None,
        password: str | None = None,
        pool_size: int = 4,
        timeout: float = 30.0,
        validate_certs: bool = True,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.host = host
        self.port = port
        self.tls: TLSMode = tls
        self.pool_size = pool_size
        self.timeout = timeout
        self._username = username
        self._password = password
        self._validate_certs = validate_certs
        self._tls_context = tls_context
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(pool_size)
        self._all: set[aiosmtplib.SMTP] = set()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: SMTPSettings) -> SMTPMailer:
        """Build the adapter from ``Settings.smtp`` (requires ``host``)."""
        if not settings.host:
            raise ValueError("Settings.smtp.host is not set; set CC_SMTP__HOST to use an SMTP relay")
        return cls(
            settings.host,
            settings.port,
            tls=settings.tls,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            pool_size=settings.pool_size,
            timeout=settings.timeout_seconds,
            validate_certs=settings.validate_certs,
        )

    async def _open(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.tls == "tls",
            # aiosmtplib upgrades opportunistically when start_tls is None; "none" must mean none.
            start_tls=self.tls == "starttls",
            validate_certs=self._validate_certs,
            tls_context=self._tls_context,
        )
        await client.connect()
        if self._username:
            await client.login(self._username, self._password or "")
        self._all.add(client)
        return client

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        self._all.discard(client)
        # A broken connection may fail to close; it is dropped either way.
        with contextlib.suppress(Exception):
            client.close()

    async def send(self, message: EmailMessage) -> SendResult:
        """Send one message over a pooled connection and return the relay's reply (never raises for a refusal)."""
        sender, recipients, data = _envelope(message)
        return await self.send_wire(
            WireMessage(sender, tuple(recipients), data, str(message.get("Message-ID", "")))
        )

    async def send_wire(self, message: WireMessage) -> SendResult:
        """Send one serialised message over a pooled connection; the relay's reply (never raises for a refusal)."""
        if self._closed:
            raise RuntimeError("this SMTPMailer was closed; create a new one")
        message_id = message.message_id
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else await self._open()
                if not client.is_connected:
                    await self._discard(client)
                    client = await self._open()
                async with asyncio.timeout(self.timeout):
                    code, reply = await self._transaction(client, message)
            except _Refused as exc:
                await self._reset(client)
                return SendResult(message_id, exc.code, exc.message)
            except (
                aiosmtplib.SMTPConnectError,
                aiosmtplib.SMTPServerDisconnected,
                aiosmtplib.SMTPConnectTimeoutError,
                ConnectionError,
                OSError,
            ) as exc:
                if client is not None:
                    await self._discard(client)
                return SendResult(
                    message_id, 421, f"4.4.2 connection to {self.host}:{self.port} failed: {exc}"
                )
            except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
                # A reply given up on leaves the connection out of step: it is closed, never reused.
                if client is not None:
                    await self._discard(client)
                return SendResult(message_id, 451, f"4.4.1 timeout talking to {self.host}:{self.port}: {exc}")
            except aiosmtplib.SMTPAuthenticationError as exc:
                if client is not None:
                    await self._discard(client)
                return SendResult(message_id, exc.code, f"authentication failed: {exc.message}")
            except aiosmtplib.SMTPResponseException as exc:
                await self._recycle(client)
                return SendResult(message_id, exc.code, exc.message)
            except aiosmtplib.SMTPException as exc:
                if client is not None:
                    await self._discard(client)
                return SendResult(message_id, 451, f"4.3.0 SMTP error: {exc}")
            self._idle.put_nowait(client)
        return SendResult(message_id, code, reply)

    async def _transaction(self, client: aiosmtplib.SMTP, message: WireMessage) -> tuple[int, str]:
        """MAIL, RCPT per recipient, DATA; the reply to report (the first refused recipient's, if any)."""
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                if not client.is_connected:
                    raise
                await client.helo()
        utf8 = client.supports_extension("smtputf8")
        sender = _address(message.sender, utf8)
        if sender is None:
            raise _Refused(554, f"5.6.7 sender {message.sender!r} is not ASCII and the relay lacks SMTPUTF8")
        options: list[bytes] = []
        data = message.data
        if not data.isascii():
            # 8bit bodies (campaigns write them so: a third smaller than base64) must be announced;
            # a relay that cannot take them gets the parts re-encoded.
            if client.supports_extension("8bitmime"):
                options.append(b"BODY=8BITMIME")
            else:
                data = _seven_bit(data)
        if client.supports_extension("size"):
            options.append(b"SIZE=%d" % len(data))
        if utf8 and not (message.sender.isascii() and all(r.isascii() for r in message.recipients)):
            # Only to a relay that offers it: elsewhere the parameter is refused (501) and the message with
            # it, while the non-ASCII addresses alone are set aside below with the reason.
            options.append(b"SMTPUTF8")
        try:
            reply = await client.execute_command(b"MAIL", b"FROM:" + sender, *options, timeout=None)
            if reply.code != 250:
                raise _Refused(reply.code, reply.message)
            refused: list[tuple[int, str]] = []
            for recipient in message.recipients:
                address = _address(recipient, utf8)
                if address is None:
                    refused.append(
                        (554, f"5.6.7 recipient {recipient!r} is not ASCII and the relay lacks SMTPUTF8")
                    )
                    continue
                reply = await client.execute_command(b"RCPT", b"TO:" + address, timeout=None)
                if reply.code not in (250, 251):
                    refused.append((reply.code, reply.message))
        except ValueError as exc:  # CR or LF in an address: never valid, never worth a retry
            raise _Refused(501, f"5.5.4 invalid address: {exc}") from None
        if len(refused) == len(message.recipients):
            raise _Refused(*refused[0]) if refused else _Refused(554, "5.5.1 no recipients")
        reply = await client.execute_command(b"DATA", timeout=None)
        if reply.code != 354:
            raise _Refused(reply.code, reply.message)
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost before the message was sent")
        # Nothing is awaited between the write and read_response, so the reply cannot arrive unheard.
        protocol.write(_data_lines(data))
        data_reply = await protocol.read_response(timeout=None)
        if data_reply.code != 250:
            raise _Refused(data_reply.code, data_reply.message)
        if refused:
            return refused[0]
        return data_reply.code, data_reply.message

    async def _reset(self, client: aiosmtplib.SMTP | None) -> None:
        """After a refusal: RSET so the connection can carry the next message, else drop it."""
        if client is None:
            return
        if client.is_connected:
            try:
                async with asyncio.timeout(self.timeout):
                    await client.rset(timeout=None)
            except (aiosmtplib.SMTPException, ConnectionError, OSError, TimeoutError):
                await self._discard(client)
                return
        await self._recycle(client)

    async def _recycle(self, client: aiosmtplib.SMTP | None) -> None:
        if client is None:
            return
        if client.is_connected:
            self._idle.put_nowait(client)
        else:
            await self._discard(client)

    async def aclose(self) -> None:
        """QUIT every pooled connection."""
        self._closed = True
        for client in list(self._all):
            try:
                if client.is_connected:
                    await client.quit()
            except aiosmtplib.SMTPException:
                pass
            await self._discard(client)
        while not self._idle.empty():
            self._idle.get_nowait()
