"""The send ledger: one row per (campaign, recipient) moving ``pending -> claimed -> sent|deferred|failed|suppressed``.

A worker *claims* a batch of due rows in one transaction (SQLite: ``BEGIN IMMEDIATE`` serialises the
flip; PostgreSQL: ``FOR UPDATE SKIP LOCKED``), marks each row *in flight* in a committed transaction just
before handing it to the transport, and records the reply afterwards. When a worker dies, its rows come
back after the lease: rows never handed to the transport return to ``pending`` (nothing is skipped);
rows that were in flight are flagged ``uncertain`` and either resent or failed, as
``CC_CAMPAIGNS__RESEND_UNCERTAIN`` says. Only those can reach a recipient twice.

The statements a sending worker runs thousands of times a minute (in-flight marks, replies, the pause
check) go through :class:`SendSession`: driver-level SQL on one connection held for the campaign,
because SQLAlchemy's per-statement machinery cost ten times the SQL itself (about 450 µs against
45 µs for a transaction marking and recording four rows on SQLite). Claims select their rows through
an index that yields them in order, so a batch costs the batch whatever the campaign's size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.contacts import Contact
from campaigns.tables import LEDGER_STATES, campaigns, contacts, ledger, suppressions

__all__ = [
    "ClaimedRow",
    "ClaimedTuple",
    "LedgerBusy",
    "Outcome",
    "SendSession",
    "claim",
    "claim_tuples",
    "claimed_row",
    "count_states",
    "export_csv",
    "has_open_rows",
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


_CLAIM_COLUMNS = (
    ledger.c.id,
    ledger.c.email,
    ledger.c.language,
    ledger.c.message_id,
    ledger.c.attempts,
    suppressions.c.reason,
    contacts.c.id,
    contacts.c.first_name,
    contacts.c.last_name,
    contacts.c.language,
    contacts.c.nationality,
    contacts.c.permit_type,
    contacts.c.permit_expires,
    contacts.c.postcode,
    contacts.c.consent,
    contacts.c.attributes,
)


def _as_date(value: Any) -> date | None:
    return _iso_date(value) if isinstance(value, str) else value


def _as_attributes(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return dict(_json_items(value))
    return dict(value or {})


# SQLite hands dates and JSON back as text. Recipients share few expiry dates and attribute sets, so
# decoding each distinct text once keeps the claimed-row conversion cheap.
@lru_cache(maxsize=4096)
def _iso_date(text: str) -> date:
    return date.fromisoformat(text)


@lru_cache(maxsize=4096)
def _json_items(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((json.loads(text) or {}).items())


ClaimedTuple = tuple[Any, ...]
"""A claimed row as the driver returned it (the columns of ``_CLAIM_COLUMNS``); see :func:`claimed_row`."""


def claim(
    engine: Engine, campaign_id: int, worker_id: str, limit: int, lease: float, now: float
) -> list[ClaimedRow]:
    """Claim up to ``limit`` due rows of a campaign for ``worker_id``; safe with several workers at once.

    Rows whose address has been suppressed since the campaign was scheduled are settled as
    ``suppressed`` here and not returned.
    """
    return [
        claimed_row(campaign_id, raw)
        for raw in claim_tuples(engine, campaign_id, worker_id, limit, lease, now)
    ]


def claim_tuples(
    engine: Engine, campaign_id: int, worker_id: str, limit: int, lease: float, now: float
) -> list[ClaimedTuple]:
    """:func:`claim`, returning the driver's tuples: turn each into a :class:`ClaimedRow` with :func:`claimed_row`.

    The worker runs this in a thread and converts the rows on its event loop, one at a time as it
    renders them: Python work in a thread holds the GIL, and a loop waiting for the GIL waits up to
    the interpreter's switch interval (5 ms) with every SMTP connection idle.
    """
    sqlite = engine.dialect.name == "sqlite"
    mark = _placeholder(engine.dialect.paramstyle)
    table = ledger.name
    # Due retries first (oldest due first), then pending rows (by due time, then ledger order). One
    # state per statement, so the claim index yields the rows already in order: a batch costs the
    # batch, whatever the campaign's size. PostgreSQL skips rows another worker is claiming.
    take = (
        f"UPDATE {table} SET state = 'claimed', claimed_by = {mark}, lease_until = {mark}, in_flight = FALSE "
        f"WHERE id IN (SELECT id FROM {table} WHERE campaign_id = {mark} AND state = {mark} "
        f"AND next_attempt_at <= {mark} ORDER BY next_attempt_at, id LIMIT {mark}"
        f"{'' if sqlite else ' FOR UPDATE SKIP LOCKED'}) RETURNING id"
    )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            ids: list[int] = []
            for state in ("deferred", "pending"):
                cursor.execute(take, (worker_id, now + lease, campaign_id, state, now, limit - len(ids)))
                ids.extend(row[0] for row in cursor.fetchall())
                if len(ids) >= limit:
                    break
            rows: list[ClaimedTuple] = []
            if ids:
                cursor.execute(*_claimed_rows_sql(mark, ids))
                rows = [tuple(row) for row in cursor.fetchall()]
                blocked = [(f"suppressed: {row[5]}", row[0]) for row in rows if row[5] is not None]
                if blocked:
                    cursor.executemany(
                        f"UPDATE {table} SET state = 'suppressed', reply = {mark}, claimed_by = NULL, "
                        f"lease_until = NULL WHERE id = {mark}",
                        blocked,
                    )
                    rows = [row for row in rows if row[5] is None]
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            cursor.close()
    finally:
        raw.close()
    return rows


def claimed_row(campaign_id: int, raw: ClaimedTuple) -> ClaimedRow:
    """A :class:`ClaimedRow` (with its :class:`~campaigns.contacts.Contact`) from a :func:`claim_tuples` row."""
    (
        lid,
        email,
        language,
        message_id,
        attempts,
        _suppressed,
        contact_id,
        first_name,
        last_name,
        contact_language,
        nationality,
        permit_type,
        permit_expires,
        postcode,
        consent,
        attributes,
    ) = raw
    contact = (
        Contact(
            id=contact_id,
            email=email,
            first_name=first_name,
            last_name=last_name,
            language=contact_language,
            nationality=nationality,
            permit_type=permit_type,
            permit_expires=_as_date(permit_expires),
            postcode=postcode,
            consent=bool(consent),
            attributes=_as_attributes(attributes),
        )
        if contact_id is not None
        else None
    )
    return ClaimedRow(lid, campaign_id, email, language, message_id, attempts, contact)


def _claimed_rows_sql(mark: str, ids: list[int]) -> tuple[str, tuple[Any, ...]]:
    """The claimed rows joined to their contact and suppression (the columns of ``_CLAIM_COLUMNS``)."""
    columns = ", ".join(f"{c.table.name}.{c.name}" for c in _CLAIM_COLUMNS)
    return (
        f"SELECT {columns} FROM {ledger.name} "
        f"LEFT OUTER JOIN {contacts.name} ON {contacts.name}.email = {ledger.name}.email "
        f"LEFT OUTER JOIN {suppressions.name} ON {suppressions.name}.email = {ledger.name}.email "
        f"WHERE {ledger.name}.id IN ({', '.join([mark] * len(ids))}) ORDER BY {ledger.name}.id",
        tuple(ids),
    )


def _placeholder(paramstyle: str) -> str:
    if paramstyle == "qmark":
        return "?"
    if paramstyle in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(
        f"the ledger supports SQLite and PostgreSQL drivers, not paramstyle {paramstyle!r}"
    )


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


class LedgerBusy(Exception):
    """Another connection holds the database's write lock (raised only by a non-waiting commit)."""


