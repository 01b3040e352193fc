"""The ledger and the worker, end to end: Maildir and a real aiosmtpd relay on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import sqlite3
import time
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from campaigns import Campaigns, RunReport, Worker
from campaigns.contacts import is_suppressed, suppress
from campaigns.ledger import SendSession, claim, mark_in_flight, recover_expired, release, renew_leases
from campaigns.tables import ledger
from channels import MaildirMailer
from channels.smtp import SMTPMailer
from tests.campaigns.helpers import make_settings, resident, smtp_settings, write_csv
from tests.channels import smtp_peer as peer_module

FROM = "Bureau des étrangers <etrangers@example.brussels>"


def _schedule(service: Campaigns, templates: Path, name: str = "renewal", **kw: Any) -> None:
    service.create(name, segment="permit_expires within 60 days", templates=templates, from_addr=FROM)
    service.schedule(name, **kw)


async def test_maildir_run_sends_each_recipient_once_and_resumes_nothing(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(i, ["fr", "nl", "en", "es"][i % 4]) for i in range(40)] + [resident(99, days=400)])
    suppress(service.engine, "resident3@example.org", "unsubscribed")
    _schedule(service, templates_dir)
    suppress(service.engine, "resident5@example.org", "manual")  # after scheduling: still respected
    outbox = MaildirMailer(tmp_path / "outbox")
    report = await service.run(mailer=outbox)
    assert report.sent == 38
    again = await service.run(mailer=outbox)
    assert again.sent == 0
    messages = outbox.messages()
    ids = [m["Message-ID"] for m in messages]
    assert len(ids) == len(set(ids)) == 38
    assert not {"resident3@example.org", "resident5@example.org", "resident99@example.org"} & {
        m["To"].addresses[0].addr_spec for m in messages
    }
    status = service.status("renewal").to_json()
    assert status["campaign"] == "renewal" and status["status"] == "finished"
    assert status["counts"] == {
        "pending": 0,
        "claimed": 0,
        "sent": 38,
        "deferred": 0,
        "failed": 0,
        "suppressed": 2,
    }
    assert status["uncertain"] == 0
    assert status["by_language"] == {
        "fr": {"sent": 10},
        "nl": {"sent": 9, "suppressed": 1},
        "en+fr+nl": {"sent": 10},
        "fr+nl": {"sent": 9, "suppressed": 1},
    }
    out = io.StringIO()
    assert service.export("renewal", out) == 40
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["state"] for r in rows} == {"sent", "suppressed"}
    assert next(r for r in rows if r["email"] == "resident5@example.org")["reply"] == "suppressed: manual"


async def test_smtp_run_with_refusals_throttling_and_retries(
    tmp_path: Path, templates_dir: Path, smtp_peer: Any
) -> None:
    settings = smtp_settings(tmp_path / "data", smtp_peer.port, rate_per_second=200, max_attempts=3)
    service = Campaigns(settings)
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(30)]))
    handler = smtp_peer.handler
    throttled: set[str] = set()

    def data_reply(message: Any) -> str | None:
        to = message["To"].addresses[0].addr_spec
        if to == "resident7@example.org":
            return "452 4.2.2 mailbox full"  # always: fails after max_attempts
        if to in ("resident1@example.org", "resident2@example.org") and to not in throttled:
            throttled.add(to)
            return "451 4.7.1 slow down"
        return None

    handler.data_reply = data_reply
    handler.rcpt_reply = lambda addr: "550 5.1.1 unknown mailbox" if addr == "resident4@example.org" else None
    _schedule(service, templates_dir)
    mailer = service.mailer()
    assert isinstance(mailer, SMTPMailer)
    worker = Worker(service.engine, settings, mailer)
    task = asyncio.create_task(worker.run(idle_sleep=0.05))
    deadline = time.monotonic() + 20
    while service.status("renewal").status != "finished" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    worker.stop()
    await task
    await mailer.aclose()
    status = service.status("renewal")
    assert status.status == "finished"
    assert status.counts["sent"] == 28 and status.counts["failed"] == 2
    assert sorted(handler.message_ids) == sorted(set(handler.message_ids))
    assert len(handler.message_ids) == 28
    errors = {code: reply for code, reply, _ in status.errors}
    assert errors[550] == "5.1.1 unknown mailbox"
    assert "gave up after 3 attempts" in errors[452]
    assert is_suppressed(service.engine, "resident4@example.org")  # 550 suppresses the address
    assert not is_suppressed(service.engine, "resident7@example.org")
    assert worker.limiters["renewal"].throttled >= 2
    # On the wire the header is plain (RFC 2369 URLs in angle brackets), never RFC 2047-encoded.
    assert b"\r\nList-Unsubscribe: <https://example.brussels/unsubscribe?t=" in handler.raw[0]
    sample = handler.messages[0]
    assert sample["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://example.brussels/unsubscribe?t=" in sample["List-Unsubscribe"]


async def test_throttling_keeps_campaign_open_until_retries_are_done(
    tmp_path: Path, templates_dir: Path, smtp_peer: Any
) -> None:
    settings = smtp_settings(
        tmp_path / "data", smtp_peer.port, retry_base_seconds=3600, retry_max_seconds=3600
    )
    service = Campaigns(settings)
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(5)]))
    smtp_peer.handler.data_reply = lambda m: "450 4.2.1 try later" if "resident0@" in str(m["To"]) else None
    _schedule(service, templates_dir)
    await service.run()
    status = service.status("renewal")
    assert status.counts["sent"] == 4 and status.counts["deferred"] == 1
    assert status.status == "running"  # not "finished" while a retry is pending


async def test_relay_down_then_back_everything_arrives(tmp_path: Path, templates_dir: Path) -> None:
    handler = peer_module.RecordingHandler(delay=0.002)
    peer = peer_module.SMTPPeer(handler)
    peer.start()
    settings = smtp_settings(tmp_path / "data", peer.port, retry_base_seconds=0.05, retry_max_seconds=0.3)
    service = Campaigns(settings)
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(150)]))
    _schedule(service, templates_dir)
    mailer = service.mailer()
    worker = Worker(service.engine, settings, mailer)
    task = asyncio.create_task(worker.run(idle_sleep=0.05))
    try:
        deadline = time.monotonic() + 20
        while handler.count() < 40 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(peer.stop)
        down_at = handler.count()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(peer.start)
        while service.status("renewal").status != "finished" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await mailer.aclose()
        peer.stop()
    status = service.status("renewal")
    assert down_at < 150
    assert status.status == "finished" and status.counts["sent"] == 150
    assert len(set(handler.message_ids)) == 150
    # Only a message in flight when the relay went away can arrive twice.
    assert len(handler.message_ids) - 150 <= worker.concurrency


async def test_pause_and_resume_never_resend(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(i) for i in range(60)])
    _schedule(service, templates_dir)
    outbox = MaildirMailer(tmp_path / "outbox")
    sent = 0

    class Pausing:
        async def send(self, message: Any) -> Any:
            nonlocal sent
            sent += 1
            if sent == 20:
                service.pause("renewal")
            await asyncio.sleep(0.01)  # a relay's pace: the pause is noticed within a quarter second
            return await outbox.send(message)

        async def aclose(self) -> None:
            pass

    await service.run(mailer=Pausing())  # type: ignore[arg-type]
    paused = service.status("renewal")
    assert paused.status == "paused" and 20 <= paused.counts["sent"] < 60
    assert paused.counts["claimed"] == 0  # rows claimed but not sent went back to pending
    assert (await service.run(mailer=outbox)).sent == 0
    service.resume("renewal")
    await service.run(mailer=outbox)
    ids = [m["Message-ID"] for m in outbox.messages()]
    assert len(ids) == len(set(ids)) == 60


async def test_two_workers_at_once_never_send_the_same_row(
    tmp_path: Path, templates_dir: Path, smtp_peer: Any
) -> None:
    smtp_peer.handler.delay = 0.001
    settings = smtp_settings(tmp_path / "data", smtp_peer.port, claim_batch=8)
    first = Campaigns(settings)
    first.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(200)]))
    _schedule(first, templates_dir)
    second = Campaigns(settings)  # its own engine: its own connections to the same file
    reports = await asyncio.gather(first.run(worker_id="w1"), second.run(worker_id="w2"))
    assert reports[0].sent > 0 and reports[1].sent > 0
    assert reports[0].sent + reports[1].sent == 200
    assert len(smtp_peer.handler.message_ids) == len(set(smtp_peer.handler.message_ids)) == 200


def test_claims_are_disjoint_and_recovery_separates_in_flight_rows(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(i) for i in range(10)])
    _schedule(service, templates_dir)
    now = time.time()
    campaign_id = 1
    a = claim(service.engine, campaign_id, "a", 4, lease=10, now=now)
    b = claim(service.engine, campaign_id, "b", 4, lease=10, now=now)
    assert not {r.id for r in a} & {r.id for r in b}
    with service.engine.begin() as conn:
        assert mark_in_flight(conn, "a", [a[0].id, a[1].id]) == {a[0].id, a[1].id}
        assert mark_in_flight(conn, "b", [a[2].id]) == set()  # not b's row
    assert recover_expired(service.engine, now + 5, resend_uncertain=True) == (0, 0)  # leases still valid
    released, uncertain = recover_expired(service.engine, now + 11, resend_uncertain=False)
    assert (released, uncertain) == (6, 2)
    with service.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(ledger))}
    assert rows[a[0].id].state == "failed" and rows[a[0].id].uncertain
    assert "not resent" in rows[a[0].id].reply
    assert rows[a[2].id].state == "pending" and not rows[a[2].id].uncertain
    status = service.status("renewal")
    assert status.uncertain == 2
    assert any("in flight during a crash" in w for w in status.warnings)


async def test_recovery_and_renewals_across_campaigns_go_through_the_claim_index(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # Every worker pass runs recover_expired, and a sending worker renews its leases: with no campaign
    # in their WHERE they read the whole ledger (200,000 rows: 32 ms, write lock held) on every call.
    # The rows they take back are checked in the export; that no statement of theirs, nor of a worker
    # run, reads the whole ledger, in SQLite's plan of each statement as it ran.
    populated([resident(i) for i in range(8)])
    _schedule(service, templates_dir, "first")
    _schedule(service, templates_dir, "second")
    statements: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    sa.event.listen(service.engine, "connect", trace)
    service.engine.dispose()  # the pooled connections were opened before the listener
    now = time.time()
    dead = claim(service.engine, 1, "dead", 3, lease=10, now=now) + claim(
        service.engine, 2, "dead", 3, lease=10, now=now
    )
    live = claim(service.engine, 1, "live", 2, lease=10, now=now)
    with service.engine.begin() as conn:
        assert mark_in_flight(conn, "dead", [dead[0].id, dead[3].id]) == {dead[0].id, dead[3].id}
        renew_leases(conn, "live", now + 30)
    session = SendSession(service.engine, "live", campaign_id=2)  # renews the worker's rows of campaign 1 too
    session.commit([], [], renew_until=now + 60)
    session.close()
    assert recover_expired(service.engine, now + 50, resend_uncertain=False) == (4, 2)
    for name, held in (("first", [r.email for r in live]), ("second", [])):
        out = io.StringIO()
        service.export(name, out)
        states = {
            r["email"]: (r["state"], r["uncertain"]) for r in csv.DictReader(io.StringIO(out.getvalue()))
        }
        uncertain = {e for e, (state, flag) in states.items() if state == "failed" and flag == "1"}
        assert uncertain == {dead[0 if name == "first" else 3].email}
        assert sorted(e for e, (state, _) in states.items() if state == "claimed") == sorted(held)
        assert sum(state == "pending" for state, _ in states.values()) == 8 - 1 - len(held)
    report = await service.run(mailer=MaildirMailer(tmp_path / "outbox"))
    assert report.sent == 12  # the pending rows; "live" still holds its two
    plans = _ledger_plans(service, statements)
    assert any("lease_until <" in s for s, _ in plans) and any("SET lease_until" in s for s, _ in plans)
    for statement, step in plans:
        assert not step.startswith("SCAN"), (statement, step)


async def test_a_worker_pass_reads_no_campaign_whole(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # After each pass over a campaign the worker checks, with the write lock held, whether it is
    # finished: counting the campaign's rows per state there read all of them (5 ms for 50,000 rows).
    populated([resident(i) for i in range(10)])
    _schedule(service, templates_dir)
    held = claim(service.engine, 1, "other", 1, lease=600, now=time.time())
    statements: list[str] = []
    sa.event.listen(
        service.engine, "connect", lambda conn, _record: conn.set_trace_callback(statements.append)
    )
    service.engine.dispose()  # the pooled connections were opened before the listener
    outbox = MaildirMailer(tmp_path / "outbox")
    report = await service.run(mailer=outbox)
    worker_sql = statements.copy()
    assert report.sent == 9 and not report.finished  # another worker still holds a row
    assert service.status("renewal").status == "running"
    with service.engine.begin() as conn:
        release(conn, "other", [held[0].id])
    statements.clear()
    report = await service.run(mailer=outbox)
    worker_sql += statements
    assert report.sent == 1 and report.finished == ["renewal"]
    assert service.status("renewal").status == "finished"
    plans = _ledger_plans(service, worker_sql)
    assert plans
    for statement, step in plans:
        assert "(campaign_id=?)" not in step and not step.startswith("SCAN"), (statement, step)


def _ledger_plans(service: Campaigns, statements: list[str]) -> list[tuple[str, str]]:
    """SQLite's plan for each traced statement that reads the ledger: (statement, step on the ledger)."""
    out: list[tuple[str, str]] = []
    with contextlib.closing(sqlite3.connect(str(service.engine.url.database))) as check:
        for statement in statements:
            if "cc_campaign_ledger" not in statement or statement.startswith("INSERT"):
                continue
            for row in check.execute("EXPLAIN QUERY PLAN " + statement):
                if " cc_campaign_ledger" in row[-1]:
                    out.append((statement, row[-1]))
    return out


