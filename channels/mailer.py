"""The ``Mailer`` port: how the library hands an e-mail to a transport.

Two adapters implement it: :class:`MaildirMailer` (the embedded default: a Maildir outbox in the data
directory, nothing leaves the machine) and the SMTP relay adapter in :mod:`channels.smtp`. Campaigns
and journey nudges both send through this port.

A transport answers with a :class:`SendResult` that carries the SMTP-style reply code, so callers can
tell a temporary refusal (4xx: retry later) from a permanent one (5xx: fail, maybe suppress) without
knowing which transport they talk to.

A caller that already holds a message's wire form (campaigns write it once, while rendering) hands it
over as a :class:`WireMessage` to a :class:`WireMailer` (both adapters are): the transport then neither
re-parses the addresses nor re-serialises the message through ``email.generator``.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from contact_center.settings import Settings

__all__ = ["MaildirMailer", "Mailer", "SendResult", "WireMailer", "WireMessage", "mailer_from_settings"]

TEMPORARY_CODES = frozenset({421, 450, 451, 452, 454})


@dataclass(frozen=True, slots=True)
class SendResult:
    """The transport's answer for one message.

    Attributes:
        message_id: the message's Message-ID header.
        code: SMTP reply code (250 accepted; 4xx temporary; 5xx permanent).
        reply: the reply text, kept in the ledger for the status report.
    """

    message_id: str
    code: int
    reply: str = ""

    @property
    def accepted(self) -> bool:
        """The transport took responsibility for the message."""
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        """A refusal worth retrying later (421, 450, 451, 452, 454 and other 4xx)."""
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        """A refusal that will not change on retry (5xx)."""
        return self.code >= 500


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A message already serialised, with its envelope.

    Attributes:
        sender: the envelope sender (``MAIL FROM``), a bare address.
        recipients: the envelope recipients (``RCPT TO``), bare addresses.
        data: the RFC 5322 message, CRLF line endings, headers included (no ``Bcc``).
        message_id: the message's Message-ID header, echoed in the :class:`SendResult`.
    """

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str


@runtime_checkable
class Mailer(Protocol):
    """A transport for outgoing e-mail."""

    async def send(self, message: EmailMessage) -> SendResult:
        """Hand one message to the transport and return its reply; never raises for a refusal."""
        ...

    async def aclose(self) -> None:
        """Release connections; the mailer may not be used afterwards."""
        ...


@runtime_checkable
class WireMailer(Mailer, Protocol):
    """A :class:`Mailer` that also takes a message in its wire form (the faster path)."""

    async def send_wire(self, message: WireMessage) -> SendResult:
        """Hand one serialised message to the transport and return its reply; never raises for a refusal."""
        ...


class MaildirMailer:
    """Writes each message into a Maildir outbox (``new/``), for review or a later relay.

    Example::

        mailer = MaildirMailer(settings.data_dir / "outbox")
        result = await mailer.send(message)   # result.code == 250
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # mailbox.Maildir(create=True) makes tmp/new/cur only when the folder itself is new.
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(self.path, create=True)

    async def send(self, message: EmailMessage) -> SendResult:
        """Store the message in ``new/`` and answer 250."""
        message_id = str(message.get("Message-ID", ""))
        self._box.add(message)
        return SendResult(message_id=message_id, code=250, reply="2.0.0 stored in Maildir outbox")

    async def send_wire(self, message: WireMessage) -> SendResult:
        """Store a serialised message in ``new/`` (with the outbox's LF line endings) and answer 250."""
        self._box.add(message.data.replace(b"\r\n", b"\n"))
        return SendResult(message_id=message.message_id, code=250, reply="2.0.0 stored in Maildir outbox")

    async def aclose(self) -> None:
        """Nothing to release: each message is written and closed at once."""

    def messages(self) -> list[EmailMessage]:
        """Every message in the outbox, oldest first by file name."""
        from email import policy
        from email.parser import BytesParser

        parser = BytesParser(policy=policy.default)
        out: list[EmailMessage] = []
        for key in sorted(self._box.keys()):
            with self._box.get_file(key) as fh:
                msg = parser.parsebytes(fh.read())
                assert isinstance(msg, EmailMessage)
                out.append(msg)
        return out


def mailer_from_settings(settings: Settings) -> Mailer:
    """The configured transport: the SMTP relay when ``CC_SMTP__HOST`` is set, else the Maildir outbox
    in the data directory (nothing leaves the machine)."""
    if settings.smtp.host:
        from channels.smtp import SMTPMailer

        return SMTPMailer.from_settings(settings.smtp)
    return MaildirMailer(settings.data_dir / "outbox")
