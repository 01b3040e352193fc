from __future__ import annotations

import mailbox
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns import Campaigns
from campaigns.contacts import is_suppressed
from campaigns.tables import ledger
from channels import MaildirMailer
from contact_center.errors import CampaignError
from tests.campaigns.helpers import resident


def dsn(recipient: str, action: str, status: str, original_id: str = "<x@y>") -> bytes:
    return f"""From: MAILER-DAEMON@relay.example
To: b@example.brussels
Subject: Delivery Status Notification
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example
Arrival-Date: Mon, 23 Nov 2026 10:00:00 +0100

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem

--BOUNDARY
Content-Type: text/rfc822-headers

From: b@example.brussels
To: {recipient}
Message-ID: {original_id}
Subject: whatever

--BOUNDARY--
""".replace("\n", "\r\n").encode()


async def test_hard_bounces_suppress_soft_bounces_count_and_rerun_counts_no_bounce_twice(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(1), resident(2)])
    service.create("c", segment="consent = true", templates=templates_dir, from_addr="B <b@example.brussels>")
    service.schedule("c")
    await service.run(mailer=MaildirMailer(tmp_path / "outbox"))
    with service.engine.connect() as conn:
        sent_id = conn.scalar(sa.select(ledger.c.message_id).where(ledger.c.email == "resident1@example.org"))
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(dsn("resident1@example.org", "failed", "5.1.1", sent_id))
    box.add(dsn("Resident2@example.org", "delayed", "4.2.2"))
    box.add(b"From: someone@example.org\r\nSubject: out of office\r\n\r\nI am away.\r\n")
    report = service.process_bounces(tmp_path / "bounces")
    assert (report.messages, report.hard, report.soft, report.not_reports) == (
        3,
        ["resident1@example.org"],
        ["resident2@example.org"],
        1,
    )
    assert is_suppressed(service.engine, "resident1@example.org")
    assert not is_suppressed(service.engine, "resident2@example.org")
    with service.engine.connect() as conn:
        from campaigns.tables import contacts

        counts = dict(conn.execute(sa.select(contacts.c.email, contacts.c.soft_bounces)).all())
    assert counts == {"resident1@example.org": 0, "resident2@example.org": 1}
    status = service.status("c")
    assert status.counts["failed"] == 1 and any("bounced: 5.1.1" in reply for _, reply, _ in status.errors)
    again = service.process_bounces(tmp_path / "bounces")
    assert (again.messages, again.hard, again.soft, again.not_reports) == (1, [], [], 1)


def test_a_message_that_is_not_a_report_is_left_unread_for_a_person(
    service: Campaigns, tmp_path: Path
) -> None:
    # The bounce address also receives residents' replies and out-of-office answers: staff read them
    # in a mail client, so the command must not mark them read or move them out of new/.
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    reply = box.add(b"From: resident@example.org\r\nSubject: Re: votre titre\r\n\r\nJ'ai demenage.\r\n")
    report = service.process_bounces(tmp_path / "bounces")
    assert (report.messages, report.not_reports) == (1, 1)
    box = mailbox.Maildir(tmp_path / "bounces", create=False)
    message = box[reply]
    assert (message.get_subdir(), message.get_flags()) == ("new", "")


def test_not_a_maildir(service: Campaigns, tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="not a Maildir"):
        service.process_bounces(tmp_path)


async def test_a_report_quoting_a_folded_message_id_still_fails_the_ledger_row(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # Relays that re-wrap the quoted headers (RFC 5322 folding) put the Message-ID on a continuation line.
    populated([resident(1)])
    service.create("c", segment="consent = true", templates=templates_dir, from_addr="B <b@example.brussels>")
    service.schedule("c")
    await service.run(mailer=MaildirMailer(tmp_path / "outbox"))
    with service.engine.connect() as conn:
        sent_id = conn.scalar(sa.select(ledger.c.message_id))
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(dsn("resident1@example.org", "failed", "5.1.1", "\n    " + sent_id))
    assert service.process_bounces(tmp_path / "bounces").hard == ["resident1@example.org"]
    status = service.status("c")
    assert status.counts["failed"] == 1 and status.counts["sent"] == 0
