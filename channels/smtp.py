"""The SMTP relay adapter of the :class:`~channels.mailer.Mailer` port (aiosmtplib, pooled).

Selected when ``CC_SMTP__HOST`` is set. A pool of ``pool_size`` connections is opened lazily and reused;
a connection that drops is reopened on the next message. Every reply, including a refused connection,
comes back as a :class:`~channels.mailer.SendResult` with an SMTP code, never as an exception, so the
caller can tell a temporary refusal from a permanent one:

- a connection that cannot be opened or drops mid-transaction answers 421 (service not available);
- a timeout answers 451 (local error, try again);
- refusals keep the relay's own code and text (450, 452, 550, 553...).

Example::

    mailer = SMTPMailer.from_settings(settings.smtp)
    result = await mailer.send(message)      # SendResult(message_id=..., code=250, reply="2.0.0 Ok")
    await mailer.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ssl
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Literal

import aiosmtplib

from channels.mailer import SendResult

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
        if self._closed:
            raise RuntimeError("this SMTPMailer was closed; create a new one")
        message_id = str(message.get("Message-ID", ""))
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else await self._open()
                if not client.is_connected:
                    await self._discard(client)
                    client = await self._open()
                sender, recipients, data = _envelope(message)
                errors, reply = await client.sendmail(sender, recipients, data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refusal = exc.recipients[0]
                await self._recycle(client)
                return SendResult(message_id, refusal.code, refusal.message)
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
            except aiosmtplib.SMTPTimeoutError as exc:
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
        if errors:
            first = next(iter(errors.values()))
            return SendResult(message_id, first.code, first.message)
        # aiosmtplib returns only the text of the DATA reply; reaching here means it was a 2xx.
        return SendResult(message_id, 250, reply)

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