class SendSession:
    """One worker's hot writes while it sends a campaign, in driver SQL on one connection it holds.

    :meth:`commit` runs one transaction: the replies of finished rows, then the in-flight marks of
    the rows about to be handed to the transport, and optionally the campaign's status (to notice a
    pause) and a lease renewal. Use it from one thread at a time; :meth:`close` returns the connection.

    On SQLite a commit can also be tried without waiting (``wait=False``): it raises
    :class:`LedgerBusy` at once when another connection holds the write lock, so an event loop can
    run the common case inline (tens of microseconds, no fsync in WAL mode with
    ``synchronous=NORMAL``) and only hand the contended case to a thread. That connection also
    leaves WAL checkpoints (which do fsync) to the other connections.

    Example::

        session = SendSession(engine, "host:123", campaign_id=1)
        owned, status = session.commit([17, 18], outcomes, check_status=True)
        session.close()
    """

    def __init__(self, engine: Engine, worker_id: str, campaign_id: int) -> None:
        self._engine = engine
        self._worker_id = worker_id
        self._campaign_id = campaign_id
        self.sqlite = engine.dialect.name == "sqlite"
        self._raw: Any = None
        self._restore: list[str] = []
        mark = _placeholder(engine.dialect.paramstyle)
        self._mark = mark
        table = ledger.name
        self._record_sql = (
            f"UPDATE {table} SET state = {mark}, code = {mark}, reply = {mark}, attempts = {mark}, "
            f"next_attempt_at = {mark}, sent_at = {mark}, in_flight = FALSE, claimed_by = NULL, "
            f"lease_until = NULL WHERE id = {mark} AND claimed_by = {mark} AND state = 'claimed'"
        )
        self._mark_sql = (
            f"UPDATE {table} SET in_flight = TRUE WHERE claimed_by = {mark} AND state = 'claimed' AND id IN "
        )
        self._status_sql = f"SELECT status FROM {campaigns.name} WHERE id = {mark}"
        # Every campaign, not only this one (what renew_leases does), through the claim index: see _claimed.
        self._renew_sql = (
            f"UPDATE {table} SET lease_until = {mark} WHERE campaign_id IN (SELECT id FROM {campaigns.name}) "
            f"AND state = 'claimed' AND claimed_by = {mark}"
        )
        self._suppress_sql = (
            f"INSERT INTO {suppressions.name} (email, reason, detail, created_at) "
            f"VALUES ({mark}, 'hard-bounce', {mark}, {mark}) ON CONFLICT (email) DO NOTHING"
        )
        self._busy_timeout_ms = 0

    def _connection(self) -> Any:
        if self._raw is None:
            raw = self._engine.raw_connection()
            if self.sqlite:
                cursor: Any = raw.cursor()
                cursor.execute("PRAGMA busy_timeout")
                self._busy_timeout_ms = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA wal_autocheckpoint")
                checkpoint = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA busy_timeout = 0")
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
                cursor.close()
                self._restore = [
                    f"PRAGMA busy_timeout = {self._busy_timeout_ms}",
                    f"PRAGMA wal_autocheckpoint = {checkpoint}",
                ]
            self._raw = raw
        return self._raw

    def _begin(self, cursor: Any, wait: bool) -> None:
        if not self.sqlite:
            return  # the driver opens the transaction with the first statement
        if not wait:
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except self._engine.dialect.dbapi.OperationalError as exc:  # type: ignore[union-attr]
                if "locked" in str(exc) or "busy" in str(exc):
                    raise LedgerBusy(str(exc)) from None
                raise
            return
        cursor.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.execute("PRAGMA busy_timeout = 0")

    def commit(
        self,
        mark_ids: Sequence[int],
        outcomes: Sequence[Outcome],
        *,
        suppress: Sequence[tuple[str, str]] = (),
        check_status: bool = False,
        renew_until: float | None = None,
        now: float = 0.0,
        wait: bool = True,
    ) -> tuple[set[int], str | None]:
        """Record ``outcomes``, suppress ``(email, detail)`` addresses, mark ``mark_ids`` in flight.

        Returns the ids this worker still owned and marked (another worker may have recovered some)
        and, when ``check_status``, the campaign's status read in the same transaction. Rows are not
        marked when that status is no longer ``running`` (the campaign was paused meanwhile).
        """
        raw = self._connection()
        cursor = raw.cursor()
        try:
            self._begin(cursor, wait)
            try:
                if outcomes:
                    worker = self._worker_id
                    cursor.executemany(
                        self._record_sql,
                        [
                            (
                                o.state,
                                o.code,
                                o.reply[:2000],
                                o.attempts,
                                o.next_attempt_at,
                                o.sent_at,
                                o.id,
                                worker,
                            )
                            for o in outcomes
                        ],
                    )
                for email, detail in suppress:
                    cursor.execute(self._suppress_sql, (email, detail[:500], now))
                status: str | None = None
                if check_status:
                    cursor.execute(self._status_sql, (self._campaign_id,))
                    found = cursor.fetchone()
                    status = found[0] if found else "deleted"
                owned: set[int] = set()
                if mark_ids and (not check_status or status == "running"):
                    marks = ", ".join([self._mark] * len(mark_ids))
                    cursor.execute(f"{self._mark_sql}({marks}) RETURNING id", (self._worker_id, *mark_ids))
                    owned = {row[0] for row in cursor.fetchall()}
                if renew_until is not None:
                    cursor.execute(self._renew_sql, (renew_until, self._worker_id))
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
        finally:
            cursor.close()
        return owned, status

    def close(self) -> None:
        """Return the connection to the pool, with the settings it came with."""
        if self._raw is not None:
            raw, self._raw = self._raw, None
            if self._restore:
                cursor = raw.cursor()
                for statement in self._restore:
                    cursor.execute(statement)
                cursor.close()
            raw.close()


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


