"""The campaign worker: sends what is due, resumes what was interrupted, and never trusts a cursor.

For each due campaign the worker claims a batch of ledger rows, renders each message, waits for the
rate limit, marks the row *in flight* (a committed write), hands it to the :class:`~channels.mailer.Mailer`
and records the reply. The in-flight marks and the replies of all concurrent sends are written together
by one group-commit task, so the database costs a few transactions per batch, not two per message.

Run it as ``contact-center campaigns run`` or ``python -m campaigns.worker [--once] [--campaign NAME]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from jinja2 import TemplateError

from campaigns import ledger as ledger_ops
from campaigns.ledger import ClaimedRow, Outcome
from campaigns.ratelimit import AdaptiveRateLimiter, backoff_delay
from campaigns.schedule import SendWindow
from campaigns.tables import campaigns as campaigns_table
from campaigns.tables import suppressions
from campaigns.templates import TemplateSet, build_message
from campaigns.unsubscribe import make_token, unsubscribe_links
from channels.mailer import TEMPORARY_CODES, Mailer, SendResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from contact_center.settings import Settings

__all__ = ["RunReport", "Worker", "default_worker_id", "main"]

SUPPRESSING_CODES = frozenset({550, 551, 553})
ProgressCallback = Callable[[str, str], None]


def default_worker_id() -> str:
    """``host:pid``: unique per running process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class RunReport:
    """What one ``run`` did, summed over campaigns."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    recovered: int = 0
    uncertain: int = 0
    needs_confirmation: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Job:
    row: ClaimedRow
    message: EmailMessage


class _LedgerWriter:
    """Group commit: in-flight marks wait for their commit; replies ride along in the next transaction."""

    def __init__(
        self, engine: Engine, worker_id: str, lease: float, clock: Callable[[], float], campaign_id: int
    ) -> None:
        self._engine = engine
        self._campaign_id = campaign_id
        # Set when the campaign is no longer "running" (paused by a user): senders stop handing out rows.
        self.halted = asyncio.Event()
        self._status: str | None = None
        self._status_checked = float("-inf")
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._marks: list[tuple[int, asyncio.Future[bool]]] = []
        self._outcomes: list[tuple[Outcome, str | None, str]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._last_renewal = clock()
        self._task = asyncio.create_task(self._loop())

    async def mark_in_flight(self, row_id: int) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks.append((row_id, future))
        self._wake.set()
        return await future

    def record(self, outcome: Outcome, suppress_reply: str | None = None, email: str = "") -> None:
        self._outcomes.append((outcome, suppress_reply, email))
        self._wake.set()

    def _commit(
        self, mark_ids: list[int], outcomes: list[tuple[Outcome, str | None, str]]
    ) -> tuple[set[int], str | None]:
        now = self._clock()
        with self._engine.begin() as conn:
            ledger_ops.record(conn, self._worker_id, [o for o, _, _ in outcomes])
            for outcome, reply, email in outcomes:
                if reply is not None and email:
                    exists = conn.scalar(sa.select(suppressions.c.email).where(suppressions.c.email == email))
                    if exists is None:
                        conn.execute(
                            suppressions.insert().values(
                                email=email,
                                reason="hard-bounce",
                                detail=f"SMTP {outcome.code} {reply}"[:500],
                                created_at=now,
                            )
                        )
            status = self._status
            if now - self._status_checked > 0.25:
                # A pause is noticed within a quarter of a second, without a query per commit.
                status = conn.scalar(
                    sa.select(campaigns_table.c.status).where(campaigns_table.c.id == self._campaign_id)
                )
                self._status, self._status_checked = status, now
            if status != "running":
                mark_ids = []  # paused meanwhile: these rows are released, not sent
            owned = ledger_ops.mark_in_flight(conn, self._worker_id, mark_ids) if mark_ids else set()
            if now - self._last_renewal > self._lease / 3:
                ledger_ops.renew_leases(conn, self._worker_id, now + self._lease)
                self._last_renewal = now
        return owned, status

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            marks, self._marks = self._marks, []
            outcomes, self._outcomes = self._outcomes, []
            if marks or outcomes:
                try:
                    owned, status = await asyncio.to_thread(self._commit, [m for m, _ in marks], outcomes)
                except BaseException as exc:
                    for _, future in marks:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                if status != "running":
                    self.halted.set()
                for row_id, future in marks:
                    if not future.done():
                        future.set_result(row_id in owned)
            if self._closing and not self._marks and not self._outcomes:
                return

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        await self._task


@dataclass(frozen=True, slots=True)
class _Campaign:
    id: int
    name: str
    status: str
    from_addr: str
    templates: dict[str, dict[str, str]]
    scheduled_at: float | None
    window: str | None
    rate: float | None
    confirmed_late: bool


def _campaign_from_row(row: Any) -> _Campaign:
    return _Campaign(
        id=row.id,
        name=row.name,
        status=row.status,
        from_addr=row.from_addr,
        templates=dict(row.templates),
        scheduled_at=row.scheduled_at,
        window=row.send_window,
        rate=row.rate,
        confirmed_late=bool(row.confirmed_late),
    )


class Worker:
    """Sends due campaigns through a :class:`~channels.mailer.Mailer`, safely alongside other workers.

    Example::

        worker = Worker(engine, settings, MaildirMailer(settings.data_dir / "outbox"))
        report = await worker.run(once=True)
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        mailer: Mailer,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.worker_id = worker_id or default_worker_id()
        # Twice the pool: while one message waits for its in-flight mark to commit, another uses the
        # connection. The price: up to 2 x pool_size rows can be "uncertain" after a crash, not pool_size.
        self.concurrency = concurrency or (2 * settings.smtp.pool_size if settings.smtp.host else 1)
        self.on_progress = on_progress
        self.clock = clock
        self.rand = rand
        self._stop = asyncio.Event()
        self._recovered_own = False
        self._relay_failures = 0
        self.limiters: dict[str, AdaptiveRateLimiter] = {}

    def stop(self) -> None:
        """Ask the worker to finish the messages in flight, release the rest, and return."""
        self._stop.set()

    def _recover(self, report: RunReport) -> None:
        cfg = self.settings.campaigns
        released, uncertain = ledger_ops.recover_expired(
            self.engine,
            self.clock(),
            resend_uncertain=cfg.resend_uncertain,
            worker_id=None if self._recovered_own else self.worker_id,
        )
        self._recovered_own = True
        report.recovered += released
        report.uncertain += uncertain

    def _due(self, only: str | None, report: RunReport) -> tuple[list[_Campaign], float | None]:
        now = self.clock()
        grace = self.settings.campaigns.grace_minutes * 60
        query = sa.select(campaigns_table).where(campaigns_table.c.status.in_(("scheduled", "running")))
        if only:
            query = query.where(campaigns_table.c.name == only)
        due: list[_Campaign] = []
        next_wake: float | None = None
        with self.engine.begin() as conn:
            for row in conn.execute(query).all():
                c = _campaign_from_row(row)
                if c.scheduled_at is None:
                    continue
                if c.scheduled_at > now:
                    next_wake = min(next_wake or c.scheduled_at, c.scheduled_at)
                    continue
                if c.status == "scheduled" and not c.confirmed_late and now - c.scheduled_at > grace:
                    # A campaign whose start is long past (the worker was down) is not sent blindly.
                    conn.execute(
                        sa.update(campaigns_table)
                        .where(campaigns_table.c.id == c.id)
                        .values(status="needs-confirmation")
                    )
                    report.needs_confirmation.append(c.name)
                    continue
                if c.window:
                    window = SendWindow.parse(c.window)
                    if not window.is_open(now):
                        opens = window.next_open(now)
                        next_wake = min(next_wake or opens, opens)
                        continue
                if c.status == "scheduled":
                    conn.execute(
                        sa.update(campaigns_table)
                        .where(campaigns_table.c.id == c.id)
                        .values(status="running")
                    )
                due.append(c)
        return due, next_wake

    async def run(
        self, *, once: bool = False, campaign: str | None = None, idle_sleep: float = 1.0
    ) -> RunReport:
        """Send until nothing is due (``once``) or until :meth:`stop` is called; returns what was done."""
        report = RunReport()
        while not self._stop.is_set():
            await asyncio.to_thread(self._recover, report)
            due, next_wake = await asyncio.to_thread(self._due, campaign, report)
            worked = 0
            for c in due:
                worked += await self._send_campaign(c, report)
                if self._stop.is_set():
                    break
            if worked:
                continue
            if once:
                break
            delay = idle_sleep if next_wake is None else max(0.0, min(idle_sleep, next_wake - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
        return report

    def _still_active(self, campaign_id: int) -> bool:
        with self.engine.connect() as conn:
            status = conn.scalar(
                sa.select(campaigns_table.c.status).where(campaigns_table.c.id == campaign_id)
            )
        return status == "running"

    def _settle(self, c: _Campaign, report: RunReport) -> None:
        with self.engine.begin() as conn:
            counts = ledger_ops.count_states(conn, c.id)
            if counts["pending"] + counts["claimed"] + counts["deferred"] == 0:
                conn.execute(
                    sa.update(campaigns_table)
                    .where(campaigns_table.c.id == c.id, campaigns_table.c.status == "running")
                    .values(status="finished")
                )
                report.finished.append(c.name)

    def _render(self, c: _Campaign, templates: TemplateSet, row: ClaimedRow) -> EmailMessage:
        assert row.contact is not None
        cfg = self.settings.campaigns
        token = make_token(self.settings.secret_key.get_secret_value(), row.email, c.name)
        https, mailto = unsubscribe_links(cfg.unsubscribe_base_url, cfg.unsubscribe_mailto, token)
        rendered = templates.render(
            row.contact, row.language.split("+"), {"unsubscribe_url": https, "campaign": c.name}
        )
        return build_message(
            rendered,
            from_addr=c.from_addr,
            to=row.contact,
            message_id=row.message_id,
            list_unsubscribe=(https, mailto),
            campaign=c.name,
        )

    def _classify(
        self, row: ClaimedRow, result: SendResult, limiter: AdaptiveRateLimiter
    ) -> tuple[Outcome, str | None]:
        cfg = self.settings.campaigns
        now = self.clock()
        attempts = row.attempts + 1
        if result.accepted:
            self._relay_failures = 0
            limiter.on_success()
            return Outcome(row.id, "sent", result.code, result.reply, attempts, sent_at=now), None
        if result.code == 421:
            # The relay itself is down or closing connections: not this recipient's fault, so no attempt
            # is counted; the whole worker pauses with growing backoff instead of burning every row's retries.
            self._relay_failures += 1
            limiter.on_throttled()
            delay = backoff_delay(
                self._relay_failures, cfg.retry_base_seconds, cfg.retry_max_seconds, self.rand
            )
            limiter.pause_for(delay)
            return Outcome(
                row.id, "deferred", result.code, result.reply, row.attempts, next_attempt_at=now + delay
            ), None
        if result.temporary:
            if result.code in TEMPORARY_CODES:
                limiter.on_throttled()
            if attempts >= cfg.max_attempts:
                reply = f"{result.reply} (gave up after {attempts} attempts)"
                return Outcome(row.id, "failed", result.code, reply, attempts), None
            delay = backoff_delay(attempts, cfg.retry_base_seconds, cfg.retry_max_seconds, self.rand)
            return Outcome(
                row.id, "deferred", result.code, result.reply, attempts, next_attempt_at=now + delay
            ), None
        suppress = result.reply if result.code in SUPPRESSING_CODES else None
        return Outcome(row.id, "failed", result.code, result.reply, attempts), suppress

    async def _send_campaign(self, c: _Campaign, report: RunReport) -> int:
        cfg = self.settings.campaigns
        templates = TemplateSet(c.templates)
        rate = c.rate if c.rate is not None else cfg.rate_per_second
        limiter = self.limiters.get(c.name)
        if limiter is None:
            limiter = AdaptiveRateLimiter(rate if rate > 0 else None)
            self.limiters[c.name] = limiter
        window = SendWindow.parse(c.window) if c.window else None
        writer = _LedgerWriter(self.engine, self.worker_id, cfg.lease_seconds, self.clock, c.id)
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=self.concurrency * 4)
        held: set[int] = set()
        handled = 0

        def note(state: str) -> None:
            nonlocal handled
            handled += 1
            setattr(report, state, getattr(report, state) + 1)
            if self.on_progress:
                self.on_progress(c.name, state)

        async def produce() -> None:
            try:
                while (
                    not self._stop.is_set() and not writer.halted.is_set() and not limiter.pause_remaining()
                ):
                    if window is not None and not window.is_open(self.clock()):
                        return
                    if not await asyncio.to_thread(self._still_active, c.id):
                        return
                    current = limiter.current
                    # Claim no more than ~10 s of work so a throttled worker does not hoard rows.
                    limit = (
                        cfg.claim_batch
                        if current is None
                        else max(1, min(cfg.claim_batch, int(current * 10)))
                    )
                    rows = await asyncio.to_thread(
                        ledger_ops.claim,
                        self.engine,
                        c.id,
                        self.worker_id,
                        limit,
                        cfg.lease_seconds,
                        self.clock(),
                    )
                    if not rows:
                        return
                    for row in rows:
                        held.add(row.id)
                        if row.contact is None:
                            writer.record(
                                Outcome(row.id, "failed", None, "contact no longer exists", row.attempts)
                            )
                            held.discard(row.id)
                            note("failed")
                            continue
                        try:
                            message = self._render(c, templates, row)
                        except TemplateError as exc:
                            writer.record(
                                Outcome(row.id, "failed", None, f"template error: {exc}", row.attempts)
                            )
                            held.discard(row.id)
                            note("failed")
                            continue
                        await queue.put(_Job(row, message))
            finally:
                for _ in range(self.concurrency):
                    await queue.put(None)

        async def send() -> None:
            while (job := await queue.get()) is not None:
                # A relay that is down (421, unreachable) pauses the limiter: the queued rows go back to
                # the ledger, due after the pause, instead of holding this run until the relay returns.
                if self._stop.is_set() or writer.halted.is_set() or limiter.pause_remaining():
                    continue
                await limiter.acquire()
                if not await writer.mark_in_flight(job.row.id):
                    if not writer.halted.is_set():
                        held.discard(job.row.id)  # recovered by another worker: not ours to release
                    continue
                held.discard(job.row.id)
                try:
                    result = await self.mailer.send(job.message)
                except Exception as exc:
                    result = SendResult(job.row.message_id, 451, f"4.3.0 transport error: {exc!r}")
                outcome, suppress_reply = self._classify(job.row, result, limiter)
                writer.record(outcome, suppress_reply, job.row.email)
                note(outcome.state)

        try:
            await asyncio.gather(produce(), *(send() for _ in range(self.concurrency)))
        finally:
            await writer.aclose()
            if held:
                not_before = self.clock() + limiter.pause_remaining()
                await asyncio.to_thread(self._release, sorted(held), not_before)
        await asyncio.to_thread(self._settle, c, report)
        return handled

    def _release(self, ids: list[int], not_before: float = 0.0) -> None:
        with self.engine.begin() as conn:
            ledger_ops.release(conn, self.worker_id, ids, not_before)


def main(argv: list[str] | None = None) -> int:
    """``python -m campaigns.worker [--once] [--campaign NAME] [--worker-id ID]``: run the worker."""
    import argparse

    from campaigns.service import Campaigns

    parser = argparse.ArgumentParser(prog="python -m campaigns.worker", description=main.__doc__)
    parser.add_argument("--once", action="store_true", help="exit when nothing is due")
    parser.add_argument("--campaign", default=None, help="only this campaign")
    parser.add_argument(
        "--worker-id", default=None, help="stable id: a restart recovers its own rows at once"
    )
    args = parser.parse_args(argv)
    service = Campaigns()

    async def go() -> RunReport:
        mailer = service.mailer()
        worker = Worker(service.engine, service.settings, mailer, worker_id=args.worker_id)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        try:
            return await worker.run(once=args.once, campaign=args.campaign)
        finally:
            await mailer.aclose()

    report = asyncio.run(go())
    print(
        f"sent={report.sent} deferred={report.deferred} failed={report.failed} suppressed={report.suppressed} "
        f"recovered={report.recovered} uncertain={report.uncertain}"
    )
    for name in report.needs_confirmation:
        print(
            f"campaign {name!r} is past its start by more than the grace period: confirm with "
            f"'contact-center campaigns confirm {name}'"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
