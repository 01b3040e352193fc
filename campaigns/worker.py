"""The campaign worker: sends what is due, resumes what was interrupted, and never trusts a cursor.

For each due campaign the worker claims a batch of ledger rows, renders each message straight to its
wire form, waits for the rate limit, marks the row *in flight* (a committed write), hands the bytes to
the :class:`~channels.mailer.Mailer` and records the reply. One feeder task claims, renders and marks;
``pool_size`` sender tasks send. Marks and replies travel together in one transaction per group of
rows, written by a single group-commit task on a connection it holds, so the database costs one
transaction per few messages. At any instant at most ``concurrency`` rows are marked in flight without
a recorded reply: that is all a crash can leave *uncertain*.

Run it as ``contact-center campaigns run`` or ``python -m campaigns.worker [--once] [--campaign NAME]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import random
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from jinja2 import TemplateError

from campaigns import ledger as ledger_ops
from campaigns.ledger import ClaimedRow, ClaimedTuple, LedgerBusy, Outcome, SendSession
from campaigns.ratelimit import AdaptiveRateLimiter, backoff_delay
from campaigns.schedule import SendWindow
from campaigns.tables import campaigns as campaigns_table
from campaigns.templates import TemplateSet, from_address, message_from_wire, wire_address, wire_message
from campaigns.unsubscribe import make_token, unsubscribe_links
from channels.mailer import TEMPORARY_CODES, Mailer, SendResult, WireMailer, WireMessage

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from contact_center.settings import Settings

__all__ = ["RunReport", "Worker", "default_worker_id", "main", "run_async"]

# Turns of the event loop the feeder gives up after rendering each message (see ``feed``).
_RENDER_YIELDS = 3
SUPPRESSING_CODES = frozenset({550, 551, 553})
ProgressCallback = Callable[[str, str], None]
T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on uvloop when it is installed, else on asyncio's default loop.

    The worker spends most of its CPU in the event loop (four SMTP round trips per message), and
    uvloop cuts that by about a third; the sending code is the same on either loop.
    """
    try:
        # Imported by name: uvloop is optional, and type-checking must not depend on its presence.
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


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
    wire: WireMessage