def test_stable_worker_id_recovers_its_own_rows_at_once(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(i) for i in range(3)])
    _schedule(service, templates_dir)
    rows = claim(service.engine, 1, "host:w1", 3, lease=600, now=time.time())
    with service.engine.begin() as conn:
        mark_in_flight(conn, "host:w1", [rows[0].id])
    assert recover_expired(service.engine, time.time(), resend_uncertain=True, worker_id="host:w1") == (2, 1)
    assert service.status("renewal").counts["pending"] == 3


async def test_test_send_one_message_per_language(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(1, "nl"), resident(2, "fr")])
    service.create("renewal", segment="consent = true", templates=templates_dir, from_addr=FROM)
    outbox = MaildirMailer(tmp_path / "outbox")
    results = await service.test_send("renewal", "staff@example.brussels", mailer=outbox)
    assert [r.code for r in results] == [250] * 4
    subjects = sorted(str(m["Subject"]).split("]")[0] for m in outbox.messages())
    assert subjects == ["[TEST en", "[TEST fr", "[TEST fr+nl", "[TEST nl"]
    assert {str(m["To"]) for m in outbox.messages()} == {"staff@example.brussels"}
    assert service.status("renewal").total == 0  # nothing in the ledger


def test_default_transport_follows_settings(tmp_path: Path) -> None:
    assert isinstance(Campaigns(make_settings(tmp_path / "a")).mailer(), MaildirMailer)
    assert isinstance(Campaigns(smtp_settings(tmp_path / "b", 2525)).mailer(), SMTPMailer)


