"""The send ledger: one row per (campaign, recipient) moving ``pending -> claimed -> sent|deferred|failed|suppressed``.

A worker *claims* a batch of due rows in one transaction (SQLite: ``BEGIN IMMEDIATE`` serialises the
flip; PostgreSQL: ``FOR UPDATE SKIP LOCKED``), marks each row *in flight* in a committed transaction just
before handing it to the transport, and records the reply afterwards. When a worker dies, its rows come
back after the lease: rows never handed to the transport return to ``pending`` (nothing is skipped);
rows that were in flight are flagged ``uncertain`` and either resent or failed, as
``CC_CAMPAIGNS__RESEND_UNCERTAIN`` says. Only those can reach a recipient twice.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.contacts import Contact, _contact_from_row
from campaigns.tables import LEDGER_STATES, contacts, ledger, suppressions

__all__ = [
    "ClaimedRow",
    "Outcome",
    "claim",
    "count_states",
    "export_csv",
    "mark_in_flight",
    "populate",
    "record",
    "recover_expired",
    "release",
    "renew_leases",
]

_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A ledger row a worker now owns, with the contact it is addressed to."""

    id: int
    campaign_id: int
    email: str
    language: str
    message_id: str
    attempts: int
    contact: Contact | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed row; written by :func:`record`."""

    id: int
    state: str
    code: int | None
    reply: str
    attempts: int
    next_attempt_at: float = 0.0
    sent_at: float | None = None


def populate(engine: Engine, rows: Iterable[dict[str, Any]]) -> int:
    """Insert ledger rows (campaign_id, email, language, message_id, state, reply...) in committed chunks.

    Rows already present for the same (campaign, email) are left alone, so an interrupted fill can
    simply be run again. Returns the number of rows offered.
    """
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(ledger).on_conflict_do_nothing(index_elements=["campaign_id", "email"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(ledger).on_conflict_do_nothing(index_elements=["campaign_id", "email"])
    total = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            with engine.begin() as conn:
                conn.execute(stmt, chunk)
            total += len(chunk)
            chunk = []
    if chunk:
        with engine.begin() as conn:
            conn.execute(stmt, chunk)
        total += len(chunk)
    return total


def claim(
    engine: Engine, campaign_id: int, worker_id: str, limit: int, lease: float, now: float
) -> list[ClaimedRow]:
    """Claim up to ``limit`` due rows of a campaign for ``worker_id``; safe with several workers at once.

    Rows whose address has been suppressed since the campaign was scheduled are settled as
    ``suppressed`` here and not returned.
    """
    due = (
        sa.select(ledger.c.id)
        .where(
            ledger.c.campaign_id == campaign_id,
            ledger.c.state.in_(("pending", "deferred")),
            ledger.c.next_attempt_at <= now,
        )
        .order_by(ledger.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with engine.begin() as conn:
        ids = list(
            conn.scalars(
                sa.update(ledger)
                .where(ledger.c.id.in_(due.scalar_subquery()))
                .values(state="claimed", claimed_by=worker_id, lease_until=now + lease, in_flight=False)
                .returning(ledger.c.id)
            )
        )
        if not ids:
            return []
        rows = conn.execute(
            sa.select(ledger, contacts, suppressions.c.reason.label("suppressed_reason"))
            .select_from(
                ledger.outerjoin(contacts, contacts.c.email == ledger.c.email).outerjoin(
                    suppressions, suppressions.c.email == ledger.c.email
                )
            )
            .where(ledger.c.id.in_(ids))
            .order_by(ledger.c.id)
        ).all()
        claimed: list[ClaimedRow] = []
        blocked: list[tuple[int, str]] = []
        for row in rows:
            lid = row._mapping[ledger.c.id]
            if row.suppressed_reason is not None:
                blocked.append((lid, f"suppressed: {row.suppressed_reason}"))
                continue
            contact = (
                _contact_from_row(_ContactView(row)) if row._mapping[contacts.c.id] is not None else None
            )
            claimed.append(
                ClaimedRow(
                    id=lid,
                    campaign_id=campaign_id,
                    email=row._mapping[ledger.c.email],
                    language=row._mapping[ledger.c.language],
                    message_id=row._mapping[ledger.c.message_id],
                    attempts=row._mapping[ledger.c.attempts],
                    contact=contact,
                )
            )
        for lid, reason in blocked:
            conn.execute(
                sa.update(ledger)
                .where(ledger.c.id == lid)
                .values(state="suppressed", reply=reason, claimed_by=None, lease_until=None)
            )
    return claimed


class _ContactView:
    """Reads contact columns out of a joined row whose ledger columns share names (id, email)."""

    def __init__(self, row: Any) -> None:
        self._m = row._mapping

    def __getattr__(self, name: str) -> Any:
        return self._m[contacts.c[name]]


def mark_in_flight(conn: Connection, worker_id: str, ids: Sequence[int]) -> set[int]:
    """Flag rows as handed to the transport; returns the ids this worker still owns (others were recovered)."""
    if not ids:
        return set()
    return set(
        conn.scalars(
            sa.update(ledger)
            .where(ledger.c.id.in_(list(ids)), ledger.c.claimed_by == worker_id, ledger.c.state == "claimed")
            .values(in_flight=True)
            .returning(ledger.c.id)
        )
    )


_RECORD = (
    sa.update(ledger)
    .where(
        ledger.c.id == sa.bindparam("row_id"),
        ledger.c.claimed_by == sa.bindparam("worker"),
        ledger.c.state == "claimed",
    )
    .values(
        state=sa.bindparam("new_state"),
        code=sa.bindparam("new_code"),
        reply=sa.bindparam("new_reply"),
        attempts=sa.bindparam("new_attempts"),
        next_attempt_at=sa.bindparam("new_next"),
        sent_at=sa.bindparam("new_sent_at"),
        in_flight=False,
        claimed_by=None,
        lease_until=None,
    )
)


def record(conn: Connection, worker_id: str, outcomes: Sequence[Outcome]) -> None:
    """Write replies for rows this worker owns (one executemany); a row recovered by someone else is left alone."""
    if not outcomes:
        return
    conn.execute(
        _RECORD,
        [
            {
                "row_id": o.id,
                "worker": worker_id,
                "new_state": o.state,
                "new_code": o.code,
                "new_reply": o.reply[:2000],
                "new_attempts": o.attempts,
                "new_next": o.next_attempt_at,
                "new_sent_at": o.sent_at,
            }
            for o in outcomes
        ],
    )


def release(conn: Connection, worker_id: str, ids: Sequence[int], not_before: float = 0.0) -> None:
    """Give claimed rows that were never handed to the transport back to ``pending`` (due at ``not_before``)."""
    if ids:
        conn.execute(
            sa.update(ledger)
            .where(
                ledger.c.id.in_(list(ids)),
                ledger.c.claimed_by == worker_id,
                ledger.c.state == "claimed",
                ledger.c.in_flight.is_(False),
            )
            .values(state="pending", claimed_by=None, lease_until=None, next_attempt_at=not_before)
        )


def renew_leases(conn: Connection, worker_id: str, lease_until: float) -> None:
    """Extend the lease on every row this worker holds, so a slow campaign is not taken for a dead one."""
    conn.execute(
        sa.update(ledger)
        .where(ledger.c.claimed_by == worker_id, ledger.c.state == "claimed")
        .values(lease_until=lease_until)
    )


def recover_expired(
    engine: Engine, now: float, *, resend_uncertain: bool, worker_id: str | None = None
) -> tuple[int, int]:
    """Take back rows of workers whose lease ran out; returns (rows returned to pending, uncertain rows).

    ``worker_id`` also takes back every row held under that id at once: a worker restarted with a
    stable id knows its previous incarnation is dead and need not wait for the lease.
    """
    stale = ledger.c.lease_until < now
    if worker_id is not None:
        stale = sa.or_(stale, ledger.c.claimed_by == worker_id)
    expired = sa.and_(ledger.c.state == "claimed", stale)
    with engine.begin() as conn:
        released = conn.execute(
            sa.update(ledger)
            .where(expired, ledger.c.in_flight.is_(False))
            .values(state="pending", claimed_by=None, lease_until=None)
        ).rowcount
        if resend_uncertain:
            values: dict[str, Any] = {
                "state": "pending",
                "reply": "uncertain: in flight when its worker died; resent (CC_CAMPAIGNS__RESEND_UNCERTAIN=true)",
            }
        else:
            values = {
                "state": "failed",
                "reply": "uncertain: in flight when its worker died; not resent (CC_CAMPAIGNS__RESEND_UNCERTAIN=false)",
            }
        uncertain = conn.execute(
            sa.update(ledger)
            .where(expired, ledger.c.in_flight.is_(True))
            .values(
                **values,
                uncertain=True,
                in_flight=False,
                claimed_by=None,
                lease_until=None,
                attempts=ledger.c.attempts + 1,
            )
        ).rowcount
    return int(released or 0), int(uncertain or 0)


def count_states(conn: Connection, campaign_id: int) -> dict[str, int]:
    """Rows per state for a campaign, every state present (zero when none)."""
    counts = dict.fromkeys(LEDGER_STATES, 0)
    for state, n in conn.execute(
        sa.select(ledger.c.state, sa.func.count())
        .where(ledger.c.campaign_id == campaign_id)
        .group_by(ledger.c.state)
    ):
        counts[state] = int(n)
    return counts


def export_csv(engine: Engine, campaign_id: int, out: TextIO) -> int:
    """Write the campaign's ledger as CSV (streamed by id); returns the number of rows written."""
    writer = csv.writer(out)
    columns = [
        "email",
        "language",
        "state",
        "uncertain",
        "attempts",
        "code",
        "reply",
        "sent_at",
        "message_id",
    ]
    writer.writerow(columns)
    written = 0
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(ledger.c.id, *(ledger.c[c] for c in columns))
                .where(ledger.c.campaign_id == campaign_id, ledger.c.id > last)
                .order_by(ledger.c.id)
                .limit(_CHUNK)
            ).all()
        if not rows:
            return written
        for row in rows:
            writer.writerow(
                [
                    row.email,
                    row.language,
                    row.state,
                    int(bool(row.uncertain)),
                    row.attempts,
                    row.code if row.code is not None else "",
                    row.reply,
                    row.sent_at or "",
                    row.message_id,
                ]
            )
        written += len(rows)
        last = rows[-1].id