class _LedgerWriter:
    """Group commit: a batch of in-flight marks waits for its commit; replies ride along in the same one.

    One task commits at a time, on the connection of a :class:`~campaigns.ledger.SendSession`: inline
    on SQLite when the write lock is free (a commit there is tens of microseconds and no fsync), in a
    thread otherwise; whatever arrives meanwhile goes into the next transaction. ``unrecorded`` counts
    rows marked in flight whose reply is not committed yet: the worker keeps it within its window.
    """

    def __init__(
        self,
        engine: Engine,
        worker_id: str,
        lease: float,
        clock: Callable[[], float],
        campaign_id: int,
        on_commit: Callable[[], None],
    ) -> None:
        self._session = SendSession(engine, worker_id, campaign_id)
        # Set when the campaign is no longer "running" (paused by a user): no more rows are marked.
        self.halted = asyncio.Event()
        self._status_checked = float("-inf")
        self._lease = lease
        self._clock = clock
        self._on_commit = on_commit
        self._marks: list[tuple[list[int], asyncio.Future[set[int]]]] = []
        self._outcomes: list[Outcome] = []
        self._suppress: list[tuple[str, str]] = []
        self.unrecorded = 0
        self._replies = 0  # waiting outcomes of rows that were in flight (not of rows failed before)
        self._wake = asyncio.Event()
        self._closing = False
        self._last_renewal = clock()
        self._task = asyncio.create_task(self._loop())

    @property
    def pending_replies(self) -> int:
        """Replies of in-flight rows waiting for the next commit."""
        return self._replies

    async def mark_in_flight(self, row_ids: list[int]) -> set[int]:
        """Commit the in-flight mark of these rows (with the replies waiting); the ids this worker still owned."""
        future: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        self._marks.append((row_ids, future))
        self.unrecorded += len(row_ids)
        self._wake.set()
        return await future

    def record(
        self, outcome: Outcome, suppress_reply: str | None = None, email: str = "", *, in_flight: bool = True
    ) -> None:
        """Queue an outcome for the next commit (the next marks, or :meth:`aclose`).

        ``in_flight=False`` for a row that failed before it was marked (no contact, a template error).
        """
        self._outcomes.append(outcome)
        self._replies += in_flight
        if suppress_reply is not None and email:
            self._suppress.append((email, f"SMTP {outcome.code} {suppress_reply}"))

    def _commit(
        self, mark_ids: list[int], outcomes: list[Outcome], suppress: list[tuple[str, str]], wait: bool = True
    ) -> tuple[set[int], str | None]:
        now = self._clock()
        # A pause is noticed within a quarter of a second, without a query per commit.
        check = now - self._status_checked > 0.25
        renew = now - self._last_renewal > self._lease / 3
        owned, status = self._session.commit(
            mark_ids,
            outcomes,
            suppress=suppress,
            check_status=check,
            renew_until=now + self._lease if renew else None,
            now=now,
            wait=wait,
        )
        if check:
            self._status_checked = now
        if renew:
            self._last_renewal = now
        return owned, status

    async def _loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                marks, self._marks = self._marks, []
                outcomes, self._outcomes = self._outcomes, []
                suppress, self._suppress = self._suppress, []
                replies, self._replies = self._replies, 0
                if marks or outcomes:
                    ids = [i for batch, _ in marks for i in batch]
                    try:
                        done: tuple[set[int], str | None] | None = None
                        if self._session.sqlite:
                            # Inline first: no thread hop, no GIL hand-off. Only when another
                            # connection holds the write lock does a thread wait for it.
                            with contextlib.suppress(LedgerBusy):
                                done = self._commit(ids, outcomes, suppress, wait=False)
                        if done is None:
                            done = await asyncio.to_thread(self._commit, ids, outcomes, suppress)
                    except BaseException as exc:
                        for _, future in marks:
                            if not future.done():
                                future.set_exception(exc)
                        raise
                    owned, status = done
                    if status is not None and status != "running":
                        self.halted.set()
                    # Rows another worker recovered, or not marked because of a pause, hold no slot.
                    self.unrecorded -= replies + len(ids) - len(owned)
                    for batch, future in marks:
                        if not future.done():
                            future.set_result(owned.intersection(batch))
                    self._on_commit()
                if self._closing and not self._marks and not self._outcomes:
                    return
        finally:
            await asyncio.to_thread(self._session.close)

    async def aclose(self) -> None:
        """Commit what is left and return the connection."""
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
        # Senders: one per pooled connection. The window (``concurrency``) bounds the rows marked in
        # flight without a recorded reply, which is all a crash can leave uncertain; four per connection
        # let marks and replies go in groups (one transaction per few messages) while every connection
        # always has a marked message waiting.
        self.senders = settings.smtp.pool_size if settings.smtp.host else 1
        self.concurrency = concurrency or (4 * self.senders if settings.smtp.host else 8)
        # Pacing the renders keeps a pool's connections in step at the relay (see ``feed``); a single
        # connection (the Maildir) has nothing to keep in step and renders one per turn.
        self.render_yields = _RENDER_YIELDS if self.senders > 1 else 1
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
                window = SendWindow.parse(c.window) if c.window else None
                # Late is measured from the first moment the campaign could send: a start outside its
                # window (Friday evening for "mon-fri 09:00-17:00") waits for the opening, not for 'confirm'.
                could_start = window.next_open(c.scheduled_at) if window else c.scheduled_at
                if c.status == "scheduled" and not c.confirmed_late and now - could_start > grace:
                    # A campaign whose start is long past (the worker was down) is not sent blindly.
                    conn.execute(
                        sa.update(campaigns_table)
                        .where(campaigns_table.c.id == c.id)
                        .values(status="needs-confirmation")
                    )
                    report.needs_confirmation.append(c.name)
                    continue
                if window is not None and not window.is_open(now):
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

    def _settle(self, c: _Campaign, report: RunReport) -> None:
        with self.engine.begin() as conn:
            # Run after every pass, with the write lock held: an index search, not a count of the campaign.
            if not ledger_ops.has_open_rows(conn, c.id):
                conn.execute(
                    sa.update(campaigns_table)
                    .where(campaigns_table.c.id == c.id, campaigns_table.c.status == "running")
                    .values(status="finished")
                )
                report.finished.append(c.name)

    def _prepare(self, c: _Campaign, templates: TemplateSet, sender: str, row: ClaimedRow) -> _Job:
        """Render one row's message straight to its wire form (headers encoded once, no EmailMessage)."""
        assert row.contact is not None
        cfg = self.settings.campaigns
        token = make_token(self.settings.secret_key.get_secret_value(), row.email, c.name)
        https, mailto = unsubscribe_links(cfg.unsubscribe_base_url, cfg.unsubscribe_mailto, token)
        rendered = templates.render(
            row.contact, row.language.split("+"), {"unsubscribe_url": https, "campaign": c.name}
        )
        data = wire_message(
            rendered,
            from_addr=c.from_addr,
            to=row.contact,
            message_id=row.message_id,
            list_unsubscribe=(https, mailto),
            campaign=c.name,
        )
        # The envelope takes the domain in its ASCII form too: a relay without SMTPUTF8 then accepts
        # bob@exämple.be (only a non-ASCII local part still needs SMTPUTF8).
        return _Job(row, WireMessage(sender, (wire_address(row.email),), data, row.message_id))

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
        sender = wire_address(from_address(c.from_addr))
        rate = c.rate if c.rate is not None else cfg.rate_per_second
        target = rate if rate > 0 else None
        limiter = self.limiters.get(c.name)
        if limiter is None or limiter.target != target:
            # A new --rate given while the campaign was paused applies at once, not at the next restart.
            limiter = AdaptiveRateLimiter(target)
            self.limiters[c.name] = limiter
        window = SendWindow.parse(c.window) if c.window else None
        send_one = self._transport()
        room = asyncio.Event()
        writer = _LedgerWriter(self.engine, self.worker_id, cfg.lease_seconds, self.clock, c.id, room.set)
        ready: asyncio.Queue[_Job | None] = asyncio.Queue()
        # Claimed rows not yet marked in flight: given back to the ledger when this run stops early.
        held: set[int] = set()
        handled = 0
        # Marks go in groups of half the window, so each transaction carries several rows; a lone
        # connection (the Maildir) still sends one message at a time.
        group = max(1, self.concurrency // 2)
        need = [self.concurrency + 1]  # free slots the feeder waits for (more than can be: not waiting)

        def note(state: str) -> None:
            nonlocal handled
            handled += 1
            setattr(report, state, getattr(report, state) + 1)
            if self.on_progress:
                self.on_progress(c.name, state)

        def stopping() -> bool:
            return (
                self._stop.is_set()
                or writer.halted.is_set()
                or bool(limiter.pause_remaining())
                or (window is not None and not window.is_open(self.clock()))
            )

        def free_slots() -> int:
            # Replies waiting for the next commit free their slot in that same transaction.
            return self.concurrency - writer.unrecorded + writer.pending_replies

        async def claim_rows() -> list[ClaimedTuple]:
            current = limiter.current
            # Claim no more than ~10 s of work so a throttled worker does not hoard rows.
            limit = cfg.claim_batch if current is None else max(1, min(cfg.claim_batch, int(current * 10)))
            return await asyncio.to_thread(
                ledger_ops.claim_tuples,
                self.engine,
                c.id,
                self.worker_id,
                limit,
                cfg.lease_seconds,
                self.clock(),
            )

        def fail(row: ClaimedRow, reply: str) -> None:
            writer.record(Outcome(row.id, "failed", None, reply, row.attempts), in_flight=False)
            held.discard(row.id)
            note("failed")

        async def feed() -> None:
            """Claim ahead, render a group just in time, mark it in flight as the window frees."""
            rows: deque[ClaimedTuple] = deque()
            jobs: deque[_Job] = deque()
            claiming: asyncio.Task[list[ClaimedTuple]] | None = None
            exhausted = False
            try:
                while not stopping():
                    if claiming is None and not exhausted and len(rows) <= cfg.claim_batch // 2:
                        claiming = asyncio.create_task(claim_rows())  # the next batch, while these send
                    if claiming is not None and (claiming.done() or not (rows or jobs)):
                        claimed = await claiming
                        claiming = None
                        exhausted = not claimed
                        held.update(r[0] for r in claimed)
                        rows.extend(claimed)
                        continue
                    while rows and len(jobs) < group:
                        row = ledger_ops.claimed_row(c.id, rows.popleft())
                        if row.contact is None:
                            fail(row, "contact no longer exists")
                            continue
                        try:
                            jobs.append(self._prepare(c, templates, sender, row))
                        except TemplateError as exc:
                            fail(row, f"template error: {exc}")
                        except Exception as exc:
                            # One contact's message that cannot be built fails that row, not the run.
                            fail(row, f"could not build the message: {type(exc).__name__}: {exc}")
                        # At most one render every few turns of the loop: SMTP replies that arrived
                        # meanwhile are answered, and the next commands written, before the next
                        # render. The relay then finds the pool's commands together at each wake-up
                        # instead of one by one, which halves its wake-ups and its CPU per message.
                        # Measured in paired slices (2,500 messages x 8, instant sink): 8 renders per
                        # turn 77-80 % of raw, one per turn 76-87 %, one per three turns 88-99 % on
                        # asyncio and 84-92 % on uvloop (docs/campaigns.md, "Benchmarks").
                        for _ in range(self.render_yields):
                            await asyncio.sleep(0)
                    if not jobs:
                        if exhausted and not rows:
                            return
                        continue
                    # Wait for a group's worth of free slots; replies waiting for a commit count as
                    # free, since they are committed in the same transaction as these marks.
                    need[0] = len(jobs)
                    while free_slots() < need[0] and not stopping():
                        room.clear()
                        await room.wait()
                    need[0] = self.concurrency + 1
                    if stopping():
                        return
                    await limiter.acquire()
                    if stopping():
                        # At a slow rate the wait is long: the window may have closed or the relay
                        # paused meanwhile. The claimed rows go back to the ledger (``held``).
                        return
                    batch = [jobs.popleft()]
                    while jobs and len(batch) < free_slots() and limiter.try_acquire():
                        batch.append(jobs.popleft())
                    owned = await writer.mark_in_flight([job.row.id for job in batch])
                    for job in batch:
                        # Not owned: recovered by another worker meanwhile, or the campaign was paused
                        # (then the row is still claimed, not in flight, and is released below).
                        if job.row.id in owned:
                            held.discard(job.row.id)
                            ready.put_nowait(job)
                        elif not writer.halted.is_set():
                            held.discard(job.row.id)
            finally:
                if claiming is not None:
                    with contextlib.suppress(Exception):
                        held.update(r[0] for r in await claiming)
                for _ in range(self.senders):
                    ready.put_nowait(None)

        async def send() -> None:
            while (job := await ready.get()) is not None:
                # Marked in flight: it goes out, even when a stop was asked meanwhile.
                try:
                    result = await send_one(job)
                except Exception as exc:
                    result = SendResult(job.row.message_id, 451, f"4.3.0 transport error: {exc!r}")
                outcome, suppress_reply = self._classify(job.row, result, limiter)
                writer.record(outcome, suppress_reply, job.row.email)
                note(outcome.state)
                if free_slots() >= need[0]:
                    room.set()

        try:
            await asyncio.gather(feed(), *(send() for _ in range(self.senders)))
        finally:
            await writer.aclose()
            if held:
                not_before = self.clock() + limiter.pause_remaining()
                await asyncio.to_thread(self._release, sorted(held), not_before)
        await asyncio.to_thread(self._settle, c, report)
        return handled

    def _transport(self) -> Callable[[_Job], Coroutine[Any, Any, SendResult]]:
        """The mailer's wire path when it has one; otherwise an ``EmailMessage`` parsed from the bytes."""
        mailer = self.mailer
        if isinstance(mailer, WireMailer):
            wire_mailer: WireMailer = mailer

            def wire(job: _Job) -> Coroutine[Any, Any, SendResult]:
                return wire_mailer.send_wire(job.wire)

            return wire

        def message(job: _Job) -> Coroutine[Any, Any, SendResult]:
            built: EmailMessage = message_from_wire(job.wire.data)
            return mailer.send(built)

        return message

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

    report = run_async(go())
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