def test_unknown_campaign_and_bad_states(service: Campaigns) -> None:
    from contact_center.errors import CampaignError, NotFoundError

    with pytest.raises(NotFoundError, match="no campaign named 'nope'"):
        service.status("nope")
    with pytest.raises(CampaignError):
        service.create("x", segment="consent = true", templates="/nonexistent", from_addr=FROM)


async def test_run_once_with_the_relay_down_returns_and_keeps_every_row(
    tmp_path: Path, templates_dir: Path
) -> None:
    port = peer_module.free_port()  # nothing listens there
    settings = smtp_settings(tmp_path / "data", port, retry_base_seconds=60, retry_max_seconds=600)
    service = Campaigns(settings)
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(40)]))
    _schedule(service, templates_dir)
    started = time.monotonic()
    report = await service.run()
    assert time.monotonic() - started < 20  # it did not sit out the 60 s pause
    status = service.status("renewal")
    assert report.sent == 0 and report.failed == 0
    assert status.status == "running"
    assert status.counts["failed"] == 0 and status.counts["claimed"] == 0
    assert status.counts["pending"] + status.counts["deferred"] == 40
    assert {code for code, _, _ in status.errors} == {421}
    with service.engine.connect() as conn:
        attempts = set(conn.scalars(sa.select(ledger.c.attempts)))
    assert attempts == {0}  # an unreachable relay costs the recipients no attempt


