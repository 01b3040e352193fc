"""Bounce processing: RFC 3464 delivery status notifications read from a Maildir.

A ``multipart/report; report-type=delivery-status`` message names each recipient with an ``Action``
and a ``Status``. ``failed`` with a 5.x.x status is a hard bounce: the address is suppressed.
A 4.x.x status (or ``delayed``) is a soft bounce: the contact's soft-bounce count goes up.
Processed reports get the Maildir "seen" flag, so running the command twice counts nothing twice; any
other message (a resident's reply, an out-of-office) is left unread where it is, for a person to read.
"""

from __future__ import annotations

import mailbox
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from campaigns.tables import contacts, ledger, suppressions
from contact_center.errors import CampaignError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["BounceReport", "DeliveryStatus", "parse_delivery_report", "process_bounces"]


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One recipient's entry in a delivery report."""

    recipient: str
    action: str
    status: str
    diagnostic: str = ""
    original_message_id: str = ""

    @property
    def hard(self) -> bool:
        """A permanent failure (the address should not be written to again)."""
        return self.action == "failed" and self.status.startswith("5")

    @property
    def soft(self) -> bool:
        """A temporary failure or a delay."""
        return not self.hard and (self.status.startswith("4") or self.action == "delayed")


@dataclass(slots=True)
class BounceReport:
    """What a pass over the bounce Maildir found."""

    messages: int = 0
    hard: list[str] = field(default_factory=list)
    soft: list[str] = field(default_factory=list)
    not_reports: int = 0


def _fields(block: Message | str) -> dict[str, str]:
    if isinstance(block, str):
        out: dict[str, str] = {}
        for line in block.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                out[name.strip().lower()] = value.strip()
        return out
    return {k.lower(): str(v).strip() for k, v in block.items()}


def parse_delivery_report(message: Message) -> list[DeliveryStatus]:
    """The per-recipient statuses of an RFC 3464 report; empty for any other message."""
    if message.get_content_type() != "multipart/report":
        return []
    if (message.get_param("report-type") or "").__str__().lower() != "delivery-status":
        return []
    original_id = ""
    blocks: list[dict[str, str]] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                # The stdlib parses delivery-status bodies into one Message per field block.
                blocks.extend(_fields(p) for p in payload if isinstance(p, Message))
            elif isinstance(payload, str):
                blocks.extend(_fields(b) for b in payload.replace("\r\n", "\n").split("\n\n") if b.strip())
        elif ctype in ("text/rfc822-headers", "message/rfc822") and not original_id:
            body = part.get_payload(decode=False)
            if isinstance(body, list) and body and isinstance(body[0], Message):
                original_id = str(body[0].get("Message-ID", "")).strip()
            elif isinstance(body, str):
                # A header parser, not line splitting: relays may fold the quoted Message-ID onto a
                # continuation line.
                headers = HeaderParser(policy=policy.compat32).parsestr(body.lstrip("\r\n"))
                original_id = " ".join(str(headers.get("Message-ID", "")).split())
    out: list[DeliveryStatus] = []
    for block in blocks:
        recipient = block.get("final-recipient") or block.get("original-recipient") or ""
        if not recipient:
            continue  # the per-message block (Reporting-MTA...)
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        out.append(
            DeliveryStatus(
                recipient=address,
                action=block.get("action", "").lower(),
                status=block.get("status", "").split()[0] if block.get("status") else "",
                diagnostic=block.get("diagnostic-code", ""),
                original_message_id=original_id,
            )
        )
    return out


def process_bounces(engine: Engine, maildir: Path | str) -> BounceReport:
    """Read unseen messages in a Maildir, suppress hard-bounced addresses and count soft bounces.

    Reports are flagged seen once processed; other messages are counted in ``not_reports`` and left unread.

    Example::

        report = process_bounces(engine, "/var/mail/bounces")
        print(len(report.hard), "addresses suppressed")
    """
    report = BounceReport()
    now = time.time()
    for parsed, seen in unread_messages(maildir, "bounce"):
        report.messages += 1
        statuses = parse_delivery_report(parsed)
        if not statuses:
            # A resident's reply or an out-of-office also lands here: left unread for a person to see.
            report.not_reports += 1
            continue
        with engine.begin() as conn:
            for status in statuses:
                if status.hard:
                    exists = conn.scalar(
                        sa.select(suppressions.c.email).where(suppressions.c.email == status.recipient)
                    )
                    if exists is None:
                        conn.execute(
                            suppressions.insert().values(
                                email=status.recipient,
                                reason="hard-bounce",
                                detail=f"{status.status} {status.diagnostic}".strip()[:500],
                                created_at=now,
                            )
                        )
                    report.hard.append(status.recipient)
                elif status.soft:
                    conn.execute(
                        sa.update(contacts)
                        .where(contacts.c.email == status.recipient)
                        .values(soft_bounces=contacts.c.soft_bounces + 1)
                    )
                    report.soft.append(status.recipient)
                if status.hard and status.original_message_id:
                    conn.execute(
                        sa.update(ledger)
                        .where(ledger.c.message_id == status.original_message_id, ledger.c.state == "sent")
                        .values(state="failed", reply=f"bounced: {status.status} {status.diagnostic}".strip())
                    )
        seen()
    return report


def unread_messages(maildir: str | Path, purpose: str) -> Iterator[tuple[Message, Callable[[], None]]]:
    """Each unread message of a Maildir, parsed, with a function that flags it seen (moved to ``cur/``).

    A message the caller does not flag stays unread for a person to see. Raises CampaignError when
    ``maildir`` is not a Maildir (``purpose`` names the mailbox expected: bounce, unsubscribe).
    """
    path = Path(maildir)
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise CampaignError(
            f"{path} is not a Maildir (no cur/ or new/ inside); point at the {purpose} mailbox"
        )
    box = mailbox.Maildir(path, create=False)
    for key in list(box.keys()):
        item = box.get_message(key)
        if "S" in item.get_flags():
            continue
        with box.get_file(key) as fh:
            parsed = message_from_bytes(fh.read(), policy=policy.compat32)

        def seen(item: mailbox.MaildirMessage = item, key: str = key) -> None:
            item.add_flag("S")
            if item.get_subdir() == "new":
                item.set_subdir("cur")
            box[key] = item

        yield parsed, seen
