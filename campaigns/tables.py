"""The campaign tables (contacts, suppressions, campaigns, ledger) and the engine that opens them.

They live in their own ``MetaData`` on the store's database URL (SQLite file by default, PostgreSQL by
``CC_DATABASE_URL``), so campaigns never depend on ``contact_center.storage``. Times in the ledger are
UTC epoch seconds (floats): comparisons are cheap and identical on both databases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["LEDGER_STATES", "campaigns", "contacts", "ledger", "metadata", "open_engine", "suppressions"]

LEDGER_STATES: tuple[str, ...] = ("pending", "claimed", "sent", "deferred", "failed", "suppressed")

metadata = sa.MetaData()

contacts = sa.Table(
    "cc_campaign_contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("first_name", sa.String(200), nullable=False, default=""),
    sa.Column("last_name", sa.String(200), nullable=False, default=""),
    sa.Column("language", sa.String(16), nullable=False, default=""),
    sa.Column("nationality", sa.String(64), nullable=False, default=""),
    sa.Column("permit_type", sa.String(64), nullable=False, default=""),
    sa.Column("permit_expires", sa.Date, nullable=True),
    sa.Column("postcode", sa.String(16), nullable=False, default=""),
    sa.Column("consent", sa.Boolean, nullable=False, default=False),
    sa.Column("attributes", sa.JSON, nullable=False, default=dict),
    sa.Column("soft_bounces", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Float, nullable=False),
)

suppressions = sa.Table(
    "cc_campaign_suppressions",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

campaigns = sa.Table(
    "cc_campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("from_addr", sa.String(400), nullable=False),
    sa.Column("templates", sa.JSON, nullable=False),
    sa.Column("language_policy", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, default="draft"),
    sa.Column("scheduled_at", sa.Float, nullable=True),
    sa.Column("send_window", sa.String(100), nullable=True),
    sa.Column("rate", sa.Float, nullable=True),
    sa.Column("deadline", sa.Float, nullable=True),
    sa.Column("confirmed_late", sa.Boolean, nullable=False, default=False),
    sa.Column("recipients", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
)

ledger = sa.Table(
    "cc_campaign_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("cc_campaigns.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("language", sa.String(32), nullable=False),
    sa.Column("message_id", sa.String(400), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False, default=0.0),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    # Set in the same transaction that hands a row to the transport: a dead worker's rows without it
    # were never offered to the relay and go back to pending; rows with it are "uncertain".
    sa.Column("in_flight", sa.Boolean, nullable=False, default=False),
    sa.Column("uncertain", sa.Boolean, nullable=False, default=False),
    sa.Column("code", sa.Integer, nullable=True),
    sa.Column("reply", sa.Text, nullable=False, default=""),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.UniqueConstraint("campaign_id", "email", name="uq_cc_ledger_campaign_email"),
    # Claims walk this index in (next_attempt_at, id) order for one state, so taking the next batch
    # costs the batch, not a sort of every pending row (which made a million-row campaign quadratic).
    sa.Index("ix_cc_ledger_claim", "campaign_id", "state", "next_attempt_at", "id"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would open deferred transactions; we emit BEGIN IMMEDIATE
    # ourselves (below) so two worker processes serialise on the write lock instead of failing with
    # "database is locked" when a reader upgrades to a writer.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_engine(url: str, *, create: bool = True) -> Engine:
    """Open the database at ``url`` and create the campaign tables when missing.

    SQLite files get WAL mode and ``BEGIN IMMEDIATE`` transactions, which makes the ledger claim safe
    between processes; PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` (see :mod:`campaigns.ledger`).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    if create:
        metadata.create_all(engine)
    return engine