async def test_rows_in_flight_never_exceed_the_window(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    """What a crash could leave uncertain (rows marked in flight, reply not recorded) stays within the window."""
    populated([resident(i, ["fr", "nl", "en"][i % 3]) for i in range(120)])
    _schedule(service, templates_dir)
    outbox = MaildirMailer(tmp_path / "outbox")
    seen: list[int] = []

    class Watching:
        async def send_wire(self, message: Any) -> Any:
            with service.engine.connect() as conn:
                seen.append(int(conn.scalar(sa.select(sa.func.count()).where(ledger.c.in_flight.is_(True)))))
            await asyncio.sleep(0.001)
            return await outbox.send_wire(message)

        async def send(self, message: Any) -> Any:
            raise AssertionError("the worker hands the wire form to a transport that takes it")

        async def aclose(self) -> None:
            pass

    worker = Worker(service.engine, service.settings, Watching(), concurrency=6)
    report = await worker.run(once=True)
    assert report.sent == 120 and len(outbox.messages()) == 120
    assert 1 < max(seen) <= 6  # marked in groups, never past the window
    assert service.status("renewal").counts["sent"] == 120


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8BITMIME", "7-bit relay"])
async def test_bilingual_accented_message_arrives_as_written(
    tmp_path: Path, templates_dir: Path, eight_bit: bool
) -> None:
    """French and Dutch accents reach the relay and parse back to the rendered text, 8bit or not."""
    fr = "Bonjour {{ first_name }},\nVotre titre de séjour expire le {{ permit_expires|date }}. Présentez-vous à l'accueil.\n"
    nl = "Beste {{ first_name }},\nUw verblijfsvergunning vervalt op {{ permit_expires|date }}. Maak één afspraak, ’s ochtends.\n"
    (templates_dir / "fr.txt").write_text(fr, encoding="utf-8")
    (templates_dir / "nl.txt").write_text(nl, encoding="utf-8")
    (templates_dir / "fr.html").write_text("<p>Déjà {{ first_name }}</p>", encoding="utf-8")
    handler = peer_module.RecordingHandler()
    peer = peer_module.SMTPPeer(handler, decode_data=not eight_bit)  # decoding aiosmtpd lacks 8BITMIME
    peer.start()
    try:
        service = Campaigns(smtp_settings(tmp_path / "data", peer.port))
        row = resident(1, "es", first_name="Zoë", last_name="Dupré")
        service.import_contacts(write_csv(tmp_path / "r.csv", [row]))
        _schedule(service, templates_dir)
        report = await service.run()
    finally:
        peer.stop()
    assert report.sent == 1
    expires = date.fromisoformat(row["permit_expires"]).strftime("%d/%m/%Y")
    texts = [
        t.replace("{{ first_name }}", "Zoë").replace("{{ permit_expires|date }}", expires) for t in (fr, nl)
    ]
    (message,) = handler.messages
    assert isinstance(message, EmailMessage)
    assert (
        str(message["Subject"])
        == f"Votre titre de séjour expire le {expires} / Uw verblijfsvergunning vervalt op {expires}"
    )
    assert message["To"].addresses[0].display_name == "Zoë Dupré"
    plain, html = (part for part in message.walk() if not part.is_multipart())
    assert (
        plain.get_content().replace("\r\n", "\n") == texts[0].strip() + "\n\n" + "-" * 40 + "\n\n" + texts[1]
    )
    assert '<div lang="fr"><p>Déjà Zoë</p></div>' in html.get_content()
    (raw,) = handler.raw
    if eight_bit:
        assert "BODY=8BITMIME" in handler.mail_options[0]
        assert "Présentez-vous à l'accueil".encode() in raw  # the text as it is, no base64
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    else:
        assert raw.isascii()


async def test_a_test_message_does_not_carry_a_residents_unsubscribe_link(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # Test messages are rendered with a real contact of the segment; their unsubscribe links named that
    # resident, so a staff member trying the unsubscribe button suppressed the resident.
    from campaigns import verify_token

    (templates_dir / "fr.txt").write_text(
        "Bonjour {{ first_name }}\n{{ unsubscribe_url }}\n", encoding="utf-8"
    )
    populated([resident(1, "nl"), resident(2, "fr")])
    service.create("renewal", segment="consent = true", templates=templates_dir, from_addr=FROM)
    outbox = MaildirMailer(tmp_path / "outbox")
    await service.test_send("renewal", "staff@example.brussels", mailer=outbox)
    secret = service.settings.secret_key.get_secret_value()
    for message in outbox.messages():
        links = [link.strip(" <>") for link in str(message["List-Unsubscribe"]).split(",")]
        tokens = [links[0].split("?t=")[1], links[1].split("%20")[1]]
        assert {verify_token(secret, token)[0] for token in tokens} == {"staff@example.brussels"}
        if str(message["Subject"]).startswith("[TEST fr]"):
            body = message.get_body(("plain",))
            assert body is not None and links[0] in body.get_content()


async def test_a_new_rate_given_while_paused_is_obeyed_by_the_running_worker(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # The worker kept one rate limiter per campaign name for its whole life: after 'pause', then
    # 'schedule --rate 20/s', a long-running 'campaigns run' went on at the first rate.
    populated([resident(i) for i in range(60)])
    _schedule(service, templates_dir, rate="1000/s")
    outbox = MaildirMailer(tmp_path / "outbox")
    pace = [0.05]

    class Relay:
        async def send(self, message: Any) -> Any:
            if pace[0] and service.status("renewal").status == "running":
                service.pause("renewal")
            await asyncio.sleep(pace[0])
            return await outbox.send(message)

        async def aclose(self) -> None:
            pass

    worker = Worker(service.engine, service.settings, Relay())  # type: ignore[arg-type]
    first = (await worker.run(once=True)).sent
    assert 1 <= first <= 30 and service.status("renewal").status == "paused"
    service.schedule("renewal", rate="20/s")
    pace[0] = 0.0
    started = time.monotonic()
    second = (await worker.run(once=True)).sent
    elapsed = time.monotonic() - started
    assert first + second == 60
    assert elapsed >= (second - 1) / 20 - 0.2, f"{second} messages in {elapsed:.2f} s at 20/s"


async def test_internationalised_addresses_are_sent_and_do_not_stop_the_run(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # The import accepts these (email-validator allows SMTPUTF8 addresses); one of them used to end the
    # whole run, and preview, with "'ascii' codec can't encode character".
    populated(
        [
            resident(1, email="josé@example.org", first_name="José"),
            resident(2, email="bob@exämple.be"),
            resident(3),
        ]
    )
    _schedule(service, templates_dir)
    preview = service.preview("renewal", "josé@example.org")
    assert preview["To"].addresses[0].addr_spec == "josé@example.org"
    outbox = MaildirMailer(tmp_path / "outbox")
    report = await service.run(mailer=outbox)
    assert report.sent == 3 and report.failed == 0
    heads = b"".join(
        f.read_bytes().partition(b"\n\n")[0] for f in (tmp_path / "outbox").rglob("*") if f.is_file()
    )
    assert " <josé@example.org>\n".encode() in heads
    assert b"To: First2 Last2 <bob@xn--exmple-cua.be>" in heads


async def test_a_contact_whose_message_fails_after_scheduling_fails_alone(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # Every message renders when the campaign is scheduled; a re-import then gives one contact a value the
    # template cannot use. That row fails with the reason; the others are sent (the run used to stop).
    for lang in ("fr", "nl"):
        (templates_dir / f"{lang}.txt").write_text("Part {{ 100 // (district|int) }}\n", encoding="utf-8")
    populated([resident(i, district="5") for i in range(1, 6)])
    _schedule(service, templates_dir)
    populated([resident(3, district="centre")])
    outbox = MaildirMailer(tmp_path / "outbox")
    report = await service.run(mailer=outbox)
    assert report.sent == 4 and report.failed == 1
    assert "resident3@example.org" not in {m["To"].addresses[0].addr_spec for m in outbox.messages()}
    out = io.StringIO()
    service.export("renewal", out)
    row = next(
        r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["email"] == "resident3@example.org"
    )
    assert row["state"] == "failed" and "ZeroDivisionError" in row["reply"]


async def _run_without_smtputf8(
    tmp_path: Path, templates_dir: Path, email: str
) -> tuple[Campaigns, RunReport, peer_module.SMTPPeer]:
    """A campaign to ``email`` and resident2 through aiosmtpd with SMTPUTF8 off (its Controller turns it on)."""
    peer = peer_module.SMTPPeer(peer_module.RecordingHandler(), enable_SMTPUTF8=False)
    peer.start()
    try:
        service = Campaigns(smtp_settings(tmp_path / "data", peer.port))
        rows = [resident(1, email=email), resident(2)]
        assert not service.import_contacts(write_csv(tmp_path / "r.csv", rows)).errors
        _schedule(service, templates_dir)
        report = await service.run()
    finally:
        peer.stop()
    return service, report, peer


async def test_an_internationalised_domain_reaches_a_relay_without_smtputf8(
    tmp_path: Path, templates_dir: Path
) -> None:
    # Many relays do not offer SMTPUTF8: the envelope must carry the domain in its ASCII form, or the row
    # fails with 553 although the headers were already right.
    _, report, peer = await _run_without_smtputf8(tmp_path, templates_dir, "bob@exämple.be")
    assert report.sent == 2 and report.failed == 0
    assert sorted(m["To"].addresses[0].addr_spec for m in peer.handler.messages) == [
        "bob@xn--exmple-cua.be",
        "resident2@example.org",
    ]


async def test_a_non_ascii_mailbox_fails_without_suppression_at_a_relay_without_smtputf8(
    tmp_path: Path, templates_dir: Path
) -> None:
    # josé@example.org cannot go to a relay that lacks SMTPUTF8 (only the domain has an ASCII form). The
    # row fails with the reason, but the address is not suppressed as a hard bounce: the mailbox may well
    # exist, and the next campaign through a relay with SMTPUTF8 must still reach it.
    service, report, peer = await _run_without_smtputf8(tmp_path, templates_dir, "josé@example.org")
    assert report.sent == 1 and report.failed == 1 and report.suppressed == 0
    assert [m["To"].addresses[0].addr_spec for m in peer.handler.messages] == ["resident2@example.org"]
    out = io.StringIO()
    service.export("renewal", out)
    row = next(r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["email"] == "josé@example.org")
    assert row["state"] == "failed" and row["code"] == "554"
    assert "is not ASCII and the relay lacks SMTPUTF8" in row["reply"]
    assert not is_suppressed(service.engine, "josé@example.org")


async def test_an_internationalised_sender_domain_reaches_a_relay_without_smtputf8(
    tmp_path: Path, templates_dir: Path
) -> None:
    # The From header and the envelope sender take the domain in its IDNA form as recipients' do; the
    # Message-ID, made from the sender's domain, used to keep it in UTF-8: an 8-bit header sent to a relay
    # that never agreed to SMTPUTF8.
    class Handler(peer_module.RecordingHandler):
        def __init__(self) -> None:
            super().__init__()
            self.senders: list[str] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.senders.append(envelope.mail_from)
            return await super().handle_DATA(server, session, envelope)

    peer = peer_module.SMTPPeer(Handler(), enable_SMTPUTF8=False)
    peer.start()
    try:
        service = Campaigns(smtp_settings(tmp_path / "data", peer.port))
        assert not service.import_contacts(write_csv(tmp_path / "r.csv", [resident(1), resident(2)])).errors
        service.create(
            "renewal",
            segment="permit_expires within 60 days",
            templates=templates_dir,
            from_addr="Bureau <etrangers@bruxellés.example>",
        )
        service.schedule("renewal")
        report = await service.run()
    finally:
        peer.stop()
    assert report.sent == 2 and report.failed == 0
    assert peer.handler.senders == ["etrangers@xn--bruxells-h1a.example"] * 2
    assert all("SMTPUTF8" not in options for options in peer.handler.mail_options)
    for raw in peer.handler.raw:
        head = raw.partition(b"\r\n\r\n")[0]
        assert head.isascii(), head
        assert b"From: Bureau <etrangers@xn--bruxells-h1a.example>\r\n" in head
    assert all(m["Message-ID"].endswith("@xn--bruxells-h1a.example>") for m in peer.handler.messages)
    out = io.StringIO()
    service.export("renewal", out)
    ids = sorted(r["message_id"] for r in csv.DictReader(io.StringIO(out.getvalue())))
    assert ids == sorted(m["Message-ID"] for m in peer.handler.messages)