def _claimed() -> list[sa.ColumnElement[bool]]:
    """The claimed rows of every campaign, as conditions the claim index answers.

    ``state = 'claimed'`` alone cannot use the index, whose first column is the campaign: SQLite (and
    PostgreSQL, without an index of its own on the state) then read every row of the ledger, sent ones
    included, on each call. Naming the campaigns (a small table) turns that into one index search per
    campaign, with the index every database created since the ledger existed already has.
    """
    return [ledger.c.campaign_id.in_(sa.select(campaigns.c.id)), ledger.c.state == "claimed"]


def renew_leases(conn: Connection, worker_id: str, lease_until: float) -> None:
    """Extend the lease on every row this worker holds, so a slow campaign is not taken for a dead one."""
    conn.execute(
        sa.update(ledger).where(*_claimed(), ledger.c.claimed_by == worker_id).values(lease_until=lease_until)
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
    expired = sa.and_(*_claimed(), stale)
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


def has_open_rows(conn: Connection, campaign_id: int) -> bool:
    """Whether a campaign still has rows pending, claimed or deferred: whether it is not finished yet.

    Three searches of the claim index, where :func:`count_states` reads every row of the campaign.
    """
    found = conn.scalar(
        sa.select(ledger.c.id)
        .where(ledger.c.campaign_id == campaign_id, ledger.c.state.in_(("pending", "claimed", "deferred")))
        .limit(1)
    )
    return found is not None


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


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    # Staff open exports in spreadsheets, which run a cell starting with one of these as a formula; an
    # e-mail address may legally start with "=" or "+" and a relay's reply is foreign text (OWASP CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(engine: Engine, campaign_id: int, out: TextIO) -> int:
    """Write the campaign's ledger as CSV (streamed by id); returns the number of rows written.

    Text cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a carriage
    return) get a leading apostrophe, so they open as text.
    """
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
                    _cell(row.email),
                    row.language,
                    row.state,
                    int(bool(row.uncertain)),
                    row.attempts,
                    row.code if row.code is not None else "",
                    _cell(row.reply or ""),
                    row.sent_at or "",
                    _cell(row.message_id),
                ]
            )
        written += len(rows)
        last = rows[-1].id
